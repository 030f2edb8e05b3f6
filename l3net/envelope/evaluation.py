"""`l3net_eval envelope`: score an envelope model on every video of a split, against baselines.

`run_envelope_evaluation` is the library function behind the command (model directory + data ->
envelope.json + figures).

For each clip: the network's prediction, the constant baseline and motion energy (plain and at
its best lag) are scored by `envelope_metrics.score_clip`; the report holds their summaries side
by side, the grading rule, the sound-from-video experiment's hand-scored numbers for comparison, per-label means and
per-clip rows. Figures (PNG, GIF) show the first clips in file order.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np
import tensorflow as tf

from l3net.atomic_files import write_text_atomic
from l3net.data import schema
from l3net.envelope import baselines, figures
from l3net.envelope.envelope_metrics import (
    GRADE_RULE, SEED_FRACTIONS, SEED_SCORE, PeakParams, binary_cross_entropy, detect_peaks, score_clip, summarize)
from l3net.envelope.prediction import predict_clips
from l3net.model_dir import ModelDir

METHODS = ("network", "constant", "motion_energy", "motion_energy_best_lag")


def _clip_title(clip: Dict[str, Any], r: float) -> str:
    return f"{clip['video_id'].decode()} [{clip['labels'].decode()}]  r = {r:.2f}"


def evaluate_envelope(model, dataset: tf.data.Dataset, *, constant: float, peaks: PeakParams, max_lag: int,
                      output_dir: str, num_figures: int, num_gifs: int, fps: float) -> Dict[str, Any]:
    """Scores every clip of `dataset` (an evaluation `envelope_dataset`); writes figures into output_dir.

    Returns the report's method summaries, per-label means and per-clip rows.
    """
    preds: Dict[str, List[np.ndarray]] = {m: [] for m in METHODS[:3]}
    targets: List[np.ndarray] = []
    clips: List[Dict[str, Any]] = []
    figure_paths: List[str] = []
    for index, (clip, pred, target) in enumerate(predict_clips(model, dataset)):
        motion = baselines.motion_energy(clip["frames"])
        preds["network"].append(pred)
        preds["constant"].append(np.full_like(target, constant))
        preds["motion_energy"].append(motion)
        targets.append(target)
        clips.append({"video_id": clip["video_id"].decode(), "labels": clip["labels"].decode(),
                      "num_frames": int(clip["num_frames"])})
        if index < max(num_figures, num_gifs):
            stem = os.path.join(output_dir, f"envelope_{index:03d}_{clips[-1]['video_id']}")
            title = _clip_title(clip, score_clip(pred, target, peaks).r)
            if index < num_figures:
                figures.save_clip_png(stem + ".png", clip["frames"], target, pred, motion=motion,
                                      true_peaks=detect_peaks(target, peaks), pred_peaks=detect_peaks(pred, peaks),
                                      title=title)
                figure_paths.append(stem + ".png")
            if index < num_gifs:
                figures.save_clip_gif(stem + ".gif", clip["frames"], target, pred, fps=fps, title=title)
                figure_paths.append(stem + ".gif")
    if not targets:
        raise ValueError("evaluate_envelope: the dataset yielded no clips")
    lag = baselines.best_lag(preds["motion_energy"], targets, max_lag)
    preds["motion_energy_best_lag"] = [baselines.shift(m, lag) for m in preds["motion_energy"]]
    methods: Dict[str, Any] = {}
    per_clip_scores = {}
    for method in METHODS:
        scores = [score_clip(p, t, peaks) for p, t in zip(preds[method], targets)]
        per_clip_scores[method] = scores
        methods[method] = {**summarize(scores),
                           "mean_bce": float(np.mean([binary_cross_entropy(p, t) for p, t in
                                                      zip(preds[method], targets)]))}
    methods["constant"]["value"] = constant
    methods["motion_energy_best_lag"]["lag_frames"] = lag
    rows = []
    for clip, net, motion in zip(clips, per_clip_scores["network"], per_clip_scores["motion_energy"]):
        rows.append({**clip, "r": net.r, "peak_f1": net.f1, "num_true_peaks": net.num_true,
                     "num_pred_peaks": net.num_pred, "grade": net.grade, "motion_r": motion.r,
                     "motion_peak_f1": motion.f1})
    per_label: Dict[str, Dict[str, float]] = {}
    for label in sorted({name for row in rows for name in row["labels"].split(";") if name}):
        mine = [row for row in rows if label in row["labels"].split(";")]
        per_label[label] = {"num_clips": len(mine), "mean_r": float(np.mean([r["r"] for r in mine])),
                            "mean_peak_f1": float(np.mean([r["peak_f1"] for r in mine])),
                            "motion_mean_r": float(np.mean([r["motion_r"] for r in mine]))}
    return {"methods": methods, "per_label": per_label, "clips": rows, "figures": figure_paths,
            "peak_detection": dataclasses.asdict(peaks), "motion_max_lag": max_lag, "grade_rule": GRADE_RULE,
            "seed_reference": {"score": SEED_SCORE, **{f"fraction_{k}": v for k, v in SEED_FRACTIONS.items()},
                               "how": "hand-scored 100 Something-Something validation clips (the sound-from-video "
                                      "experiment this task automates)"}}


def format_report(report: Dict[str, Any]) -> str:
    """The method table printed by `l3net_eval envelope`."""
    lines = [f"{'method':<24s} {'mean r':>7s} {'peak P':>7s} {'peak R':>7s} {'peak F1':>7s} {'|dt|':>5s} "
             f"{'good':>5s} {'bad':>5s} {'score':>6s} {'BCE':>6s}"]
    for name, m in report["methods"].items():
        lines.append(f"{name:<24s} {m['mean_r']:7.3f} {m['peak_precision']:7.3f} {m['peak_recall']:7.3f} "
                     f"{m['peak_f1']:7.3f} {m['mean_abs_timing_error_frames']:5.2f} {m['fraction_good']:5.2f} "
                     f"{m['fraction_bad']:5.2f} {m['score']:6.2f} {m['mean_bce']:6.3f}")
    seed = report["seed_reference"]
    lines.append(f"{'hand-scored reference':<24s} {'':>7s} {'':>7s} {'':>7s} {'':>7s} {'':>5s} "
                 f"{seed['fraction_good']:5.2f} {seed['fraction_bad']:5.2f} {seed['score']:6.2f}")
    lines.append(f"grades: {report['grade_rule']}")
    return "\n".join(lines)




ENVELOPE_JSON = "envelope.json"


def run_envelope_evaluation(model_dir: str, data_dir: str, output_dir: Optional[str] = None, *, split: str = "test",
                            checkpoint: Union[str, int, None] = "best", batch_size: int = 64,
                            peaks: PeakParams = PeakParams(), motion_max_lag: int = 2, num_figures: int = 6,
                            num_gifs: int = 3, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Scores the envelope model of `model_dir` on every video of `split`; writes envelope.json and figures.

    output_dir defaults to `<model_dir>/eval_envelope_<split>`. Raises ModelDirError, DatasetError or
    ValueError (one-line messages) before anything is written.
    """
    if split not in schema.SPLITS:
        raise ValueError(f"--split={split}: use one of {', '.join(schema.SPLITS)}")
    if batch_size < 1 or peaks.distance < 1 or peaks.tolerance < 0 or motion_max_lag < 0:
        raise ValueError("--batch_size and --peak_distance must be >= 1, --peak_tolerance and --motion_max_lag >= 0")
    if num_figures < 0 or num_gifs < 0:
        raise ValueError("--num_figures and --num_gifs must be >= 0")
    directory = ModelDir(model_dir)
    directory.envelope_config()
    info = schema.read_dataset_info(data_dir)
    schema.shard_paths(data_dir, split, info)
    schema.shard_paths(data_dir, "train", info)
    directory.require_checkpoint(checkpoint)

    from l3net.data.config import DataConfig
    from l3net.envelope.envelope_dataset import envelope_dataset

    model, cfg, step = directory.load_envelope_model(checkpoint)
    data_cfg = dataclasses.replace(
        DataConfig.for_model(cfg.vision, batch_size=batch_size, augment=False,
                             resize_short_side=directory.resize_short_side(cfg)),
        sample_rate=int(info.sample_rate))
    dataset = envelope_dataset(data_dir, split, data_cfg, sequence_frames=cfg.sequence_frames, training=False,
                               sigma_at_44k=cfg.sigma_at_44k)
    constant = baselines.mean_target(data_dir, "train", int(info.sample_rate), cfg.sigma_at_44k)
    out_dir = output_dir or os.path.join(model_dir, f"eval_envelope_{split}")
    os.makedirs(out_dir, exist_ok=True)
    result = evaluate_envelope(model, dataset, constant=constant, peaks=peaks, max_lag=motion_max_lag,
                               output_dir=out_dir, num_figures=num_figures, num_gifs=num_gifs, fps=float(info.fps))
    report = {"task": "envelope", "model_dir": os.path.abspath(model_dir),
              "checkpoint": directory.checkpoint_path(checkpoint)[1], "checkpoint_step": step,
              "init_from": cfg.init_from, "finetune_vision": cfg.finetune_vision,
              "data_dir": os.path.abspath(data_dir), "split": split, "fps": float(info.fps), **result}
    log(f"envelope on {split} ({report['methods']['network']['num_clips']} clips, step {step}):")
    log(format_report(report))
    out = os.path.join(out_dir, ENVELOPE_JSON)
    write_text_atomic(out, json.dumps(report, indent=2, sort_keys=True))
    log(f"wrote {out} and {len(result['figures'])} figures")
    return report
