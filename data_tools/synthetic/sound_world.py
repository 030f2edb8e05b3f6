"""The sound world: the audio-visual object classes every synthetic dataset is built from.

Why a shared catalogue: the videos, the ESC-50-style clips and the DCASE-style scenes must all
draw on the *same* sources, so that an embedding learned from the synthetic videos transfers to
the synthetic downstream tasks exactly as L3-Net's Flickr embedding transfers to ESC-50/DCASE.

Each class couples a look (shape + texture pattern, drawn with a random hue per instance so
that colour never gives the class away) with a motion and a sound whose events are tied to the
motion (a ball thuds when it lands, a bell clangs at the ends of its swing, a fan whooshes once
per blade passage). Pitch and rhythm ranges are per class; the exact values are drawn per
instance from those ranges.

Two worlds (`WORLDS`): "basic", ten classes with one timbre each (the default), and "rich", which
adds instruments and a voice, wide overlapping pitch ranges and backdrops that go with the
background sound (see `RICH_CLASSES`). Every generator takes the world by name.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple


@dataclasses.dataclass(frozen=True)
class ObjectClass:
    """One audio-visual class.

    name:       label written to labels.csv / annotations.
    shape:      signed-distance shape drawn by `shapes.shape_sdf`.
    texture:    pattern drawn inside the shape by `shapes.texture_pattern`.
    motion:     motion model in `motions.make_motion`; it also emits the sound events.
    timbre:     synthesiser in `sounds.render_source`.
    pitch_hz:   range of the instance's fundamental (or centre) frequency.
    rate_hz:    range of the event / modulation rate (rhythm) of the motion.
    """

    name: str
    shape: str
    texture: str
    motion: str
    timbre: str
    pitch_hz: Tuple[float, float]
    rate_hz: Tuple[float, float]


# The basic world (the default, and the world of every number measured before 2026-12-05): ten
# classes, one timbre each, pitch ranges per class.
BASIC_CLASSES: Tuple[ObjectClass, ...] = (
    ObjectClass("ball", "disk", "checker", "bounce", "thud", (55.0, 110.0), (1.0, 2.5)),
    ObjectClass("bell", "bell", "hstripes", "swing", "bell", (500.0, 1100.0), (0.6, 1.4)),
    ObjectClass("string", "bar", "vstripes", "pluck", "pluck", (110.0, 330.0), (0.8, 2.5)),
    ObjectClass("buzzer", "triangle", "dots", "slide", "buzz", (90.0, 200.0), (0.4, 1.0)),
    ObjectClass("fan", "propeller", "radial", "spin", "whoosh", (300.0, 900.0), (0.6, 1.4)),
    ObjectClass("pulsar", "ring", "rings", "pulse", "hum", (150.0, 300.0), (0.7, 2.0)),
    ObjectClass("whistle", "diamond", "diagonal", "glide", "whistle", (900.0, 1800.0), (0.3, 0.8)),
    ObjectClass("bird", "bird", "gradient", "hop", "chirp", (2000.0, 3500.0), (0.8, 2.0)),
    ObjectClass("hammer", "hammer", "grid", "strike", "clack", (1500.0, 3000.0), (0.6, 1.5)),
    ObjectClass("clock", "clockface", "solid", "tick", "clicks", (2500.0, 5000.0), (2.0, 5.0)),
)

# The rich world adds instruments and a voice: melodies on a scale, physically modelled (struck
# bars, membranes) or harmonic series whose spectral and note envelopes vary per instance (see
# `sounds`). Each new class shares its motion, and most share their kind of sound, with a basic
# class (drum ~ ball, horn ~ pulsar, violin ~ buzzer, clarinet ~ whistle): telling them apart takes
# timbre, not rhythm or loudness. Pitched classes also share wide, overlapping pitch ranges, so
# that pitch no longer names the class (real instrument families overlap in register).
_RICH_PITCH = {"bell": (250.0, 1100.0), "string": (110.0, 660.0), "buzzer": (90.0, 500.0),
               "pulsar": (110.0, 500.0), "whistle": (500.0, 1800.0)}
RICH_CLASSES: Tuple[ObjectClass, ...] = tuple(
    dataclasses.replace(c, pitch_hz=_RICH_PITCH.get(c.name, c.pitch_hz)) for c in BASIC_CLASSES) + (
    ObjectClass("marimba", "keys", "solid", "hop", "struck_bar", (150.0, 880.0), (1.5, 4.0)),
    ObjectClass("drum", "drum", "vstripes", "bounce", "membrane", (60.0, 250.0), (1.5, 3.5)),
    ObjectClass("horn", "horn", "checker", "pulse", "brass", (90.0, 500.0), (0.8, 2.0)),
    ObjectClass("violin", "violin", "gradient", "slide", "bowed", (110.0, 660.0), (0.6, 1.5)),
    ObjectClass("talker", "face", "solid", "pulse", "voice", (85.0, 260.0), (2.5, 5.0)),
    ObjectClass("clarinet", "pipe", "dots", "glide", "reed", (120.0, 600.0), (0.5, 1.2)),
)

# Background textures: sound with no visible source. They fill the videos' background noise and
# the DCASE scenes, and are extra ESC-50 categories.
TEXTURES: Tuple[str, ...] = ("wind", "rain", "engine", "mains_hum", "crowd")


@dataclasses.dataclass(frozen=True)
class SoundWorld:
    """A catalogue of classes plus how the videos' backdrops relate to their background sound.

    scene_look_prob: probability that a video's backdrop is the one of its background texture
    (`scenes.SCENE_LOOKS`); 0 = backdrop and texture independent (the basic world).
    """

    name: str
    classes: Tuple[ObjectClass, ...]
    scene_look_prob: float

    @property
    def class_names(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def by_name(self) -> Dict[str, ObjectClass]:
        return {c.name: c for c in self.classes}


WORLDS: Dict[str, SoundWorld] = {
    "basic": SoundWorld("basic", BASIC_CLASSES, 0.0),
    "rich": SoundWorld("rich", RICH_CLASSES, 0.8),
}
DEFAULT_WORLD = "basic"


def get_world(name: str) -> SoundWorld:
    """The world called `name`; ValueError naming the known ones otherwise."""
    try:
        return WORLDS[name]
    except KeyError:
        raise ValueError(f"world={name!r}: unknown; known: {', '.join(WORLDS)}") from None


# The default world's catalogue, for callers that do not choose a world.
OBJECT_CLASSES: Tuple[ObjectClass, ...] = WORLDS[DEFAULT_WORLD].classes
CLASS_NAMES: Tuple[str, ...] = WORLDS[DEFAULT_WORLD].class_names
CLASSES_BY_NAME: Dict[str, ObjectClass] = WORLDS[DEFAULT_WORLD].by_name
