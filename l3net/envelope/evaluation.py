"""`l3net_eval envelope`: score an envelope model on every video of a split, against baselines.

For each clip: the network's prediction, the constant baseline and motion energy (plain and at
its best lag) are scored by `envelope_metrics.score_clip`; the report holds their summaries side
by side, the grading rule, the seed's hand-scored numbers for comparison, per-label means and
per-clip rows. Figures (PNG, GIF) show the first clips in file order.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf

from l3net.envelope import baselines, figures
from l3net.envelope.config import CONFIG_NAME, EnvelopeConfig
from l3net.envelope.envelope_metrics import (
    GRADE_RULE, SEED_FRACTIONS, SEED_SCORE, PeakParams, binary_cross_entropy, detect_peaks, score_clip, summarize)
from l3net.envelope.envelope_model import new_envelope_model
from l3net.envelope.envelope_task import predict_clips

METHODS = ("network", "constant", "motion_energy", "motion_energy_best_lag")


class EnvelopeModelError(ValueError):
    """An envelope model dir that cannot be loaded; the message names the path."""


def read_envelope_config(model_dir: str) -> EnvelopeConfig:
    """The EnvelopeConfig of `model_dir`, or EnvelopeModelError naming the missing / bad file."""
    path = os.path.join(model_dir, CONFIG_NAME)
    if not os.path.isfile(path):
        raise EnvelopeModelError(f"{path}: missing; {model_dir} is not an envelope model dir "
                                 "(`l3net_train --model=envelope`)")
    try:
        with open(path, encoding="utf-8") as f:
            return EnvelopeConfig.from_json(f.read())
    except (OSError, ValueError, TypeError) as e:
        raise EnvelopeModelError(f"{path}: unreadable envelope config ({e})") from None


def load_envelope_model(model_dir: str) -> Tuple[Any, EnvelopeConfig, int]:
    """(keras model with the newest checkpoint restored, its config, the checkpoint's step)."""
    from l3net import model_dir as model_dir_lib

    cfg = read_envelope_config(model_dir)
    model, _ = new_envelope_model(cfg)
    try:
        step = model_dir_lib.restore_checkpoint(model, model_dir, config_name=CONFIG_NAME)
    except model_dir_lib.ModelDirError as e:
        raise EnvelopeModelError(str(e)) from None
    return model, cfg, step


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
                               "how": "hand-scored 100 Something-Something validation clips (seed 002)"}}


def format_report(report: Dict[str, Any]) -> str:
    """The method table printed by `l3net_eval envelope`."""
    lines = [f"{'method':<24s} {'mean r':>7s} {'peak P':>7s} {'peak R':>7s} {'peak F1':>7s} {'|dt|':>5s} "
             f"{'good':>5s} {'bad':>5s} {'score':>6s} {'BCE':>6s}"]
    for name, m in report["methods"].items():
        lines.append(f"{name:<24s} {m['mean_r']:7.3f} {m['peak_precision']:7.3f} {m['peak_recall']:7.3f} "
                     f"{m['peak_f1']:7.3f} {m['mean_abs_timing_error_frames']:5.2f} {m['fraction_good']:5.2f} "
                     f"{m['fraction_bad']:5.2f} {m['score']:6.2f} {m['mean_bce']:6.3f}")
    seed = report["seed_reference"]
    lines.append(f"{'seed 002 (hand-scored)':<24s} {'':>7s} {'':>7s} {'':>7s} {'':>7s} {'':>5s} "
                 f"{seed['fraction_good']:5.2f} {seed['fraction_bad']:5.2f} {seed['score']:6.2f}")
    lines.append(f"grades: {report['grade_rule']}")
    return "\n".join(lines)


