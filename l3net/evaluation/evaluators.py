"""Evaluators as plug-ins: one interface, chosen by name (as big_vision's evaluators are).

Every evaluator is a library function `run(model_dir, data_dir, output_dir, *, checkpoint,
log, **options) -> report` that reads the model through `ModelDir`, writes its report as JSON
(and figures) into `output_dir` (None = its usual place in the model directory) and returns
the report; `headline(report)` picks the few numbers worth a TensorBoard curve. The command
lines (`l3net_eval`, `l3net_probe`, `l3net_retrieval`, `l3net_localize`) are flags over these
functions, and training runs any of them periodically by name (`--periodic_eval`).

  avc           AVC accuracy on a fixed pair set of a split           eval_avc_<split>.json
  esc50         ESC-50 linear probe on the frozen audio tower           probe.json
  dcase2013     DCASE 2013 scene probe                                  probe.json
  retrieval     nDCG@k in the four directions                           retrieval.json
  localization  AVOL-Net heat-maps scored against annotated boxes       localization.json
  envelope      sound envelope from frames vs baselines                 envelope.json

Adding one = a library function + one `Evaluator` entry below.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

Report = Dict[str, Any]


class EvaluatorError(ValueError):
    """An unknown evaluator name or an unusable periodic-evaluation spec."""


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """A registered evaluator.

    run:       (model_dir, data_dir, output_dir or None, *, checkpoint, log, **options) -> report
    headline:  report -> {name: value} (the numbers logged during training)
    data:      what `data_dir` must be ('converted' = an `l3net_data convert` output; 'esc50' /
               'dcase2013' = a benchmark folder, which periodic evaluation needs named explicitly)
    """

    name: str
    run: Callable[..., Report]
    headline: Callable[[Report], Dict[str, float]]
    data: str = "converted"


def _run_avc(model_dir: str, data_dir: str, output_dir: Optional[str], **options) -> Report:
    from l3net.evaluation.avc_report import run_avc_evaluation

    split = options.get("split", "test")
    output_json = os.path.join(output_dir, f"eval_avc_{split}.json") if output_dir else None
    return run_avc_evaluation(model_dir, data_dir, output_json, **options)


def _probe_runner(task: str) -> Callable[..., Report]:
    def run(model_dir: str, data_dir: str, output_dir: Optional[str], **options) -> Report:
        from l3net.evaluation.probe import run_probe_evaluation

        return run_probe_evaluation(task, model_dir, data_dir, output_dir, **options)

    return run


def _run_retrieval(model_dir: str, data_dir: str, output_dir: Optional[str], **options) -> Report:
    from l3net.evaluation.retrieval_report import run_retrieval

    return run_retrieval(model_dir, data_dir, output_dir, **options)


def _run_localization(model_dir: str, data_dir: str, output_dir: Optional[str], **options) -> Report:
    from l3net.localization.localize import LocalizeOptions, run_localization

    checkpoint = options.pop("checkpoint", "best")
    log = options.pop("log", print)
    video = options.pop("video", None)
    opts = options.pop("options", None) or LocalizeOptions(**options)
    return run_localization(model_dir, output_dir or os.path.join(model_dir, "localization"),
                            data_dir=None if video else data_dir, video=video, options=opts,
                            checkpoint=checkpoint, log=log)


def _run_envelope(model_dir: str, data_dir: str, output_dir: Optional[str], **options) -> Report:
    from l3net.envelope.evaluation import run_envelope_evaluation

    return run_envelope_evaluation(model_dir, data_dir, output_dir, **options)


def _retrieval_headline(report: Report) -> Dict[str, float]:
    return {f"ndcg_{d}": float(v) for d, v in report["ndcg"].items() if v is not None}


def _localization_headline(report: Report) -> Dict[str, float]:
    evaluation = report.get("evaluation")
    if not evaluation:
        return {"avc_probability_mean": sum(f["avc_probability"] for f in report["frames"]) /
                max(1, len(report["frames"]))}
    every = evaluation["subsets"]["all"]
    out = {"pointing_game": every["pointing_game"]["avolnet"], "mean_iou": every["mean_iou"]["avolnet"]}
    return {k: float(v) for k, v in out.items() if v is not None}


def _envelope_headline(report: Report) -> Dict[str, float]:
    network = report["methods"]["network"]
    return {"mean_r": float(network["mean_r"]), "peak_f1": float(network["peak_f1"])}


EVALUATORS: Dict[str, Evaluator] = {
    e.name: e for e in (
        Evaluator("avc", _run_avc, lambda r: {"accuracy": float(r["accuracy"]), "loss": float(r["loss"])}),
        Evaluator("esc50", _probe_runner("esc50"), lambda r: {"accuracy": float(r["mean_accuracy"])}, data="esc50"),
        Evaluator("dcase2013", _probe_runner("dcase2013"), lambda r: {"accuracy": float(r["mean_accuracy"])},
                  data="dcase2013"),
        Evaluator("retrieval", _run_retrieval, _retrieval_headline),
        Evaluator("localization", _run_localization, _localization_headline),
        Evaluator("envelope", _run_envelope, _envelope_headline),
    )
}
EVALUATOR_NAMES = tuple(EVALUATORS)


def evaluate(name: str, model_dir: str, data_dir: str, output_dir: Optional[str] = None, **options) -> Report:
    """Runs evaluator `name`; options are its library function's keyword arguments."""
    if name not in EVALUATORS:
        raise EvaluatorError(f"unknown evaluator '{name}'; known: {', '.join(EVALUATOR_NAMES)}")
    return EVALUATORS[name].run(model_dir, data_dir, output_dir, **options)


@dataclasses.dataclass(frozen=True)
class PeriodicTarget:
    """One `--periodic_eval` entry: evaluator name, its data, and its label in logs and paths."""

    name: str
    data_dir: str
    label: str


def parse_periodic(specs: Sequence[str], train_data_dir: str) -> List[PeriodicTarget]:
    """`--periodic_eval` entries, 'name' or 'name@data_dir', as PeriodicTargets.

    Evaluators on converted data use the training `data_dir` unless another is named (and its
    val split: see `l3net.train.periodic_eval`); the probes need their benchmark folder
    (`esc50@/data/ESC-50-master`). Raises EvaluatorError.
    """
    targets = []
    for spec in specs:
        name, _, data_dir = spec.partition("@")
        name = name.strip()
        if name not in EVALUATORS:
            raise EvaluatorError(f"unknown evaluator '{name}' in '{spec}'; known: {', '.join(EVALUATOR_NAMES)}")
        evaluator = EVALUATORS[name]
        if evaluator.data != "converted" and not data_dir:
            raise EvaluatorError(f"'{name}' needs its benchmark folder: {name}@<{evaluator.data} dir>")
        data_dir = data_dir or train_data_dir
        if not os.path.isdir(data_dir):
            raise EvaluatorError(f"'{spec}': {data_dir} is not a directory")
        targets.append(PeriodicTarget(name, data_dir, name))
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise EvaluatorError(f"an evaluator is named twice in {','.join(specs)}")
    return targets
