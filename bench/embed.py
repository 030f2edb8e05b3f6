"""Embedding throughput and streaming memory of `l3net.embed` at the paper config.

Prints audio seconds embedded per wall-clock second (hop 0.1 s, i.e. 10 windows per second of
audio, as OpenL3's default) at batch 1 and batch 32, and the peak RSS of streaming a long file
(default 10 minutes of 44.1 kHz stereo WAV, resampled to 48 kHz) through `embed_audio_file`.
The model is the paper config (ModelConfig defaults) with random weights: speed does not depend
on the weights.

  .venv/bin/python bench/embed.py                       # ~4 min on 2 CPU cores
  .venv/bin/python bench/embed.py --seconds 2 --memory_hop 2

--seconds limits the audio timed for the rates; --memory_hop sets the hop of the long-file run
(larger = fewer windows = faster; memory is bounded by the block and batch, not the hop).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from fractions import Fraction

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import av  # noqa: E402
import numpy as np  # noqa: E402

from l3net.embed import api  # noqa: E402
from l3net.embed.embedder import get_embedder  # noqa: E402
from l3net.model_dir import ModelDir  # noqa: E402
from l3net.models import build_model  # noqa: E402
from l3net.models.config import ModelConfig  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def write_model_dir(path: str, cfg: ModelConfig) -> str:
    """A model dir with random weights (config + one checkpoint), as `l3net_train` would leave it."""
    ModelDir(path).write_for_inference(cfg, build_model(cfg))
    return path


def write_noise_wav(path: str, seconds: float, sample_rate: int = 44100) -> str:
    """Stereo 16-bit noise, written one second at a time (the bench itself must not hold it)."""
    rng = np.random.default_rng(0)
    with av.open(path, "w") as out:
        stream = out.add_stream("pcm_s16le", rate=sample_rate)
        stream.layout = "stereo"
        for k in range(int(seconds)):
            block = (0.2 * rng.standard_normal((2, sample_rate))).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, k * sample_rate, Fraction(1, sample_rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="audio seconds timed per batch size")
    parser.add_argument("--file_seconds", type=float, default=600.0, help="length of the long file")
    parser.add_argument("--memory_hop", type=float, default=1.0, help="hop of the long-file run (s)")
    args = parser.parse_args()
    cfg = ModelConfig()
    with tempfile.TemporaryDirectory(prefix="l3net_bench_embed_") as tmp:
        model_dir = write_model_dir(os.path.join(tmp, "model"), cfg)
        embedder = get_embedder(model_dir)
        short = write_noise_wav(os.path.join(tmp, "short.wav"), args.seconds)
        long_path = write_noise_wav(os.path.join(tmp, "long.wav"), args.file_seconds)
        print(f"paper config: {cfg.sample_rate} Hz, {cfg.audio_seconds} s windows, embedding {embedder.audio_dim}-d; "
              f"hop 0.1 s = {int(round(1 / 0.1))} windows per audio second")
        for batch in (1, 32):
            api.embed_audio_file(short, model=embedder, hop_size=0.5, batch_size=batch)  # warm-up / trace
            t0 = time.perf_counter()
            emb, _ = api.embed_audio_file(short, model=embedder, hop_size=0.1, batch_size=batch)
            elapsed = time.perf_counter() - t0
            print(f"batch {batch:>2d}: {args.seconds / elapsed:.3f} audio s per wall s "
                  f"({emb.shape[0] / elapsed:.2f} windows/s, {emb.shape[0]} windows in {elapsed:.1f} s)")
        before = peak_rss_mb()
        t0 = time.perf_counter()
        emb, _ = api.embed_audio_file(long_path, model=embedder, hop_size=args.memory_hop, batch_size=32)
        elapsed = time.perf_counter() - t0
        size_mb = os.path.getsize(long_path) / 2 ** 20
        float_mb = args.file_seconds * cfg.sample_rate * 4 / 2 ** 20
        print(f"{args.file_seconds:.0f} s file ({size_mb:.0f} MB WAV, {float_mb:.0f} "
              f"MB as float32 at {cfg.sample_rate} Hz), hop {args.memory_hop} s, batch 32: {emb.shape[0]} windows in "
              f"{elapsed:.0f} s; peak RSS {before:.0f} MB before, {peak_rss_mb():.0f} MB after")


if __name__ == "__main__":
    main()
