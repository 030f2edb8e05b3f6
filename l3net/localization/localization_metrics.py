"""Scoring a heat-map against the boxes of the objects that sound: pointing game and IoU.

Every map here covers the whole frame: a map of shape [h, w] has cell (i, j) centred at the
normalised image point (x, y) = ((j + 0.5) / w, (i + 0.5) / h), and boxes are [x0, y0, x1, y1]
normalised to [0, 1] (the synthetic generator's annotation format). So the same functions score
a 7x9 AVOL-Net cell map, a map upsampled to the frame, or a hand-made map in a test.

  pointing game: the map's maximum (centre of its first arg-max cell) falls inside any box of a
                 sounding object (Objects that Sound, Table 4: AVOL-Net vs "predict the centre").
  IoU at a threshold: the map, min-max normalised to [0, 1], is binarised at `threshold`; IoU of
                 that mask with the union of the sounding boxes, both rasterised on the map's
                 own grid (a pixel belongs to a box when its centre does).
  centre baseline: points at (0.5, 0.5); its map is a cone peaking at the centre (1 at the centre,
                 0 at the corners), scored by the same IoU code.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

Box = Sequence[float]  # [x0, y0, x1, y1], normalised
CENTRE = (0.5, 0.5)


def max_point(heatmap: np.ndarray) -> Tuple[float, float]:
    """(x, y) normalised centre of the first arg-max cell of a [h, w] map."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ValueError(f"heat-map must be a non-empty [h, w] array, got shape {heatmap.shape}")
    i, j = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    h, w = heatmap.shape
    return (j + 0.5) / w, (i + 0.5) / h


def point_in_boxes(point: Tuple[float, float], boxes: Sequence[Box]) -> bool:
    """Whether (x, y) lies inside (edges included) any of `boxes`."""
    x, y = point
    return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)


def pointing_hit(heatmap: np.ndarray, boxes: Sequence[Box]) -> bool:
    """Pointing game for one frame: the map's maximum lies in a sounding object's box."""
    return point_in_boxes(max_point(heatmap), boxes)


def box_mask(boxes: Sequence[Box], height: int, width: int) -> np.ndarray:
    """bool [height, width]: pixels whose centre lies inside any box (the union)."""
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask |= ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
    return mask


def normalise(heatmap: np.ndarray) -> np.ndarray:
    """Min-max scaling to [0, 1]; a constant map becomes all ones (it points everywhere)."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    lo, hi = float(heatmap.min()), float(heatmap.max())
    if hi - lo <= 0.0:
        return np.ones_like(heatmap)
    return (heatmap - lo) / (hi - lo)


def iou_at_threshold(heatmap: np.ndarray, boxes: Sequence[Box], threshold: float) -> float:
    """IoU of {normalised map >= threshold} with the union of `boxes`, on the map's grid.

    0.0 when the union is empty on this grid and the mask is not (nothing to find); 1.0 when both
    are empty.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold}: must be in [0, 1]")
    predicted = normalise(heatmap) >= threshold
    truth = box_mask(boxes, *predicted.shape)
    union = int(np.count_nonzero(predicted | truth))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(predicted & truth)) / union


def centre_map(height: int, width: int) -> np.ndarray:
    """The "predict the centre" baseline map [height, width]: 1 at the frame centre, 0 at the corners.

    Value = 1 - r / sqrt(2), r = distance of the pixel centre from (0.5, 0.5) in units of half the
    frame's width / height (an elliptic cone, matching the frame's aspect).
    """
    ys = ((np.arange(height) + 0.5) / height - 0.5) / 0.5
    xs = ((np.arange(width) + 0.5) / width - 0.5) / 0.5
    r = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    return 1.0 - r / np.sqrt(2.0)
