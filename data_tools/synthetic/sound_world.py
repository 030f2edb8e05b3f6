"""The sound world: the audio-visual object classes every synthetic dataset is built from.

Why a shared catalogue: the videos, the ESC-50-style clips and the DCASE-style scenes must all
draw on the *same* sources, so that an embedding learned from the synthetic videos transfers to
the synthetic downstream tasks exactly as L3-Net's Flickr embedding transfers to ESC-50/DCASE.

Each class couples a look (shape + texture pattern, drawn with a random hue per instance so
that colour never gives the class away) with a motion and a sound whose events are tied to the
motion (a ball thuds when it lands, a bell clangs at the ends of its swing, a fan whooshes once
per blade passage). Pitch and rhythm ranges are per class; the exact values are drawn per
instance from those ranges.
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


OBJECT_CLASSES: Tuple[ObjectClass, ...] = (
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

CLASS_NAMES: Tuple[str, ...] = tuple(c.name for c in OBJECT_CLASSES)
CLASSES_BY_NAME: Dict[str, ObjectClass] = {c.name: c for c in OBJECT_CLASSES}

# Background textures: sound with no visible source. They fill the videos' background noise and
# the DCASE scenes, and are extra ESC-50 categories.
TEXTURES: Tuple[str, ...] = ("wind", "rain", "engine", "mains_hum", "crowd")
