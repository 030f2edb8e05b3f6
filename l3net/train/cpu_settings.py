"""The TensorFlow CPU settings `l3net_train` runs with; they must be set before TensorFlow is imported.

Both are environment variables TensorFlow reads once, at import, so `l3net.train.main` applies
them before its imports (and `bench/train_step.py` does the same, to time the same step).
Neither overrides a value the environment already has.

  * TF_CPU_ALLOCATOR_USE_BFC=true: TensorFlow's BFC allocator re-uses batch buffers instead of
    page-faulting fresh ones: ~1.25x more input-pipeline examples/s at paper size
    (bench/input_pipeline.py).
  * TF_ENABLE_ONEDNN_OPTS=1: TensorFlow's x86 wheels switch their oneDNN kernels on by default
    only on CPUs with AVX-512-class instructions; elsewhere (the AMD EPYC machines of our 2-core
    pool) they fall back to Eigen kernels, which run the demo network's small convolutions at
    half the speed. `bench/train_step.py --sizes demo --steps 60`, 2026-12-07, AMD EPYC without
    AVX-512, runs alternating: 0.552 / 0.471 s per step with 0, 0.228 / 0.305 s with 1 (with
    --xla on: 0.349 vs 0.297). At paper size the same day, batch 16: 27.3 s per step with 0,
    31.5 s with 1 (a CPU is not where paper-size training runs; GPU kernels are unaffected; later
    that day 19.7-20.1 s with 0 vs 22.3 s with 1, so to train a paper-size network on such a CPU
    run `TF_ENABLE_ONEDNN_OPTS=0 l3net_train ...`: a value already set is kept).
    Only training asks for it: the shared-window embedding of a paper-size network (long,
    differently shaped convolutions) ran for more than 10 minutes under oneDNN where Eigen
    takes 4.4 s (`bench/embed.py --compare --seconds 20`), so the embedding and probe tools
    keep TensorFlow's default. oneDNN sums in another order: results differ in the last bits.
"""

from __future__ import annotations

import os

TRAINING_ENVIRONMENT = {"TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_ENABLE_ONEDNN_OPTS": "1"}


def apply_training_cpu_settings() -> None:
    """Sets TRAINING_ENVIRONMENT's variables the environment does not set already."""
    for name, value in TRAINING_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
