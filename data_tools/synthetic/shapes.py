"""Object looks: signed-distance shapes and texture patterns in the object's own coordinates.

Why signed distances: one vectorised formula gives an anti-aliased mask at any position,
rotation and scale (alpha = clip(0.5 - distance_in_pixels, 0, 1)), for all frames of a video at
once, with no per-frame Python work. The pose is applied by the caller (`scenes`), so shapes are
defined once, in local units where the shape fits the unit circle.

All functions take local coordinates u (right), v (down), float32 arrays of a common broadcast
shape (usually [T, B, B]), and `deform` broadcastable to it ([T, 1, 1]); they return arrays of
that shape: distances (< 0 inside, local units) or pattern values in [0, 1].
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

Array = np.ndarray


def _circle(u: Array, v: Array, cu: float, cv: float, r: float) -> Array:
    return np.sqrt((u - cu) ** 2 + (v - cv) ** 2) - r


def _box(u: Array, v: Array, cu: float, cv: float, hw: float, hh: float) -> Array:
    du = np.abs(u - cu) - hw
    dv = np.abs(v - cv) - hh
    outside = np.sqrt(np.maximum(du, 0) ** 2 + np.maximum(dv, 0) ** 2)
    return outside + np.minimum(np.maximum(du, dv), 0)


def _disk(u, v, d):
    squash = 0.22 * d
    return _circle(u / (1 + squash), (v - 0.8 * squash) / (1 - squash), 0.0, 0.0, 0.8) * (1 - squash)


def _bell(u, v, d):
    slope = 0.32
    body = np.maximum((np.abs(u) - (0.42 + slope * (v + 0.45))) / np.sqrt(1 + slope ** 2),
                      np.maximum(-0.45 - v, v - 0.55))
    dome = _circle(u, v, 0.0, -0.45, 0.42)
    lip = _box(u, v, 0.0, 0.55, 0.82, 0.08)
    clapper = _circle(u, v, 0.0, 0.78, 0.16)
    return np.minimum(np.minimum(body, dome), np.minimum(lip, clapper))


def _bar(u, v, d):
    bend = 0.45 * d * np.cos(0.5 * np.pi * np.clip(v, -1, 1))
    string = _box(u - bend, v, 0.0, 0.0, 0.13, 0.9)
    caps = np.minimum(_box(u, v, 0.0, -0.9, 0.4, 0.08), _box(u, v, 0.0, 0.9, 0.4, 0.08))
    return np.minimum(string, caps)


def _triangle(u, v, d):
    inradius = 0.46
    edges = [np.sin(a) * u + np.cos(a) * v for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
    return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - inradius


def _propeller(u, v, d):
    dist = _circle(u, v, 0.0, 0.0, 0.2)
    for k in range(3):
        a = 2 * np.pi * k / 3
        # Blades at 0, 120, 240 degrees: one points straight up whenever the object's angle is a
        # multiple of 120 degrees, which is when motions.Spin makes the whoosh peak.
        ur = np.cos(a) * u - np.sin(a) * v
        vr = np.sin(a) * u + np.cos(a) * v
        blade = (np.sqrt((ur / 0.24) ** 2 + ((vr + 0.52) / 0.46) ** 2) - 1.0) * 0.24
        dist = np.minimum(dist, blade)
    return dist


def _ring(u, v, d):
    r = np.sqrt(u * u + v * v)
    return np.minimum(np.abs(r - 0.72) - 0.24, r - 0.18)


def _diamond(u, v, d):
    a, b = 0.62, 0.95
    outline = (np.abs(u) * b + np.abs(v) * a - a * b) / np.sqrt(a * a + b * b)
    return np.maximum(outline, -_circle(u, v, 0.0, -0.38, 0.12))


def _bird(u, v, d):
    u = u * np.where(d < 0, -1.0, 1.0).astype(u.dtype)  # Faces +u; deform = -1 mirrors it.
    body = (np.sqrt((u / 0.62) ** 2 + ((v - 0.18) / 0.42) ** 2) - 1.0) * 0.42
    head = _circle(u, v, 0.42, -0.38, 0.28)
    beak = np.maximum(np.maximum(-(u - 0.62), np.abs(v + 0.38) - 0.12 + 0.45 * (u - 0.62)), u - 0.95)
    tail = _box(u, v, -0.72, 0.02, 0.22, 0.08)
    return np.minimum(np.minimum(body, head), np.minimum(beak, tail))


def _hammer(u, v, d):
    head = _box(u, v, 0.0, -0.7, 0.55, 0.22)
    handle = _box(u, v, 0.0, 0.15, 0.1, 0.83)
    return np.minimum(head, handle)


def _clockface(u, v, d):
    r = np.sqrt(u * u + v * v)
    rim = np.abs(r - 0.86) - 0.1
    ch, sh = np.cos(d), np.sin(d)
    uh = ch * u + sh * v
    vh = -sh * u + ch * v
    hand = _box(uh, vh, 0.0, -0.32, 0.08, 0.34)
    return np.minimum(np.minimum(rim, hand), r - 0.12)


def _keys(u, v, d):
    """Three mallet bars of falling length, stacked (a xylophone seen from above)."""
    bars = [_box(u, v, 0.0, cv, hw, 0.17) for cv, hw in ((-0.56, 0.9), (0.0, 0.72), (0.56, 0.54))]
    return np.minimum(np.minimum(bars[0], bars[1]), bars[2])


def _drum(u, v, d):
    """Drum: a shell with a lighter elliptical head on top."""
    shell = _box(u, v, 0.0, 0.2, 0.75, 0.45)
    head = (np.sqrt((u / 0.8) ** 2 + ((v + 0.25) / 0.28) ** 2) - 1.0) * 0.28
    return np.minimum(shell, head)


def _horn(u, v, d):
    """Horn: a narrow tube widening into a round bell on the right."""
    tube = _box(u, v, -0.4, 0.0, 0.5, 0.1)
    flare = np.maximum(np.abs(v) - 0.1 - 0.9 * np.maximum(u + 0.1, 0.0) ** 1.5, np.maximum(-0.1 - u, u - 0.85))
    return np.minimum(tube, flare)


def _violin(u, v, d):
    """Violin body: two lobes with a waist, a neck above."""
    lower = (np.sqrt((u / 0.55) ** 2 + ((v - 0.35) / 0.42) ** 2) - 1.0) * 0.42
    upper = (np.sqrt((u / 0.44) ** 2 + ((v + 0.18) / 0.32) ** 2) - 1.0) * 0.32
    neck = _box(u, v, 0.0, -0.65, 0.08, 0.3)
    return np.minimum(np.minimum(lower, upper), neck)


def _face(u, v, d):
    """Head with two eye holes and a mouth hole (the talker)."""
    head = _circle(u, v, 0.0, 0.0, 0.85)
    holes = np.minimum(np.minimum(_circle(u, v, -0.32, -0.25, 0.13), _circle(u, v, 0.32, -0.25, 0.13)),
                       _box(u, v, 0.0, 0.38, 0.34, 0.09))
    return np.maximum(head, -holes)


def _pipe(u, v, d):
    """Upright woodwind: a long tube, finger holes, a flared foot."""
    tube = _box(u, v, 0.0, -0.1, 0.13, 0.8)
    foot = np.maximum(np.abs(u) - 0.13 - 0.6 * np.maximum(v - 0.45, 0.0), np.maximum(0.45 - v, v - 0.92))
    holes = np.minimum(_circle(u, v, 0.0, -0.35, 0.06), _circle(u, v, 0.0, 0.0, 0.06))
    return np.maximum(np.minimum(tube, foot), -holes)


SHAPES: Dict[str, Callable[[Array, Array, Array], Array]] = {
    "disk": _disk, "bell": _bell, "bar": _bar, "triangle": _triangle, "propeller": _propeller,
    "ring": _ring, "diamond": _diamond, "bird": _bird, "hammer": _hammer, "clockface": _clockface,
    "keys": _keys, "drum": _drum, "horn": _horn, "violin": _violin, "face": _face, "pipe": _pipe,
}


def _stripes(x: Array, period: float) -> Array:
    return (np.mod(x / period, 1.0) < 0.5).astype(np.float32)


TEXTURES: Dict[str, Callable[[Array, Array], Array]] = {
    "checker": lambda u, v: np.mod(np.floor(u * 2.6) + np.floor(v * 2.6), 2.0),
    "hstripes": lambda u, v: _stripes(v + 1.0, 0.5),
    "vstripes": lambda u, v: _stripes(v + 1.0, 0.16),
    "dots": lambda u, v: (((np.mod(u * 3.5, 1.0) - 0.5) ** 2 + (np.mod(v * 3.5, 1.0) - 0.5) ** 2) < 0.08
                          ).astype(np.float32),
    "radial": lambda u, v: _stripes(np.arctan2(u, -v) + np.pi, np.pi / 6),
    "rings": lambda u, v: _stripes(np.sqrt(u * u + v * v), 0.2),
    "diagonal": lambda u, v: _stripes(u + v + 2.0, 0.4),
    "gradient": lambda u, v: np.clip(0.5 - 0.6 * v, 0.0, 1.0),
    "grid": lambda u, v: np.maximum(_stripes(u + 1.0, 0.3), _stripes(v + 1.0, 0.3)),
    "solid": lambda u, v: np.full(np.broadcast(u, v).shape, 0.75, np.float32),
}


def shape_sdf(shape: str, u: Array, v: Array, deform: Array) -> Array:
    """Signed distance to `shape` in local units (negative inside), shape of `u`."""
    return SHAPES[shape](u, v, deform)


def texture_pattern(texture: str, u: Array, v: Array) -> Array:
    """Pattern in [0, 1] (0 = dark tone, 1 = light tone), shape of `u`."""
    return TEXTURES[texture](u, v).astype(np.float32)
