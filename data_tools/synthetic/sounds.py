"""Sound synthesis for the sound world: object timbres (driven by their motion) and textures.

Why synthesise from the motion: the audio must be caused by what is seen. Impulsive timbres
(thud, bell, pluck, chirp, clack, clicks) place one grain per motion event (`Motion.events`);
event voices (struck_bar, membrane) synthesise each event's note or hit on its own (a melody,
velocities); continuous timbres (buzz, whoosh, hum, whistle, brass, bowed, reed, voice) follow
`Motion.audio_control`, the same amplitude/pitch curves that the picture shows (speed, blade
angle, size, height), and the melodic ones move to the next note of a scale walk at each stroke.

Why instruments and a voice: real recordings are mostly pitched sources whose families differ in
harmonic structure (odd harmonics, brightness that follows loudness, inharmonic bar or membrane
modes), in note envelopes (struck and decaying vs bowed or blown and sustained), vibrato and
noise (bow, breath, fricatives). An audio tower can only learn those dimensions if the world it
is trained on varies along them, so each instance draws its material, spectral tilt, resonances,
scale and articulation.

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


# ------------------------------------------------------------------ melodic, physically modelled

# Scales as semitone steps above the instance's tonic: melodies walk on one of them.
_SCALES = (
    np.array([0, 2, 4, 5, 7, 9, 11]),  # major
    np.array([0, 2, 3, 5, 7, 8, 10]),  # natural minor
    np.array([0, 2, 4, 7, 9]),  # major pentatonic
    np.array([0, 3, 5, 7, 10]),  # minor pentatonic
)


def _melody(rng: np.random.Generator, count: int) -> np.ndarray:
    """Frequency ratios [count] of a random walk on a scale (steps of -2..2 degrees, 2 octaves)."""
    scale = _SCALES[int(rng.integers(len(_SCALES)))]
    degrees = np.clip(np.cumsum(rng.choice([-2, -1, 0, 1, 1, 2], size=count)), -len(scale), 2 * len(scale) - 1)
    octave, step = np.divmod(degrees, len(scale))
    return 2.0 ** ((12 * octave + scale[step]) / 12.0)


def _modes(t: np.ndarray, freqs, amps, taus, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of exponentially decaying sinusoids (modal synthesis), modes above 0.45 sr dropped."""
    out = np.zeros_like(t)
    for f, a, tau in zip(freqs, amps, taus):
        if f < 0.45 * sr:
            out += a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / tau)
    return out


# Struck-bar materials: mode frequency ratios (tuned marimba / xylophone bars, free-free bar of a
# glockenspiel, vibraphone), the fundamental's decay time range (s), how fast higher modes die,
# and how often the instance has a motor tremolo.
_BAR_MATERIALS = (
    (np.array([1.0, 3.99, 9.9]), (0.25, 0.6), 1.2, 0.0),  # marimba: rosewood, tuned to 1:4:10
    (np.array([1.0, 3.0, 6.0, 9.3]), (0.12, 0.3), 1.0, 0.0),  # xylophone: tuned to 1:3
    (np.array([1.0, 2.76, 5.40, 8.93]), (0.8, 1.6), 0.6, 0.0),  # glockenspiel: free-free steel bar
    (np.array([1.0, 4.0, 10.0]), (1.0, 2.2), 0.8, 0.7),  # vibraphone: aluminium
)


def _struck_bar(rng: np.random.Generator, sr: int, pitch: float, motion: Motion, n: int) -> np.ndarray:
    """A mallet instrument playing a melody, one note per motion event (modal synthesis).

    Per instance: the material (mode ratios and decays, `_BAR_MATERIALS`) and mallet hardness
    (how strongly upper modes and the contact click are excited); per note: the pitch from a
    scale walk and the velocity from the event's gain.
    """
    ratios, tau_range, upper_decay, tremolo_prob = _BAR_MATERIALS[int(rng.integers(len(_BAR_MATERIALS)))]
    hardness = rng.uniform(0.2, 1.0)
    tremolo = rng.uniform(4.0, 7.0) if tremolo_prob and rng.random() < tremolo_prob else 0.0
    tau0 = rng.uniform(*tau_range)
    notes = _melody(rng, len(motion.events))
    out = np.zeros(n)
    for time, gain, ratio in zip(motion.events, motion.gains, notes):
        f0 = pitch * ratio
        tau = tau0 * min(1.0, (300.0 / f0) ** 0.5)  # Short bars ring shorter.
        t = np.arange(int(min(2.5, 4 * tau) * sr)) / sr
        amps = hardness ** np.arange(len(ratios)) * rng.uniform(0.7, 1.0, len(ratios))
        note = _modes(t, f0 * ratios, amps, tau / ratios ** upper_decay, sr, rng)
        click = _filter(rng.standard_normal(len(t)), sr, "bandpass", (2 * f0, 8 * f0)) * np.exp(-t / 0.003)
        note = note + 0.3 * hardness * click
        if tremolo:
            note = note * (1.0 - 0.35 * (0.5 + 0.5 * np.sin(2 * np.pi * tremolo * t)))
        out += _place_grains(note, np.array([time]), np.array([gain * rng.uniform(0.8, 1.0)]), n, sr)
    return out


# Circular membrane: ratios of the first modes (Bessel zeros) with their typical strengths.
_MEMBRANE_RATIOS = np.array([1.0, 1.59, 2.14, 2.30, 2.65, 2.92, 3.16, 3.50])
_MEMBRANE_AMPS = np.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2])


def _membrane(rng: np.random.Generator, sr: int, pitch: float, motion: Motion, n: int) -> np.ndarray:
    """A hand drum or snare-like drum hit per event: membrane modes with a tension pitch drop.

    Per instance: tuning, damping, snare wires (a noise tail) or not, where the head is struck
    (centre: fundamental strong; edge: upper modes); per hit: velocity and small detuning.
    """
    tau = rng.uniform(0.08, 0.45)
    edge = rng.uniform(0.0, 1.0)
    snare = rng.uniform(0.4, 1.2) if rng.random() < 0.35 else 0.0
    out = np.zeros(n)
    t = np.arange(int(min(1.5, 5 * tau) * sr)) / sr
    for time, gain in zip(motion.events, motion.gains):
        f0 = pitch * rng.uniform(0.97, 1.03)
        drop = 1.0 + rng.uniform(0.1, 0.4) * gain * np.exp(-t / 0.04)  # Louder hits bend sharper.
        amps = _MEMBRANE_AMPS * (1.0 - edge + edge * np.linspace(0.4, 1.6, len(_MEMBRANE_AMPS)))
        hit = np.zeros_like(t)
        for r, a in zip(_MEMBRANE_RATIOS, amps):
            if f0 * r * drop[0] < 0.45 * sr:
                hit += a * np.sin(_sweep(f0 * r * drop, sr)) * np.exp(-t * r ** 0.7 / tau)
        stick = _filter(rng.standard_normal(len(t)), sr, "highpass", 1500.0) * np.exp(-t / 0.004)
        hit = hit + 0.5 * stick
        if snare:
            wires = _filter(rng.standard_normal(len(t)), sr, "bandpass", (2000.0, 9000.0))
            hit = hit + snare * wires * np.exp(-t / (0.6 * tau + 0.05))
        out += _place_grains(hit, np.array([time]), np.array([gain]), n, sr)
    return out


_EVENT_VOICES: Dict[str, Callable] = {"struck_bar": _struck_bar, "membrane": _membrane}


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


def _rises(amp: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Sample indices [E] where `amp` rises past `threshold`: a stroke, a breath, a mouth opening."""
    return np.flatnonzero((amp[1:] > threshold) & (amp[:-1] <= threshold)) + 1


def _note_track(rng: np.random.Generator, amp: np.ndarray) -> np.ndarray:
    """Frequency ratio per sample [n]: a new scale note at each rise of `amp` (`_rises`).

    Why the amplitude decides: a bowed or blown note starts when the motion starts a stroke or
    a breath (`Motion.audio_control`), so the picture shows where the melody moves on.
    """
    edges = _rises(amp)
    ratios = _melody(rng, len(edges) + 1)
    return ratios[np.searchsorted(edges, np.arange(len(amp)), side="right")]


def _smooth(x: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """One-pole low-pass with time constant `seconds` (attack/release of a note envelope)."""
    a = np.exp(-1.0 / (seconds * sr))
    return signal.lfilter([1.0 - a], [1.0, -a], x)


def _harmonics(phase: np.ndarray, amps) -> np.ndarray:
    """Sum_k amps[k-1] sin(k phase); `amps` entries may be per-sample arrays."""
    return sum(a * np.sin(k * phase) for k, a in enumerate(amps, start=1))


def _brass(rng, sr, pitch, amp, pf, t):
    """Brass-like: a harmonic series that gets brighter as it gets louder, soft attack."""
    env = _smooth(amp, sr, rng.uniform(0.02, 0.06))
    ratio = _note_track(rng, amp)
    vibrato = 1.0 + rng.uniform(0.0, 0.006) * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t)
    phase = _sweep(pitch * ratio * pf * vibrato, sr)
    tilt = rng.uniform(1.6, 2.6) - rng.uniform(0.8, 1.4) * env  # Spectral slope falls with level.
    top = int(min(16, 0.45 * sr / (pitch * 2.5)))
    return _harmonics(phase, [k ** -tilt for k in range(1, top + 1)]) * env


def _bowed(rng, sr, pitch, amp, pf, t):
    """Bowed string: a sawtooth-like series with vibrato through body resonances, bow noise."""
    env = _smooth(amp, sr, rng.uniform(0.04, 0.12))
    ratio = _note_track(rng, amp)
    depth = rng.uniform(0.003, 0.01) * np.clip((t - 0.2) / 0.3, 0.0, 1.0)  # Vibrato sets in late.
    phase = _sweep(pitch * ratio * pf * (1 + depth * np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t)), sr)
    top = int(min(24, 0.45 * sr / (pitch * 2.5)))
    saw = _harmonics(phase, [1.0 / k for k in range(1, top + 1)])
    body = sum(g * _filter(saw, sr, "bandpass", (0.85 * f, 1.15 * f))
               for f, g in ((rng.uniform(260, 320), 1.5), (rng.uniform(420, 560), 1.2),
                            (rng.uniform(2200, 3200), 0.8)))
    bow = _filter(rng.standard_normal(len(t)), sr, "bandpass", (1000.0, 5000.0))
    return (0.4 * saw + body + 0.05 * bow) * env


def _reed(rng, sr, pitch, amp, pf, t):
    """Clarinet-like: odd harmonics strong, even ones weak, breath noise; notes per breath."""
    env = _smooth(amp, sr, rng.uniform(0.015, 0.05))
    ratio = _note_track(rng, amp)
    phase = _sweep(pitch * ratio * np.sqrt(pf), sr)
    even = rng.uniform(0.05, 0.3)
    top = int(min(15, 0.45 * sr / (pitch * 2.5)))
    tone = _harmonics(phase, [(1.0 if k % 2 else even) / k ** rng.uniform(0.8, 1.3) for k in range(1, top + 1)])
    breath = _filter(rng.standard_normal(len(t)), sr, "bandpass", (1500.0, 4000.0))
    return (tone + 0.08 * breath) * env


# Vowel formants (F1, F2, F3 in Hz; adult speaker averages): a, e, i, o, u.
_VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]])


def _voice(rng, sr, pitch, amp, pf, t):
    """Speech-like babble: a glottal pulse train with intonation through vowel formants.

    One syllable per rise of `amp` (the mouth opening), each with its own vowel; fricative
    noise bursts start some syllables. The speaker's vocal tract length scales the formants.
    """
    n = len(t)
    env = _smooth(amp, sr, 0.015)
    intonation = 2.0 ** (0.15 * _smooth_random(rng, n, sr, 2.0) - 0.1 * t / max(t[-1], 1e-3))
    f0 = pitch * intonation * (1 + 0.004 * rng.standard_normal())
    phase = np.mod(np.cumsum(f0) / sr, 1.0)
    glottal = np.diff(np.concatenate([[0.0], np.where(phase < 0.4, np.sin(np.pi * phase / 0.4) ** 2, 0.0)]))
    glottal = glottal + 0.02 * rng.standard_normal(n) * env  # Breathiness.
    tract = rng.uniform(0.85, 1.2)
    edges = _rises(amp)
    vowel = rng.integers(0, len(_VOWELS), len(edges) + 1)[np.searchsorted(edges, np.arange(n), side="right")]
    out = np.zeros(n)
    for v, formants in enumerate(_VOWELS * tract):
        mask = _smooth((vowel == v).astype(float), sr, 0.02)
        if mask.max() < 1e-3:
            continue
        shaped = sum(g * _filter(glottal, sr, "bandpass", (f * 0.9, f * 1.1))
                     for f, g in zip(formants, (1.0, 0.7, 0.35)))
        out += shaped * mask
    hiss = np.zeros(n)
    for e in edges[rng.random(len(edges)) < 0.5]:
        length = int(rng.uniform(0.04, 0.1) * sr)
        start = max(0, e - length)
        hiss[start:e] = np.hanning(2 * (e - start) + 1)[: e - start] if e > start else 0.0
    fricative = _filter(rng.standard_normal(n), sr, "highpass", rng.uniform(3000.0, 5000.0)) * hiss
    return out / (np.std(out) + 1e-9) * env + 0.5 * fricative


_CONTINUOUS: Dict[str, Callable] = {
    "buzz": _buzz, "whoosh": _whoosh, "hum": _hum, "whistle": _whistle,
    "brass": _brass, "bowed": _bowed, "reed": _reed, "voice": _voice,
}


def render_source(obj: ObjectClass, motion: Motion, rng: np.random.Generator, sr: int,
                  duration: float, pitch: float) -> np.ndarray:
    """The sound of one object instance: float32 [round(duration * sr)], active RMS 1."""
    n = num_samples(duration, sr)
    if obj.timbre in _GRAINS:
        grain = _GRAINS[obj.timbre](rng, sr, pitch, motion)
        out = _place_grains(grain, motion.events, motion.gains, n, sr)
    elif obj.timbre in _EVENT_VOICES:
        out = _EVENT_VOICES[obj.timbre](rng, sr, pitch, motion, n)
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
