"""Throughput and memory of the AVC training input pipeline (`l3net.data.avc_dataset`).

Why: the pipeline must never be what a training run waits on. The target is >= 500 examples/s
per CPU core at paper size (224 crop from frames stored at short side 256, 1 s at 48 kHz).

What it does: writes (or reuses) fake converted datasets of realistic size in a temp dir -
by default 200 videos x 10 s at 12 fps, JPEG frames (quality 90, 4:3 and 16:9) with smooth,
textured, panning content (so JPEG sizes and decode costs are realistic); paper: frames at short
side 256, audio at 48 kHz; demo: frames at short side 96 and 16 kHz audio, as `make demo`
converts - then, each in a fresh subprocess (so peak memory is its own),
runs the training pipeline at paper size (224 crop, short side 256, 48 kHz) and demo size (64
crop, short side 73, 16 kHz), and prints examples/s, examples/s per core, examples per
CPU-second (user + system time of all its threads: the per-core rate that holds even when other
jobs share the cores), time to the first batch (the example shuffle buffer filling) and peak RSS
(ru_maxrss). Runs repeat with TensorFlow's default CPU allocator and with its pooling (BFC) one,
and optionally with several pairs_per_video.

  .venv/bin/python bench/input_pipeline.py [--data_root DIR] [--videos 200] [--batches 30]
      [--pairs_per_video 0,16] [--sizes paper,demo] [--allocators default,bfc] [--pitch_shift 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FPS = 12.0
SHORT_SIDE = 256
JPEG_QUALITY = 90
RATES = {"paper": 48000, "demo": 16000}
# Stored frame short side per dataset: paper conversion (256) and what `make demo` converts to (96).
STORED_SHORT_SIDE = {"paper": SHORT_SIDE, "demo": 96}
DATASET_TAG = "v2"


def _smooth_noise(rng: np.random.Generator, height: int, width: int, channels: int,
                  exponent: float = 1.4) -> np.ndarray:
    """Noise with a 1/f^exponent amplitude spectrum (natural images: about 1-1.5), scaled to [0, 1]."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = np.maximum(np.hypot(fy, fx), 1.0 / max(height, width)) ** -exponent
    out = np.empty((height, width, channels), np.float32)
    for c in range(channels):
        phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
        field = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(height, width))
        out[..., c] = (field - field.min()) / (np.ptp(field) + 1e-9)
    return out


def _video_frames(rng: np.random.Generator, num_frames: int, landscape_wide: bool) -> List[np.ndarray]:
    """uint8 frames [256, 341 or 455, 3]: a textured scene panned a little every frame."""
    height, width = SHORT_SIDE, (455 if landscape_wide else 341)
    pan = 2
    scene_w = width + pan * num_frames
    luma = _smooth_noise(rng, height, scene_w, 1)
    chroma = _smooth_noise(rng, height // 4, scene_w // 4, 3).repeat(4, axis=0).repeat(4, axis=1)
    chroma = np.pad(chroma, ((0, height - chroma.shape[0]), (0, scene_w - chroma.shape[1]), (0, 0)), mode="edge")
    scene = 0.65 * luma + 0.35 * chroma + rng.normal(0, 0.01, (height, scene_w, 3)).astype(np.float32)
    scene = np.clip(scene * 255.0, 0, 255).astype(np.uint8)
    return [scene[:, i * pan:i * pan + width] for i in range(num_frames)]


def _video_audio(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """int16 [seconds * rate]: a few tones over brown-ish noise."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    noise = np.cumsum(rng.normal(0, 1, n))
    noise = (noise - np.convolve(noise, np.ones(64) / 64, mode="same")) * 0.02
    tones = sum(0.1 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) for _ in range(3))
    return (np.clip(noise + tones, -1, 1) * 32000).astype(np.int16)


def write_datasets(root: str, videos: int, seconds: float, shards: int = 8) -> Dict[str, str]:
    """Writes one converted dataset per sample rate under root (reused if complete); returns dirs."""
    import tensorflow as tf

    from l3net.data import schema

    dirs = {name: os.path.join(root, f"{name}_{DATASET_TAG}_{videos}x{seconds:g}s") for name in RATES}
    if all(os.path.isfile(os.path.join(d, schema.DATASET_INFO_NAME)) for d in dirs.values()):
        return dirs
    t0 = time.time()
    rng = np.random.default_rng(0)
    names = [f"train-{i:05d}-of-{shards:05d}.tfrecord" for i in range(shards)]
    writers = {}
    for name, d in dirs.items():
        os.makedirs(d, exist_ok=True)
        writers[name] = [tf.io.TFRecordWriter(os.path.join(d, n)) for n in names]
    num_frames = int(round(seconds * FPS))
    jpeg_bytes = {name: 0 for name in RATES}
    for v in range(videos):
        full = _video_frames(rng, num_frames, landscape_wide=v % 2 == 1)
        for name, rate in RATES.items():
            short = STORED_SHORT_SIDE[name]
            size = [short, int(round(full[0].shape[1] * short / full[0].shape[0]))]
            frames = [tf.io.encode_jpeg(f if short == SHORT_SIDE else
                                        tf.cast(tf.round(tf.image.resize(f, size, antialias=True)), tf.uint8),
                                        quality=JPEG_QUALITY).numpy() for f in full]
            jpeg_bytes[name] += sum(len(f) for f in frames)
            record = schema.VideoRecord(
                video_id=f"bench{v:05d}", source_path=f"bench/{v:05d}.mp4", split="train", labels=[f"class{v % 10}"],
                fps=FPS, frames=frames, sample_rate=rate, audio=_video_audio(rng, seconds, rate), duration=seconds)
            writers[name][v % shards].write(record.to_example_bytes())
    for name, d in dirs.items():
        for w in writers[name]:
            w.close()
        schema.write_dataset_info(d, schema.DatasetInfo(
            schema_version=schema.SCHEMA_VERSION, sample_rate=RATES[name], fps=FPS, short_side=STORED_SHORT_SIDE[name],
            labels=[f"class{i}" for i in range(10)], counts={"train": videos}, shards={"train": names}))
    sizes = ", ".join(f"{name} {jpeg_bytes[name] / (videos * num_frames) / 1024:.1f} KiB" for name in RATES)
    print(f"wrote {videos} videos x {seconds:g} s per dataset under {root} in {time.time() - t0:.0f} s "
          f"(mean JPEG: {sizes})", flush=True)
    return dirs


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, data_dir: str, batches: int, warmup: int, pairs_per_video: int,
            pitch_shift: float = 0.0) -> Dict[str, float]:
    """Runs the training pipeline of one size in this process; returns its numbers.

    pitch_shift: the `--pitch_shift` augmentation of the demo configs (semitones; 0 = off), which
    cuts a longer audio window per pair and resamples it.
    """
    from l3net.data import avc_dataset
    from l3net.data.config import DataConfig
    from l3net.models.config import ModelConfig

    model = ModelConfig() if name == "paper" else ModelConfig(image_size=64, sample_rate=16000)
    config = DataConfig.for_model(model, pitch_shift=pitch_shift)
    if pairs_per_video:
        config = dataclasses.replace(config, pairs_per_video=pairs_per_video)
    t0 = time.perf_counter()
    iterator = iter(avc_dataset(data_dir, "train", config, training=True, seed=0))
    next(iterator)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        next(iterator)
    t1, cpu1 = time.perf_counter(), _cpu_seconds()
    for _ in range(batches):
        features, _ = next(iterator)
    elapsed, cpu = time.perf_counter() - t1, _cpu_seconds() - cpu1
    cores = len(os.sched_getaffinity(0))
    examples = batches * config.batch_size
    rate = examples / elapsed
    return {
        "size": name, "image_size": config.image_size, "resize_short_side": config.resize_short_side,
        "sample_rate": config.sample_rate, "batch_size": config.batch_size, "pairs_per_video": config.pairs_per_video,
        "examples_per_s": rate, "cores": cores, "examples_per_s_per_core": rate / cores,
        "examples_per_cpu_s": examples / cpu, "cpu_utilisation": cpu / elapsed / cores,
        "first_batch_s": first, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "image_shape": list(features["image"].shape),
    }


ALLOCATORS = {
    "default": {},
    # TensorFlow's pooling allocator for CPU tensors: the 150 MB float batch of a paper-size
    # batch is then reused instead of being page-faulted in afresh from the OS every batch.
    "bfc": {"TF_CPU_ALLOCATOR_USE_BFC": "true"},
}


def _parse_list(text: str, allowed=None) -> List[str]:
    items = [t for t in text.split(",") if t]
    if not items or (allowed is not None and any(t not in allowed for t in items)):
        raise ValueError(text)
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_root", default=os.path.join(tempfile.gettempdir(), "l3net_bench_input"),
                        help="where the fake datasets are written (reused when present)")
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=30, help="batches timed per run")
    parser.add_argument("--warmup", type=int, default=5, help="batches skipped after the first")
    parser.add_argument("--pairs_per_video", default="0",
                        help="comma list of pairs drawn per parsed video (0: the DataConfig default)")
    parser.add_argument("--sizes", default="paper,demo", help="comma list of: paper, demo")
    parser.add_argument("--allocators", default="default,bfc", help="comma list of: default, bfc")
    parser.add_argument("--pitch_shift", type=float, default=0.0,
                        help="semitones of the training pitch shift (demo configs: 3; 0 = off)")
    parser.add_argument("--_measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        sizes = _parse_list(args.sizes, RATES)
        allocators = _parse_list(args.allocators, ALLOCATORS)
        pairs = [int(p) for p in _parse_list(args.pairs_per_video)]
        if args.videos < 2 or args.seconds < 1 or args.batches < 1 or min(pairs) < 0 or not 0 <= args.pitch_shift <= 12:
            raise ValueError
    except ValueError:
        print("bench/input_pipeline.py: need --videos >= 2, --seconds >= 1, --batches >= 1, --pairs_per_video "
              "a list of ints >= 0, --sizes from paper,demo, --allocators from default,bfc, --pitch_shift in [0, 12]",
              file=sys.stderr)
        return 2
    if args._measure:
        name, data_dir = args._measure.split("=", 1)
        print(json.dumps(measure(name, data_dir, args.batches, args.warmup, pairs[0], args.pitch_shift)), flush=True)
        return 0

    dirs = write_datasets(args.data_root, args.videos, args.seconds)
    print(f"training pipeline, {args.batches} batches timed after {args.warmup + 1}; per core = examples/s / cores; "
          "per CPU-s = examples / (user + system seconds of the process), unaffected by other jobs")
    for allocator in allocators:
        for p in pairs:
            for name in sizes:
                cmd = [sys.executable, os.path.abspath(__file__), "--_measure", f"{name}={dirs[name]}",
                       "--batches", str(args.batches), "--warmup", str(args.warmup), "--pairs_per_video", str(p),
                       "--pitch_shift", str(args.pitch_shift)]
                env = dict(os.environ, **ALLOCATORS[allocator])
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    print(f"{name}: failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                    return 1
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{r['size']:>5s} {allocator:>7s} alloc: image {r['image_size']} (short side "
                      f"{r['resize_short_side']}), {r['sample_rate']} Hz, batch {r['batch_size']}, "
                      f"{r['pairs_per_video']} pairs/video: {r['examples_per_s']:.0f} examples/s = "
                      f"{r['examples_per_s_per_core']:.0f}/s per core ({r['cores']} cores, "
                      f"{100 * r['cpu_utilisation']:.0f} % used) | {r['examples_per_cpu_s']:.0f} per CPU-s | "
                      f"first batch {r['first_batch_s']:.1f} s | peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
