"""ModelDir: the one reader/writer of a model directory; best-checkpoint tracking and choice.

The best checkpoint is checked against the validation numbers offered to it (the one with the
highest metric wins, ties to the lower loss, NaN never), and `--checkpoint=best|latest|<step>`
against which weights are restored: each checkpoint below holds different weights, so a wrong
choice restores a detectably different kernel.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from l3net.model_dir import (ENVELOPE_CONFIG_NAME, MODEL_CONFIG_NAME, ModelDir, ModelDirError,
                             parse_checkpoint_choice)
from l3net.models import build_model
from l3net.models.config import ModelConfig
from l3net.train.best_checkpoint import BestCheckpoint
from l3net.train.training_curves import append_history

TINY = ModelConfig(image_size=32, vision_widths=(4, 8), audio_widths=(4, 8), frontend="mel32", sample_rate=8000)


def _first_kernel(model) -> np.ndarray:
    return next(v for v in model.trainable_variables if v.path.endswith("kernel")).numpy()


def _fill(model, value: float) -> None:
    for v in model.trainable_variables:
        v.assign(tf.fill(v.shape, value))


@pytest.fixture()
def trained(tmp_path):
    """A model dir with checkpoints at steps 10, 20, 30 (weights 0.1, 0.2, 0.3) and best = step 20."""
    directory = ModelDir(str(tmp_path / "m"))
    model = build_model(TINY)
    directory.write_for_inference(TINY, model, step=0, run_config={"data": {"resize_short_side": 40}})
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, step=step)
    manager = tf.train.CheckpointManager(checkpoint, directory.checkpoint_dir, max_to_keep=3)
    best = BestCheckpoint(directory, checkpoint, "accuracy")
    for n, (metric, loss) in zip((10, 20, 30), ((0.6, 0.7), (0.9, 0.3), (0.8, 0.2))):
        _fill(model, n / 100)
        step.assign(n)
        manager.save(checkpoint_number=n)
        best.offer(n, metric, loss)
    return directory


def test_checkpoint_choice_restores_the_named_weights(trained):
    for which, step, value in (("best", 20, 0.2), ("latest", 30, 0.3), ("10", 10, 0.1), (20, 20, 0.2)):
        model, cfg, restored = trained.load_model(which)
        assert (cfg, restored) == (TINY, step), which
        np.testing.assert_allclose(_first_kernel(model), value, rtol=1e-6)
    assert trained.best_info() == {"step": 20, "metric_name": "accuracy", "metric": 0.9, "loss": 0.3,
                                   "best_metric": "metric"}
    with pytest.raises(ModelDirError, match="kept: 10, 20, 30"):
        trained.load_model(15)


def test_best_falls_back_to_latest_without_validation(tmp_path):
    directory = ModelDir(str(tmp_path / "m"))
    model = build_model(TINY)
    _fill(model, 0.5)
    directory.write_for_inference(TINY, model, step=7)
    assert directory.checkpoint_path("best")[1] == "latest"
    restored, _, step = directory.load_model()
    assert step == 7
    np.testing.assert_allclose(_first_kernel(restored), 0.5)


@pytest.mark.parametrize("value, expected", [(None, "best"), ("", "best"), ("BEST", "best"), ("latest", "latest"),
                                             ("120", 120), (5, 5)])
def test_parse_checkpoint_choice(value, expected):
    assert parse_checkpoint_choice(value) == expected


@pytest.mark.parametrize("value", ["newest", "-3", "1.5"])
def test_bad_checkpoint_choice_names_the_flag(value):
    with pytest.raises(ModelDirError, match=f"--checkpoint={value}: use best|latest|<step>"):
        parse_checkpoint_choice(value)


def test_best_rule_metric_then_loss_and_nan(tmp_path):
    directory = ModelDir(str(tmp_path))
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    best = BestCheckpoint(directory, ckpt, "accuracy")
    assert not best.offer(1, float("nan"), 0.1)
    assert best.offer(2, 0.5, 0.9)
    assert not best.offer(3, 0.4, 0.1)
    assert best.offer(4, 0.5, 0.8)          # tie on the metric, lower loss
    assert not best.offer(5, 0.5, 0.85)
    assert best.validations_since_best == 1
    by_loss = BestCheckpoint(ModelDir(str(tmp_path / "l")), ckpt, "accuracy", "loss")
    assert by_loss.offer(1, 0.9, 0.5) and not by_loss.offer(2, 0.99, 0.6) and by_loss.offer(3, 0.1, 0.4)


def test_best_state_survives_a_resume(tmp_path):
    """best.json and the val rows of history.csv after it give the early-stopping count back."""
    directory = ModelDir(str(tmp_path))
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    best = BestCheckpoint(directory, ckpt, "accuracy")
    for step, metric in ((100, 0.7), (200, 0.8), (300, 0.75), (400, 0.7)):
        best.offer(step, metric, 1.0 - metric)
        append_history(directory.history_path, step, "val", 1.0 - metric, metric, 1.0)
    resumed = BestCheckpoint(directory, ckpt, "accuracy")
    resumed.restore_state(start_step=400)
    assert (resumed.step, resumed.metric, resumed.validations_since_best) == (200, 0.8, 2)
    earlier = BestCheckpoint(directory, ckpt, "accuracy")
    earlier.restore_state(start_step=150)   # the best was saved after the checkpoint resumed from
    assert earlier.step == -1


def test_preprocessing_and_task_come_from_the_directory(trained, tmp_path):
    assert trained.resize_short_side() == 40
    assert trained.task() == "avc"
    bare = ModelDir(str(tmp_path / "bare"))
    bare.write_for_inference(TINY, build_model(TINY))
    with open(bare.file("run_config.json"), "w") as f:
        json.dump({}, f)
    assert bare.resize_short_side() == round(32 * 256 / 224)
    with pytest.raises(ModelDirError, match="expects 8000 Hz"):
        trained.check_sample_rate(16000, "data/")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ModelDirError, match="no such model directory"):
        ModelDir(str(tmp_path / "nope")).model_config()
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ModelDirError, match=MODEL_CONFIG_NAME):
        ModelDir(str(tmp_path / "empty")).model_config()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MODEL_CONFIG_NAME).write_text("{not json")
    with pytest.raises(ModelDirError, match="unreadable model config"):
        ModelDir(str(tmp_path / "bad")).model_config()
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / ENVELOPE_CONFIG_NAME).write_text("{}")
    with pytest.raises(ModelDirError, match="envelope model"):
        ModelDir(str(tmp_path / "env")).model_config()
    with pytest.raises(ModelDirError, match="no checkpoint"):
        directory = ModelDir(str(tmp_path / "nockpt"))
        os.makedirs(directory.path)
        (tmp_path / "nockpt" / MODEL_CONFIG_NAME).write_text(TINY.to_json())
        directory.load_model()


def test_check_trainable_refuses_mixing_runs(trained, tmp_path):
    trained.check_trainable("avc", TINY)
    with pytest.raises(ModelDirError, match="different model"):
        trained.check_trainable("avc", ModelConfig(image_size=48, vision_widths=(4, 8), audio_widths=(4, 8),
                                                   frontend="mel32", sample_rate=8000))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    with pytest.raises(ModelDirError, match="not an l3net model directory"):
        ModelDir(str(foreign)).check_trainable("avc", TINY)
    with pytest.raises(ModelDirError, match="another task's model"):
        trained.check_trainable("envelope", TINY)
