"""How long `l3net_probe esc50` takes on real ESC-50 (2,000 clips x 5 s): measured rates, extrapolated.

Times the three stages on this machine and prints the estimate for the full benchmark:
  1. decoding + resampling a 5 s 44.1 kHz 16-bit WAV to the model rate (l3net.audio_files),
  2. pooled conv features of 5 s clips (`probe_features.window_features`, `l3net_probe`'s own
     path: shared conv maps, and exact windows for comparison), for the paper config (6144-d) and
     the CPU demo config (or --model_dir),
  3. the 5-fold linear SVM probe (--classifier) on features of ESC-50's size (class-structured random features of
     the same shape: 4/5 x 2,000 x windows_per_clip training windows, 50 classes).

  .venv/bin/python bench/probe_speed.py                       # paper + demo config
  .venv/bin/python bench/probe_speed.py --svm_folds 0 --bfloat16   # features only, float32 and bfloat16
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


def time_features(model, cfg, hop_s: float, batch_size: int, clips: int, exact: bool) -> tuple:
    """(seconds per clip, feature_dim) of the pooled conv features of `clips` 5 s clips, after a warm-up.

    Runs `l3net_probe`'s own feature path (probe_features.window_features: shared conv maps, or
    every window through the tower with `exact`), on noise: speed does not depend on the sound.
    """
    from l3net.evaluation.probe_features import window_features
    from l3net.serving.windows import hop_samples

    hop = hop_samples(hop_s, cfg.sample_rate)
    features_of, dim, _ = window_features(model, cfg, cfg.num_audio_samples, hop, exact)
    rng = np.random.default_rng(0)
    audio = [(0.1 * rng.standard_normal(int(ESC50_SECONDS * cfg.sample_rate))).astype(np.float32)
             for _ in range(clips)]
    list(features_of(audio[:2], batch_size))
    start = time.perf_counter()
    out = list(features_of(audio, batch_size))
    assert len(out) == clips
    return (time.perf_counter() - start) / clips, dim


def time_classifier(dim: int, windows: int, folds: int, classifier: str) -> float:
    """Seconds of `folds` folds of the probe's classifier on ESC-50-sized class-structured features."""
    from l3net.evaluation.linear_probe import cross_validate

    rng = np.random.default_rng(0)
    targets = np.arange(ESC50_CLIPS) % ESC50_CLASSES
    clip_index = np.repeat(np.arange(ESC50_CLIPS), windows).astype(np.int32)
    centres = rng.standard_normal((ESC50_CLASSES, dim)).astype(np.float32) * 0.3
    features = (centres[targets[clip_index]] + rng.standard_normal((len(clip_index), dim), np.float32))
    features = np.maximum(features, 0).astype(np.float16)  # post-ReLU-like, stored as the cache stores it
    # ESC-50's folds: every fold holds 8 clips of every class (a fold of `arange % 5` would hold
    # only classes f, f+5, ...: 10 of the 50 classes missing from each training set).
    fold_of = (np.arange(ESC50_CLIPS) // ESC50_CLASSES) % 5
    splits = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]
    start = time.perf_counter()
    cross_validate(features, clip_index, targets, splits, classifier)
    return (time.perf_counter() - start) * 5 / folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=None, help="also time this trained model's config")
    parser.add_argument("--skip_paper", action="store_true", help="skip the 6144-d paper-config timing")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--clips", type=int, default=12, help="clips timed per config and mode")
    parser.add_argument("--skip_exact", action="store_true", help="time shared conv maps only")
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--svm_folds", type=int, default=1, help="folds actually run (time x 5/folds); 0: skip "
                        "the classifier (minutes for 6144-d features)")
    parser.add_argument("--bfloat16", action="store_true", help="also time the networks computing in bfloat16 "
                        "(`l3net_probe --bfloat16`; fast on CPUs with AVX512_BF16 or AMX)")
    parser.add_argument("--classifier", default="linear_svm", help="linear_svm (the probe's) or liblinear_svm "
                        "(LinearSVC, for comparison: > 20 min per fold at paper size)")
    args = parser.parse_args()

    import keras

    from l3net import model_dir as model_dir_lib
    from l3net.models import ModelConfig, build_model
    from l3net.models.precision import bfloat16_compute

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
        decode = time_decode(cfg.sample_rate, 5)
        print(f"{name}: decode {1000 * decode:.1f} ms/clip", flush=True)
        total = {}
        for bfloat16 in (False, True) if args.bfloat16 else (False,):
            with bfloat16_compute(bfloat16):
                keras.utils.set_random_seed(0)
                model = build_model(cfg)
            for exact in (False, True) if not args.skip_exact else (False,):
                mode = ("exact" if exact else "shared") + (" bfloat16" if bfloat16 else "")
                seconds, dim = time_features(model, cfg, args.hop, args.batch_size, args.clips, exact)
                # Decoding runs in reader threads alongside the network: the slower of the two dominates.
                total[mode] = max(seconds * ESC50_CLIPS, decode * ESC50_CLIPS / 2)
                print(f"{name}: {dim}-d features, {mode}: {seconds:.3f} s/clip ({per_clip / seconds:.1f} "
                      f"windows/s); features of ESC-50 {total[mode] / 60:.1f} min", flush=True)
        if args.svm_folds == 0:
            continue
        svm = time_classifier(dim, per_clip, args.svm_folds, args.classifier)
        for mode, extract in total.items():
            print(f"{name}: 5-fold {args.classifier} {svm:.0f} s; estimated first run, {mode}: "
                  f"{(extract + svm) / 60:.1f} min, "
                  f"re-run from the cache {svm / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
