"""Motions of the sound-world objects, and the sound events they cause.

Why one model drives both picture and sound: synchronisation is the signal AVC learns from, so
each motion is an analytic function of time that the frame renderer samples at frame times and
the audio synthesiser samples at audio sample times (or reads its event list). A bouncing ball's
landing times *are* its thud times; a fan's blade angle *is* its whoosh modulation.

Units: positions are in frame heights (y in [0, 1] downwards, x in [0, aspect]); the object's
radius `radius` (same unit) is the radius of the circle that holds its shape at scale 1.
`Pose` arrays all have shape [T] for T query times.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Region:
    """Rectangle the object's centre region is laid out in (x0..x1, y0..y1, frame heights)."""

    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def cx(self) -> float:
        return 0.5 * (self.x0 + self.x1)


@dataclasses.dataclass
class Pose:
    """Per-time drawing parameters, each float64 [T].

    angle:  rotation of the whole shape (radians, clockwise on screen).
    scale:  multiplies the radius (<= 1).
    deform: class-specific (ball squash, string bend, bird facing, clock hand angle).
    """

    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    deform: np.ndarray


class Motion:
    """Base: `events` [E] sound event times (s), `gains` [E] their relative loudness.

    Continuous sounders (`continuous = True`) also implement `audio_control`, returning the
    amplitude [T] in [0, 1] and the pitch factor [T] (multiplies the instance pitch).
    """

    continuous = False
    events: np.ndarray
    gains: np.ndarray
    decay_s: float = 0.3

    def pose(self, t: np.ndarray) -> Pose:
        raise NotImplementedError

    def audio_control(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} emits discrete events only")


def _onsets(rng: np.random.Generator, duration: float, rate: float, jitter: float) -> np.ndarray:
    """Event times with mean rate `rate`; the first falls early enough for short clips."""
    period = 1.0 / rate
    first = rng.uniform(0.05, max(0.1, min(0.8 * period, 0.4 * duration)))
    times = [first]
    while True:
        nxt = times[-1] + period * rng.uniform(1.0 - jitter, 1.0 + jitter)
        if nxt >= duration - 0.05:
            break
        times.append(nxt)
    return np.asarray(times, dtype=np.float64)


def _fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflects `x` into [lo, hi] (a ball bouncing off two walls)."""
    span = max(hi - lo, 1e-6)
    y = np.mod(x - lo, 2.0 * span)
    return lo + span - np.abs(y - span)


def _ease(u: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * u)


def _centre_range(region: Region, radius: float) -> Tuple[float, float, float, float]:
    """Centre limits keeping a shape of `radius` inside the region (degenerate -> midpoint)."""
    x0, x1 = region.x0 + radius, region.x1 - radius
    y0, y1 = region.y0 + radius, region.y1 - radius
    if x0 > x1:
        x0 = x1 = region.cx
    if y0 > y1:
        y0 = y1 = 0.5 * (region.y0 + region.y1)
    return x0, x1, y0, y1


def _const(t: np.ndarray, value: float) -> np.ndarray:
    return np.full(t.shape, value, dtype=np.float64)


class _Segments:
    """Piecewise moves: segment k starts at starts[k], lasts lengths[k], goes points[k] -> [k+1]."""

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, points: np.ndarray):
        self.starts, self.lengths, self.points = starts, lengths, points

    def locate(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (k [T] int, u [T] progress in [0, 1], active [T] bool); k = 0 before the first."""
        k = np.searchsorted(self.starts, t, side="right") - 1
        before = k < 0
        kc = np.clip(k, 0, len(self.starts) - 1)
        u = np.clip((t - self.starts[kc]) / self.lengths[kc], 0.0, 1.0)
        u = np.where(before, 0.0, u)
        active = (~before) & (t < self.starts[kc] + self.lengths[kc])
        return kc, u, active


def _waypoints(rng: np.random.Generator, n: int, lim: Tuple[float, float, float, float],
               min_step: float) -> np.ndarray:
    """n random points inside `lim`, consecutive ones at least ~`min_step` apart where possible."""
    x0, x1, y0, y1 = lim
    pts = [np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])]
    for _ in range(n - 1):
        best = None
        for _try in range(4):
            cand = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if best is None or np.linalg.norm(cand - pts[-1]) > np.linalg.norm(best - pts[-1]):
                best = cand
            if np.linalg.norm(cand - pts[-1]) >= min_step:
                break
        pts.append(best)
    return np.stack(pts)


class Bounce(Motion):
    """Ball bouncing on a floor; thud at each landing, squashed for ~30 ms around it."""

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.period = 1.0 / rate
        self.floor = rng.uniform(y0 + 0.6 * (y1 - y0), y1)
        self.height = rng.uniform(0.5, 1.0) * (self.floor - y0)
        self.phase = rng.uniform(0.0, 1.0)
        self.x_start = rng.uniform(x0, x1)
        self.vx = rng.uniform(-0.15, 0.15)
        self.x_lim = (x0, x1)
        ks = np.arange(1, int(duration / self.period) + 3)
        ev = (ks - self.phase) * self.period
        self.events = ev[(ev >= 0) & (ev < duration)]
        self.gains = np.full(self.events.shape, 0.6 + 0.4 * self.height / 0.5).clip(0.3, 1.0)

    def pose(self, t: np.ndarray) -> Pose:
        p = np.mod(t / self.period + self.phase, 1.0)
        cy = self.floor - 4.0 * self.height * p * (1.0 - p)
        cx = _fold(self.x_start + self.vx * t, *self.x_lim)
        near = self.period * np.minimum(p, 1.0 - p)
        return Pose(cx, cy, _const(t, 0.0), _const(t, 1.0), np.exp(-near / 0.03))


class Swing(Motion):
    """Bell swinging from a pivot above it; clang at both ends of each swing."""

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        self.length = 1.1 * radius
        half_w = 0.5 * (region.x1 - region.x0)
        room = max(0.05, (half_w - radius) / self.length)
        self.amp = float(np.clip(rng.uniform(0.35, 0.7), 0.25, max(0.25, math.asin(min(1.0, room)))))
        self.freq = 0.5 * rate  # One period has two ends (two clangs): `rate` is clangs / s.
        self.phase = rng.uniform(0.0, 2.0 * np.pi)
        self.px = region.cx
        self.py = rng.uniform(region.y0, max(region.y0, region.y1 - radius - self.length))
        ks = np.arange(-2, int(2 * duration * self.freq) + 4)
        ev = (np.pi / 2 + ks * np.pi - self.phase) / (2 * np.pi * self.freq)
        self.events = np.sort(ev[(ev >= 0) & (ev < duration)])
        self.gains = rng.uniform(0.75, 1.0, self.events.shape)

    def pose(self, t: np.ndarray) -> Pose:
        theta = self.amp * np.sin(2 * np.pi * self.freq * t + self.phase)
        cx = self.px + self.length * np.sin(theta)
        cy = self.py + self.length * np.cos(theta)
        return Pose(cx, cy, -theta, _const(t, 1.0), _const(t, 0.0))


class Pluck(Motion):
    """Standing string; each pluck bends it, the vibration decays with the tone's decay time."""

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.cx, self.cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        self.tilt = rng.uniform(-0.25, 0.25)
        self.events = _onsets(rng, duration, rate, 0.4)
        self.gains = rng.uniform(0.6, 1.0, self.events.shape)
        self.decay_s = rng.uniform(0.25, 0.6)
        self.wiggle_hz = rng.uniform(7.0, 9.5)

    def envelope(self, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.events, t, side="right") - 1
        kc = np.clip(k, 0, None)
        env = self.gains[kc] * np.exp(-(t - self.events[kc]) / self.decay_s)
        return np.where((k < 0) | (env < 0.02), 0.0, env)  # Below 2 % the bend is invisible.

    def pose(self, t: np.ndarray) -> Pose:
        bend = self.envelope(t) * np.sign(np.sin(2 * np.pi * self.wiggle_hz * t) + 1e-9)
        return Pose(_const(t, self.cx), _const(t, self.cy), _const(t, self.tilt), _const(t, 1.0), bend)


class Slide(Motion):
    """Buzzer sliding between rest points; it buzzes while it moves, loudest at top speed."""

    continuous = True

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        lim = _centre_range(region, radius)
        self.events = _onsets(rng, duration, rate, 0.3)
        gaps = np.diff(np.append(self.events, duration + 1.0))
        lengths = np.minimum(rng.uniform(0.4, 0.8, self.events.shape) / rate, 0.85 * gaps)
        pts = _waypoints(rng, len(self.events) + 1, lim, 0.25)
        self.moves = _Segments(self.events, lengths, pts)
        self.gains = np.ones(self.events.shape)
        self.tilt = rng.uniform(-0.3, 0.3)

    def pose(self, t: np.ndarray) -> Pose:
        k, u, _ = self.moves.locate(t)
        p = self.moves.points[k] + (self.moves.points[k + 1] - self.moves.points[k]) * _ease(u)[:, None]
        return Pose(p[:, 0], p[:, 1], _const(t, self.tilt), _const(t, 1.0), _const(t, 0.0))

    def audio_control(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        _, u, active = self.moves.locate(t)
        speed = np.where(active, np.sin(np.pi * u), 0.0)
        return speed, 1.0 + 0.15 * speed


class Spin(Motion):
    """Three-blade fan spinning up and down; the whoosh peaks each time a blade passes."""

    continuous = True
    blades = 3

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.cx, self.cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        self.rev_per_s = rate
        on, t = [], rng.uniform(0.0, min(0.3, 0.2 * duration))
        while t < duration - 0.1:
            length = rng.uniform(1.0, 2.5)
            on.append((t, t + length))
            t += length + rng.uniform(0.4, 1.0)
        self.events = np.asarray([a for a, _ in on])
        self.gains = np.ones(self.events.shape)
        self.grid_dt = 0.002
        grid = np.arange(0.0, duration + 0.05, self.grid_dt)
        drive = np.zeros_like(grid)
        for a, b in on:
            up = np.clip((grid - a) / 0.25, 0.0, 1.0)
            down = np.clip(1.0 - (grid - b) / 0.4, 0.0, 1.0)
            drive = np.maximum(drive, np.minimum(up, down))
        self.grid, self.drive = grid, drive
        self.angle0 = rng.uniform(0.0, 2 * np.pi)
        self.theta = self.angle0 + np.cumsum(drive) * 2 * np.pi * rate * self.grid_dt

    def pose(self, t: np.ndarray) -> Pose:
        ang = np.interp(t, self.grid, self.theta)
        return Pose(_const(t, self.cx), _const(t, self.cy), ang, _const(t, 1.0), _const(t, 0.0))

    def audio_control(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        g = np.interp(t, self.grid, self.drive)
        ang = np.interp(t, self.grid, self.theta)
        # Blade k points straight up when angle == 2*pi*k/3: that is when the whoosh peaks.
        passing = (0.5 + 0.5 * np.cos(self.blades * ang)) ** 2
        return g * (0.3 + 0.7 * passing), 0.6 + 0.4 * g


class Pulse(Motion):
    """Ring that grows and shrinks; its hum is loud when it is big (events = size peaks)."""

    continuous = True

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.cx, self.cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        self.freq = rate
        self.phase = rng.uniform(0.0, 2 * np.pi)
        self.depth = rng.uniform(0.45, 0.65)
        ks = np.arange(-1, int(duration * rate) + 3)
        ev = (np.pi + 2 * np.pi * ks - self.phase) / (2 * np.pi * rate)
        self.events = ev[(ev >= 0) & (ev < duration)]
        self.gains = np.ones(self.events.shape)

    def size(self, t: np.ndarray) -> np.ndarray:
        return (0.5 - 0.5 * np.cos(2 * np.pi * self.freq * t + self.phase)) ** 1.5

    def pose(self, t: np.ndarray) -> Pose:
        scale = 1.0 - self.depth * (1.0 - self.size(t))
        return Pose(_const(t, self.cx), _const(t, self.cy), _const(t, 0.0), scale, _const(t, 0.0))

    def audio_control(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        q = self.size(t)
        return 0.04 + 0.96 * q, 1.0 + 0.03 * q


class Glide(Motion):
    """Whistle gliding along wavy paths while it whistles; pitch follows its height."""

    continuous = True

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        lim = _centre_range(region, radius)
        self.events = _onsets(rng, duration, rate, 0.3)
        gaps = np.diff(np.append(self.events, duration + 1.0))
        lengths = np.minimum(rng.uniform(0.5, 1.2, self.events.shape), 0.8 * gaps)
        pts = _waypoints(rng, len(self.events) + 1, lim, 0.2)
        self.moves = _Segments(self.events, lengths, pts)
        self.gains = np.ones(self.events.shape)
        self.wave_hz = rng.uniform(1.0, 2.0)
        self.wave_amp = min(0.12, 0.5 * (lim[3] - lim[2]) + 0.02)
        self.y_lim = (lim[2], lim[3])

    def pose(self, t: np.ndarray) -> Pose:
        k, u, active = self.moves.locate(t)
        p = self.moves.points[k] + (self.moves.points[k + 1] - self.moves.points[k]) * _ease(u)[:, None]
        wave = self.wave_amp * np.sin(np.pi * u) * np.sin(2 * np.pi * self.wave_hz * (t - self.moves.starts[k]))
        cy = np.clip(p[:, 1] - np.where(active, wave, 0.0), *self.y_lim)
        return Pose(p[:, 0], cy, _const(t, 0.0), _const(t, 1.0), _const(t, 0.0))

    def audio_control(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        k, u, active = self.moves.locate(t)
        since = t - self.moves.starts[k]
        until = self.moves.starts[k] + self.moves.lengths[k] - t
        ramp = np.clip(np.minimum(since / 0.03, until / 0.06), 0.0, 1.0)
        amp = np.where(active, ramp, 0.0)
        y = self.pose(t).cy
        pitch = 2.0 ** (1.5 * (0.5 - y))  # One frame height up = 1.5 octaves higher.
        return amp, pitch


class Hop(Motion):
    """Bird hopping sideways; it chirps as it takes off and faces the way it hops."""

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.events = _onsets(rng, duration, rate, 0.5)
        gaps = np.diff(np.append(self.events, duration + 1.0))
        self.lengths = np.minimum(rng.uniform(0.18, 0.3, self.events.shape), 0.8 * gaps)
        ground = rng.uniform(y0 + 0.5 * (y1 - y0), y1)
        self.heights = np.minimum(rng.uniform(0.06, 0.14, self.events.shape), ground - y0 + 1e-3)
        xs = [rng.uniform(x0, x1)]
        for _ in self.events:
            step = rng.uniform(0.04, 0.12) * rng.choice([-1.0, 1.0])
            if not x0 <= xs[-1] + step <= x1:
                step = -step
            xs.append(float(np.clip(xs[-1] + step, x0, x1)))
        pts = np.stack([np.asarray(xs), np.full(len(xs), ground)], axis=1)
        self.hops = _Segments(self.events, self.lengths, pts)
        self.facing0 = rng.choice([-1.0, 1.0])
        self.gains = rng.uniform(0.7, 1.0, self.events.shape)

    def pose(self, t: np.ndarray) -> Pose:
        k, u, _ = self.hops.locate(t)
        a, b = self.hops.points[k], self.hops.points[k + 1]
        cx = a[:, 0] + (b[:, 0] - a[:, 0]) * u
        cy = a[:, 1] - 4.0 * self.heights[k] * u * (1.0 - u)
        started = t >= self.events[0]
        facing = np.where(started, np.sign(b[:, 0] - a[:, 0] + 1e-9), self.facing0)
        tilt = -0.35 * facing * np.sin(np.pi * u)
        return Pose(cx, cy, tilt, _const(t, 1.0), facing)


class Strike(Motion):
    """Hammer raised slowly and struck down fast about its handle end; clack at each impact."""

    strike_s = 0.12

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        period = 1.0 / rate
        self.events = _onsets(rng, duration, rate, 0.15)
        self.events = self.events[self.events >= min(0.15, 0.5 * duration)]
        if len(self.events) == 0:
            self.events = np.asarray([0.6 * duration])
        self.gains = rng.uniform(0.8, 1.0, self.events.shape)
        self.raise_s = 0.35 * period
        self.lift = rng.uniform(1.0, 1.35)
        self.side = rng.choice([-1.0, 1.0])
        self.radius = radius
        self.px = region.cx + 0.55 * radius * self.side
        self.py = rng.uniform(max(region.y0 + radius, 0.45), max(region.y0 + radius, region.y1 - 0.1))

    def pose(self, t: np.ndarray) -> Pose:
        k = np.searchsorted(self.events, t, side="right")
        until = np.where(k < len(self.events), self.events[np.clip(k, 0, len(self.events) - 1)] - t, np.inf)
        since = np.where(k > 0, t - self.events[np.clip(k - 1, 0, None)], np.inf)
        lift = np.where(until < self.strike_s, (until / self.strike_s) ** 2,
                        np.where(since < self.raise_s, _ease(np.clip(since / self.raise_s, 0, 1)), 1.0))
        angle = self.side * (-np.pi / 2 + self.lift * lift)
        cx = self.px + self.radius * np.sin(angle)
        cy = self.py - self.radius * np.cos(angle)
        return Pose(cx, cy, angle, _const(t, 1.0), _const(t, 0.0))


class Tick(Motion):
    """Clock whose hand jumps one step per tick; a short ratchet of clicks per tick."""

    step = 2 * np.pi / 12

    def __init__(self, rng: np.random.Generator, duration: float, region: Region, radius: float,
                 rate: float) -> None:
        x0, x1, y0, y1 = _centre_range(region, radius)
        self.cx, self.cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        self.events = _onsets(rng, duration, rate, 0.05)
        self.gains = rng.uniform(0.85, 1.0, self.events.shape)
        self.hand0 = rng.uniform(0.0, 2 * np.pi)
        self.direction = rng.choice([-1.0, 1.0])

    def pose(self, t: np.ndarray) -> Pose:
        k = np.searchsorted(self.events, t, side="right")
        last = self.events[np.clip(k - 1, 0, None)]
        moved = np.where(k > 0, (k - 1) + np.clip((t - last) / 0.04, 0.0, 1.0), 0.0)
        hand = self.hand0 + self.direction * self.step * moved
        return Pose(_const(t, self.cx), _const(t, self.cy), _const(t, 0.0), _const(t, 1.0), hand)


_MOTIONS = {
    "bounce": Bounce, "swing": Swing, "pluck": Pluck, "slide": Slide, "spin": Spin,
    "pulse": Pulse, "glide": Glide, "hop": Hop, "strike": Strike, "tick": Tick,
}


def make_motion(kind: str, rng: np.random.Generator, duration: float, region: Region,
                radius: float, rate: float) -> Motion:
    """Builds the motion `kind` (an `ObjectClass.motion`) for one object instance."""
    try:
        cls = _MOTIONS[kind]
    except KeyError:
        raise ValueError(f"unknown motion {kind!r}; known: {', '.join(sorted(_MOTIONS))}") from None
    return cls(rng, duration, region, radius, rate)


def default_region(aspect: float = 4.0 / 3.0) -> Region:
    """Whole frame: used where only the sound of a motion is needed (ESC-50, DCASE)."""
    return Region(0.0, aspect, 0.0, 1.0)

