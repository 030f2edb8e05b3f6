"""How long `l3net_probe esc50` takes on real ESC-50 (2,000 clips x 5 s): measured rates, extrapolated.

Times the three stages on this machine and prints the estimate for the full benchmark:
  1. decoding + resampling a 5 s 44.1 kHz 16-bit WAV to the model rate (l3net.audio_files),
  2. pooled conv features per 1 s window (`probe_features.pooled_feature_fn`, batched), for the
     paper config (6144-d) and the CPU demo config (or --model_dir),
  3. the 5-fold LinearSVC probe on features of ESC-50's size (class-structured random features of
     the same shape: 4/5 x 2,000 x windows_per_clip training windows, 50 classes).

  .venv/bin/python bench/probe_speed.py                       # paper + demo config
  .venv/bin/python bench/probe_speed.py --skip_paper --model_dir runs/demo/model_demo_cpu_n480_seed0_clutter0
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ESC50_CLIPS = 2000
ESC50_SECONDS = 5.0
ESC50_CLASSES = 50
ESC50_RATE = 44100


def windows_per_clip(window_s: float, hop_s: float) -> int:
    return 1 + int((ESC50_SECONDS - window_s) // hop_s)


def time_decode(sample_rate: int, repeats: int) -> float:
    """Seconds to read one 5 s 44.1 kHz 16-bit mono WAV at `sample_rate`."""
    from l3net.media_encode import write_wav
    from l3net.audio_files import read_audio

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.wav")
        write_wav(path, 0.1 * np.random.default_rng(0).standard_normal((1, int(ESC50_SECONDS * ESC50_RATE))),
                  ESC50_RATE)
        read_audio(path, sample_rate)
        start = time.perf_counter()
        for _ in range(repeats):
            read_audio(path, sample_rate)
        return (time.perf_counter() - start) / repeats


def time_features(model, cfg, batch_size: int, batches: int) -> tuple:
    """(seconds per window, feature_dim) of the pooled conv features, after one warm-up batch."""
    from l3net.evaluation.probe_features import pooled_feature_fn

    fn, dim, _ = pooled_feature_fn(model)
    x = (0.1 * np.random.default_rng(0).standard_normal((batch_size, cfg.num_audio_samples))).astype(np.float32)
    fn(x).numpy()
    start = time.perf_counter()
    for _ in range(batches):
        fn(x).numpy()
    return (time.perf_counter() - start) / (batches * batch_size), dim


def time_classifier(dim: int, windows: int, folds: int) -> float:
    """Seconds of `folds` folds of the LinearSVC probe on ESC-50-sized class-structured features."""
    from l3net.evaluation.linear_probe import cross_validate

    rng = np.random.default_rng(0)
    targets = np.arange(ESC50_CLIPS) % ESC50_CLASSES
    clip_index = np.repeat(np.arange(ESC50_CLIPS), windows).astype(np.int32)
    centres = rng.standard_normal((ESC50_CLASSES, dim)).astype(np.float32) * 0.3
    features = (centres[targets[clip_index]] + rng.standard_normal((len(clip_index), dim), np.float32))
    features = np.maximum(features, 0).astype(np.float16)  # post-ReLU-like, stored as the cache stores it
    fold_of = np.arange(ESC50_CLIPS) % 5
    splits = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]
    start = time.perf_counter()
    cross_validate(features, clip_index, targets, splits, "linear_svm")
    return (time.perf_counter() - start) * 5 / folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=None, help="also time this trained model's config")
    parser.add_argument("--skip_paper", action="store_true", help="skip the 6144-d paper-config timing")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--svm_folds", type=int, default=1, help="folds actually run (time x 5/folds)")
    args = parser.parse_args()

    import keras

    from l3net import model_dir as model_dir_lib
    from l3net.models import ModelConfig, build_model

    configs = []
    if not args.skip_paper:
        configs.append(("paper", ModelConfig()))
    if args.model_dir:
        configs.append((args.model_dir, model_dir_lib.read_model_config(args.model_dir)))
    else:
        configs.append(("demo", ModelConfig(image_size=48, vision_widths=(16, 32, 64, 128),
                                            audio_widths=(8, 16, 32, 64), frontend="mel32", sample_rate=16000)))
    per_clip = windows_per_clip(1.0, args.hop)
    print(f"ESC-50: {ESC50_CLIPS} clips x {ESC50_SECONDS:.0f} s, {per_clip} windows per clip (hop {args.hop} s); "
          "on a busy machine all times are upper bounds", flush=True)
    for name, cfg in configs:
        keras.utils.set_random_seed(0)
        model = build_model(cfg)
        decode = time_decode(cfg.sample_rate, 5)
        print(f"{name}: decode {1000 * decode:.1f} ms/clip", flush=True)
        seconds, dim = time_features(model, cfg, args.batch_size, args.batches)
        total_windows = ESC50_CLIPS * per_clip
        # Decoding runs in reader threads alongside the network: the slower of the two dominates.
        extract = max(seconds * total_windows, decode * ESC50_CLIPS / 2)
        print(f"{name}: {dim}-d features, network {1000 * seconds:.2f} ms/window ({1 / seconds:.1f} windows/s); "
              f"features of ESC-50 {extract / 60:.1f} min", flush=True)
        svm = time_classifier(dim, per_clip, args.svm_folds)
        print(f"{name}: 5-fold LinearSVC {svm:.0f} s; estimated first run {(extract + svm) / 60:.1f} min, "
              f"re-run from the cache {svm / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
