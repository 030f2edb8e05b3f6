"""Sound synthesis for the sound world: object timbres (driven by their motion) and textures.

Why synthesise from the motion: the audio must be caused by what is seen. Impulsive timbres
(thud, bell, pluck, chirp, clack, clicks) place one grain per motion event (`Motion.events`);
continuous timbres (buzz, whoosh, hum, whistle) follow `Motion.audio_control`, the same
amplitude/pitch curves that the picture shows (speed, blade angle, size, height).

Everything is numpy/scipy on whole signals (no per-sample Python). Outputs are float32 mono
[N] with N = round(duration * sample_rate), scaled by `normalise_active` so that the *active*
part has unit RMS: mixing levels are then set by the caller, independent of how sparse a sound
is.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np
from scipy import signal

from data_tools.synthetic.motions import Motion
from data_tools.synthetic.sound_world import ObjectClass

CONTROL_RATE_HZ = 1000.0  # Motion-driven amplitude/pitch curves are evaluated at this rate.


def num_samples(duration: float, sample_rate: int) -> int:
    return int(round(duration * sample_rate))


def _filter(x: np.ndarray, sr: int, kind: str, freq, order: int = 2) -> np.ndarray:
    nyq = 0.5 * sr
    if kind == "bandpass":
        lo, hi = freq
        lo, hi = max(20.0, lo), min(0.95 * nyq, hi)
        if hi <= lo * 1.05:
            return x
        sos = signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, min(float(freq), 0.95 * nyq), btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _smooth_random(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """Slowly varying N(0, 1) curve [n]: random knots every 1/rate_hz s, linearly joined."""
    knots = int(np.ceil(n / sr * rate_hz)) + 2
    return np.interp(np.arange(n) / sr * rate_hz, np.arange(knots), rng.standard_normal(knots))


def _sweep(freq: np.ndarray, sr: int) -> np.ndarray:
    """Phase (radians) of an oscillator following the instantaneous frequency `freq` [n]."""
    return 2 * np.pi * np.cumsum(freq) / sr


def normalise_active(x: np.ndarray, sr: int) -> np.ndarray:
    """Scales `x` so the RMS of its loudest 20 % of 50 ms blocks is 1 (silence stays silence)."""
    block = max(1, int(0.05 * sr))
    n = len(x) // block * block
    if n == 0:
        ms = np.array([np.mean(x ** 2)]) if len(x) else np.array([0.0])
    else:
        ms = np.mean(x[:n].reshape(-1, block) ** 2, axis=1)
    top = np.sort(ms)[-max(1, len(ms) // 5):]
    level = np.sqrt(np.mean(top))
    return (x / level).astype(np.float32) if level > 1e-12 else x.astype(np.float32)


# ----------------------------------------------------------------------------- impulsive grains


def _grain_thud(rng, sr, pitch, motion):
    t = np.arange(int(0.45 * sr)) / sr
    freq = pitch * (1.0 + 1.2 * np.exp(-t / 0.025))
    body = np.sin(_sweep(freq, sr)) * np.exp(-t / rng.uniform(0.09, 0.16))
    knock = _filter(rng.standard_normal(len(t)), sr, "lowpass", 1200.0) * np.exp(-t / 0.008)
    return body + 0.6 * knock


def _grain_bell(rng, sr, pitch, motion):
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.67, 3.0, 4.1])
    amps = np.array([0.5, 1.0, 0.6, 0.35, 0.7, 0.3, 0.25, 0.2, 0.1])
    tau0 = rng.uniform(0.45, 0.85)
    t = np.arange(int(min(2.5, 3.5 * tau0) * sr)) / sr
    out = np.zeros_like(t)
    for r, a in zip(ratios * rng.uniform(0.99, 1.01, len(ratios)), amps):
        f = pitch * r
        if f < 0.45 * sr:
            out += a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / (tau0 * r ** -0.6))
    return out * (1.0 - np.exp(-t / 0.001))


def _grain_pluck(rng, sr, pitch, motion):
    decay = motion.decay_s  # The string's visible vibration decays with this same time constant.
    t = np.arange(int(min(2.5, 4 * decay) * sr)) / sr
    pos = rng.uniform(0.1, 0.3)
    env = np.exp(-t / decay)
    faster = np.exp(-0.25 * t / decay)  # Harmonic k decays (1 + 0.25 (k - 1)) times faster.
    out = np.zeros_like(t)
    for k in range(1, 11):
        f = k * pitch * np.sqrt(1 + 1e-4 * k * k)
        if f >= 0.45 * sr:
            break
        out += np.sin(k * np.pi * pos) / k ** 1.1 * np.sin(2 * np.pi * f * t) * env
        env = env * faster
    return out


def _grain_chirp(rng, sr, pitch, motion):
    length = rng.uniform(0.06, 0.12)
    t = np.arange(int(length * sr)) / sr
    ratio = rng.uniform(1.3, 1.8) ** rng.choice([1.0, -1.0], p=[0.7, 0.3])
    freq = pitch * ratio ** (t / length)
    env = np.sin(np.pi * t / length) ** 2
    ph = _sweep(freq, sr)
    one = env * (np.sin(ph) + 0.3 * np.sin(2 * ph))
    if rng.random() < 0.4:  # Two-syllable chirp.
        gap = np.zeros(int(0.03 * sr))
        return np.concatenate([one, gap, one])
    return one


def _grain_clack(rng, sr, pitch, motion):
    t = np.arange(int(0.15 * sr)) / sr
    burst = _filter(rng.standard_normal(len(t)), sr, "bandpass", (0.6 * pitch, 1.6 * pitch)) * np.exp(-t / 0.012)
    modes = sum(np.sin(2 * np.pi * pitch * r * t) * np.exp(-t / 0.035)
                for r in (1.0, 2.76) if pitch * r < 0.45 * sr)
    return 3.0 * burst + 0.4 * modes


def _grain_clicks(rng, sr, pitch, motion):
    count = int(rng.integers(2, 5))
    spacing = rng.uniform(0.007, 0.014)
    click_t = np.arange(int(0.012 * sr)) / sr
    click = np.sin(2 * np.pi * pitch * click_t) * np.exp(-click_t / 0.0015)
    out = np.zeros(int((spacing * (count - 1) + 0.012) * sr) + 1)
    for i in range(count):
        start = int(round(i * spacing * sr))
        out[start:start + len(click)] += click * (1.0 - 0.15 * i)
    return out


_GRAINS: Dict[str, Callable] = {
    "thud": _grain_thud, "bell": _grain_bell, "pluck": _grain_pluck,
    "chirp": _grain_chirp, "clack": _grain_clack, "clicks": _grain_clicks,
}


def _place_grains(grain: np.ndarray, events: np.ndarray, gains: np.ndarray, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    for time, gain in zip(events, gains):
        i = int(round(time * sr))
        if 0 <= i < n:
            m = min(len(grain), n - i)
            out[i:i + m] += gain * grain[:m]
    return out


# ---------------------------------------------------------------------------- continuous timbres


def _buzz(rng, sr, pitch, amp, pf, t):
    phase = np.cumsum(pitch * pf * (1 + 0.01 * np.sin(2 * np.pi * 6 * t))) / sr
    saw = 2.0 * np.mod(phase, 1.0) - 1.0
    return _filter(saw, sr, "lowpass", 5000.0) * amp


def _whoosh(rng, sr, pitch, amp, pf, t):
    noise = _filter(rng.standard_normal(len(t)), sr, "bandpass", (0.5 * pitch, 2.2 * pitch))
    tone = np.sin(_sweep(0.5 * pitch * pf, sr))
    return (noise + 0.15 * tone) * amp


def _hum(rng, sr, pitch, amp, pf, t):
    ph = _sweep(pitch * pf, sr)
    return (np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.3 * np.sin(3 * ph) + 0.15 * np.sin(4 * ph)) * amp


def _whistle(rng, sr, pitch, amp, pf, t):
    ph = _sweep(pitch * pf * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t)), sr)
    breath = _filter(rng.standard_normal(len(t)), sr, "highpass", 2000.0)
    return (np.sin(ph) + 0.06 * breath) * amp


_CONTINUOUS: Dict[str, Callable] = {"buzz": _buzz, "whoosh": _whoosh, "hum": _hum, "whistle": _whistle}


def render_source(obj: ObjectClass, motion: Motion, rng: np.random.Generator, sr: int,
                  duration: float, pitch: float) -> np.ndarray:
    """The sound of one object instance: float32 [round(duration * sr)], active RMS 1."""
    n = num_samples(duration, sr)
    if obj.timbre in _GRAINS:
        grain = _GRAINS[obj.timbre](rng, sr, pitch, motion)
        out = _place_grains(grain, motion.events, motion.gains, n, sr)
    else:
        grid = np.arange(int(np.ceil(duration * CONTROL_RATE_HZ)) + 2) / CONTROL_RATE_HZ
        amp_grid, pf_grid = motion.audio_control(grid)
        t = np.arange(n) / sr
        amp, pf = np.interp(t, grid, amp_grid), np.interp(t, grid, pf_grid)
        out = _CONTINUOUS[obj.timbre](rng, sr, pitch, amp, pf, t)
    return normalise_active(out, sr)


# -------------------------------------------------------------------------------------- textures


def _wind(rng, sr, n):
    gust = np.clip(0.6 + 0.35 * _smooth_random(rng, n, sr, 0.7), 0.1, 1.2)
    return _filter(rng.standard_normal(n), sr, "lowpass", rng.uniform(300.0, 900.0)) * gust


def _rain(rng, sr, n):
    drops = np.zeros(n)
    count = rng.poisson(rng.uniform(80.0, 300.0) * n / sr)
    drops[rng.integers(0, n, count)] = rng.uniform(0.2, 1.0, count) * rng.choice([-1.0, 1.0], count)
    centre = rng.uniform(2500.0, 5000.0)
    patter = _filter(drops, sr, "bandpass", (0.6 * centre, 1.4 * centre))
    bed = _filter(rng.standard_normal(n), sr, "highpass", 1500.0)
    return patter / (np.std(patter) + 1e-9) + 0.4 * bed / (np.std(bed) + 1e-9)


def _engine(rng, sr, n):
    f0 = rng.uniform(25.0, 60.0) * (1 + 0.05 * _smooth_random(rng, n, sr, 0.5))
    ph = _sweep(f0, sr)
    tone = sum(np.sin(k * ph + rng.uniform(0, 6.28)) / k for k in range(1, 6))
    rumble = _filter(rng.standard_normal(n), sr, "lowpass", 250.0)
    chug = 1 + 0.3 * np.sin(ph / 2)
    return (tone + 2.0 * rumble / (np.std(rumble) + 1e-9)) * chug


def _mains_hum(rng, sr, n):
    t = np.arange(n) / sr
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.998, 1.002)
    tone = sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in ((1, 1.0), (2, 0.4), (3, 0.5), (5, 0.2)))
    return tone + 0.05 * rng.standard_normal(n)


def _crowd(rng, sr, n):
    out = np.zeros(n)
    for _ in range(int(rng.integers(4, 8))):
        lo = rng.uniform(250.0, 700.0)
        voice = _filter(rng.standard_normal(n), sr, "bandpass", (lo, lo * rng.uniform(2.0, 4.0)))
        syllables = np.maximum(0.0, _smooth_random(rng, n, sr, rng.uniform(3.0, 6.0)))
        out += voice / (np.std(voice) + 1e-9) * syllables * rng.uniform(0.4, 1.0)
    return out


_TEXTURES: Dict[str, Callable] = {
    "wind": _wind, "rain": _rain, "engine": _engine, "mains_hum": _mains_hum, "crowd": _crowd,
}


def render_texture(name: str, rng: np.random.Generator, sr: int, duration: float) -> np.ndarray:
    """A background texture (see `sound_world.TEXTURES`): float32 [round(duration * sr)]."""
    return normalise_active(_TEXTURES[name](rng, sr, num_samples(duration, sr)), sr)


def soft_limit(x: np.ndarray, knee: float = 0.8, ceiling: float = 0.98) -> np.ndarray:
    """Leaves |x| <= knee untouched and bends larger peaks smoothly below `ceiling` (float32)."""
    y = np.asarray(x, dtype=np.float32).copy()
    over = np.abs(y) > knee
    if over.any():
        room = ceiling - knee
        peaks = y[over]
        y[over] = np.sign(peaks) * (knee + room * np.tanh((np.abs(peaks) - knee) / room))
    return y
