"""The trainer keeps the best validation checkpoint and stops early, driven by a scripted task.

A stub task whose validation returns a fixed sequence of scores makes the expected best step and
stopping step known in advance, so the trainer's bookkeeping (best/, best.json, history, the
early-stopping count across a resume) is checked exactly, not statistically.
"""

from __future__ import annotations

import os
from typing import List, Tuple

import keras
import numpy as np
from one_weight_task import OneWeightTask, kernel_value

from l3net.model_dir import ModelDir
from l3net.tasks.base import ValidationResult
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import train_task
from l3net.train.training_curves import read_history


class ScriptedTask(OneWeightTask):
    """The one-weight regression whose validation scores come from `scores` in order."""

    name = "scripted"
    title = "scripted"

    def __init__(self, scores: List[float]) -> None:
        super().__init__()
        self.scores = list(scores)

    def validate(self, model: keras.Model, data_dir: str, seed: int) -> ValidationResult:
        metric = self.scores.pop(0)
        return ValidationResult(1.0 - metric, metric, f"scripted {metric}")


def _weight(model_dir: str, which) -> Tuple[int, float]:
    directory = ModelDir(model_dir)
    model = ScriptedTask([]).build_model()
    step = directory.restore(model, which)
    return step, kernel_value(model)


def test_best_checkpoint_and_early_stopping(tmp_path):
    path = str(tmp_path)
    cfg = TrainConfig(learning_rate=0.05, train_steps=100, log_every_steps=5, eval_every_steps=5,
                      early_stopping_patience=3)
    # Validations at steps 5, 10, ...: best at 15; three more without a new best -> stop at 30.
    result = train_task(ScriptedTask([0.5, 0.6, 0.8, 0.7, 0.8, 0.75, 0.9]), cfg, "unused", path, verbose=False)
    assert (result.stopped_by, result.final_step, result.best_step) == ("early_stopping", 30, 15)
    directory = ModelDir(path)
    assert directory.best_info() == {"step": 15, "metric_name": "accuracy", "metric": 0.8, "loss": 1.0 - 0.8,
                                     "best_metric": "metric"}
    best_step, best_w = _weight(path, "best")
    latest_step, latest_w = _weight(path, "latest")
    assert (best_step, latest_step) == (15, 30) and best_w != latest_w
    assert read_history(directory.history_path)["val"]["step"] == [5, 10, 15, 20, 25, 30]

    # A resume keeps the best and the count: one more validation without improvement stops it.
    resumed = train_task(ScriptedTask([0.7, 0.95]), TrainConfig(
        learning_rate=0.05, train_steps=100, log_every_steps=5, eval_every_steps=5, early_stopping_patience=4),
        "unused", path, verbose=False)
    assert (resumed.start_step, resumed.final_step, resumed.best_step) == (30, 35, 15)


def test_without_validation_no_best_is_kept(tmp_path):
    class NoValidation(ScriptedTask):
        def validate(self, model, data_dir, seed):
            from l3net.data.schema import DatasetError
            raise DatasetError("no val split")

    result = train_task(NoValidation([]), TrainConfig(learning_rate=0.05, train_steps=10, log_every_steps=5,
                                                      eval_every_steps=5), "unused", str(tmp_path), verbose=False)
    assert result.best_step == -1 and result.stopped_by == "steps"
    directory = ModelDir(str(tmp_path))
    assert directory.best_checkpoint() is None and directory.checkpoint_path("best")[1] == "latest"
    assert not os.path.exists(directory.best_checkpoint_dir) or not os.listdir(directory.best_checkpoint_dir)
    assert np.isfinite(result.train_loss)
