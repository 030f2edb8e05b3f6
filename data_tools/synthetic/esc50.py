"""Synthetic ESC-50-layout sound classification set, drawn from the same sound world as the videos.

Layout (identical to the public ESC-50 release, so the same loader reads both):
  output_dir/audio/{fold}-{src_file}-{take}-{target}.wav   5 s, 44.1 kHz, mono, 16-bit PCM
  output_dir/meta/esc50.csv   columns filename,fold,target,category,esc10,src_file,take;
                              one row per clip, sorted by filename.

Categories (`categories(world)`): the object classes of the chosen sound world (basic: 10,
targets 0-9; rich: 16, targets 0-15; `esc10` True) followed by the 5 background textures
(`esc10` False). Why the same world: the
audio tower trained on the synthetic videos is probed on these clips exactly as L3-Net's is on
ESC-50, and the probe can only succeed if the video sounds taught it these timbres. Like the
real set, each clip holds one sound event sequence (1.5-5 s of it, placed at a random offset,
the rest near-silent), with random pitch, rhythm and loudness per clip.

Folds: clip k of category c is in fold (k + c) mod 5 + 1, so every category is spread evenly
over the 5 folds and the folds have equal sizes when clips_per_class is a multiple of 5.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Tuple

import numpy as np

from l3net.atomic_files import write_text_atomic
from l3net.media_encode import write_wav

from data_tools.synthetic.motions import default_region, make_motion
from data_tools.synthetic.sound_world import DEFAULT_WORLD, TEXTURES, get_world
from data_tools.synthetic.sounds import num_samples, render_source, render_texture, soft_limit

SAMPLE_RATE = 44100
CLIP_SECONDS = 5.0
NUM_FOLDS = 5


def categories(world: str = DEFAULT_WORLD) -> Tuple[str, ...]:
    """Category names in target order: the world's object classes, then the textures."""
    return get_world(world).class_names + TEXTURES

BACKGROUND_SNR_DB = (0.0, 12.0)  # event-to-background RMS ratio of object clips, uniform
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def render_clip(category: str, rng: np.random.Generator, world: str = DEFAULT_WORLD) -> np.ndarray:
    """One 5 s clip of `category` (of `world`): float32 [1, 220500] in [-1, 1]."""
    n = num_samples(CLIP_SECONDS, SAMPLE_RATE)
    out = np.zeros(n)
    classes = get_world(world).by_name
    if category in classes:
        cls = classes[category]
        length = rng.uniform(1.5, CLIP_SECONDS)
        start = int(rng.uniform(0.0, CLIP_SECONDS - length) * SAMPLE_RATE)
        pitch = float(np.exp(rng.uniform(*np.log(cls.pitch_hz))))
        motion = make_motion(cls.motion, rng, length, default_region(), 0.2, rng.uniform(*cls.rate_hz))
        sound = render_source(cls, motion, rng, SAMPLE_RATE, length, pitch)
        ramp = np.arange(len(sound))
        fade = np.minimum(1.0, np.minimum(ramp, ramp[::-1]) / (0.01 * SAMPLE_RATE))
        out[start:start + len(sound)] = (sound * fade)[:n - start]
        # A background scene under the event, as in field recordings (ESC-50's clips are far from
        # studio-clean): the classifier must find the event, not the clip's overall spectrum.
        background = render_texture(str(rng.choice(TEXTURES)), rng, SAMPLE_RATE, CLIP_SECONDS)
        snr_db = rng.uniform(*BACKGROUND_SNR_DB)
        event_rms = np.sqrt(np.mean(sound ** 2)) + 1e-12
        out += background * (event_rms / (np.sqrt(np.mean(background ** 2)) + 1e-12)) * 10 ** (-snr_db / 20)
    else:
        out += render_texture(category, rng, SAMPLE_RATE, CLIP_SECONDS)
    out += rng.standard_normal(n) * 10 ** (rng.uniform(-50.0, -35.0) / 20)
    target_rms = np.exp(rng.uniform(np.log(0.02), np.log(0.15)))
    return soft_limit(out * (target_rms / (np.sqrt(np.mean(out ** 2)) + 1e-12)))[None, :]


def generate_esc50(output_dir: str, seed: int, *, clips_per_class: int = 8, world: str = DEFAULT_WORLD) -> None:
    """Writes the ESC-50-layout set (see module docstring). Raises ValueError on bad arguments."""
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class={clips_per_class}: must be >= 1")
    names = categories(world)
    class_names = get_world(world).class_names
    audio_dir, meta_dir = os.path.join(output_dir, "audio"), os.path.join(output_dir, "meta")
    os.makedirs(audio_dir, exist_ok=True)
    os.makedirs(meta_dir, exist_ok=True)
    total = len(names) * clips_per_class
    src_ids = np.random.default_rng([seed, 50]).choice(900000, size=total, replace=False) + 100000
    rows = []
    for target, category in enumerate(names):
        for k in range(clips_per_class):
            fold = (k + target) % NUM_FOLDS + 1
            src = int(src_ids[target * clips_per_class + k])
            filename = f"{fold}-{src}-A-{target}.wav"
            clip = render_clip(category, np.random.default_rng([seed, 50, target, k]), world)
            write_wav(os.path.join(audio_dir, filename), clip, SAMPLE_RATE)
            rows.append((filename, fold, target, category, str(category in class_names), src, "A"))
    rows.sort()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    write_text_atomic(os.path.join(meta_dir, "esc50.csv"), text.getvalue())
