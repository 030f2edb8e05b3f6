"""The best checkpoint by validation, kept beside the newest ones (`checkpoints/best/`).

On small datasets validation accuracy rises and then falls as the network memorises its
training videos (issue 12: 0.94 at step ~1,000, 0.73 at the end of the same run), so tools must
not simply take the newest checkpoint. Each validation is offered here; one that beats the best
so far is saved (model weights and step; no optimizer: the best checkpoint is for using, the
newest ones are for resuming) with `best.json` = {step, metric_name, metric, loss, best_metric}.

Which is "best": `best_metric='metric'` (default) compares the task's validation metric, higher
is better (AVC accuracy, envelope correlation), ties going to the lower validation loss;
`'loss'` compares the validation loss, lower is better. A NaN never wins.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Optional

import tensorflow as tf

from l3net.model_dir import ModelDir
from l3net.train.training_curves import read_history


class BestCheckpoint:
    """Tracks and saves the best validation so far; counts validations since it (early stopping).

    On a multi-worker run every worker must call `offer` with the same numbers (saving is a
    collective operation); non-chief workers save into `scratch_dir`, removed by `cleanup`.
    """

    def __init__(self, directory: ModelDir, checkpoint: tf.train.Checkpoint, metric_name: str,
                 best_metric: str = "metric", *, chief: bool = True, scratch_dir: Optional[str] = None) -> None:
        self.directory = directory
        self.metric_name = metric_name
        self.mode = best_metric
        self.chief = chief
        self.scratch_dir = scratch_dir
        target = directory.best_checkpoint_dir if chief else scratch_dir
        self._manager = tf.train.CheckpointManager(checkpoint, target, max_to_keep=1)
        self.step = -1
        self.metric = float("nan")
        self.loss = float("nan")
        self.validations_since_best = 0

    def restore_state(self, start_step: int) -> None:
        """Reads best.json of a resumed run, and counts the validations logged since its step."""
        info = self.directory.best_info()
        if not info or int(info.get("step", -1)) > start_step:
            # No best yet, or one saved after the checkpoint the run resumes from (killed in between):
            # the weights it names will be trained again, so start tracking afresh.
            return
        self.step = int(info["step"])
        self.metric = float(info["metric"])
        self.loss = float(info["loss"])
        history = read_history(self.directory.history_path).get("val", {})
        self.validations_since_best = sum(1 for s in history.get("step", []) if self.step < s <= start_step)

    def is_better(self, metric: float, loss: float) -> bool:
        if self.mode == "loss":
            return not math.isnan(loss) and (self.step < 0 or loss < self.loss)
        if math.isnan(metric):
            return False
        if self.step < 0 or math.isnan(self.metric) or metric > self.metric:
            return True
        return metric == self.metric and loss < self.loss

    def offer(self, step: int, metric: float, loss: float) -> bool:
        """Saves the weights as the best if this validation beats the best so far; True if it did."""
        if not self.is_better(metric, loss):
            self.validations_since_best += 1
            return False
        self._manager.save(checkpoint_number=step)
        self.step, self.metric, self.loss = step, float(metric), float(loss)
        self.validations_since_best = 0
        if self.chief:
            self.directory.write_best_info({"step": step, "metric_name": self.metric_name, "metric": self.metric,
                                            "loss": self.loss, "best_metric": self.mode})
        return True

    def cleanup(self) -> None:
        """Removes a non-chief worker's scratch copy."""
        if not self.chief and self.scratch_dir and os.path.isdir(self.scratch_dir):
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
