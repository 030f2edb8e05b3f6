"""Envelope prediction (seed 002): targets vs a NumPy/SciPy reference, shapes, metrics on hand-made
sequences, the feature cache against the frames path, and a tiny train -> `l3net_eval envelope`
round trip."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import gaussian_filter1d
from scipy.stats import pearsonr

import record_fixtures as rf
from l3net.data import schema
from l3net.data.config import DataConfig
from l3net.envelope import baselines, feature_cache
from l3net.envelope.config import CONFIG_NAME, EnvelopeConfig
from l3net.envelope.envelope_dataset import envelope_dataset
from l3net.envelope.envelope_metrics import (
    PeakParams, detect_peaks, f1_from_counts, grade, match_peaks, pearson, score_clip, summarize)
from l3net.envelope.envelope_model import PER_FRAME, FrameDeltas, feature_part, head_part, new_envelope_model
from l3net.envelope.prediction import predict_cached, predict_clips
from l3net.envelope.targets import envelope_targets, smoothing_sigma
from l3net.models.config import ModelConfig
from l3net.tasks.envelope import EnvelopeTask, masked_bce, masked_pearson
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import train_task

SAMPLE_RATE = 8000
FPS = 10.0
BIN = os.path.dirname(sys.executable)
VISION = ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                     sample_rate=SAMPLE_RATE, batchnorm_momentum=0.8)
ENV_CFG = EnvelopeConfig(vision=VISION, feature_grid=2, lstm_units=8, fc_widths=(8, 4), sequence_frames=6)
ENV_BI = dataclasses.replace(ENV_CFG, bidirectional=True, frame_deltas=True)
DATA_CFG = DataConfig.for_model(VISION, resize_short_side=36, batch_size=4, video_shuffle_buffer=8, augment=True)
PLAIN_CFG = DataConfig.for_model(VISION, resize_short_side=36, batch_size=3, augment=False)


def reference_targets(audio: np.ndarray, num_frames: int, sample_rate: int, fps: float) -> np.ndarray:
    """The seed's recipe in NumPy/SciPy: |x| -> Gaussian (sigma 200 @ 44.1 kHz) -> frame means -> [0, 1]."""
    smooth = gaussian_filter1d(np.abs(audio.astype(np.float64) / 32768.0), 200.0 * sample_rate / 44100.0,
                               mode="reflect", truncate=4.0)
    out = np.zeros(num_frames)
    for i in range(num_frames):
        lo = int(np.clip(np.round((i - 0.5) * sample_rate / fps), 0, len(audio)))
        hi = int(np.clip(np.round((i + 0.5) * sample_rate / fps), 0, len(audio)))
        out[i] = smooth[lo:hi].mean() if hi > lo else 0.0
    span = out.max() - out.min()
    return (out - out.min()) / span if span > 1e-6 else np.zeros(num_frames)


def _audio(index: int, seconds: float) -> np.ndarray:
    """Quiet noise with decaying clicks at random instants."""
    rng = np.random.default_rng(index)
    n = int(seconds * SAMPLE_RATE)
    audio = 0.01 * rng.standard_normal(n)
    for onset in rng.uniform(0, seconds - 0.2, 3):
        k = int(onset * SAMPLE_RATE)
        audio[k:k + 800] += 0.6 * np.exp(-np.arange(800) / 150.0) * rng.standard_normal(800)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def _video(index: int, split: str, num_frames: int) -> schema.VideoRecord:
    audio = _audio(index, 1.5 if index % 3 else 1.2)  # some videos outlast their audio
    frames = [rf.frame_jpeg(index % 16, f, 40, 60) for f in range(num_frames)]
    return schema.VideoRecord(f"v{index:03d}", f"v{index:03d}.mp4", split, [f"class{index % 2}"], FPS, frames,
                              SAMPLE_RATE, audio, max(num_frames / FPS, len(audio) / SAMPLE_RATE))


RECORDS = ([_video(i, "train", 12 + i % 5) for i in range(8)] + [_video(i, "val", 14) for i in range(8, 11)]
           + [_video(i, "test", 10 + i % 4) for i in range(11, 15)])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("envelope_data"))
    rf.write_dataset(path, RECORDS, sample_rate=SAMPLE_RATE, fps=FPS, short_side=40)
    return path


def test_sigma_scales_with_the_sample_rate():
    assert smoothing_sigma(44100) == pytest.approx(200.0)
    assert smoothing_sigma(16000) == pytest.approx(200.0 * 16000 / 44100)


@pytest.mark.parametrize("index, num_frames", [(1, 15), (3, 16), (4, 9)])
def test_targets_match_numpy_reference(index, num_frames):
    audio = _audio(index, 1.2 + 0.3 * (index % 2))
    got = envelope_targets(tf.constant(audio), num_frames, SAMPLE_RATE, FPS, nominal_rate=SAMPLE_RATE).numpy()
    want = reference_targets(audio, num_frames, SAMPLE_RATE, FPS)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert got.min() == pytest.approx(0.0, abs=1e-6) and got.max() == pytest.approx(1.0, abs=1e-6)


def test_silent_clip_gives_zeros():
    got = envelope_targets(tf.zeros([SAMPLE_RATE], tf.int16), 10, SAMPLE_RATE, FPS, nominal_rate=SAMPLE_RATE)
    np.testing.assert_array_equal(got.numpy(), np.zeros(10))


def test_training_batches_are_consecutive_windows(data_dir):
    features, target = next(iter(envelope_dataset(data_dir, "train", DATA_CFG, sequence_frames=6, training=True)))
    assert features["frames"].shape == (4, 6, 32, 32, 3) and target.shape == (4, 6)
    assert features["mask"].shape == (4, 6) and np.all(features["mask"].numpy() == 1.0)
    assert 0.0 <= target.numpy().min() and target.numpy().max() <= 1.0
    plain = DataConfig.for_model(VISION, resize_short_side=36, batch_size=8, augment=False)
    features, target = next(iter(envelope_dataset(data_dir, "train", plain, sequence_frames=14, training=True)))
    for clip, truth, mask in zip(features["frames"].numpy(), target.numpy(), features["mask"].numpy()):
        video, first = rf.frame_provenance(clip[0])
        record = RECORDS[video]
        n = int(mask.sum())
        assert n == min(14, len(record.frames))
        assert [rf.frame_provenance(f)[1] for f in clip[:n]] == list(range(first, first + n))
        want = reference_targets(record.audio, len(record.frames), SAMPLE_RATE, FPS)[first:first + n]
        np.testing.assert_allclose(truth[:n], want, atol=2e-5)
        assert np.all(truth[n:] == 0)


def test_eval_clips_are_whole_videos_with_reference_targets(data_dir):
    cfg = DataConfig.for_model(VISION, resize_short_side=36, batch_size=3, augment=False)
    seen = []
    for features, target in envelope_dataset(data_dir, "test", cfg, sequence_frames=6, training=False):
        for i, vid in enumerate(features["video_id"].numpy()):
            record = next(r for r in RECORDS if r.video_id == vid.decode())
            n = int(features["num_frames"][i])
            assert n == len(record.frames)
            frames = features["frames"][i, :n].numpy()
            assert [rf.frame_provenance(f)[1] for f in frames] == list(range(n))
            np.testing.assert_allclose(target[i, :n].numpy(),
                                       reference_targets(record.audio, n, SAMPLE_RATE, FPS), atol=2e-5)
            assert np.all(features["mask"][i, n:].numpy() == 0)
            seen.append(record.video_id)
    assert sorted(seen) == [f"v{i:03d}" for i in range(11, 15)]


def test_model_shapes_and_causality():
    model, _ = new_envelope_model(ENV_CFG)
    frames = tf.random.uniform([2, 7, 32, 32, 3], seed=1)
    out = model(frames).numpy()
    assert out.shape == (2, 7) and np.all((out > 0) & (out < 1))
    changed = tf.concat([frames[:, :5], tf.zeros_like(frames[:, 5:])], axis=1)
    np.testing.assert_allclose(model(changed).numpy()[:, :5], out[:, :5], atol=1e-6)
    assert model(frames[:, :3]).shape == (2, 3)


def test_frame_deltas_and_bidirectional_head():
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    want = np.concatenate([x, np.diff(x, axis=1, prepend=x[:, :1])], axis=-1)
    np.testing.assert_allclose(FrameDeltas()(tf.constant(x)).numpy(), want, atol=1e-6)
    model, _ = new_envelope_model(ENV_BI)
    frames = tf.random.uniform([2, 7, 32, 32, 3], seed=2)
    out = model(frames).numpy()
    assert out.shape == (2, 7) and np.all((out > 0) & (out < 1))
    # Looks ahead: changing the last frames changes the earlier frames' outputs too.
    changed = tf.concat([frames[:, :5], tf.zeros_like(frames[:, 5:])], axis=1)
    assert np.abs(model(changed).numpy()[:, :5] - out[:, :5]).max() > 1e-6
    head = head_part(model)
    assert {layer.name for layer in head.layers} >= {"frame_deltas", "bi_lstm1", "bi_lstm2"}
    assert head.get_layer("bi_lstm2").output.shape[-1] == 2 * ENV_BI.lstm_units


def test_masked_losses_match_numpy():
    rng = np.random.default_rng(0)
    pred, target = rng.uniform(0.05, 0.95, (3, 8)), rng.uniform(0, 1, (3, 8))
    mask = np.ones((3, 8))
    mask[1, 5:] = 0
    bce = masked_bce(tf.constant(target, tf.float32), tf.constant(pred, tf.float32), tf.constant(mask, tf.float32))
    r = masked_pearson(tf.constant(pred, tf.float32), tf.constant(target, tf.float32), tf.constant(mask, tf.float32))
    for i in range(3):
        m = mask[i] > 0
        want = -np.mean(target[i, m] * np.log(pred[i, m]) + (1 - target[i, m]) * np.log(1 - pred[i, m]))
        assert bce[i].numpy() == pytest.approx(want, rel=1e-5)
        assert r[i].numpy() == pytest.approx(pearsonr(pred[i, m], target[i, m])[0], abs=1e-5)


def test_pearson_and_peaks_on_hand_made_sequences():
    true = np.array([0, 0.1, 1.0, 0.2, 0, 0, 0.9, 0.1, 0, 0.6, 0.0, 0])
    assert list(detect_peaks(true, PeakParams())) == [2, 6, 9]
    # One early by a frame, one exact, one spurious, one missed: 2 matched of 3 predicted, 3 true.
    pred = np.array([0, 1.0, 0.1, 0, 0.7, 0, 0.8, 0, 0, 0, 0, 0.0])
    peaks = detect_peaks(pred, PeakParams())
    assert list(peaks) == [1, 4, 6]
    assert match_peaks(peaks.tolist(), [2, 6, 9], tolerance=1) == [(1, 2), (6, 6)]
    assert match_peaks(peaks.tolist(), [2, 6, 9], tolerance=0) == [(6, 6)]
    p, r, f1 = f1_from_counts(2, 3, 3)
    assert (p, r) == pytest.approx((2 / 3, 2 / 3)) and f1 == pytest.approx(2 / 3)
    assert f1_from_counts(0, 0, 0) == (1.0, 1.0, 1.0) and f1_from_counts(0, 2, 0)[2] == 0.0
    score = score_clip(pred, true, PeakParams())
    assert score.offsets == [-1, 0] and score.matched == 2
    assert score.r == pytest.approx(pearsonr(pred, true)[0])
    assert pearson(np.ones(5), np.arange(5)) == 0.0


def test_grades_and_summary():
    assert grade(0.7, 0.6) == "good" and grade(0.7, 0.4) == "not_so_good"
    assert grade(0.45, 1.0) == "not_so_good" and grade(0.2, 1.0) == "bad"
    true = np.array([0, 1.0, 0, 0, 0, 1.0, 0, 0])
    scores = [score_clip(true, true, PeakParams()), score_clip(np.roll(true, 2), true, PeakParams()),
              score_clip(true * 0.5 + 0.1, true, PeakParams())]
    s = summarize(scores)
    assert [sc.grade for sc in scores] == ["good", "bad", "good"]
    assert s["fraction_good"] == pytest.approx(2 / 3) and s["score"] == pytest.approx(1 / 3)
    # Rolled clip: its second peak lands on the last frame (never a peak) and the first is 2 frames off.
    assert (s["num_matched"], s["num_pred_peaks"], s["num_true_peaks"]) == (4, 5, 6)
    assert s["peak_f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    assert s["mean_abs_timing_error_frames"] == 0.0


def test_motion_energy_and_lag():
    frames = np.zeros((6, 4, 4, 3))
    frames[3:] = 1.0  # one jump between frames 2 and 3
    np.testing.assert_array_equal(baselines.motion_energy(frames), [0, 0, 0, 1, 0, 0])
    x = np.array([0, 1.0, 0, 0, 0, 1.0, 0, 0, 0])
    np.testing.assert_array_equal(baselines.shift(x, 1), [0, 0, 1, 0, 0, 0, 1, 0, 0])
    assert baselines.best_lag([x, x[::-1]], [baselines.shift(x, 2), baselines.shift(x[::-1], 2)], 3) == 2


def test_feature_cache_matches_the_frames_path(data_dir, tmp_path, monkeypatch):
    model, _ = new_envelope_model(ENV_BI)
    cache_dir = str(tmp_path / "cache")
    cached = feature_cache.cached_split(feature_part(model), data_dir, "test", PLAIN_CFG, cache_dir, sigma_at_44k=200.0)
    lengths = [len(next(r for r in RECORDS if r.video_id == v).frames) for v in cached.video_ids]
    assert sorted(cached.video_ids) == [f"v{i:03d}" for i in range(11, 15)]
    assert cached.offsets.tolist() == [0, *np.cumsum(lengths)] and cached.features.shape == (46, 2 * 2 * 16)
    # The uncached path: the full model's per-frame layer on padded evaluation batches.
    per_frame = model.get_layer(PER_FRAME)
    index = 0
    for features, target in envelope_dataset(data_dir, "test", PLAIN_CFG, sequence_frames=6, training=False):
        batch_features = per_frame(features["frames"]).numpy()
        for i, n in enumerate(features["num_frames"].numpy()):
            assert features["video_id"][i].numpy().decode() == cached.video_ids[index]
            got, got_target = cached.clip(index)
            np.testing.assert_allclose(got, batch_features[i, :n], rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(got_target, target[i, :n].numpy())
            index += 1
    assert index == 4
    # The head on cached features predicts what the frames model predicts (bidirectional: unpadded clips).
    frames_dataset = envelope_dataset(data_dir, "test", PLAIN_CFG, sequence_frames=6, training=False)
    for (_, pred, target), (cached_pred, cached_target) in zip(predict_clips(model, frames_dataset),
                                                               predict_cached(head_part(model), cached)):
        np.testing.assert_allclose(cached_pred, pred, atol=1e-5)
        np.testing.assert_array_equal(cached_target, target)
    # Second call: loaded from the file, not recomputed; other tower weights: a new file.
    monkeypatch.setattr(feature_cache, "compute_features", None)
    again = feature_cache.cached_split(feature_part(model), data_dir, "test", PLAIN_CFG, cache_dir, sigma_at_44k=200.0)
    np.testing.assert_array_equal(again.features, cached.features)
    assert again.video_ids == cached.video_ids and len(os.listdir(cache_dir)) == 1
    other, _ = new_envelope_model(ENV_BI)
    assert (feature_cache.cache_key(feature_part(other), PLAIN_CFG, data_dir, "test", 200.0)
            != feature_cache.cache_key(feature_part(model), PLAIN_CFG, data_dir, "test", 200.0))


def test_cached_windows_are_consecutive_frames_of_one_video():
    lengths = [4, 9, 12]
    rows = [(v, f) for v, n in enumerate(lengths) for f in range(n)]
    cached = feature_cache.CachedSplit(
        features=np.array(rows, np.float32), targets=np.array([v + f / 100 for v, f in rows], np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]), video_ids=["a", "b", "c"], labels=["", "", ""])
    batches = list(feature_cache.window_dataset(cached, sequence_frames=6, batch_size=3, seed=5).take(4))
    seen = []
    for features, target in batches:
        assert features["features"].shape == (3, 6, 2) and target.shape == (3, 6)
        for x, y, mask in zip(features["features"].numpy(), target.numpy(), features["mask"].numpy()):
            video, first = int(x[0, 0]), int(x[0, 1])
            n = min(6, lengths[video])
            assert mask.tolist() == [1.0] * n + [0.0] * (6 - n)
            assert x[:n].tolist() == [[video, first + k] for k in range(n)]
            np.testing.assert_allclose(y[:n], video + (first + np.arange(n)) / 100, rtol=1e-6)
            assert np.all(y[n:] == 0) and first + n <= lengths[video]
            seen.append(video)
    assert sorted(seen[:3]) == [0, 1, 2] and sorted(seen[3:6]) == [0, 1, 2]  # each epoch visits every video
    with pytest.raises(ValueError, match="finetune_vision"):
        EnvelopeTask(dataclasses.replace(ENV_CFG, finetune_vision=True), PLAIN_CFG, 4, feature_cache_dir="c")
    with pytest.raises(ValueError, match="augment"):
        EnvelopeTask(ENV_CFG, DATA_CFG, 4, feature_cache_dir="c")


def _run(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)


def _new_model_dir(path: str, cfg: EnvelopeConfig) -> str:
    os.makedirs(path)
    with open(os.path.join(path, CONFIG_NAME), "w") as f:
        f.write(cfg.to_json())
    return path


def test_train_on_frames(data_dir, tmp_path):
    model_dir = _new_model_dir(str(tmp_path / "frames"), ENV_CFG)
    result = train_task(EnvelopeTask(ENV_CFG, DATA_CFG, eval_clips=2),
                        TrainConfig(learning_rate=1e-2, train_steps=2, log_every_steps=2, eval_every_steps=2),
                        data_dir, model_dir, verbose=False)
    assert (result.final_step, result.metric_name) == (2, "correlation") and np.isfinite(result.val_metric)
    assert np.isfinite(result.train_loss)


@pytest.mark.slow
def test_train_cached_resume_and_eval_envelope(data_dir, tmp_path):
    model_dir = _new_model_dir(str(tmp_path / "env"), ENV_BI)
    cache_dir = str(tmp_path / "cache")

    def task():
        return EnvelopeTask(ENV_BI, PLAIN_CFG, eval_clips=8, feature_cache_dir=cache_dir)

    first = train_task(task(), TrainConfig(learning_rate=1e-2, train_steps=4, log_every_steps=2, eval_every_steps=4),
                       data_dir, model_dir, verbose=False)
    assert (first.final_step, first.metric_name) == (4, "correlation") and np.isfinite(first.val_metric)
    assert sorted(name.split("_")[0] for name in os.listdir(cache_dir)) == ["train", "val"]
    resumed = train_task(task(), TrainConfig(learning_rate=1e-2, train_steps=6, log_every_steps=2, eval_every_steps=6),
                         data_dir, model_dir, verbose=False)
    assert (resumed.start_step, resumed.final_step) == (4, 6)
    with open(os.path.join(model_dir, "history.csv")) as f:
        assert f.readline().strip() == "step,split,loss,correlation,elapsed_s"
    assert os.path.isfile(os.path.join(model_dir, "training_curves.png"))

    # The checkpoint of cached training is the full frames model `l3net_eval envelope` restores.
    out = tmp_path / "eval"
    result = _run([os.path.join(BIN, "l3net_eval"), "envelope", f"--model_dir={model_dir}", f"--data_dir={data_dir}",
                   "--split=test", f"--output_dir={out}", "--num_figures=2", "--num_gifs=1", "--checkpoint=latest"])
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "envelope.json").read_text())
    assert report["checkpoint_step"] == 6 and report["peak_detection"]["tolerance"] == 1
    assert report["checkpoint"] == "latest"
    assert set(report["methods"]) == {"network", "constant", "motion_energy", "motion_energy_best_lag"}
    assert report["methods"]["network"]["num_clips"] == 4 and len(report["clips"]) == 4
    assert report["methods"]["constant"]["mean_r"] == 0.0
    assert -1.0 <= report["methods"]["motion_energy_best_lag"]["mean_r"] <= 1.0
    assert sorted(os.path.basename(p)[-3:] for p in report["figures"]) == ["gif", "png", "png"]
    assert all(os.path.isfile(p) for p in report["figures"])
    # The same network, restored in-process and run on cached features, gives the report's r.
    restored = EnvelopeTask(ENV_BI, PLAIN_CFG, eval_clips=8, feature_cache_dir=cache_dir)
    model = restored.build_model()
    tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
                                             ).expect_partial()
    test = restored.cached(data_dir, "test")
    rs = [pearson(p, t) for p, t in predict_cached(head_part(model), test)]
    assert [row["r"] for row in report["clips"]] == pytest.approx(rs, abs=1e-4)


def test_bad_envelope_flags_exit_2(data_dir, tmp_path):
    model_dir = tmp_path / "m"
    result = _run([os.path.join(BIN, "l3net_train"), "--model=envelope", f"--data_dir={data_dir}",
                   f"--model_dir={model_dir}", "--train_steps=1"])
    assert result.returncode == 2 and "--init_from" in result.stderr and "Traceback" not in result.stderr
    assert not model_dir.exists()
    result = _run([os.path.join(BIN, "l3net_eval"), "envelope", f"--model_dir={tmp_path}", f"--data_dir={data_dir}"])
    assert result.returncode == 2 and CONFIG_NAME in result.stderr and "Traceback" not in result.stderr
