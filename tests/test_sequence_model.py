"""The sequence L3-Net (issue 17 item 3): N frames over a longer clip, the same towers, a sequence layer.

Checked here: the pipeline's sequence pairs (which frames, which clip, from decoded content);
the model's shapes, its analytic parameter counts against hand-computed numbers and Keras, that
its output is the single-frame towers composed with the sequence layer; a tiny training run
that lowers the validation loss; and the tools on a trained sequence model dir (`l3net_eval
avc`, retrieval, the probe's 1 s audio tower, the exported correspondence signature), plus the
refused combinations.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Dict, List

import numpy as np
import pytest
import tensorflow as tf

import record_fixtures as rf
from l3net import model_dir as model_dir_lib
from l3net.data import avc_dataset
from l3net.data.config import DataConfig
from l3net.evaluation.avc import evaluate_avc
from l3net.models import ModelConfig, build_model, count_flops, count_params, get_towers
from l3net.models.sequence_avc import AUDIO_SEQUENCE, VISION_SEQUENCE
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import train

FPS = 10.0
RATE = 8000
BIN = os.path.dirname(sys.executable)


# --- Pipeline ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_videos(tmp_path_factory) -> Dict[str, object]:
    """Videos of 3 s (30 frames) and one whose frames end before its audio (12 frames, 3 s)."""
    specs = [(30, 3.0), (30, 3.0), (12, 3.0), (30, 2.4), (30, 3.0), (25, 2.0)]
    records = [rf.fake_video(v, num_frames=n, audio_seconds=a, fps=FPS, sample_rate=RATE)
               for v, (n, a) in enumerate(specs)]
    data_dir = str(tmp_path_factory.mktemp("long"))
    rf.write_dataset(data_dir, records, sample_rate=RATE, fps=FPS, short_side=40)
    return {"dir": data_dir, "records": {r.video_id: r for r in records}}


def _sequence_data_config(**overrides) -> DataConfig:
    model = ModelConfig(image_size=32, sample_rate=RATE, num_frames=4, clip_seconds=2.0)
    base = dict(batch_size=16, pairs_per_video=4, example_shuffle_buffer=64, video_shuffle_buffer=16, augment=False)
    base.update(overrides)
    return DataConfig.for_model(model, resize_short_side=40, **base)


def _pairs(dataset: tf.data.Dataset, batches: int) -> List[Dict[str, np.ndarray]]:
    out = []
    for features, label in dataset.take(batches):
        arrays = {k: v.numpy() for k, v in features.items()}
        for i in range(len(label)):
            out.append({**{k: v[i] for k, v in arrays.items()}, "label": int(label[i])})
    return out


@pytest.mark.parametrize("training", [False, True])
def test_sequence_pairs_show_frames_spread_over_their_clip(long_videos, training):
    cfg = _sequence_data_config()  # no augmentation: the gain would hide the audio provenance
    assert cfg.is_sequence and cfg.avc_samples == 2 * RATE and cfg.num_audio_samples == RATE
    pairs = _pairs(avc_dataset(long_videos["dir"], "train", cfg, training=training, seed=3, with_metadata=True), 6)
    assert len(pairs) >= 20 and {p["label"] for p in pairs} == {0, 1}
    samples_per_frame = RATE / FPS
    for pair in pairs:
        assert pair["image"].shape == (4, 32, 32, 3) and pair["audio"].shape == (2 * RATE,)
        frame_id, audio_id = pair["frame_video_id"].decode(), pair["audio_video_id"].decode()
        frame_rec = long_videos["records"][frame_id]
        provenance = [rf.frame_provenance(image) for image in pair["image"]]
        assert {video for video, _ in provenance} == {int(frame_id[3:])}
        frames = [frame for _, frame in provenance]
        audio_video, start = rf.audio_provenance(pair["audio"])
        assert f"vid{audio_video:03d}" == audio_id and start == round(float(pair["audio_start"]) * RATE)
        assert start % samples_per_frame == 0 and start + 2 * RATE <= len(long_videos["records"][audio_id].audio)
        assert frames[0] == round(float(pair["frame_time"]) * FPS)
        # Frame i shows time start + (i + 1/2) * 2 s / 4: grid step k + 2, 7, 12, 17 (of 20 per clip),
        # or the video's last frame where its frames end early.
        if pair["label"] == 1:
            k = start // int(samples_per_frame)
            assert audio_id == frame_id
            assert frames == [min(k + offset, len(frame_rec.frames) - 1) for offset in (2, 7, 12, 17)]
        else:
            assert audio_id != frame_id
            assert frames == sorted(frames) and frames[-1] - frames[0] <= 15


# --- Model ------------------------------------------------------------------------------------

TINY_SEQ = ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                       sample_rate=RATE, audio_seconds=0.5, clip_seconds=1.0, num_frames=3,
                       batchnorm_momentum=0.8, fusion_width=32)

# Sequence-layer parameters of TINY_SEQ, by hand (d = 16, both towers end at 16 channels):
#   GRU (Keras, reset_after=True): 3 gates x (input d x d + recurrent d x d + two biases of d)
#     = 3 * (256 + 256 + 32) = 1632 per modality, 3264 for two;
#   LSTM: 4 gates x (d x d + d x d + d) = 4 * 528 = 2112 per modality, 4224;  max / mean pooling: 0.
HAND_SEQUENCE_PARAMS = {"gru": 3264, "lstm": 4224, "max": 0, "mean": 0}


@pytest.mark.parametrize("layer", sorted(HAND_SEQUENCE_PARAMS))
def test_sequence_model_shapes_and_parameter_counts(layer):
    cfg = dataclasses.replace(TINY_SEQ, sequence_layer=layer)
    single = dataclasses.replace(TINY_SEQ, num_frames=1, clip_seconds=0.0)
    model, single_model = build_model(cfg), build_model(single)
    assert model.input["image"].shape[1:] == (3, 32, 32, 3) and model.input["audio"].shape[1:] == (2 * 4000,)
    counts = count_params(cfg)
    assert counts["sequence"] == HAND_SEQUENCE_PARAMS[layer]
    assert counts["total"] == model.count_params() == single_model.count_params() + HAND_SEQUENCE_PARAMS[layer]
    # The towers are the single-frame model's: same inputs, same parameters.
    for tower, single_tower in zip(get_towers(model), get_towers(single_model)):
        assert tower.input.shape == single_tower.input.shape
        assert tower.count_params() == single_tower.count_params()
    out = model({"image": np.random.rand(2, 3, 32, 32, 3).astype("float32"),
                 "audio": np.random.rand(2, 8000).astype("float32")})
    assert out.shape == (2, 2)
    flops, single_flops = count_flops(cfg), count_flops(single)
    assert flops["vision_tower"] == 3 * single_flops["vision_tower"]
    assert flops["audio_tower"] == 2 * single_flops["audio_tower"]


def test_sequence_model_is_the_towers_then_the_sequence_layer():
    """With max pooling over steps, the output must equal the towers run frame by frame and window
    by window, max-pooled, through L3-Net's fusion layers."""
    tf.keras.utils.set_random_seed(2)
    cfg = dataclasses.replace(TINY_SEQ, sequence_layer="max")
    model = build_model(cfg)
    rng = np.random.default_rng(0)
    images = rng.random((4, 3, 32, 32, 3), dtype=np.float32)
    audio = rng.uniform(-0.5, 0.5, (4, 8000)).astype(np.float32)
    vision, audio_tower = get_towers(model)
    v = np.max([vision(images[:, i], training=False).numpy() for i in range(3)], axis=0)
    a = np.max([audio_tower(audio[:, j * 4000:(j + 1) * 4000], training=False).numpy() for j in range(2)], axis=0)
    hidden = model.get_layer("fusion_fc1")(np.concatenate([v, a], axis=1))
    expected = model.get_layer("avc_output")(hidden).numpy()
    np.testing.assert_allclose(model({"image": images, "audio": audio}, training=False).numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    gru = build_model(TINY_SEQ)
    assert {VISION_SEQUENCE, AUDIO_SEQUENCE} <= {layer.name for layer in gru.layers}


@pytest.mark.parametrize("overrides, needle", [
    ({"model": "avenet"}, "model=l3net only"),
    ({"clip_seconds": 0.75}, "whole number"),
    ({"sequence_layer": "attention"}, "sequence_layer"),
    ({"num_frames": 0}, "num_frames"),
])
def test_bad_sequence_configs_are_refused(overrides, needle):
    with pytest.raises(ValueError, match=needle):
        dataclasses.replace(TINY_SEQ, **overrides).validate()


# --- Training and the tools -------------------------------------------------------------------

SEQ_FLAGS = ["--image_size=32", "--resize_short_side=36", "--vision_widths=8,16", "--audio_widths=8,16",
             "--frontend=mel32", "--batchnorm_momentum=0.8", f"--sample_rate={RATE}", "--audio_seconds=0.5",
             "--clip_seconds=1.0", "--num_frames=3", "--fusion_width=32", "--batch_size=16", "--learning_rate=1e-3",
             "--log_every_steps=5", "--eval_every_steps=20", "--eval_pairs=16", "--example_shuffle_buffer=64",
             "--video_shuffle_buffer=16"]
SEQ_DATA = DataConfig.for_model(TINY_SEQ, resize_short_side=36, batch_size=16, video_shuffle_buffer=16,
                                example_shuffle_buffer=64)


@pytest.fixture(scope="module")
def class_data(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("classes"))
    records = [rf.class_video(i, split, i % len(rf.CLASS_COLOURS), sample_rate=RATE, fps=8.0)
               for split, indices in (("train", range(24)), ("val", range(24, 32)), ("test", range(32, 40)))
               for i in indices]
    rf.write_dataset(path, records, sample_rate=RATE, fps=8.0, short_side=40)
    return path


@pytest.fixture(scope="module")
def trained_sequence_dir(class_data, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("sequence_model"))
    model_dir_lib.ModelDir(path).write_run("avc", TINY_SEQ, "", {"data": dataclasses.asdict(SEQ_DATA)})
    cfg = TrainConfig(learning_rate=1e-3, train_steps=60, log_every_steps=10, eval_every_steps=30, eval_pairs=32)
    result = train(TINY_SEQ, SEQ_DATA, cfg, class_data, path, verbose=False)
    assert result.final_step == 60
    return path


def _val_pairs(data_dir: str) -> tf.data.Dataset:
    return avc_dataset(data_dir, "val", dataclasses.replace(SEQ_DATA, augment=False), training=False, seed=0)


@pytest.mark.slow
def test_tiny_sequence_training_lowers_the_loss(class_data, trained_sequence_dir):
    tf.keras.utils.set_random_seed(0)
    untrained = evaluate_avc(build_model(TINY_SEQ), _val_pairs(class_data))
    model, _, step = model_dir_lib.load_model(trained_sequence_dir, "latest")
    trained = evaluate_avc(model, _val_pairs(class_data))
    assert step == 60 and trained.num_pairs == untrained.num_pairs == 8 * 4
    assert trained.loss < untrained.loss - 0.05, (untrained, trained)


def _run(args: List[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_tools_run_on_a_sequence_model_dir(class_data, trained_sequence_dir, tmp_path):
    out = tmp_path / "avc.json"
    result = _run([os.path.join(BIN, "l3net_eval"), "avc", f"--model_dir={trained_sequence_dir}",
                   f"--data_dir={class_data}", "--split=test", f"--output_json={out}"])
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    model, _, _ = model_dir_lib.load_model(trained_sequence_dir)
    direct = evaluate_avc(model, avc_dataset(class_data, "test", dataclasses.replace(SEQ_DATA, augment=False,
                                                                                     batch_size=32),
                                             training=False, seed=0))
    assert report["accuracy"] == pytest.approx(direct.accuracy) and report["num_pairs"] == 8 * 4

    # Retrieval ranks single frames and 1 s (here 0.5 s) windows through the towers.
    result = _run([os.path.join(BIN, "l3net_retrieval"), "--model_dir", trained_sequence_dir, "--data_dir",
                   class_data, "--output_dir", str(tmp_path / "retrieval"), "--split=test"])
    assert result.returncode == 0, result.stderr
    retrieval = json.loads((tmp_path / "retrieval" / "retrieval.json").read_text())
    assert retrieval["num_videos"] == 8 and set(retrieval["ndcg"]) >= {"im-im", "aud-aud"}

    # The probe's features are the 1 s (here 0.5 s) audio tower's: the same as a single-frame
    # model's given that tower's weights.
    from l3net.evaluation import probe, probe_features
    probe_model = probe.load_probe_model(trained_sequence_dir)
    single = build_model(dataclasses.replace(TINY_SEQ, num_frames=1, clip_seconds=0.0))
    get_towers(single)[1].set_weights(get_towers(model)[1].get_weights())
    clip = np.random.default_rng(3).uniform(-0.3, 0.3, 6000).astype(np.float32)
    window, hop = TINY_SEQ.num_audio_samples, 1000
    ours, dim, _ = probe_features.window_features(probe_model.model, probe_model.config, window, hop)
    theirs, _, _ = probe_features.window_features(single, probe_model.config, window, hop)
    ours, theirs = next(iter(ours([clip], 4))), next(iter(theirs([clip], 4)))
    assert ours.shape == (3, dim)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)

    # The exported correspondence signature takes the frames of a clip.
    from l3net.serving.export import export_model
    paths = export_model(trained_sequence_dir, str(tmp_path / "export"))
    loaded = tf.saved_model.load(paths["avc"])
    frames = np.random.default_rng(1).integers(0, 255, (2, 3, 40, 60, 3), dtype=np.uint8)
    waveform = np.random.default_rng(2).uniform(-0.3, 0.3, (2, RATE)).astype(np.float32)
    probability = loaded.signatures["correspondence"](images=tf.constant(frames), waveform=tf.constant(waveform),
                                                      sample_rate=tf.constant(RATE))["probability"].numpy()
    # Each frame prepared as the single-image signatures prepare one (l3net.serving.images).
    from l3net.serving.images import prepare_images
    resize = model_dir_lib.ModelDir(trained_sequence_dir).resize_short_side()
    images = prepare_images(tf.constant(frames.reshape(6, 40, 60, 3)), 32, resize)
    expected = model({"image": tf.reshape(images, [2, 3, 32, 32, 3]), "audio": tf.constant(waveform)},
                     training=False)[:, 1]
    np.testing.assert_allclose(probability, expected.numpy(), rtol=1e-5, atol=1e-6)
    audio = tf.saved_model.load(paths["audio_embedding"])
    embeddings = audio.signatures["embed_audio"](waveform=tf.constant(waveform), sample_rate=tf.constant(RATE),
                                                 hop_seconds=tf.constant(0.25))["embeddings"]
    assert embeddings.shape[-1] == 16


@pytest.mark.slow
@pytest.mark.parametrize("extra, needle", [
    (["--batch_negatives"], "--batch_negatives"),
    (["--model=avenet"], "l3net only"),
    (["--clip_seconds=0.7"], "--clip_seconds"),
])
def test_refused_sequence_flags_exit_2_in_one_line(class_data, tmp_path, extra, needle):
    model_dir = tmp_path / "model"
    result = _run([os.path.join(BIN, "l3net_train"), f"--data_dir={class_data}", f"--model_dir={model_dir}",
                   *SEQ_FLAGS, "--train_steps=5", *extra])
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("l3net_train")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr and not model_dir.exists()
