"""Optimisation and run-length settings of a training run (the paper's by default)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

from l3net.train.lr_schedule import SCHEDULES

STRATEGIES = ("default", "mirrored", "multi_worker")
BEST_METRICS = ("metric", "loss")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How long and how to optimise.

    A run stops at `train_steps` (counted across resumes) or after `time_budget_minutes` of wall
    time in this process (0 = no budget), whichever comes first, so every flagfile ends by itself;
    with `early_stopping_patience` > 0 also after that many validations without a new best.

    Each validation that beats the best so far (by `best_metric`: the task's metric, higher is
    better, or the validation loss) is kept as the best checkpoint, which the tools use by default.
    `periodic_eval` names evaluators (`l3net.evaluation.evaluators`, 'name' or 'name@data_dir')
    run every `periodic_eval_every_steps` (0 = at every validation).

    `ema_decay` > 0 keeps an exponential moving average of the weights (`weight_averaging`), which
    validation, the checkpoints' `model` and so every tool use; 0 = the raw weights (the papers').
    `skip_corrupt_records`: a damaged shard (truncated, altered bytes) is read up to the damage and
    the rest of it skipped, counted in the summaries, instead of stopping the run (`l3net.data.records`).
    `deterministic`: TensorFlow's op determinism (`tf.config.experimental.enable_op_determinism`),
    so two runs with the same seed, data and machine give identical weights.
    """

    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    batch_negatives: bool = False
    negative_discount: float = 0.0
    weight_decay: float = 1e-5
    ema_decay: float = 0.0
    train_steps: int = 100000
    time_budget_minutes: float = 0.0
    strategy: str = "default"
    seed: int = 0
    log_every_steps: int = 50
    eval_every_steps: int = 500
    eval_pairs: int = 512
    best_metric: str = "metric"
    early_stopping_patience: int = 0
    periodic_eval: Tuple[str, ...] = ()
    periodic_eval_every_steps: int = 0
    jit_compile: bool = False
    mixed_precision: bool = False
    skip_corrupt_records: bool = False
    deterministic: bool = False

    def validate(self) -> "TrainConfig":
        """Raises ValueError starting with the offending field name; returns self."""
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate}: must be > 0")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule={self.lr_schedule}: must be one of {', '.join(SCHEDULES)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps={self.warmup_steps}: must be >= 0")
        if self.negative_discount < 0:
            raise ValueError(f"negative_discount={self.negative_discount}: must be >= 0")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay}: must be >= 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay={self.ema_decay}: must be 0 (off) or in (0, 1), e.g. 0.999")
        if self.train_steps < 1:
            raise ValueError(f"train_steps={self.train_steps}: must be >= 1")
        if self.time_budget_minutes < 0:
            raise ValueError(f"time_budget_minutes={self.time_budget_minutes}: must be >= 0")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy}: must be one of {', '.join(STRATEGIES)}")
        for name in ("log_every_steps", "eval_every_steps", "eval_pairs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.best_metric not in BEST_METRICS:
            raise ValueError(f"best_metric={self.best_metric}: must be one of {', '.join(BEST_METRICS)}")
        if self.early_stopping_patience < 0:
            raise ValueError(f"early_stopping_patience={self.early_stopping_patience}: must be >= 0")
        every = self.periodic_eval_every_steps
        if every < 0 or every % self.eval_every_steps:
            raise ValueError(f"periodic_eval_every_steps={every}: must be 0 or a multiple of "
                             f"--eval_every_steps={self.eval_every_steps}")
        return self

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["periodic_eval"] = list(self.periodic_eval)
        return d
