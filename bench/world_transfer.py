"""What a synthetic sound world can teach at best: a supervised ceiling for transfer to real audio.

AVC training only learns what tells the world's sounds apart. So before spending demo-length
runs on a world, ask a cheaper question: if the audio tower were trained *with labels* to name
every category of the world's ESC-50-layout clips (objects and textures), would its features
transfer to real recordings better than its random-init twin's? If not, no self-supervised recipe
on that world will. (One seed and one training length: a screening tool, not a result.)

Steps: renders `--clips_per_category` 5 s clips per category (`data_tools.synthetic.esc50`),
resampled to the model rate and cut into the 4 loudest of 16 random 1 s windows each; trains the
model's audio tower + a linear classifier on them (random gain per window, Adam, `--seconds` of
training, 10 % held out for the printed accuracy); writes a model directory that `l3net_probe`
reads (the tower inside an untrained L3-Net of `--model_config`'s architecture).

  .venv/bin/python bench/world_transfer.py --world rich --output_dir /tmp/sup_rich \\
      --model_config runs/demo/model_demo_cpu_n480_seed0_clutter0
  l3net_probe esc50 --data_dir runs/demo/real_audio_seed0_c20 --model_dir /tmp/sup_rich
  l3net_probe esc50 --data_dir runs/demo/real_audio_seed0_c20 --model_dir random --model_config /tmp/sup_rich
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

WINDOWS_PER_CLIP = 4


def labelled_windows(world: str, clips_per_category: int, sample_rate: int, seconds: float):
    """-> (windows float32 [N, seconds * sample_rate], labels int [N], category names)."""
    from scipy.signal import resample_poly

    from data_tools.synthetic.esc50 import SAMPLE_RATE, categories, render_clip

    names = categories(world)
    length = int(round(seconds * sample_rate))
    gcd = np.gcd(sample_rate, SAMPLE_RATE)
    windows, labels = [], []
    for target, category in enumerate(names):
        for k in range(clips_per_category):
            rng = np.random.default_rng([77, target, k])
            clip = resample_poly(render_clip(category, rng, world)[0], sample_rate // gcd, SAMPLE_RATE // gcd)
            starts = rng.integers(0, len(clip) - length, 16)
            energy = np.array([np.mean(clip[s:s + length] ** 2) for s in starts])
            for s in starts[np.argsort(energy)[-WINDOWS_PER_CLIP:]]:  # The event, not the silence.
                windows.append(clip[s:s + length].astype(np.float32))
                labels.append(target)
    return np.stack(windows), np.asarray(labels), names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="rich", help="basic or rich")
    parser.add_argument("--output_dir", required=True, help="model directory to write")
    parser.add_argument("--model_config", required=True,
                        help="model_config.json or a model directory (its architecture)")
    parser.add_argument("--clips_per_category", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=180.0, help="training time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    from l3net.evaluation.probe import RANDOM_INIT, load_probe_model
    from l3net.model_dir import ModelDir
    from l3net.models.avc_models import get_towers

    # The same seeded initial weights as `l3net_probe --model_dir random --model_config ... --seed`.
    start = load_probe_model(RANDOM_INIT, model_config=args.model_config, seed=args.seed)
    model, cfg = start.model, start.config

    started = time.monotonic()
    x, y, names = labelled_windows(args.world, args.clips_per_category, cfg.sample_rate, cfg.audio_seconds)
    print(f"{args.world} world: {len(names)} categories, {len(y)} windows in {time.monotonic() - started:.0f} s")

    _, audio_tower = get_towers(model)
    waveform = keras.Input((x.shape[1],))
    classifier = keras.Model(waveform, keras.layers.Dense(len(names))(audio_tower(waveform)))
    classifier.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    held = len(y) // 10
    started, epoch = time.monotonic(), 0
    while time.monotonic() - started < args.seconds:
        gain = np.exp(rng.uniform(-1.0, 1.0, (len(y) - held, 1))).astype(np.float32)
        history = classifier.fit(x[held:] * gain, y[held:], batch_size=32, epochs=1, verbose=0,
                                 validation_data=(x[:held], y[:held])).history
        epoch += 1
        print(f"epoch {epoch}  {time.monotonic() - started:5.0f} s  train {history['accuracy'][-1]:.3f}  "
              f"held-out {history['val_accuracy'][-1]:.3f}", flush=True)
    ModelDir(args.output_dir).write_for_inference(cfg, model, step=epoch)
    print(f"wrote {args.output_dir}: probe it with l3net_probe esc50 --model_dir {args.output_dir}")


if __name__ == "__main__":
    main()
