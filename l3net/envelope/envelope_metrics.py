"""Automatic scores of predicted envelopes (the sound-from-video experiment scored 100 clips by hand).

Per clip (float [N] sequences, prediction and truth):
  * Pearson correlation r (0 when either sequence is constant: a flat prediction says nothing
    about *when* things sound);
  * peaks: local maxima of the per-clip [0, 1]-scaled sequence with height >= `height`,
    prominence >= `prominence` and at least `distance` frames apart (scipy.signal.find_peaks;
    a sequence's first and last frame are never peaks);
  * predicted peaks matched one-to-one to true peaks within +-`tolerance` frames (closest pairs
    first): precision, recall, F1 and the signed / absolute timing error of matched peaks in
    frames (positive = predicted late). A clip with no true and no predicted peak has F1 = 1.
  * the sound-from-video experiment's three-way grade, by the rule in `grade` below.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.signal import find_peaks

# The sound-from-video experiment's hand scores of its 100 clips: 74 good, 12 not so good, 14 bad -> score 0.60.
SEED_SCORE = 0.60
SEED_FRACTIONS = {"good": 0.74, "not_so_good": 0.12, "bad": 0.14}
GOOD_R, GOOD_F1, BAD_R = 0.6, 0.5, 0.3
GRADE_RULE = (f"good: r >= {GOOD_R} and peak F1 >= {GOOD_F1}; bad: r < {BAD_R}; otherwise not_so_good. "
              "score = (good - bad) / clips, as the sound-from-video experiment's {+1, 0, -1} average")


@dataclasses.dataclass(frozen=True)
class PeakParams:
    """Peak detection and matching settings (recorded in envelope.json)."""

    height: float = 0.3
    prominence: float = 0.1
    distance: int = 2
    tolerance: int = 1


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson r of two [N] sequences; 0 if either is constant or N < 2."""
    p = np.asarray(pred, np.float64)
    t = np.asarray(true, np.float64)
    if p.size < 2:
        return 0.0
    p, t = p - p.mean(), t - t.mean()
    denom = np.sqrt(np.sum(p * p) * np.sum(t * t))
    return float(np.sum(p * t) / denom) if denom > 1e-12 else 0.0


def scale_unit(x: np.ndarray) -> np.ndarray:
    """Per-sequence min-max to [0, 1]; a constant sequence -> zeros."""
    x = np.asarray(x, np.float64)
    span = x.max() - x.min() if x.size else 0.0
    return (x - x.min()) / span if span > 1e-12 else np.zeros_like(x)


def detect_peaks(x: np.ndarray, params: PeakParams) -> np.ndarray:
    """Frame indices (int [K], ascending) of the peaks of `x` after scaling it to [0, 1]."""
    peaks, _ = find_peaks(scale_unit(x), height=params.height, prominence=params.prominence,
                          distance=max(1, params.distance))
    return peaks.astype(np.int64)


def match_peaks(pred: Sequence[int], true: Sequence[int], tolerance: int) -> List[Tuple[int, int]]:
    """One-to-one (pred, true) pairs with |pred - true| <= tolerance, closest pairs matched first."""
    candidates = sorted((abs(p - t), p, t) for p in pred for t in true if abs(p - t) <= tolerance)
    used_p, used_t, pairs = set(), set(), []
    for _, p, t in candidates:
        if p not in used_p and t not in used_t:
            used_p.add(p)
            used_t.add(t)
            pairs.append((int(p), int(t)))
    return sorted(pairs, key=lambda pt: pt[1])


def f1_from_counts(matched: int, num_pred: int, num_true: int) -> Tuple[float, float, float]:
    """(precision, recall, F1); no predicted and no true peak counts as perfect."""
    if num_pred == 0 and num_true == 0:
        return 1.0, 1.0, 1.0
    precision = matched / num_pred if num_pred else 0.0
    recall = matched / num_true if num_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def grade(r: float, f1: float) -> str:
    """The sound-from-video experiment's three grades, automatically: see GRADE_RULE.

    Why these thresholds: r >= 0.6 is a strong linear agreement of the two curves and F1 >= 0.5
    means most sound events were found at the right frame (+-tolerance), what the sound-from-video experiment's
    figures call a good prediction; r < 0.3 is a curve that does not follow the sound at all.
    """
    if r >= GOOD_R and f1 >= GOOD_F1:
        return "good"
    if r < BAD_R:
        return "bad"
    return "not_so_good"


@dataclasses.dataclass
class ClipScore:
    """Scores of one clip."""

    r: float
    num_true: int
    num_pred: int
    matched: int
    precision: float
    recall: float
    f1: float
    offsets: List[int]
    grade: str


def score_clip(pred: np.ndarray, true: np.ndarray, params: PeakParams) -> ClipScore:
    """All per-clip scores of one predicted [N] envelope against the true one."""
    true_peaks = detect_peaks(true, params)
    pred_peaks = detect_peaks(pred, params) if np.ptp(pred) > 1e-12 else np.zeros([0], np.int64)
    pairs = match_peaks(pred_peaks.tolist(), true_peaks.tolist(), params.tolerance)
    precision, recall, f1 = f1_from_counts(len(pairs), len(pred_peaks), len(true_peaks))
    r = pearson(pred, true)
    return ClipScore(r=r, num_true=len(true_peaks), num_pred=len(pred_peaks), matched=len(pairs),
                     precision=precision, recall=recall, f1=f1, offsets=[p - t for p, t in pairs],
                     grade=grade(r, f1))


def summarize(scores: Sequence[ClipScore]) -> Dict[str, float]:
    """Means over clips (r, per-clip F1), pooled peak precision / recall / F1, timing, grades."""
    if not scores:
        raise ValueError("summarize: no clips")
    matched = sum(s.matched for s in scores)
    num_pred = sum(s.num_pred for s in scores)
    num_true = sum(s.num_true for s in scores)
    precision, recall, f1 = f1_from_counts(matched, num_pred, num_true)
    offsets = np.array([o for s in scores for o in s.offsets], np.float64)
    grades = [s.grade for s in scores]
    fractions = {g: grades.count(g) / len(grades) for g in ("good", "not_so_good", "bad")}
    return {
        "num_clips": len(scores),
        "mean_r": float(np.mean([s.r for s in scores])),
        "median_r": float(np.median([s.r for s in scores])),
        "peak_precision": precision, "peak_recall": recall, "peak_f1": f1,
        "mean_clip_f1": float(np.mean([s.f1 for s in scores])),
        "num_true_peaks": num_true, "num_pred_peaks": num_pred, "num_matched": matched,
        "mean_abs_timing_error_frames": float(np.abs(offsets).mean()) if offsets.size else float("nan"),
        "mean_signed_timing_error_frames": float(offsets.mean()) if offsets.size else float("nan"),
        "fraction_good": fractions["good"], "fraction_not_so_good": fractions["not_so_good"],
        "fraction_bad": fractions["bad"],
        "score": fractions["good"] - fractions["bad"],
    }


def binary_cross_entropy(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean BCE of one clip (prediction clipped to [1e-7, 1 - 1e-7]), the training loss."""
    p = np.clip(np.asarray(pred, np.float64), 1e-7, 1 - 1e-7)
    t = np.asarray(true, np.float64)
    return float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))
