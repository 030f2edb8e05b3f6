"""Where the sounding objects are: the synthetic generator's annotations.jsonl, per converted frame.

`l3net_data synthetic` writes one JSON object per video (see `data_tools.synthetic.videos`): the
video's `path` as written in labels.csv, its source `fps`, its `objects` (incl. silent distractors
and an off-screen source) and per source frame the boxes of the visible objects. The converter
stores that same path as each record's `source_path`, so records and annotations are matched on
it (not on the record's video id, a hash the converter may derive differently).

Frames: the converter resamples to its own fps; converted frame j shows time j / fps, i.e. the
last source frame at or before that time (`l3net.media_decode`). `frame_truth` maps times to
source frames with that rule.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple

from l3net.data import schema

ANNOTATIONS_NAME = "annotations.jsonl"
REQUIRED_KEYS = ("path", "fps", "frames", "objects")
Box = Tuple[float, float, float, float]


class AnnotationError(ValueError):
    """Unusable annotations; the message names the file and what to do."""


@dataclasses.dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one frame for localisation.

    sounding_boxes:   boxes of the visible objects that make sound (what the map should find).
    distractor_boxes: boxes of visible silent objects.
    offscreen_sound:  the video also has a sounding object that is never on screen.
    """

    sounding_boxes: Tuple[Box, ...]
    distractor_boxes: Tuple[Box, ...]
    offscreen_sound: bool


def read_annotations(path: str) -> Dict[str, Dict[str, Any]]:
    """annotations.jsonl -> {path as in labels.csv: annotation}. Raises AnnotationError."""
    if not os.path.isfile(path):
        raise AnnotationError(f"{path}: no such annotations file; pass --annotations "
                              f"<videos dir>/{ANNOTATIONS_NAME} (written by `l3net_data synthetic`)")
    out: Dict[str, Dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                ann = json.loads(line)
            except ValueError as e:
                raise AnnotationError(f"{path}:{line_no}: not JSON ({e}); regenerate with `l3net_data synthetic`") \
                    from None
            missing = [k for k in REQUIRED_KEYS if not isinstance(ann, dict) or k not in ann]
            if missing:
                raise AnnotationError(f"{path}:{line_no}: no '{missing[0]}' field; not a synthetic-video "
                                      "annotation (regenerate with `l3net_data synthetic`)")
            out[str(ann["path"])] = ann
    if not out:
        raise AnnotationError(f"{path}: no annotations in the file")
    return out


def default_annotations_path(data_dir: str) -> Optional[str]:
    """annotations.jsonl next to the manifest the dataset was converted from, if it exists."""
    info = schema.read_dataset_info(data_dir)
    manifest = info.extra.get("manifest")
    if not manifest:
        return None
    candidate = os.path.join(os.path.dirname(manifest), ANNOTATIONS_NAME)
    return candidate if os.path.isfile(candidate) else None


def _clip_box(box: List[float]) -> Box:
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
    return x0, y0, x1, y1


def frame_truth(annotation: Dict[str, Any], time_s: float) -> FrameTruth:
    """Boxes of the source frame shown at `time_s` (the last source frame at or before it)."""
    frames = annotation["frames"]
    index = min(max(int(math.floor(time_s * float(annotation["fps"]) + 1e-6)), 0), len(frames) - 1)
    entries = frames[index] if frames else []
    sounding = tuple(_clip_box(e["box"]) for e in entries if e["sounding"])
    distractors = tuple(_clip_box(e["box"]) for e in entries if not e["sounding"])
    offscreen = any(o["sounding"] and not o["onscreen"] for o in annotation["objects"])
    return FrameTruth(sounding, distractors, offscreen)
