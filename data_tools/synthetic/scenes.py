"""Planning one synthetic video: which objects, where, how they look, sound and move.

Why a separate plan: every random choice of a video is made here, from one generator seeded by
(dataset seed, video index), in a fixed order. Rendering (`frames`, `soundtrack`) then only
consumes the plan, so a video is identical whichever worker makes it, and each shallow cue
(frame rate, sample rate, channels, colour, loudness, size) is drawn independently of the class.
"""

from __future__ import annotations

import colorsys
import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from data_tools.synthetic.motions import Motion, Region, make_motion
from data_tools.synthetic.sound_world import DEFAULT_WORLD, TEXTURES, ObjectClass, SoundWorld, get_world

FRAME_RATES = (12, 15, 24, 25, 30)
SAMPLE_RATES = (22050, 44100, 48000)
# Clutter of the full world (clutter=1); `plan_scene(..., clutter=c)` scales these by c.
TWO_SOUNDING_PROB = 0.15
OFFSCREEN_PROB = 0.2
DISTRACTOR_COUNT_PROBS = (0.4, 0.4, 0.2)  # P(0), P(1), P(2) silent distractors.
BACKGROUNDS = ("gradient", "blobs", "floor", "stripes", "tiles")
# In the rich world, where a background texture is heard its place is usually seen: the backdrop
# that goes with each texture (rain streaks, foliage blobs for wind, a road floor for engines, a
# tiled interior for mains hum, a busy gradient for crowds), drawn with the world's
# `scene_look_prob`, otherwise any backdrop. Why: so that the scene, not only the object, is an
# audio-visual correspondence to learn (the DCASE-layout probe measures scene recognition).
SCENE_LOOKS = {"wind": "blobs", "rain": "stripes", "engine": "floor", "mains_hum": "tiles", "crowd": "gradient"}


@dataclasses.dataclass
class ObjectInstance:
    """One object of a video. Off-screen objects (`onscreen` False) are heard, never seen."""

    cls: ObjectClass
    sounding: bool
    onscreen: bool
    radius: float
    light: Tuple[float, float, float]
    dark: Tuple[float, float, float]
    pitch: float
    rate: float
    level_db: float
    motion: Motion


@dataclasses.dataclass
class VideoScene:
    """Everything needed to render video `index`; `objects` are in drawing order."""

    index: int
    width: int
    height: int
    fps: int
    num_frames: int
    sample_rate: int
    channels: int
    objects: List[ObjectInstance]
    background: str
    background_colours: Tuple[Tuple[float, float, float], Tuple[float, float, float]]
    texture: str
    texture_db: float
    floor_db: float
    target_rms: float
    render_seed: int  # Seeds the renderers' own draws (background pattern, noise, timbre details).

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def labels(self) -> List[str]:
        """Classes of the visible sounding objects, primary first."""
        return [o.cls.name for o in self.objects if o.sounding and o.onscreen]


def _hsv(h: float, s: float, v: float) -> Tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _object_colours(rng: np.random.Generator) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Two tones of a random hue: colour says nothing about the class."""
    hue = rng.uniform(0.0, 1.0)
    other = hue + (0.5 if rng.random() < 0.3 else rng.uniform(-0.08, 0.08))
    light = _hsv(hue, rng.uniform(0.35, 1.0), rng.uniform(0.8, 1.0))
    dark = _hsv(other, rng.uniform(0.4, 1.0), rng.uniform(0.15, 0.45))
    return light, dark


def class_for_index(seed: int, index: int, world: str = DEFAULT_WORLD) -> str:
    """Primary class of video `index`: each block of len(classes) videos is a permutation.

    Balanced for any number of videos (counts differ by at most one) and computable from
    (seed, index) alone, so workers need no shared state.
    """
    classes = get_world(world).classes
    block = index // len(classes)
    order = np.random.default_rng([seed, block, 7]).permutation(len(classes))
    return classes[int(order[index % len(classes)])].name


def _make_object(rng, cls, sounding, onscreen, region, radius, level_db, duration) -> ObjectInstance:
    light, dark = _object_colours(rng)
    pitch = float(np.exp(rng.uniform(*np.log(cls.pitch_hz))))
    rate = float(rng.uniform(*cls.rate_hz))
    motion = make_motion(cls.motion, rng, duration, region, radius, rate)
    return ObjectInstance(cls, sounding, onscreen, radius, light, dark, pitch, rate, level_db, motion)


def plan_scene(seed: int, index: int, width: int, height: int, max_seconds: float,
               clutter: float = 1.0, world: str = DEFAULT_WORLD) -> VideoScene:
    """Draws the full plan of video `index` of the dataset with `seed`.

    clutter in [0, 1] scales the probabilities of a second sounding object, an off-screen sound
    and silent distractors: 1 is the full world, 0 one sounding object alone (the CPU demo, whose
    minutes of training cannot get past the full world's plateau). The same random numbers are
    drawn whatever the clutter, so everything else about a video stays the same. `world` names a
    `sound_world.WORLDS` entry; the basic world's videos are those of before the rich one existed.
    """
    sound_world: SoundWorld = get_world(world)
    rng = np.random.default_rng([seed, index])
    primary = sound_world.by_name[class_for_index(seed, index, world)]
    fps = int(rng.choice(FRAME_RATES))
    sample_rate = int(rng.choice(SAMPLE_RATES))
    channels = int(rng.choice([1, 2]))
    low = min(1.0, 0.5 * max_seconds)
    num_frames = max(2, int(round(rng.uniform(low, max_seconds) * fps)))
    num_frames = min(num_frames, int(np.floor(max_seconds * fps + 1e-9)))
    duration = num_frames / fps

    others = [c for c in sound_world.classes if c is not primary]
    picks = [others[i] for i in rng.permutation(len(others))]
    sounding = [primary] + ([picks.pop()] if rng.random() < clutter * TWO_SOUNDING_PROB else [])
    distractor_probs = np.asarray(DISTRACTOR_COUNT_PROBS) * clutter
    distractor_probs[0] = 1.0 - distractor_probs[1:].sum()
    n_distract = int(rng.choice(len(DISTRACTOR_COUNT_PROBS), p=distractor_probs))
    distractors = [picks.pop() for _ in range(n_distract)]
    offscreen: Optional[ObjectClass] = picks.pop() if rng.random() < clutter * OFFSCREEN_PROB else None

    visible = distractors + sounding  # Sounding objects are drawn last (never hidden).
    aspect = width / height
    slot_w = aspect / len(visible)
    slots = rng.permutation(len(visible))
    objects: List[ObjectInstance] = []
    for cls, slot in zip(visible, slots):
        region = Region(slot * slot_w, (slot + 1) * slot_w, 0.0, 1.0)
        radius = min(rng.uniform(0.15, 0.3), 0.48 * slot_w)
        is_sounding = cls in sounding
        level = rng.uniform(-4.0, 0.0) if is_sounding else -120.0
        objects.append(_make_object(rng, cls, is_sounding, True, region, radius, level, duration))
    if offscreen is not None:
        region = Region(0.0, aspect, 0.0, 1.0)
        objects.append(_make_object(rng, offscreen, True, False, region, 0.2,
                                    rng.uniform(-16.0, -6.0), duration))

    bg_light = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.5), rng.uniform(0.45, 0.85))
    bg_dark = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.5), rng.uniform(0.15, 0.5))
    any_background = str(rng.choice(BACKGROUNDS))
    texture = str(rng.choice(TEXTURES))
    # The basic world draws no number here, so its videos stay what they were.
    seen_scene = sound_world.scene_look_prob > 0 and rng.random() < sound_world.scene_look_prob
    return VideoScene(
        index=index, width=width, height=height, fps=fps, num_frames=num_frames,
        sample_rate=sample_rate, channels=channels, objects=objects,
        background=SCENE_LOOKS[texture] if seen_scene else any_background,
        background_colours=(bg_light, bg_dark),
        texture=texture, texture_db=float(rng.uniform(-30.0, -12.0)),
        floor_db=float(rng.uniform(-50.0, -35.0)),
        target_rms=float(np.exp(rng.uniform(np.log(0.02), np.log(0.12)))),
        render_seed=int(rng.integers(0, 2 ** 31)),
    )
