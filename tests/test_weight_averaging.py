"""Weight averaging (`--ema_decay`): the update rule, and what the trainer validates, saves and resumes.

The reference is a NumPy recurrence of the live weights' trajectory. A scripted one-weight task
(constant data, Adam) trains deterministically, so a run without averaging, validating after
every step, records the live trajectory; a run with averaging must then validate exactly its
moving average, keep it in the checkpoints' `model`, and carry it across a resume.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import List, Tuple

import keras
import numpy as np
import pytest
import record_fixtures as rf
import tensorflow as tf
from one_weight_task import OneWeightTask, kernel_value

from l3net.model_dir import ModelDir
from l3net.tasks.base import ValidationResult
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import TrainingError, train_task
from l3net.train.weight_averaging import LIVE_MODEL_KEY, WeightAverage, resume_mismatch

BIN = os.path.dirname(sys.executable)


def _reference_average(trajectory: List[float], decay: float, start: float) -> List[float]:
    """a_0 = start; after step t (0-based) a <- d_t a + (1 - d_t) w_t, d_t = min(decay, (1+t)/(10+t))."""
    out, a = [], start
    for t, w in enumerate(trajectory):
        d = min(decay, (1.0 + t) / (10.0 + t))
        a = d * a + (1.0 - d) * w
        out.append(a)
    return out


def _small_net() -> keras.Model:
    x = keras.Input((3,))
    h = keras.layers.Dense(4, name="dense")(x)
    return keras.Model(x, keras.layers.BatchNormalization(name="bn")(h))


def test_update_follows_the_recurrence_and_statistics_are_copied_not_averaged():
    live, averaged = _small_net(), _small_net()
    average = WeightAverage(live, averaged, decay=0.9)
    average.reset()
    start = live.get_layer("dense").kernel.numpy()
    rng = np.random.default_rng(0)
    trajectory = []
    for t in range(30):
        w = rng.normal(size=start.shape).astype(np.float32)
        live.get_layer("dense").kernel.assign(w)
        live.get_layer("bn").moving_mean.assign(np.full(4, float(t), np.float32))
        average.update(tf.constant(t, tf.int64))
        trajectory.append(w)
    expected = start.astype(np.float64)
    for t, w in enumerate(trajectory):
        d = min(0.9, (1.0 + t) / (10.0 + t))
        expected = d * expected + (1.0 - d) * w
    np.testing.assert_allclose(averaged.get_layer("dense").kernel.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.all(averaged.get_layer("bn").moving_mean.numpy() == 0.0)  # not touched by update
    average.copy_statistics()
    assert np.all(averaged.get_layer("bn").moving_mean.numpy() == 29.0)


def test_decay_warms_up_then_holds():
    average = WeightAverage(_small_net(), _small_net(), decay=0.99)
    got = [float(average.decay_at(tf.constant(t))) for t in (0, 10, 100, 1000, 100000)]
    np.testing.assert_allclose(got, [0.1, 11 / 20, 101 / 110, 0.99, 0.99], rtol=1e-6)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_decay_outside_the_open_interval_is_refused(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(_small_net(), _small_net(), decay=decay)
    if decay != 0.0:  # 0 is "off" for the config, an error only for the averaging object itself
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=decay).validate()


def test_networks_of_different_configs_are_refused():
    x = keras.Input((3,))
    other = keras.Model(x, keras.layers.Dense(5)(x))
    with pytest.raises(ValueError, match="do not match"):
        WeightAverage(_small_net(), other, decay=0.9)


class RecordingTask(OneWeightTask):
    """The one-weight regression (no bias, w starts at 0) whose validation records the weight it is given."""

    name = "recording"
    title = "recording"

    def __init__(self) -> None:
        super().__init__(use_bias=False, zero_init=True)
        self.seen: List[float] = []

    def validate(self, model: keras.Model, data_dir: str, seed: int) -> ValidationResult:
        w = kernel_value(model)
        self.seen.append(w)
        return ValidationResult(abs(2.0 - w), -abs(2.0 - w), f"w {w}")


def _config(**kw) -> TrainConfig:
    base = dict(learning_rate=0.05, train_steps=30, log_every_steps=5, eval_every_steps=1, weight_decay=0.0)
    return TrainConfig(**{**base, **kw})


def _live_trajectory(tmp_path) -> List[float]:
    task = RecordingTask()
    train_task(task, _config(), "unused", str(tmp_path / "plain"), verbose=False)
    return list(task.seen)


def _weights_in(checkpoint: str) -> Tuple[float, float]:
    """(averaged `model`, live `live_model`) kernels of a training checkpoint."""
    averaged, live = RecordingTask().build_model(), RecordingTask().build_model()
    tf.train.Checkpoint(model=averaged, **{LIVE_MODEL_KEY: live}).restore(checkpoint).expect_partial()
    return kernel_value(averaged), kernel_value(live)


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_validation_and_checkpoints_use_the_average_of_the_live_weights(tmp_path, strategy):
    trajectory = _live_trajectory(tmp_path)
    expected = _reference_average(trajectory, 0.8, start=0.0)
    task = RecordingTask()
    path = str(tmp_path / "averaged")
    train_task(task, _config(ema_decay=0.8, strategy=strategy), "unused", path, verbose=False)
    seen = task.seen
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-6)
    assert abs(seen[-1] - trajectory[-1]) > 1e-3  # the average lags the live weight: not the same thing
    directory = ModelDir(path)
    averaged, live = _weights_in(directory.latest_checkpoint())
    assert averaged == pytest.approx(expected[-1], rel=1e-5) and live == pytest.approx(trajectory[-1], rel=1e-5)
    model = RecordingTask().build_model()
    assert directory.restore(model, "latest") == 30  # what every tool restores: the average
    assert kernel_value(model) == pytest.approx(expected[-1], rel=1e-5)


def test_a_resume_continues_the_average(tmp_path):
    trajectory = _live_trajectory(tmp_path)
    expected = _reference_average(trajectory, 0.8, start=0.0)
    path = str(tmp_path / "resumed")
    train_task(RecordingTask(), _config(ema_decay=0.8, train_steps=12), "unused", path, verbose=False)
    task = RecordingTask()
    result = train_task(task, _config(ema_decay=0.8), "unused", path, verbose=False)
    assert (result.start_step, result.final_step) == (12, 30)
    np.testing.assert_allclose(task.seen, expected[12:], rtol=1e-5, atol=1e-6)


def test_switching_averaging_on_or_off_at_a_resume_is_refused(tmp_path):
    plain, averaged = str(tmp_path / "plain"), str(tmp_path / "averaged")
    train_task(RecordingTask(), _config(train_steps=3), "unused", plain, verbose=False)
    train_task(RecordingTask(), _config(train_steps=3, ema_decay=0.9), "unused", averaged, verbose=False)
    assert resume_mismatch(ModelDir(plain).latest_checkpoint(), 0.0) is None
    assert resume_mismatch(ModelDir(averaged).latest_checkpoint(), 0.5) is None  # another decay: fine
    with pytest.raises(TrainingError, match="without weight averaging; resume with --ema_decay=0"):
        train_task(RecordingTask(), _config(ema_decay=0.9), "unused", plain, verbose=False)
    with pytest.raises(TrainingError, match="written with weight averaging"):
        train_task(RecordingTask(), _config(), "unused", averaged, verbose=False)


@pytest.mark.slow
def test_l3net_train_refuses_a_resume_that_switches_averaging(tmp_path):
    """The command line says so in one line (exit 2) before writing anything."""
    data = str(tmp_path / "data")
    records = [rf.class_video(i, split, i % 4, sample_rate=8000, fps=8.0)
               for i, split in [(i, "train") for i in range(8)] + [(8, "val"), (9, "test")]]
    rf.write_dataset(data, records, sample_rate=8000, fps=8.0, short_side=40)
    model = str(tmp_path / "model")
    tiny = ["--image_size=32", "--resize_short_side=36", "--vision_widths=8", "--audio_widths=8",
            "--frontend=mel32", "--sample_rate=8000", "--batch_size=8", "--eval_pairs=8",
            "--example_shuffle_buffer=16", "--video_shuffle_buffer=4", "--train_steps=2"]
    args = [os.path.join(BIN, "l3net_train"), f"--data_dir={data}", f"--model_dir={model}", *tiny]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
    assert first.returncode == 0, first.stderr
    before = sorted(os.listdir(model))
    flags_text = open(os.path.join(model, "flags.txt")).read()
    second = subprocess.run(args + ["--ema_decay=0.99", "--train_steps=4"], capture_output=True, text=True,
                            env=env, timeout=240)
    assert second.returncode == 2, second.stderr
    lines = [ln for ln in second.stderr.splitlines() if ln.startswith("l3net_train")]
    assert len(lines) == 1 and "--ema_decay" in lines[0] and "without weight averaging" in lines[0], second.stderr
    assert "Traceback" not in second.stderr
    assert sorted(os.listdir(model)) == before and open(os.path.join(model, "flags.txt")).read() == flags_text
    shutil.rmtree(model)
