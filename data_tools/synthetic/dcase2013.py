"""Synthetic DCASE 2013 SCD (acoustic scene classification) set, built from the sound world.

Layout (the public DCASE 2013 SCD development set's file naming, plus its 5-fold setup):
  output_dir/audio/{scene}{NN}.wav      e.g. bus01.wav; NN = 01..clips_per_class (2+ digits);
                                        44.1 kHz, stereo, 16-bit PCM, `seconds` long.
  output_dir/evaluation_setup/fold{K}_train.txt, fold{K}_test.txt   K = 1..5
      one line per clip: `{filename}<TAB>{scene}` (filename as in audio/, e.g. `bus01.wav`);
      clip NN is in the test list of fold ((NN - 1) mod 5) + 1 and in the train list of the
      four other folds, so each clip is tested exactly once and classes are balanced per fold.

Scenes: bus, busystreet, office, openairmarket, park, quietstreet, restaurant, supermarket,
tube, tubestation. Why mixtures of the sound world: a scene is recognised from *which* sources
and textures occur and how loud they are (a tube = loud engine + rattle + hum; a park = wind +
birds + a ball), so an audio embedding that learned the video sources' timbres should separate
the scenes, mirroring L3-Net's DCASE transfer. Each recipe lists textures (always present, level
range in dB) and sources (probability of occurring, level range); levels, pitches, rhythms,
positions and active intervals are drawn per clip.
"""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

import numpy as np

from l3net.atomic_files import write_text_atomic
from l3net.media_encode import write_wav

from data_tools.synthetic.motions import default_region, make_motion
from data_tools.synthetic.sound_world import DEFAULT_WORLD, get_world
from data_tools.synthetic.sounds import num_samples, render_source, render_texture, soft_limit

SAMPLE_RATE = 44100
NUM_FOLDS = 5

# scene -> (textures {name: (min_db, max_db)}, sources {class: (probability, min_db, max_db)}).
SCENES: Dict[str, Tuple[Dict[str, Tuple[float, float]], Dict[str, Tuple[float, float, float]]]] = {
    "bus": ({"engine": (-3, 0), "crowd": (-16, -8)},
            {"clock": (0.5, -18, -10), "buzzer": (0.5, -16, -8), "bell": (0.3, -18, -10),
             "talker": (0.5, -14, -6)}),
    "busystreet": ({"engine": (-8, -3), "crowd": (-10, -4), "wind": (-20, -12)},
                   {"whistle": (0.5, -14, -6), "bird": (0.3, -20, -12), "hammer": (0.3, -16, -8),
                    "horn": (0.4, -14, -6), "talker": (0.3, -16, -8)}),
    "office": ({"mains_hum": (-12, -6), "crowd": (-28, -18)},
               {"clock": (0.8, -12, -4), "fan": (0.6, -14, -6), "buzzer": (0.2, -14, -8),
                "talker": (0.6, -12, -4)}),
    "openairmarket": ({"crowd": (-2, 0), "wind": (-18, -10)},
                      {"bell": (0.5, -12, -6), "hammer": (0.4, -14, -6), "bird": (0.4, -18, -10),
                       "talker": (0.7, -10, -4), "drum": (0.3, -14, -6)}),
    "park": ({"wind": (-6, -2)},
             {"bird": (0.9, -10, -3), "ball": (0.4, -12, -6), "whistle": (0.3, -16, -8),
              "drum": (0.2, -16, -8)}),
    "quietstreet": ({"wind": (-14, -8), "engine": (-24, -14)},
                    {"bird": (0.5, -14, -6), "clock": (0.3, -16, -8), "hammer": (0.2, -18, -10)}),
    "restaurant": ({"crowd": (-2, 0), "mains_hum": (-26, -16)},
                   {"clock": (0.6, -14, -6), "bell": (0.5, -16, -8), "string": (0.3, -16, -8),
                    "talker": (0.9, -8, -2), "violin": (0.2, -16, -8)}),
    "supermarket": ({"crowd": (-8, -4), "mains_hum": (-14, -8)},
                    {"buzzer": (0.7, -14, -6), "clock": (0.4, -18, -10), "pulsar": (0.3, -16, -8),
                     "talker": (0.4, -16, -8), "marimba": (0.3, -18, -10)}),
    "tube": ({"engine": (0, 0), "rain": (-10, -4), "mains_hum": (-16, -10)},
             {"pulsar": (0.5, -14, -6), "buzzer": (0.3, -16, -8)}),
    "tubestation": ({"crowd": (-6, -2), "engine": (-14, -6), "wind": (-12, -6)},
                    {"whistle": (0.6, -12, -4), "bell": (0.4, -14, -8), "pulsar": (0.4, -16, -8),
                     "string": (0.2, -18, -10), "talker": (0.4, -14, -6), "clarinet": (0.2, -16, -8)}),
}
SCENE_NAMES: Tuple[str, ...] = tuple(SCENES)


def _stereo(mono: np.ndarray, rng: np.random.Generator, pan: float, width_ms: float) -> np.ndarray:
    """[2, n]: constant-power pan plus a small inter-channel delay for spaciousness."""
    angle = 0.25 * np.pi * (1.0 + pan)
    delay = int(rng.uniform(0.0, width_ms) * 1e-3 * SAMPLE_RATE)
    right = np.concatenate([np.zeros(delay), mono[:len(mono) - delay]]) if delay else mono
    return np.stack([np.cos(angle) * mono, np.sin(angle) * right])


def render_scene(scene: str, rng: np.random.Generator, seconds: float, world: str = DEFAULT_WORLD) -> np.ndarray:
    """One stereo clip of `scene`: float32 [2, round(seconds * 44100)] in [-1, 1].

    Sources of the recipe that `world` lacks (the basic world has no talker, drum...) are left
    out without drawing any random number, so the basic world's clips are those of before the
    rich world existed (each recipe lists the rich-only sources last).
    """
    textures, sources = SCENES[scene]
    classes = get_world(world).by_name
    n = num_samples(seconds, SAMPLE_RATE)
    mix = np.zeros((2, n))
    for name, (lo, hi) in textures.items():
        tex = render_texture(name, rng, SAMPLE_RATE, seconds) * 10 ** (rng.uniform(lo, hi) / 20)
        mix += _stereo(tex, rng, rng.uniform(-0.3, 0.3), 15.0)
    for name, (prob, lo, hi) in sources.items():
        if name not in classes or rng.random() >= prob:
            continue
        cls = classes[name]
        length = rng.uniform(min(seconds, 1.5), seconds)
        start = int(rng.uniform(0.0, seconds - length) * SAMPLE_RATE)
        pitch = float(np.exp(rng.uniform(*np.log(cls.pitch_hz))))
        motion = make_motion(cls.motion, rng, length, default_region(), 0.2, rng.uniform(*cls.rate_hz))
        sound = render_source(cls, motion, rng, SAMPLE_RATE, length, pitch) * 10 ** (rng.uniform(lo, hi) / 20)
        placed = np.zeros(n)
        placed[start:start + len(sound)] = sound[:n - start]
        mix += _stereo(placed, rng, rng.uniform(-0.8, 0.8), 1.0)
    mix += rng.standard_normal((2, n)) * 10 ** (-45.0 / 20)
    target_rms = np.exp(rng.uniform(np.log(0.03), np.log(0.12)))
    return soft_limit(mix * (target_rms / (np.sqrt(np.mean(mix ** 2)) + 1e-12)))


def clip_name(scene: str, number: int) -> str:
    return f"{scene}{number:02d}.wav"


def fold_lists(clips_per_class: int) -> Dict[int, Tuple[List[str], List[str]]]:
    """fold K -> (train lines, test lines), lines `filename<TAB>scene` (see module docstring)."""
    out = {}
    for k in range(1, NUM_FOLDS + 1):
        train, test = [], []
        for scene in SCENE_NAMES:
            for number in range(1, clips_per_class + 1):
                line = f"{clip_name(scene, number)}\t{scene}"
                (test if (number - 1) % NUM_FOLDS + 1 == k else train).append(line)
        out[k] = (train, test)
    return out


def _write_lines(path: str, lines: List[str]) -> None:
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def generate_dcase2013(output_dir: str, seed: int, *, clips_per_class: int = 10,
                       seconds: float = 30.0, world: str = DEFAULT_WORLD) -> None:
    """Writes the DCASE 2013 SCD-layout set (see module docstring).

    Raises ValueError on bad arguments (clips_per_class < 5 would leave a fold with no test clip).
    """
    if clips_per_class < NUM_FOLDS:
        raise ValueError(f"clips_per_class={clips_per_class}: must be >= {NUM_FOLDS} (one test clip per fold)")
    if not 0.5 <= seconds <= 600:
        raise ValueError(f"seconds={seconds}: must be in [0.5, 600]")
    get_world(world)
    audio_dir = os.path.join(output_dir, "audio")
    setup_dir = os.path.join(output_dir, "evaluation_setup")
    os.makedirs(audio_dir, exist_ok=True)
    os.makedirs(setup_dir, exist_ok=True)
    for s, scene in enumerate(SCENE_NAMES):
        for number in range(1, clips_per_class + 1):
            clip = render_scene(scene, np.random.default_rng([seed, 2013, s, number]), seconds, world)
            write_wav(os.path.join(audio_dir, clip_name(scene, number)), clip, SAMPLE_RATE)
    for k, (train, test) in fold_lists(clips_per_class).items():
        _write_lines(os.path.join(setup_dir, f"fold{k}_train.txt"), train)
        _write_lines(os.path.join(setup_dir, f"fold{k}_test.txt"), test)
