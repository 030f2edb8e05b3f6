"""What each clip plays: seeded musical phrases, drum-kit grooves and spoken sentences.

A clip is meant to resemble a short recording of someone playing or speaking, not a test tone:
a melodic phrase is a random walk on a scale (major, minor, dorian, pentatonic) inside one
register of one instrument, with a tempo, rhythm, articulation (staccato to legato), dynamics
(a clip-level loudness with per-note variation) and slight timing jitter; instruments that play
chords do so (a guitar strums, with the strings a few ms apart); a groove is one of five drum
patterns with fills, ghost notes and dropped hits; speech is one or two everyday sentences.

Every function takes a numpy Generator and is a pure function of it, so the same seed gives the
same notes. Times are seconds from the start of the clip; notes end by `PHRASE_END`.
"""

from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

import numpy as np

PHRASE_END = 4.85  # s: every note has been released by then (the clip is 5 s; reverb tails decay)
MIN_PHRASE = 2.5  # s: a phrase lasts at least this long (or up to PHRASE_END)
MAX_NOTE = 1.2  # s: no note value is longer (so a phrase has several notes)
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
}


@dataclasses.dataclass(frozen=True)
class Note:
    start: float  # s
    duration: float  # s
    key: int  # MIDI key
    velocity: int  # 1..127


@dataclasses.dataclass(frozen=True)
class Style:
    """How a family plays: tempo range (beats per minute), note lengths in beats, the share of
    the note length that sounds (gate: staccato < 1 < legato), chance of a chord, and chord spread
    (strum: seconds between chord notes)."""

    tempo: Tuple[float, float]
    beats: Tuple[float, ...]
    gate: Tuple[float, float]
    chord_chance: float = 0.0
    strum: float = 0.0
    rest_chance: float = 0.12


def _scale_keys(rng: np.random.Generator, low: int, high: int) -> List[int]:
    """The keys of a random scale on a random root that lie in [low, high]."""
    steps = SCALES[str(rng.choice(sorted(SCALES)))]
    root = int(rng.integers(0, 12))
    keys = [k for k in range(low, high + 1) if (k - root) % 12 in steps]
    return keys or list(range(low, high + 1))


def melodic_phrase(rng: np.random.Generator, style: Style, low: int, high: int, start: float) -> List[Note]:
    """A phrase in the register [low, high] (inclusive MIDI keys) from `start` s to at most PHRASE_END."""
    keys = _scale_keys(rng, low, high)
    beat = 60.0 / rng.uniform(*style.tempo)
    end = rng.uniform(min(start + MIN_PHRASE, PHRASE_END), PHRASE_END)
    loudness = rng.uniform(45.0, 115.0)
    gate = rng.uniform(*style.gate)
    index = int(rng.integers(0, len(keys)))
    notes: List[Note] = []
    t, rested = start, True
    while t < end - 0.1:
        length = min(float(rng.choice(style.beats)) * beat, MAX_NOTE)
        if not rested and rng.random() < style.rest_chance:  # never two rests in a row, nor one first
            t, rested = t + length, True
            continue
        rested = False
        step = int(rng.choice((-2, -1, -1, 0, 1, 1, 2, 3, -3, 4, -4)))
        index = int(np.clip(index + step, 0, len(keys) - 1))
        duration = min(max(0.05, length * gate), PHRASE_END - t)
        velocity = int(np.clip(round(loudness + rng.normal(0.0, 9.0)), 1, 127))
        onset = max(0.0, t + rng.normal(0.0, 0.008))
        chord = [keys[index]]
        if rng.random() < style.chord_chance:
            chord += [keys[i] for i in (index + 2, index + 4) if i < len(keys)]
        for n, key in enumerate(chord):
            notes.append(Note(onset + n * style.strum, max(0.05, duration - n * style.strum), key,
                              int(np.clip(velocity - 6 * n, 1, 127))))
        t += length
    if not notes:  # a phrase always sounds
        notes.append(Note(start, min(beat, PHRASE_END - start), keys[index], int(np.clip(round(loudness), 1, 127))))
    return _inside_clip(notes)


def _inside_clip(notes: List[Note]) -> List[Note]:
    """Notes that start by PHRASE_END - 0.05 s, each released by PHRASE_END."""
    return [dataclasses.replace(n, duration=min(n.duration, PHRASE_END - n.start))
            for n in notes if n.start <= PHRASE_END - 0.05]


# General MIDI percussion keys (channel 10).
KICK, SNARE, SIDE_STICK, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 38, 37, 39, 42, 44, 46
CRASH, RIDE, RIDE_BELL, TAMBOURINE, COWBELL = 49, 51, 53, 54, 56
LOW_TOM, MID_TOM, HIGH_TOM, FLOOR_TOM = 45, 47, 50, 41
HIGH_BONGO, LOW_BONGO, MUTE_CONGA, OPEN_CONGA, LOW_CONGA = 60, 61, 62, 63, 64
HIGH_TIMBALE, LOW_TIMBALE, CABASA, MARACAS, CLAVES, GUIRO = 65, 66, 69, 70, 75, 73

# Five grooves; one bar is 16 sixteenth-note steps, each (key, steps, base velocity).
GROOVES = {
    "rock": [(KICK, (0, 8, 10), 105), (SNARE, (4, 12), 100), (CLOSED_HAT, (0, 2, 4, 6, 8, 10, 12, 14), 75)],
    "shuffle": [(KICK, (0, 10), 95), (SNARE, (4, 12), 90), (RIDE, (0, 3, 4, 7, 8, 11, 12, 15), 70),
                (PEDAL_HAT, (4, 12), 60)],
    "funk": [(KICK, (0, 3, 7, 10), 105), (SNARE, (4, 12), 105), (SNARE, (6, 9, 14), 35),
             (CLOSED_HAT, tuple(range(16)), 60), (OPEN_HAT, (15,), 70)],
    "latin": [(LOW_CONGA, (0, 6, 8, 14), 90), (OPEN_CONGA, (3, 11), 95), (MUTE_CONGA, (2, 10), 70),
              (HIGH_BONGO, (1, 5, 9, 13), 65), (COWBELL, (0, 4, 8, 12), 80), (CLAVES, (0, 3, 6, 10, 12), 85),
              (MARACAS, tuple(range(0, 16, 2)), 50), (HIGH_TIMBALE, (7,), 90)],
    "toms": [(FLOOR_TOM, (0, 6, 12), 100), (LOW_TOM, (2, 8, 14), 95), (MID_TOM, (4, 10), 90),
             (HIGH_TOM, (5, 11, 13), 90), (SNARE, (1, 3, 9, 15), 70), (KICK, (0, 8), 100)],
}
FILL_KEYS = (HIGH_TOM, MID_TOM, LOW_TOM, FLOOR_TOM, SNARE)


def drum_groove(rng: np.random.Generator, groove: str, start: float) -> List[Note]:
    """Bars of `groove` from `start` s to at most PHRASE_END: random tempo and swing, dropped and
    ghost hits, loudness per clip, a fill in the last half bar (half the time), an opening crash."""
    tempo = rng.uniform(80.0, 150.0)
    step = 60.0 / tempo / 4
    swing = rng.uniform(0.0, 0.3) * step if groove != "shuffle" else step / 3
    end = rng.uniform(min(start + MIN_PHRASE, PHRASE_END), PHRASE_END)
    steps = int((end - start) / step)
    fill_from = steps - 8 if rng.random() < 0.5 and steps > 16 else steps
    loudness = rng.uniform(-25.0, 15.0)
    notes: List[Note] = []
    if rng.random() < 0.5:
        notes.append(Note(start, 1.0, CRASH, int(np.clip(100 + loudness, 1, 127))))
    for s in range(steps):
        t = start + s * step + (swing if s % 2 else 0.0) + rng.normal(0.0, 0.006)
        if s >= fill_from:
            if rng.random() < 0.8:
                key = FILL_KEYS[min(len(FILL_KEYS) - 1, (s - fill_from) * len(FILL_KEYS) // 8)]
                notes.append(Note(max(0.0, t), step, key, int(np.clip(90 + loudness + rng.normal(0, 8), 1, 127))))
            continue
        for key, hits, velocity in GROOVES[groove]:
            if s % 16 in hits and rng.random() > 0.08:
                v = velocity + loudness + rng.normal(0.0, 8.0)
                notes.append(Note(max(0.0, t), min(step * 2, PHRASE_END - t), key, int(np.clip(round(v), 1, 127))))
    return _inside_clip(notes)


# Everyday sentences, split into 5 groups of 6 (a fold speaks only its own group).
SENTENCES: Tuple[Tuple[str, ...], ...] = (
    ("Could you pass me the salt, please? The soup needs a little more.",
     "The train to the city leaves from platform four in ten minutes.",
     "I left my keys on the kitchen table next to the fruit bowl.",
     "We should water the tomatoes tonight, it has been so dry.",
     "Turn left at the bakery and the library is on your right.",
     "My sister is coming to visit us for the long weekend."),
    ("It looks like rain, so take an umbrella when you go out.",
     "The meeting has been moved to Thursday afternoon at three.",
     "Please remember to feed the cat before you leave for work.",
     "I think the bus is running late again this morning.",
     "Let's have pasta for dinner and watch a film afterwards.",
     "The shop on the corner sells fresh bread every day."),
    ("Have you seen my blue jacket? I cannot find it anywhere.",
     "The children are playing football in the park after school.",
     "Our neighbours are painting their fence a bright shade of green.",
     "Could you call me back when you get this message?",
     "The coffee machine on the second floor is broken again.",
     "We need eggs, milk, butter and a bag of flour."),
    ("The doctor says I should walk for half an hour every day.",
     "Don't forget that the library closes early on Saturdays.",
     "I will pick you up from the station at seven o'clock.",
     "The baby finally fell asleep after a long afternoon.",
     "This road is closed, so we have to take the next exit.",
     "Thank you so much for the lovely flowers you sent."),
    ("The weather forecast says it will be sunny all week.",
     "Can you help me carry these boxes up the stairs?",
     "I have been learning to play the guitar since January.",
     "The dog barks every time the postman rings the bell.",
     "Please switch off the lights when you leave the room.",
     "We are planning a picnic by the river on Sunday."),
)


def sentence_text(rng: np.random.Generator, group: Sequence[str]) -> str:
    """One sentence of `group`, or two (a short pause between them) a third of the time."""
    first = int(rng.integers(0, len(group)))
    if rng.random() < 1 / 3:
        second = (first + 1 + int(rng.integers(0, len(group) - 1))) % len(group)
        return f"{group[first]} {group[second]}"
    return group[first]
