"""Writes the stored-number fixtures of tests/test_regression.py.

For each tiny network below it writes `tests/data/<name>/`, a model directory laid out as
`l3net_train` leaves one (model_config.json, run_config.json, checkpoints/ with one
tf.train checkpoint of the model and its step), plus `expected.npz`:

  image         uint8 [4, S, S, 3]   seeded input frames (model input = image / 255)
  audio         int16 [4, N]         seeded input waveforms (model input = audio / 32768):
                                     tones, noise, silence then a quiet chirp (make_inputs)
  spectrogram   float32 [4, F, T, 1] the audio tower's front end ('audio_frontend') on `audio`
  vision_tower  float32 [4, C]       the vision tower on `image`
  audio_tower   float32 [4, C]       the audio tower on `audio`
  image_embedding, audio_embedding   AVE-Net only: the L2-normalised embeddings
  avc           float32 [4, 2]       the AVC model on the pairs (image[i], audio[i])
  avc_shifted   float32 [4, 2]       ... on the pairs (image[i], audio[i - 1])

all in inference mode. The weights are Keras' seeded initialisation with the BatchNorm moving
statistics then calibrated by forward passes in training mode on the inputs (so every
BatchNorm really normalises, instead of sitting at mean 0 / variance 1), and the decision layer
scaled so the probabilities spread over (0, 1) instead of all sitting near 0.5.

Run from the repository root:

    .venv/bin/python tests/data/make_regression_fixture.py

Regenerate only for an understood, accepted change of the numbers (say which in the commit); a
TensorFlow or Keras upgrade that moves them is what the regression test is there to catch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 11
BATCH = 4
STEP = 1234  # the checkpoint's training step, checked on load
RESIZE_SHORT_SIDE = 36
CALIBRATION_PASSES = 40
# L3-Net's untrained decision layer gives probabilities within ~0.02 of 0.5; its kernel is scaled
# so that the largest |logit difference| on the fixture's pairs is this.
L3NET_MAX_LOGIT_GAP = 3.0


def configs():
    from l3net.models.config import ModelConfig

    common = dict(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), sample_rate=8000,
                  audio_seconds=0.25, batchnorm_momentum=0.8)
    return {
        # The paper's linear log-spectrogram front end and fusion head.
        "regression_l3net": ModelConfig(model="l3net", frontend="linear", fusion_width=16, **common),
        # The mel front end and the embedding/distance head.
        "regression_avenet": ModelConfig(model="avenet", frontend="mel32", embedding_width=8, **common),
    }


def make_inputs(cfg, seed: int = SEED):
    """(uint8 images [4, S, S, 3], int16 audio [4, N]): smooth random images and four sounds.

    Sounds: a 440 Hz tone over a faint noise floor, a 1250 Hz tone in noise, loud noise, and
    digital silence followed by a quiet chirp in faint noise. Every spectrogram bin is either
    exactly log(LOG_EPS) (frames of pure silence) or well above the float32 rounding of the FFT,
    so the stored log-magnitudes are not at the mercy of cancellation near zero.
    """
    rng = np.random.default_rng(seed)
    size, n, rate = cfg.image_size, cfg.num_audio_samples, cfg.sample_rate
    coarse = rng.uniform(0, 255, (BATCH, size // 4, size // 4, 3))
    images = np.clip(np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2) + rng.normal(0, 20, (BATCH, size, size, 3)),
                     0, 255).astype(np.uint8)
    t = np.arange(n) / rate
    noise = rng.standard_normal((BATCH, n))
    chirp = np.sin(2 * np.pi * (200 * t + 0.5 * (3000 - 200) / t[-1] * t ** 2))
    silent = np.arange(n) < int(0.3 * n)
    audio = np.stack([
        0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * noise[0],
        0.3 * np.sin(2 * np.pi * 1250 * t) + 0.1 * noise[1],
        0.4 * noise[2],
        np.where(silent, 0.0, 0.05 * chirp + 0.005 * noise[3]),
    ])
    return images, np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)


def model_inputs(images: np.ndarray, audio: np.ndarray):
    return {"image": images.astype(np.float32) / 255.0, "audio": audio.astype(np.float32) / 32768.0}


def compute_outputs(model, images: np.ndarray, audio: np.ndarray):
    """The stored outputs (see the module docstring) of `model` on the stored inputs."""
    from l3net.models import embedding_models, get_towers

    x = model_inputs(images, audio)
    vision, audio_tower = get_towers(model)
    out = {
        "spectrogram": audio_tower.get_layer("audio_frontend")(x["audio"]),
        "vision_tower": vision(x["image"], training=False),
        "audio_tower": audio_tower(x["audio"], training=False),
        "avc": model(x, training=False),
        "avc_shifted": model({"image": x["image"], "audio": np.roll(x["audio"], 1, axis=0)}, training=False),
    }
    if model.name == "avenet":
        image_model, audio_model = embedding_models(model)
        out["image_embedding"] = image_model(x["image"], training=False)
        out["audio_embedding"] = audio_model(x["audio"], training=False)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def write_fixture(name: str, cfg, root: str = HERE) -> str:
    import keras
    import tensorflow as tf

    from l3net.model_dir import load_model
    from l3net.models import build_model

    path = os.path.join(root, name)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    keras.utils.set_random_seed(SEED)
    model = build_model(cfg)
    images, audio = make_inputs(cfg)
    x = model_inputs(images, audio)
    for _ in range(CALIBRATION_PASSES):
        model(x, training=True)
    if cfg.model == "l3net":
        decision = model.get_layer("avc_output")
        kernel, bias = decision.get_weights()
        hidden = keras.Model(model.inputs, model.get_layer("fusion_fc1").output)
        shifted = {"image": x["image"], "audio": np.roll(x["audio"], 1, axis=0)}
        gaps = np.concatenate([np.asarray(hidden(pairs, training=False)) @ (kernel[:, 1] - kernel[:, 0])
                               for pairs in (x, shifted)])
        decision.set_weights([kernel * (L3NET_MAX_LOGIT_GAP / np.abs(gaps).max()), bias])

    with open(os.path.join(path, "model_config.json"), "w") as f:
        f.write(cfg.to_json() + "\n")
    with open(os.path.join(path, "run_config.json"), "w") as f:
        json.dump({"task": "avc", "model": cfg.to_dict(), "data": {"resize_short_side": RESIZE_SHORT_SIDE},
                   "made_by": "tests/data/make_regression_fixture.py"}, f, indent=2, sort_keys=True)
        f.write("\n")
    checkpoint = tf.train.Checkpoint(model=model, step=tf.Variable(STEP, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, os.path.join(path, "checkpoints"), max_to_keep=1).save(
        checkpoint_number=STEP)

    # Expected outputs from the model as the library loads it back, not from the one in memory.
    loaded, _, step = load_model(path)
    assert step == STEP, step
    expected = compute_outputs(loaded, images, audio)
    direct = compute_outputs(model, images, audio)
    for key in expected:
        np.testing.assert_array_equal(expected[key], direct[key], err_msg=key)
    np.savez_compressed(os.path.join(path, "expected.npz"), image=images, audio=audio, **expected)
    return path


def main(argv) -> int:
    names = argv[1:] or list(configs())
    for name in names:
        path = write_fixture(name, configs()[name])
        with np.load(os.path.join(path, "expected.npz")) as data:
            avc = data["avc"][:, 1], data["avc_shifted"][:, 1]
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
        print(f"{path}: {size / 1024:.0f} KB; P(correspond) {np.round(avc[0], 3)} / shifted {np.round(avc[1], 3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
