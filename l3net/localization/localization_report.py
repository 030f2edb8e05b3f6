"""Scores of a set of localised frames, next to the "predict the centre" baseline: localization.json.

How a frame is scored (also written into the JSON as `scoring`):
  * scored frames: at least one sounding object is visible in the frame. Pointing game: the
    maximum of the cell map (centre of its arg-max cell) lies in a sounding object's box. IoU: the
    heat-map (per-cell sigmoid, bilinearly upsampled to the frame) min-max normalised and
    thresholded at `iou_threshold`, against the union of the sounding boxes. A frame with two
    sounding objects is a hit if the maximum lies in either box.
  * frames with no visible sounding object (only an off-screen source sounds, or the object has
    left the frame): excluded from pointing game and IoU (there is nothing to point at), counted
    under `not_scored` with their mean AVC probability.
  * videos with an off-screen sound or silent distractors stay in `all`, and are also reported as
    subsets: `with_offscreen_sound` (the visible object must still be found while another source is
    heard), `with_silent_distractor` (a silent object is visible: `distractor_pointing` is the share
    of frames whose maximum lies on a silent object and on no sounding one).
  * the centre baseline points at the frame centre and uses `localization_metrics.centre_map` for
    IoU, scored by the same code on the same frames.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np

from l3net.localization import localization_metrics as metrics
from l3net.localization.annotations import FrameTruth
from l3net.localization.heatmaps import sigmoid, upsample

SUBSETS = ("all", "clean", "with_silent_distractor", "with_offscreen_sound", "two_sounding_objects")
SCORING = {
    "scored_frames": "frames showing at least one sounding object; pointing hit = the cell map's maximum "
                     "(centre of the arg-max cell) lies inside a sounding object's box",
    "iou": "heat-map = per-cell sigmoid upsampled bilinearly to the frame, min-max normalised, >= threshold; "
           "IoU with the union of the sounding objects' boxes",
    "not_scored": "frames whose sounding source is off-screen only (no visible sounding box): excluded from "
                  "pointing game and IoU, counted here with their mean AVC probability",
    "subsets": "all = every scored frame; clean = one sounding object, no silent distractor, no off-screen "
               "sound; with_silent_distractor = a silent object is visible; with_offscreen_sound = the video "
               "also has a sounding object never on screen; two_sounding_objects = two visible sources",
    "distractor_pointing": "share of frames whose maximum lies on a silent object's box and on no sounding box",
    "centre_baseline": "points at the frame centre; IoU map = cone 1 - r/sqrt(2) around the centre",
}


@dataclasses.dataclass
class FrameScore:
    """Scores of one scored frame (see module docstring)."""

    subsets: List[str]
    hit: bool
    centre_hit: bool
    iou: float
    centre_iou: float
    on_distractor: bool
    centre_on_distractor: bool


def _on_distractor(point, truth: FrameTruth) -> bool:
    return metrics.point_in_boxes(point, truth.distractor_boxes) and not metrics.point_in_boxes(
        point, truth.sounding_boxes)


def score_frame(cell_logits: np.ndarray, truth: FrameTruth, frame_hw, iou_threshold: float
                ) -> Optional[FrameScore]:
    """Scores one frame; None when no sounding object is visible (not scored)."""
    if not truth.sounding_boxes:
        return None
    subsets = ["all"]
    if truth.distractor_boxes:
        subsets.append("with_silent_distractor")
    if truth.offscreen_sound:
        subsets.append("with_offscreen_sound")
    if len(truth.sounding_boxes) > 1:
        subsets.append("two_sounding_objects")
    if len(subsets) == 1:
        subsets.append("clean")
    heat = upsample(sigmoid(cell_logits), *frame_hw)
    point = metrics.max_point(cell_logits)
    centre_heat = metrics.centre_map(*frame_hw)
    return FrameScore(
        subsets=subsets,
        hit=metrics.point_in_boxes(point, truth.sounding_boxes),
        centre_hit=metrics.point_in_boxes(metrics.CENTRE, truth.sounding_boxes),
        iou=metrics.iou_at_threshold(heat, truth.sounding_boxes, iou_threshold),
        centre_iou=metrics.iou_at_threshold(centre_heat, truth.sounding_boxes, iou_threshold),
        on_distractor=_on_distractor(point, truth),
        centre_on_distractor=_on_distractor(metrics.CENTRE, truth),
    )


def _mean(values: List[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None


def summarise(scores: List[FrameScore], not_scored_probs: List[float], iou_threshold: float,
              positive_probs: List[float], mismatched_probs: List[float]) -> Dict[str, Any]:
    """The `evaluation` section of localization.json (see SCORING)."""
    subsets: Dict[str, Any] = {}
    for name in SUBSETS:
        chosen = [s for s in scores if name in s.subsets]
        subsets[name] = {
            "frames": len(chosen),
            "pointing_game": {"avolnet": _mean([float(s.hit) for s in chosen]),
                              "centre_baseline": _mean([float(s.centre_hit) for s in chosen])},
            "mean_iou": {"avolnet": _mean([s.iou for s in chosen]),
                         "centre_baseline": _mean([s.centre_iou for s in chosen])},
            "iou_success_at_0.5": {"avolnet": _mean([float(s.iou >= 0.5) for s in chosen]),
                                   "centre_baseline": _mean([float(s.centre_iou >= 0.5) for s in chosen])},
            "distractor_pointing": {"avolnet": _mean([float(s.on_distractor) for s in chosen]),
                                    "centre_baseline": _mean([float(s.centre_on_distractor) for s in chosen])},
        }
    both = positive_probs + mismatched_probs
    correct = [p >= 0.5 for p in positive_probs] + [p < 0.5 for p in mismatched_probs]
    return {
        "iou_threshold": iou_threshold,
        "scoring": SCORING,
        "subsets": subsets,
        "not_scored": {"no_visible_sounding_object": len(not_scored_probs),
                       "mean_avc_probability": _mean(not_scored_probs)},
        "avc_check": {
            "pairs": len(both),
            "mean_probability_own_audio": _mean(positive_probs),
            "mean_probability_other_video_audio": _mean(mismatched_probs),
            "accuracy_at_0.5": _mean([float(c) for c in correct]),
        },
    }
