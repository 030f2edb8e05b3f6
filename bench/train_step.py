"""Training-step throughput of the AVC models: the step `l3net_train` runs, as a fraction of the matmul peak.

Times exactly the function the trainer calls every step (`l3net.train.train_step.make_train_step`:
the AVC task's sparse cross-entropy averaged over the global batch, the paper's L2 weight decay
on every kernel, Adam, the `--strategy=default` reductions and the step counter), fed from a
distributed iterator as in the trainer and with the learning rate re-set before every step as
the loop does. The input batch is a fixed random one repeated (`Dataset.from_tensors(...).repeat()`),
so the input pipeline is not measured: `bench/input_pipeline.py` does that.

For each size it prints the step's seconds and examples/s, and the effective FLOP rate
examples/s x 3 x forward FLOPs per example, where the forward FLOPs are the analytic count of
`l3net.models.architecture_counts.count_flops` and the factor 3 is the usual rule for a
training step (the forward pass, plus a backward pass with two products of the same size per
layer: the gradient of the input and of the weights); it divides that by this machine's dense
float32 matmul rate (a [n, n] @ [n, n] product, best of 10, measured before and after the sizes,
the higher of the two used) so that efficiency is a ratio from one run.

Sizes: 'paper' is `ModelConfig()` (224x224 frames, 1 s of 48 kHz audio, linear front end,
widths 64..512) at `--paper_batch`; 'demo' is the network and batch size of
configs/demo_cpu.flags.

  .venv/bin/python bench/train_step.py                          # paper and demo, XLA off (the trainer's default)
  .venv/bin/python bench/train_step.py --steps 2 --sizes demo   # smoke run, a few seconds
  .venv/bin/python bench/train_step.py --xla both --model avenet
  .venv/bin/python bench/train_step.py --sizes demo --steps 60 --batch_norm both --mixed_precision both

--batch_norm keras builds the towers with Keras' own BatchNormalization instead of l3net's
fused-kernel subclass (`l3net/models/batch_norm.py`), to measure what the fused kernel saves;
--mixed_precision on times the step under `--mixed_precision` (bfloat16 compute, float32
variables), which is faster only on CPUs with bfloat16 instructions (`lscpu`: avx512_bf16, amx).

Defaults take a few minutes on 2 CPU cores (the paper size runs at under 1 example/s there).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import sys
import time
from typing import Dict, Iterator, List, NamedTuple, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l3net.train.cpu_settings import apply_training_cpu_settings  # noqa: E402

apply_training_cpu_settings()  # before TensorFlow, as l3net_train: the same allocator and kernels

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from l3net.data.config import DataConfig  # noqa: E402
from l3net.models import ModelConfig, count_flops, count_params  # noqa: E402
from l3net.shipped_configs import expand_configs  # noqa: E402
from l3net.tasks.avc import AvcTask  # noqa: E402
from l3net.train.distribution import make_strategy  # noqa: E402
from l3net.train.train_config import TrainConfig  # noqa: E402
from l3net.train.train_step import make_optimizer, make_train_step  # noqa: E402

TRAIN_FLOPS_PER_FORWARD = 3.0
DEMO_FLAGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo_cpu.flags")
SIZES = ("paper", "demo")


class StepTiming(NamedTuple):
    """Seconds of the first call (tracing, and XLA compiling), and of each timed step after it."""

    first_s: float
    step_s: List[float]


def _parse(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="paper,demo", help="comma-separated subset of paper,demo")
    p.add_argument("--steps", type=int, default=0, help="timed steps per size (0: 3 at paper size, 10 at demo size)")
    p.add_argument("--model", default="l3net", choices=("l3net", "avenet"))
    p.add_argument("--xla", default="off", choices=("off", "on", "both"),
                   help="the trainer's --jit_compile (off by default, as in every configs/ flagfile)")
    p.add_argument("--batch_norm", default="fused", choices=("fused", "keras", "both"),
                   help="the towers' batch norm: l3net's fused-kernel layer (what l3net_train builds) or Keras' own")
    p.add_argument("--mixed_precision", default="flagfile", choices=("flagfile", "off", "on", "both"),
                   help="the trainer's --mixed_precision (bfloat16 compute); flagfile: the demo size as "
                        "--demo_flags sets it, the paper size off")
    p.add_argument("--paper_batch", type=int, default=16, help="global batch at paper size (the paper: 16 per GPU)")
    p.add_argument("--demo_flags", default=DEMO_FLAGS, help="flagfile giving the demo network and batch size")
    p.add_argument("--matmul_size", type=int, default=2048)
    args = p.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = sorted(set(args.sizes) - set(SIZES))
    if unknown or not args.sizes:
        p.error(f"--sizes={','.join(args.sizes)}: use a comma-separated subset of {','.join(SIZES)}")
    if args.steps < 0:
        p.error(f"--steps={args.steps}: must be >= 0")
    for name in ("paper_batch", "matmul_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)}: must be >= 1")
    return args


def read_flagfile(path: str) -> Dict[str, str]:
    """The `--name=value` flags an absl flagfile gives l3net_train as {name: value}, following the
    flagfiles and `--config=`s it includes as l3net_train does (the last value wins)."""
    values = {}
    for arg in expand_configs(["bench", f"--flagfile={path}"], "bench/train_step.py")[1:]:
        if arg.startswith("--") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            values[name] = value
    return values


def model_config_from_flags(flags: Dict[str, str], model: str) -> ModelConfig:
    """The ModelConfig a flagfile trains (fields it does not set keep their defaults), network `model`."""
    fields = {}
    for field in dataclasses.fields(ModelConfig):
        if field.name not in flags:
            continue
        default, text = getattr(ModelConfig(), field.name), flags[field.name]
        if isinstance(default, tuple):
            fields[field.name] = tuple(int(w) for w in text.split(","))
        else:
            fields[field.name] = type(default)(text)
    fields["model"] = model
    return ModelConfig(**fields).validate()


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


def synthetic_batches(cfg: ModelConfig, batch: int) -> tf.data.Dataset:
    """One fixed random batch, repeated, with the element spec of `avc_dataset` in training.

    ({'image': float32 [batch, S, S, 3] in [0, 1], 'audio': float32 [batch, samples] in
    [-0.5, 0.5]}, label int32 [batch], half of them 1).
    """
    rng = np.random.default_rng(0)
    features = {"image": rng.uniform(0, 1, (batch, cfg.image_size, cfg.image_size, 3)).astype(np.float32),
                "audio": rng.uniform(-0.5, 0.5, (batch, cfg.num_audio_samples)).astype(np.float32)}
    labels = (np.arange(batch) % 2).astype(np.int32)
    return tf.data.Dataset.from_tensors((features, labels)).repeat()


@contextlib.contextmanager
def model_variant(batch_norm: str, mixed_precision: bool) -> Iterator[None]:
    """Builds inside it use `batch_norm` ('fused' | 'keras') after each conv, and bfloat16 compute if asked."""
    import l3net.models.towers as towers
    import l3net.models.vgg as vgg

    from l3net.models.precision import bfloat16_compute

    saved = vgg.FusedBatchNormalization, towers.FusedBatchNormalization
    if batch_norm == "keras":
        vgg.FusedBatchNormalization = towers.FusedBatchNormalization = keras.layers.BatchNormalization
    try:
        with bfloat16_compute(mixed_precision):
            yield
    finally:
        vgg.FusedBatchNormalization, towers.FusedBatchNormalization = saved


def time_train_step(cfg: ModelConfig, batch: int, steps: int, jit: bool) -> StepTiming:
    """Builds the model, optimizer and step as `l3net_train` does and times `steps` steps after a first one.

    Each timed step is the loop's: re-set the learning rate, call the step, then read its loss
    (a scalar; on the CPU the call has finished by then) so that each step's time is its own.
    RuntimeError on a non-finite loss.
    """
    train_cfg = TrainConfig(jit_compile=jit).validate()
    task = AvcTask(cfg, DataConfig.for_model(cfg, batch_size=batch), train_cfg.eval_pairs)
    strategy = make_strategy(train_cfg.strategy)
    with strategy.scope():
        keras.utils.set_random_seed(train_cfg.seed)
        model = task.build_model()
        optimizer = make_optimizer(model, train_cfg)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        task.initialize(model)
    # What `distribution.distributed_input` gives a one-worker job.
    iterator = iter(strategy.experimental_distribute_dataset(synthetic_batches(cfg, batch)))
    train_step = make_train_step(task, model, optimizer, train_cfg, strategy, step_var)

    def one_step() -> float:
        start = time.perf_counter()
        optimizer.learning_rate.assign(train_cfg.learning_rate)
        loss, _ = train_step(iterator)
        loss = float(loss.numpy())
        elapsed = time.perf_counter() - start
        if not np.isfinite(loss):
            raise RuntimeError(f"non-finite loss {loss} while benchmarking")
        return elapsed

    first = one_step()
    return StepTiming(first, [one_step() for _ in range(steps)])


def _size(name: str, args: argparse.Namespace) -> Tuple[ModelConfig, int, int, Tuple[bool, ...]]:
    """(network, global batch, timed steps, mixed-precision settings to time) of size `name`."""
    both = {"both": (False, True), "off": (False,), "on": (True,)}
    if name == "paper":
        mixed = both.get(args.mixed_precision, (False,))
        return ModelConfig(model=args.model).validate(), args.paper_batch, args.steps or 3, mixed
    flags = read_flagfile(args.demo_flags)
    mixed = both.get(args.mixed_precision, (flags.get("mixed_precision", "false").lower() in ("true", "1"),))
    return (model_config_from_flags(flags, args.model), int(flags.get("batch_size", 32)), args.steps or 10,
            mixed)


def main(argv: List[str]) -> int:
    args = _parse(argv)
    try:
        runs = [(name, *_size(name, args)) for name in args.sizes]
    except (OSError, ValueError) as e:
        print(f"bench/train_step.py: {e}", file=sys.stderr)
        return 2
    jits = {"both": (False, True), "off": (False,), "on": (True,)}[args.xla]
    batch_norms = ("fused", "keras") if args.batch_norm == "both" else (args.batch_norm,)

    peak_before = matmul_gflops(args.matmul_size)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs visible, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}; "
          f"matmul {args.matmul_size}^2 float32: {peak_before:.1f} GFLOP/s", flush=True)
    results = []
    for name, cfg, batch, steps, mixed_precisions in runs:
        flops = count_flops(cfg)
        print(f"[{name}] {cfg.model} image {cfg.image_size} widths {list(cfg.vision_widths)} audio "
              f"{cfg.frontend}@{cfg.sample_rate} Hz widths {list(cfg.audio_widths)}: "
              f"{count_params(cfg)['total']:,} params, {flops['total'] / 1e9:.3f} GFLOP forward/example "
              f"(vision {flops['vision_tower'] / 1e9:.3f}, audio {flops['audio_tower'] / 1e9:.3f})", flush=True)
        for jit in jits:
            for batch_norm in batch_norms:
                for mixed in mixed_precisions:
                    with model_variant(batch_norm, mixed):
                        timing = time_train_step(cfg, batch, steps, jit)
                    variant = f"xla={'on ' if jit else 'off'} bn={batch_norm:5s} bf16={'on ' if mixed else 'off'}"
                    results.append((name, variant, batch, flops["total"], timing))
                    print(f"  {variant} batch {batch} x {steps} steps: "
                          f"{statistics.mean(timing.step_s):.3f} s/step (fastest {min(timing.step_s):.3f}; "
                          f"first {timing.first_s:.1f} s)", flush=True)
    peak_after = matmul_gflops(args.matmul_size)
    peak = max(peak_before, peak_after)
    print(f"matmul {args.matmul_size}^2 float32 after: {peak_after:.1f} GFLOP/s; peak used: {peak:.1f} GFLOP/s")
    print("size   variant                      batch  s/step  examples/s  GFLOP/s  of peak  "
          "(fastest step: GFLOP/s, of peak)")
    for name, variant, batch, forward, timing in results:
        per_step = TRAIN_FLOPS_PER_FORWARD * forward * batch / 1e9
        mean_s, fast_s = statistics.mean(timing.step_s), min(timing.step_s)
        print(f"{name:6s} {variant} {batch:6d} {mean_s:7.3f} {batch / mean_s:11.2f} "
              f"{per_step / mean_s:8.1f} {per_step / mean_s / peak:8.1%}  "
              f"({per_step / fast_s:.1f}, {per_step / fast_s / peak:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
