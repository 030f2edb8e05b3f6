"""From AVOL-Net's cell map to a picture: bilinear upsampling and a colour overlay on the frame.

The cell map [h, w] tiles the whole frame (see `localization_metrics`): cell (i, j) is centred at
((j + 0.5) / w, (i + 0.5) / h). Upsampling uses the same half-pixel-centre convention as
`tf.image.resize(..., 'bilinear')`, clamped at the edges, so a cell's value lands on its centre.

The overlay colours the sigmoid *probability* on a fixed [0, 1] scale (not min-max normalised):
audio that matches nothing in the frame gives a cold picture, which is part of the answer.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

OVERLAY_ALPHA = 0.55
COLORMAP = "jet"
SOUNDING_COLOUR = (0, 255, 0)
DISTRACTOR_COLOUR = (255, 255, 255)


def _axis_weights(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (lo, hi) and weight of hi for half-pixel-centre linear resampling."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, pos - lo


def upsample(cell_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """[h, w] -> float64 [height, width], bilinear with half-pixel centres, edges clamped."""
    cell_map = np.asarray(cell_map, dtype=np.float64)
    r_lo, r_hi, r_w = _axis_weights(cell_map.shape[0], height)
    c_lo, c_hi, c_w = _axis_weights(cell_map.shape[1], width)
    rows = cell_map[r_lo] * (1.0 - r_w)[:, None] + cell_map[r_hi] * r_w[:, None]
    return rows[:, c_lo] * (1.0 - c_w)[None, :] + rows[:, c_hi] * c_w[None, :]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function (no overflow warnings for large |x|)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def overlay(frame: np.ndarray, heat: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """uint8 RGB [H, W, 3] frame + heat [H, W] in [0, 1] -> uint8 RGB [H, W, 3].

    The colour-mapped heat is blended with weight alpha * heat, so cold regions keep the frame.
    """
    from matplotlib import colormaps

    heat = np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0)
    colour = colormaps[COLORMAP](heat)[..., :3] * 255.0
    weight = (alpha * heat)[..., None]
    blended = frame.astype(np.float64) * (1.0 - weight) + colour * weight
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def draw_boxes(image: np.ndarray, boxes: Sequence[Sequence[float]], colour: Tuple[int, int, int]) -> np.ndarray:
    """Copy of uint8 [H, W, 3] `image` with 1-pixel outlines of normalised [x0, y0, x1, y1] boxes."""
    out = image.copy()
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(np.clip(round(x0 * w), 0, w - 1)), int(np.clip(round(x1 * w) - 1, 0, w - 1))
        r0, r1 = int(np.clip(round(y0 * h), 0, h - 1)), int(np.clip(round(y1 * h) - 1, 0, h - 1))
        out[r0, c0:c1 + 1] = colour
        out[r1, c0:c1 + 1] = colour
        out[r0:r1 + 1, c0] = colour
        out[r0:r1 + 1, c1] = colour
    return out


def write_png(path: str, image: np.ndarray) -> None:
    """Writes uint8 RGB [H, W, 3] as a PNG, atomically."""
    from matplotlib import image as mpimg

    from l3net.atomic_files import atomic_path

    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, image)
