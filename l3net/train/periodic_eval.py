"""Evaluators run during training (`--periodic_eval=retrieval,esc50@<dir>`), as big_vision does.

Validation AVC accuracy says whether the pretext task is learnt; what a user wants is whether
the embeddings are useful, which only the downstream evaluators tell (retrieval nDCG, the
ESC-50 probe). After a validation (every `periodic_eval_every_steps`, default every one), each
named evaluator (`l3net.evaluation.evaluators`) runs on the chief against the checkpoint just
saved ('latest'; on converted data the val split, so the test split stays unseen until the
end), writes its usual report to `<model_dir>/periodic_eval/<name>/step_<N>/`, and
its headline numbers go to TensorBoard (val/<name>/<key>). Other workers skip it.
"""

from __future__ import annotations

import os
from typing import Dict

from l3net.train.train_config import TrainConfig

PERIODIC_SUBDIR = "periodic_eval"


class PeriodicEvaluation:
    """Runs the configured evaluators at their steps; `run(step)` -> {name: {key: value}}."""

    def __init__(self, train_cfg: TrainConfig, data_dir: str, model_dir: str, *, chief: bool) -> None:
        self.every = train_cfg.periodic_eval_every_steps or train_cfg.eval_every_steps
        self.model_dir = model_dir
        self.chief = chief
        self.targets = []
        if train_cfg.periodic_eval:
            from l3net.evaluation.evaluators import parse_periodic

            self.targets = parse_periodic(train_cfg.periodic_eval, data_dir)

    def run(self, step: int) -> Dict[str, Dict[str, float]]:
        if not self.targets or not self.chief or step % self.every:
            return {}
        from l3net.evaluation.evaluators import EVALUATORS

        out = {}
        for target in self.targets:
            evaluator = EVALUATORS[target.name]
            output_dir = os.path.join(self.model_dir, PERIODIC_SUBDIR, target.label, f"step_{step}")
            options = {"split": "val"} if evaluator.data == "converted" else {}
            report = evaluator.run(self.model_dir, target.data_dir, output_dir, checkpoint="latest",
                                   log=lambda _line: None, **options)
            out[target.label] = evaluator.headline(report)
        return out
