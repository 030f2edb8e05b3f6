"""Training throughput of the AVC models: examples/s and achieved GFLOP/s, XLA off and on.

Prints, for the paper config and a small demo config, the examples/s of a compiled Keras train
step (Adam(1e-4, weight_decay=1e-5), sparse categorical cross-entropy, model.train_on_batch) and
the FLOP rate it implies (training ~ 3x the analytic forward FLOPs of `count_flops`), next to this
machine's dense float32 matmul rate measured in the same run, so efficiency is a ratio.

  .venv/bin/python bench/train_step.py                    # paper + demo, XLA off and on
  .venv/bin/python bench/train_step.py --skip_paper --demo_frontend learned --model avenet

Defaults finish in about 2-3 minutes on 2 CPU cores (the paper size runs ~0.4 examples/s there,
hence batch 4 and 3 timed steps after one warm-up step).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from l3net.models import ModelConfig, build_model, count_flops, count_params  # noqa: E402

TRAIN_FLOPS_PER_FORWARD = 3.0


def _widths(text: str) -> Tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers, e.g. 16,32,64,128")
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: widths must be positive")
    return widths


def _parse(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="l3net", choices=("l3net", "avenet"))
    p.add_argument("--xla", default="both", choices=("both", "off", "on"))
    p.add_argument("--skip_paper", action="store_true", help="only the demo config")
    p.add_argument("--paper_batch", type=int, default=4)
    p.add_argument("--paper_steps", type=int, default=3)
    # Demo defaults = configs/demo_cpu.flags.
    p.add_argument("--demo_image_size", type=int, default=48)
    p.add_argument("--demo_widths", type=_widths, default=(16, 32, 64, 128),
                   help="vision tower widths, comma-separated")
    p.add_argument("--demo_sample_rate", type=int, default=16000)
    p.add_argument("--demo_audio_widths", type=_widths, default=(8, 16, 32, 64))
    p.add_argument("--demo_frontend", default="mel32")
    p.add_argument("--demo_batch", type=int, default=32)
    p.add_argument("--demo_steps", type=int, default=5)
    p.add_argument("--matmul_size", type=int, default=2048)
    args = p.parse_args(argv)
    for name in ("paper_batch", "paper_steps", "demo_batch", "demo_steps", "matmul_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)}: must be >= 1")
    return args


def matmul_gflops(n: int, repeats: int = 10) -> float:
    """Best-of-`repeats` float32 [n, n] @ [n, n] rate in GFLOP/s (2 n^3 FLOPs per product)."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    tf.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def train_rate(cfg: ModelConfig, batch: int, steps: int, jit: bool) -> Tuple[float, float]:
    """(seconds of the first, compiling step; examples/s over `steps` further steps)."""
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, weight_decay=1e-5),
                  loss="sparse_categorical_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 1, (batch, cfg.image_size, cfg.image_size, 3)).astype(np.float32),
         "audio": rng.uniform(-0.5, 0.5, (batch, cfg.num_audio_samples)).astype(np.float32)}
    y = (np.arange(batch) % 2).astype(np.int32)
    start = time.perf_counter()
    model.train_on_batch(x, y)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    elapsed = time.perf_counter() - start
    if not np.isfinite(loss):
        raise RuntimeError(f"non-finite loss {loss} while benchmarking")
    return warmup, batch * steps / elapsed


def main(argv: List[str]) -> int:
    args = _parse(argv)
    demo = ModelConfig(model=args.model, image_size=args.demo_image_size,
                       vision_widths=args.demo_widths, audio_widths=args.demo_audio_widths,
                       frontend=args.demo_frontend, sample_rate=args.demo_sample_rate)
    try:
        count_params(demo)  # validates the config and the front end's framing
    except ValueError as e:
        print(f"bench/train_step.py: demo config: {e}", file=sys.stderr)
        return 2
    runs = [("demo", demo, args.demo_batch, args.demo_steps)]
    if not args.skip_paper:
        runs.append(("paper", ModelConfig(model=args.model), args.paper_batch, args.paper_steps))
    jits = {"both": (False, True), "off": (False,), "on": (True,)}[args.xla]

    peak = matmul_gflops(args.matmul_size)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs visible; "
          f"matmul {args.matmul_size}^2 float32: {peak:.1f} GFLOP/s")
    for name, cfg, batch, steps in runs:
        flops = count_flops(cfg)
        print(f"[{name}] {cfg.model} image {cfg.image_size} widths {list(cfg.vision_widths)} "
              f"audio {cfg.frontend}@{cfg.sample_rate} Hz: {count_params(cfg)['total']:,} params, "
              f"{flops['total'] / 1e9:.3f} GFLOP forward/example "
              f"(vision {flops['vision_tower'] / 1e9:.3f}, audio {flops['audio_tower'] / 1e9:.3f})")
        for jit in jits:
            warmup, rate = train_rate(cfg, batch, steps, jit)
            achieved = rate * TRAIN_FLOPS_PER_FORWARD * flops["total"] / 1e9
            print(f"  xla={'on ' if jit else 'off'} batch {batch:3d} x {steps} steps: "
                  f"{rate:8.2f} examples/s, {achieved:7.1f} GFLOP/s "
                  f"= {achieved / peak:5.1%} of matmul  (first step {warmup:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
