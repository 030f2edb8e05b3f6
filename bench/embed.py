"""Embedding throughput and streaming memory of `l3net.embed` at the paper config.

Default mode prints audio seconds embedded per wall-clock second (hop 0.1 s, i.e. 10 windows per
second of audio, as OpenL3's default) at batch 1 and batch 32, with shared conv maps (the default,
l3net.embed.shared_stream) and with exact windows (`exact=True`), and the peak RSS of streaming
a long file (default 10 minutes of 44.1 kHz stereo WAV, resampled to 48 kHz) through
`embed_audio_file`. The model is the paper config (ModelConfig defaults) with random weights:
speed does not depend on the weights.

--compare: the same audio (--seconds of 48 kHz noise, hop 0.1 s, batch 32) through l3net shared,
l3net exact and, when `torchopenl3` is importable (a bench-only install, never a dependency of
l3net: `pip install torch==<a CPU build> torchopenl3 'setuptools<81'`), torchopenl3's network of
the same size (linear front end, 512-d, random weights), one after the other in one run; prints
audio seconds per wall second of each and the ratios. --bfloat16 adds l3net shared under Keras'
mixed_bfloat16 policy (needs a CPU with AVX512-BF16 or AMX to be fast).

  .venv/bin/python bench/embed.py                       # ~6 min on 2 CPU cores
  .venv/bin/python bench/embed.py --compare --seconds 20
  .venv/bin/python bench/embed.py --seconds 2 --memory_hop 2

--seconds limits the audio timed for the rates; --memory_hop sets the hop of the long-file run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from l3net.embed import api  # noqa: E402
from l3net.embed.embedder import get_embedder  # noqa: E402
from l3net.media_encode import write_audio_blocks  # noqa: E402
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
    write_audio_blocks(path, ((0.2 * rng.standard_normal((2, sample_rate))).astype(np.float32)
                              for _ in range(int(seconds))), sample_rate)
    return path


def _rate(label: str, seconds: float, run) -> float:
    """Times run() (after one warm-up call) and prints audio seconds per wall second."""
    run()
    t0 = time.perf_counter()
    count = run()
    elapsed = time.perf_counter() - t0
    print(f"{label}: {seconds / elapsed:.3f} audio s per wall s ({count} windows in {elapsed:.1f} s)", flush=True)
    return seconds / elapsed


def compare(embedder, seconds: float, bfloat16=None) -> None:
    """l3net shared, l3net exact and torchopenl3 on the same noise, hop 0.1 s, batch 32 (module doc)."""
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(int(seconds * 48000))).astype(np.float32)
    rates = {}
    for label, exact in (("l3net shared", False), ("l3net exact", True)):
        rates[label] = _rate(label, seconds, lambda exact=exact: api.get_audio_embedding(
            audio, 48000, embedder, hop_size=0.1, batch_size=32, exact=exact)[0].shape[0])
    if bfloat16 is not None:
        rates["l3net shared bfloat16"] = _rate("l3net shared bfloat16", seconds, lambda: api.get_audio_embedding(
            audio, 48000, bfloat16, hop_size=0.1, batch_size=32)[0].shape[0])
        a = api.get_audio_embedding(audio, 48000, bfloat16, hop_size=0.1)[0]
        b = api.get_audio_embedding(audio, 48000, embedder, hop_size=0.1)[0]
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        print(f"bfloat16 vs float32 (shared): cosine median {np.median(cosine):.4f}, "
              f"5th percentile {np.percentile(cosine, 5):.4f}")
    try:
        import torch
        import torchopenl3
        from torchopenl3.models import PytorchOpenl3
    except ImportError as e:
        print(f"torchopenl3: not importable ({e}); install it (bench only) to compare")
    else:
        torch.set_num_threads(os.cpu_count() or 1)
        torch.manual_seed(0)
        model = PytorchOpenl3("env", "linear", 512).eval()

        def run_torch() -> int:
            with torch.no_grad():
                emb, _ = torchopenl3.get_audio_embedding(audio, 48000, model=model, hop_size=0.1, batch_size=32,
                                                         center=True, verbose=False)
            return int(emb.shape[-2])

        rates["torchopenl3"] = _rate("torchopenl3 (linear, 512, random weights)", seconds, run_torch)
        for label, rate in rates.items():
            if label != "torchopenl3":
                print(f"{label} / torchopenl3: {rate / rates['torchopenl3']:.1f}x")
    print(f"l3net shared / l3net exact: {rates['l3net shared'] / rates['l3net exact']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="audio seconds timed per batch size")
    parser.add_argument("--file_seconds", type=float, default=600.0, help="length of the long file")
    parser.add_argument("--memory_hop", type=float, default=0.1, help="hop of the long-file run (s)")
    parser.add_argument("--compare", action="store_true", help="l3net shared/exact vs torchopenl3 (module doc)")
    parser.add_argument("--bfloat16", action="store_true", help="with --compare: also l3net under mixed_bfloat16")
    args = parser.parse_args()
    cfg = ModelConfig()
    with tempfile.TemporaryDirectory(prefix="l3net_bench_embed_") as tmp:
        model_dir = write_model_dir(os.path.join(tmp, "model"), cfg)
        embedder = get_embedder(model_dir)
        print(f"paper config: {cfg.sample_rate} Hz, {cfg.audio_seconds} s windows, embedding {embedder.audio_dim}-d; "
              f"hop 0.1 s = {int(round(1 / 0.1))} windows per audio second; {os.cpu_count()} CPUs", flush=True)
        if args.compare:
            compare(embedder, args.seconds, get_embedder(model_dir, bfloat16=True) if args.bfloat16 else None)
            return
        short = write_noise_wav(os.path.join(tmp, "short.wav"), args.seconds)
        long_path = write_noise_wav(os.path.join(tmp, "long.wav"), args.file_seconds)
        for exact in (False, True):
            for batch in (1, 32):
                _rate(f"{'exact' if exact else 'shared'} batch {batch:>2d}", args.seconds,
                      lambda: api.embed_audio_file(short, model=embedder, hop_size=0.1, batch_size=batch,
                                                   exact=exact)[0].shape[0])
        before = peak_rss_mb()
        t0 = time.perf_counter()
        emb, _ = api.embed_audio_file(long_path, model=embedder, hop_size=args.memory_hop, batch_size=32)
        elapsed = time.perf_counter() - t0
        size_mb = os.path.getsize(long_path) / 2 ** 20
        float_mb = args.file_seconds * cfg.sample_rate * 4 / 2 ** 20
        print(f"{args.file_seconds:.0f} s file ({size_mb:.0f} MB WAV, {float_mb:.0f} "
              f"MB as float32 at {cfg.sample_rate} Hz), hop {args.memory_hop} s, shared: {emb.shape[0]} windows in "
              f"{elapsed:.0f} s; peak RSS {before:.0f} MB before, {peak_rss_mb():.0f} MB after")


if __name__ == "__main__":
    main()
