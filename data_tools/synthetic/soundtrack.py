"""The audio track of a planned video: sounding objects + off-screen sound + background.

Why the overall level is set on the whole-clip RMS (a random target per video): loudness must
not identify the class. Sparse impulsive classes and dense continuous ones end up with the same
RMS distribution; the rare peaks this pushes past full scale are bent by a soft limiter.
Stereo pans each visible source by its horizontal position, frame by frame, so the audio also
carries where the sound comes from.
"""

from __future__ import annotations

import numpy as np

from data_tools.synthetic.scenes import VideoScene
from data_tools.synthetic.sounds import num_samples, render_source, render_texture, soft_limit

PAN_RATE_HZ = 100.0


def _pan_gains(scene: VideoScene, obj, n: int, rng: np.random.Generator) -> np.ndarray:
    """Constant-power left/right gains [2, n] following the object's x position."""
    grid = np.arange(int(np.ceil(scene.duration * PAN_RATE_HZ)) + 2) / PAN_RATE_HZ
    if obj.onscreen:
        pan = np.clip(2.0 * obj.motion.pose(grid).cx / scene.aspect - 1.0, -1.0, 1.0) * 0.85
    else:  # Off-screen sources come from one side.
        pan = np.full(grid.shape, rng.uniform(0.6, 1.0) * rng.choice([-1.0, 1.0]))
    angle = 0.25 * np.pi * (1.0 + pan)
    t = np.arange(n) / scene.sample_rate
    return np.stack([np.interp(t, grid, np.cos(angle)), np.interp(t, grid, np.sin(angle))])


def render_soundtrack(scene: VideoScene) -> np.ndarray:
    """float32 [channels, round(duration * sample_rate)] in [-1, 1]."""
    rng = np.random.default_rng([scene.render_seed, 2])
    sr, n, ch = scene.sample_rate, num_samples(scene.duration, scene.sample_rate), scene.channels
    mix = np.zeros((ch, n), np.float64)
    for obj in scene.objects:
        if not obj.sounding:
            continue
        src = render_source(obj.cls, obj.motion, rng, sr, scene.duration, obj.pitch) * 10 ** (obj.level_db / 20)
        if ch == 2:
            mix += src[None, :] * _pan_gains(scene, obj, n, rng)
        else:
            mix += src[None, :]
    texture = render_texture(scene.texture, rng, sr, scene.duration) * 10 ** (scene.texture_db / 20)
    balance = rng.uniform(0.7, 1.0, ch)
    mix += texture[None, :] * balance[:, None]
    mix += rng.standard_normal((ch, n), dtype=np.float32) * np.float32(10 ** (scene.floor_db / 20))
    rms = np.sqrt(np.mean(mix ** 2)) + 1e-12
    return soft_limit(mix * (scene.target_rms / rms))
