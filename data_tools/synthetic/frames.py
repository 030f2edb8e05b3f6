"""Frame rendering of a planned video (`scenes.VideoScene`) with vectorised numpy.

Why sprite stacks: each object's mask and colours for *all* frames are computed in one
vectorised pass over a small [T, B, B] window around it (signed-distance shapes, `shapes`);
composing a frame is then only a background copy plus one alpha blend per object. This keeps
rendering well below the H.264 encoder's cost.

Frame i shows time i / fps (the converter's convention, `l3net.data.schema`).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, List, Optional

import numpy as np

from data_tools.synthetic.scenes import ObjectInstance, VideoScene
from data_tools.synthetic.shapes import shape_sdf, texture_pattern


POSE_STEP = np.array([0.05, 0.05, 0.002, 0.002, 0.01])  # Offsets x/y (px), angle, scale, deform.


@dataclasses.dataclass
class SpriteStack:
    """One object's appearance over time.

    left, top: int [T] frame position of the window's top-left pixel.
    alpha:     float32 [P, B, B] coverage in [0, 1] of the P distinct poses.
    rgb:       float32 [P, B, B, 3] colour in [0, 255].
    pose_of:   int [T] index into the P poses of each frame.
    boxes:     float64 [T, 4] (x0, y0, x1, y1) of the visible extent normalised to [0, 1];
               rows of NaN where the object is outside the frame.
    """

    left: np.ndarray
    top: np.ndarray
    alpha: np.ndarray
    rgb: np.ndarray
    pose_of: np.ndarray
    boxes: np.ndarray


def frame_times(scene: VideoScene) -> np.ndarray:
    return np.arange(scene.num_frames, dtype=np.float64) / scene.fps


def _bilinear(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of a small [gh, gw] grid (gh, gw >= 2) to [h, w]."""
    gh, gw = grid.shape
    gy = (np.arange(h) + 0.5) / h * (gh - 1)
    gx = (np.arange(w) + 0.5) / w * (gw - 1)
    iy = np.minimum(gy.astype(np.int64), gh - 2)
    ix = np.minimum(gx.astype(np.int64), gw - 2)
    fy, fx = (gy - iy)[:, None], (gx - ix)[None, :]
    top = grid[iy][:, ix] * (1 - fx) + grid[iy][:, ix + 1] * fx
    bottom = grid[iy + 1][:, ix] * (1 - fx) + grid[iy + 1][:, ix + 1] * fx
    return top * (1 - fy) + bottom * fy


def render_background(scene: VideoScene, rng: np.random.Generator) -> np.ndarray:
    """Static background texture, float32 [H, W, 3] in [0, 255]."""
    h, w = scene.height, scene.width
    yy = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    xx = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / h
    kind = scene.background
    if kind == "gradient":
        ang = rng.uniform(0, 2 * np.pi)
        mix = np.cos(ang) * xx + np.sin(ang) * yy
        mix = (mix - mix.min()) / (np.ptp(mix) + 1e-6)
    elif kind == "blobs":
        mix = _bilinear(rng.uniform(0, 1, (int(rng.integers(2, 5)), int(rng.integers(3, 7)))), h, w)
    elif kind == "floor":
        horizon = rng.uniform(0.45, 0.8)
        mix = np.broadcast_to(1.0 / (1.0 + np.exp(-(yy - horizon) * 60.0)) + 0.15 * yy, (h, w))
    elif kind == "stripes":
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(0.15, 0.5)
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(ang) * xx + np.sin(ang) * yy) / period)
        mix = 0.3 + 0.4 * mix
    else:  # tiles
        size = rng.uniform(0.12, 0.3)
        mix = 0.35 + 0.3 * np.mod(np.floor(xx / size) + np.floor(yy / size), 2.0)
    light = np.asarray(scene.background_colours[0], np.float32) * 255
    dark = np.asarray(scene.background_colours[1], np.float32) * 255
    mix = np.clip(mix, 0, 1).astype(np.float32)[..., None]
    return dark + (light - dark) * mix


def render_sprites(scene: VideoScene, obj: ObjectInstance, times: np.ndarray) -> SpriteStack:
    """Vectorised appearance of `obj` at `times` [T] (see `SpriteStack`).

    Frames whose pose differs only by a whole-pixel shift share one sprite (objects at rest,
    a clock between ticks), so only the distinct poses are rendered.
    """
    pose = obj.motion.pose(times)
    h, w = scene.height, scene.width
    half = int(np.ceil(1.15 * obj.radius * h * float(pose.scale.max()))) + 1
    size = 2 * half + 1
    cx, cy = pose.cx * h, pose.cy * h
    left = np.round(cx).astype(np.int64) - half
    top = np.round(cy).astype(np.int64) - half
    # Pose quantised below what 8-bit frames show: 1/20 px, 0.1 degree, 0.2 % scale, 1 % deform.
    params = np.stack([cx - left, cy - top, pose.angle, pose.scale, pose.deform], axis=1)
    params = np.round(params / POSE_STEP) * POSE_STEP
    p, inverse = np.unique(params, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)

    grid = np.arange(size, dtype=np.float64) + 0.5
    dx = (grid[None, :] - p[:, 0:1]).astype(np.float32)[:, None, :]
    dy = (grid[None, :] - p[:, 1:2]).astype(np.float32)[:, :, None]
    ca = np.cos(p[:, 2]).astype(np.float32)[:, None, None]
    sa = np.sin(p[:, 2]).astype(np.float32)[:, None, None]
    r_px = (obj.radius * h * p[:, 3]).astype(np.float32)[:, None, None]
    u = (ca * dx + sa * dy) / r_px
    v = (ca * dy - sa * dx) / r_px
    dist_px = shape_sdf(obj.cls.shape, u, v, p[:, 4].astype(np.float32)[:, None, None]) * r_px
    alpha = np.clip(0.5 - dist_px, 0.0, 1.0).astype(np.float32)
    pattern = texture_pattern(obj.cls.texture, u, v)
    pattern = np.where(dist_px > -1.0, 0.0, pattern)  # Dark outline keeps edges visible.
    light = np.asarray(obj.light, np.float32) * 255
    dark = np.asarray(obj.dark, np.float32) * 255
    rgb = (dark + (light - dark) * pattern[..., None]).astype(np.float32)
    solid = alpha > 0.5
    boxes = _boxes(solid.any(axis=1)[inverse], solid.any(axis=2)[inverse], left, top, w, h)
    return SpriteStack(left, top, alpha, rgb, inverse, boxes)


def _boxes(cols: np.ndarray, rows: np.ndarray, left: np.ndarray, top: np.ndarray, w: int,
           h: int) -> np.ndarray:
    """Normalised visible extents [T, 4] from per-frame covered columns/rows [T, B], clipped."""
    size = cols.shape[1]
    idx = np.arange(size)
    col_in = cols & ((left[:, None] + idx) >= 0) & ((left[:, None] + idx) < w)
    row_in = rows & ((top[:, None] + idx) >= 0) & ((top[:, None] + idx) < h)
    visible = col_in.any(axis=1) & row_in.any(axis=1)
    x0 = left + np.argmax(col_in, axis=1)
    x1 = left + size - np.argmax(col_in[:, ::-1], axis=1)
    y0 = top + np.argmax(row_in, axis=1)
    y1 = top + size - np.argmax(row_in[:, ::-1], axis=1)
    boxes = np.stack([x0 / w, y0 / h, x1 / w, y1 / h], axis=1).astype(np.float64)
    boxes[~visible] = np.nan
    return boxes


def _paste(frame: np.ndarray, sprite: SpriteStack, t: int) -> None:
    h, w = frame.shape[:2]
    size = sprite.alpha.shape[1]
    x0, y0 = int(sprite.left[t]), int(sprite.top[t])
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + size, w), min(y0 + size, h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    p = sprite.pose_of[t]
    a = sprite.alpha[p, fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0, None]
    window = frame[fy0:fy1, fx0:fx1]
    window += (sprite.rgb[p, fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] - window) * a


def render_frames(scene: VideoScene) -> "RenderedFrames":
    """Renders all on-screen objects; frames are composed lazily by `RenderedFrames.frames`."""
    rng = np.random.default_rng([scene.render_seed, 1])
    background = render_background(scene, rng)
    times = frame_times(scene)
    sprites = [render_sprites(scene, o, times) if o.onscreen else None for o in scene.objects]
    return RenderedFrames(scene.num_frames, background, sprites)


@dataclasses.dataclass
class RenderedFrames:
    """Background [H, W, 3] float32 and one SpriteStack per scene object (None if off-screen)."""

    num_frames: int
    background: np.ndarray
    sprites: List[Optional[SpriteStack]]

    def frames(self) -> Iterator[np.ndarray]:
        """Yields uint8 [H, W, 3] RGB frames in order."""
        stacks = [s for s in self.sprites if s is not None]
        for t in range(self.num_frames):
            frame = self.background.copy()
            for sprite in stacks:
                _paste(frame, sprite, t)
            frame += 0.5  # Colours are blends of values in [0, 255]: rounding needs no clip.
            yield frame.astype(np.uint8)
