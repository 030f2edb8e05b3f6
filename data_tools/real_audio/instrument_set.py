"""The real-audio probe set: recorded instrument samples and speech, in the ESC-50 layout.

Where the sound comes from: the General MIDI SoundFont `FluidR3_GM.sf2` (Debian package
`fluid-soundfont-gm`), whose instruments are recordings of real pianos, guitars, violins,
saxophones, drum kits..., played through `fluidsynth` from MIDI phrases written here; and the
`espeak-ng` speech synthesiser (the one class not made of recordings, but real speech-like audio
no synthetic-world generator here makes). Nothing is downloaded and no audio is committed.

Classes (targets in this order; `esc10` is True for the ten pitched families):
  0-9   the ten pitched General MIDI families, each played by 6-8 of its programs (PLAN):
        piano, chromatic_percussion, organ, guitar, bass, bowed_strings, brass, reed, pipe,
        plucked (sitar, banjo, shamisen, koto, kalimba, harp, pizzicato strings)
  10    drum_kit: 8 GM drum kits on channel 10 x 5 grooves (rock, shuffle, funk, latin, toms)
  11    speech: 20 espeak-ng voice variants x 8 English accents, 30 everyday sentences

Folds (5; the no-leak rule, the analogue of ESC-50 keeping clips of one source recording in one
fold): each program's playable range is cut into 5 registers; the cell (program i, register r)
is in fold (i + r) mod 5 + 1, so every fold holds every program of the family, each in another
register, and a program+register (hence the SoundFont samples that sound there, which cover a
few semitones each) never appears in both a training and a test fold. Drum kits: the cell
(kit i, groove g) is in fold (i + g) mod 5 + 1. Speech: voice variant v speaks only in fold
v mod 5 + 1, and fold f's clips speak only sentence group f, so a test fold's voices and
sentences are all unheard in training. `src_file` names the cell (clips of one cell share it,
`take` A, B, ... tells them apart): 100000 + 1000 target + 10 program/kit/voice index + register/groove.

Clip k of class c is in fold (k + c) mod 5 + 1 (equal folds when clips_per_class is a multiple
of 5), and is a pure function of (seed, c, k): 5 s, 44.1 kHz, mono, 16-bit; a phrase starts
0.05-0.6 s in and ends by 4.85 s; loudness is set to a random RMS of -32..-18 dBFS (peaks kept
under -1 dBFS, so loudness is no cue to the class) over a faint noise floor (-75..-60 dBFS).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np

from l3net.atomic_files import write_text_atomic
from l3net.media_encode import write_wav

from data_tools.real_audio import midi_file, phrases, render
from data_tools.real_audio.phrases import Style

SAMPLE_RATE = render.SAMPLE_RATE
CLIP_SECONDS = 5.0
SLOT_SECONDS = 6.0  # clips are rendered one after another in one fluidsynth run, one slot each
NUM_FOLDS = 5
NUM_REGISTERS = 5
DEFAULT_CLIPS_PER_CLASS = 40  # as ESC-50: 8 per class and fold
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
MARKER = "real_audio.json"  # describes the set; its presence marks a folder this module may replace
GENERATOR_VERSION = 1  # bump when the clips a seed gives change
START_RANGE = (0.05, 0.6)  # s: where a clip's phrase or speech starts
RMS_DBFS = (-32.0, -18.0)
PEAK_LIMIT = 10 ** (-1.0 / 20)
NOISE_DBFS = (-75.0, -60.0)
FADE_SECONDS = 0.02


@dataclasses.dataclass(frozen=True)
class Program:
    number: int  # General MIDI program, 0-127
    name: str
    low: int  # playable MIDI key range, inclusive
    high: int

    def register(self, r: int) -> Tuple[int, int]:
        """Keys [low, high] of register r (0 = lowest) of NUM_REGISTERS equal, disjoint ones."""
        width = self.high - self.low + 1
        return self.low + r * width // NUM_REGISTERS, self.low + (r + 1) * width // NUM_REGISTERS - 1


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    programs: Tuple[Program, ...]
    style: Style


def _programs(*rows: Tuple[int, str, int, int]) -> Tuple[Program, ...]:
    return tuple(Program(*row) for row in rows)


PLAN: Tuple[Family, ...] = (
    Family("piano", _programs(
        (0, "acoustic grand piano", 33, 96), (1, "bright acoustic piano", 33, 96), (2, "electric grand piano", 33, 96),
        (3, "honky-tonk piano", 33, 96), (4, "electric piano 1", 36, 91), (5, "electric piano 2", 36, 91),
        (6, "harpsichord", 41, 89), (7, "clavinet", 41, 89)),
        Style((80, 150), (0.5, 0.5, 1, 1, 2), (0.6, 1.0), chord_chance=0.35)),
    Family("chromatic_percussion", _programs(
        (8, "celesta", 60, 108), (9, "glockenspiel", 79, 108), (10, "music box", 60, 96), (11, "vibraphone", 53, 89),
        (12, "marimba", 45, 96), (13, "xylophone", 65, 108), (15, "dulcimer", 48, 84)),
        Style((90, 160), (0.5, 0.5, 1, 1, 2), (0.3, 0.9), chord_chance=0.15)),
    Family("organ", _programs(
        (16, "drawbar organ", 36, 96), (17, "percussive organ", 36, 96), (18, "rock organ", 36, 96),
        (19, "church organ", 36, 96), (20, "reed organ", 41, 89), (21, "accordion", 53, 89), (22, "harmonica", 60, 84),
        (23, "tango accordion", 53, 89)),
        Style((70, 130), (0.5, 1, 1, 2, 2), (0.85, 1.0), chord_chance=0.5)),
    Family("guitar", _programs(
        (24, "nylon guitar", 40, 83), (25, "steel guitar", 40, 83), (26, "jazz guitar", 40, 86),
        (27, "clean electric guitar", 40, 86), (28, "muted guitar", 40, 76), (29, "overdriven guitar", 40, 86),
        (30, "distortion guitar", 40, 86), (31, "guitar harmonics", 52, 88)),
        Style((70, 140), (0.5, 1, 1, 2), (0.5, 1.0), chord_chance=0.45, strum=0.018)),
    Family("bass", _programs(
        (32, "acoustic bass", 28, 55), (33, "fingered bass", 28, 60), (34, "picked bass", 28, 60),
        (35, "fretless bass", 28, 60), (36, "slap bass 1", 28, 60), (37, "slap bass 2", 28, 60)),
        Style((80, 150), (0.5, 0.5, 1, 1, 2), (0.5, 0.95))),
    Family("bowed_strings", _programs(
        (40, "violin", 55, 96), (41, "viola", 48, 84), (42, "cello", 36, 72), (43, "contrabass", 28, 55),
        (44, "tremolo strings", 36, 96), (48, "string ensemble 1", 36, 96), (49, "string ensemble 2", 36, 96)),
        Style((60, 110), (0.5, 1, 1, 2, 2, 3), (0.85, 1.0), chord_chance=0.2)),
    Family("brass", _programs(
        (56, "trumpet", 55, 82), (57, "trombone", 40, 72), (58, "tuba", 28, 58), (59, "muted trumpet", 55, 82),
        (60, "french horn", 41, 77), (61, "brass section", 41, 82)),
        Style((80, 140), (0.5, 0.5, 1, 1, 2), (0.7, 1.0))),
    Family("reed", _programs(
        (64, "soprano sax", 56, 87), (65, "alto sax", 49, 81), (66, "tenor sax", 44, 75), (67, "baritone sax", 36, 69),
        (68, "oboe", 58, 91), (69, "english horn", 52, 81), (70, "bassoon", 34, 72), (71, "clarinet", 50, 91)),
        Style((80, 140), (0.5, 0.5, 1, 1, 2), (0.7, 1.0))),
    Family("pipe", _programs(
        (72, "piccolo", 74, 108), (73, "flute", 60, 96), (74, "recorder", 72, 98), (75, "pan flute", 60, 96),
        (76, "blown bottle", 60, 84), (77, "shakuhachi", 55, 84), (78, "whistle", 72, 96), (79, "ocarina", 60, 84)),
        Style((80, 150), (0.5, 0.5, 1, 1, 2), (0.7, 1.0))),
    Family("plucked", _programs(
        (104, "sitar", 48, 84), (105, "banjo", 48, 84), (106, "shamisen", 50, 84), (107, "koto", 55, 91),
        (108, "kalimba", 60, 91), (46, "orchestral harp", 36, 96), (45, "pizzicato strings", 36, 84)),
        Style((70, 140), (0.5, 0.5, 1, 2), (0.5, 1.0), chord_chance=0.2, strum=0.015)),
)
DRUM_KITS: Tuple[Tuple[int, str], ...] = (
    (0, "standard"), (8, "room"), (16, "power"), (24, "electronic"), (25, "tr-808"), (32, "jazz"), (40, "brush"),
    (48, "orchestra"))
GROOVES: Tuple[str, ...] = tuple(phrases.GROOVES)
VOICE_VARIANTS: Tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3", "Andy", "Annie",
    "belinda", "grandpa", "linda", "steph")
ACCENTS: Tuple[str, ...] = (
    "en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbcwmd", "en-gb-x-gbclan")
SPEECH_WPM = (135, 185)
SPEECH_PITCH = (25, 75)
CATEGORIES: Tuple[str, ...] = tuple(f.name for f in PLAN) + ("drum_kit", "speech")
DRUM_TARGET, SPEECH_TARGET = len(PLAN), len(PLAN) + 1


@dataclasses.dataclass(frozen=True)
class Clip:
    """One planned clip: where it goes and what plays in it."""

    target: int
    index: int  # k: the clip's number within its class
    fold: int
    group: int  # program / kit / voice index within the class
    cell: int  # register / groove (0 for speech)
    take: str = "A"

    @property
    def category(self) -> str:
        return CATEGORIES[self.target]

    @property
    def src_file(self) -> int:
        return 100000 + 1000 * self.target + 10 * self.group + self.cell

    @property
    def filename(self) -> str:
        return f"{self.fold}-{self.src_file}-{self.take}-{self.target}.wav"

    def rng(self, seed: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, 5075, self.target, self.index, stream])


def plan_clips(clips_per_class: int) -> List[Clip]:
    """Every clip of the set with its fold and cell (the fold rule of the module docstring)."""
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class={clips_per_class}: must be >= 1")
    clips: List[Clip] = []
    for target in range(len(CATEGORIES)):
        takes: Dict[int, int] = {}
        for k in range(clips_per_class):
            fold = (k + target) % NUM_FOLDS + 1
            j = k // NUM_FOLDS  # the clip's number within its class and fold
            if target == SPEECH_TARGET:
                per_fold = len(VOICE_VARIANTS) // NUM_FOLDS
                group, cell = (fold - 1) + NUM_FOLDS * (j % per_fold), 0
            else:
                count = len(PLAN[target].programs) if target < DRUM_TARGET else len(DRUM_KITS)
                group = (j + fold) % count
                cell = (fold - 1 - group) % NUM_REGISTERS  # (group + cell) mod 5 + 1 == fold
            clip = Clip(target, k, fold, group, cell)
            n = takes.get(clip.src_file, 0)
            takes[clip.src_file] = n + 1
            clips.append(dataclasses.replace(clip, take=_take_name(n)))
    return clips


def _take_name(n: int) -> str:
    """A, B, ..., Z, AA, AB, ... (ESC-50 uses single letters; more takes than 26 need two)."""
    name = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def describe_clip(clip: Clip) -> str:
    """What plays in the clip, in words (for the set's description and for tests)."""
    if clip.target == SPEECH_TARGET:
        return f"speech: voice variant {VOICE_VARIANTS[clip.group]}, sentence group {clip.fold}"
    if clip.target == DRUM_TARGET:
        return f"drum kit {DRUM_KITS[clip.group][1]}, groove {GROOVES[clip.cell]}"
    program = PLAN[clip.target].programs[clip.group]
    low, high = program.register(clip.cell)
    return f"{program.name} (GM program {program.number}), register {clip.cell} (keys {low}-{high})"


def clip_midi(clips: List[Clip], seed: int) -> bytes:
    """One MIDI file playing `clips` (all of one pitched family, or all drum clips) in consecutive
    SLOT_SECONDS slots: controllers reset and the program set at each slot's start, every sound
    stopped at CLIP_SECONDS into it (the next slot starts after a second of silence)."""
    track = midi_file.MidiTrack()
    for slot, clip in enumerate(clips):
        t0 = slot * SLOT_SECONDS
        at = midi_file.seconds_to_ticks(t0)
        rng = clip.rng(seed, 0)
        start = rng.uniform(*START_RANGE)
        if clip.target == DRUM_TARGET:
            channel, program = midi_file.DRUM_CHANNEL, DRUM_KITS[clip.group][0]
            notes = phrases.drum_groove(rng, GROOVES[clip.cell], start)
        else:
            channel, family = 0, PLAN[clip.target]
            program = family.programs[clip.group].number
            notes = phrases.melodic_phrase(rng, family.style, *family.programs[clip.group].register(clip.cell), start)
        track.control(at, channel, midi_file.CC_RESET_ALL_CONTROLLERS, 0)
        track.control(at, channel, midi_file.CC_BANK_SELECT, 0)
        track.program(at, channel, program)
        track.control(at, channel, midi_file.CC_VOLUME, 100)
        track.control(at, channel, midi_file.CC_PAN, 64)
        track.control(at, channel, midi_file.CC_EXPRESSION, 127)
        for note in notes:
            onset = midi_file.seconds_to_ticks(t0 + note.start)
            track.note(max(onset, at + 1), max(1, midi_file.seconds_to_ticks(note.duration)), channel, note.key,
                       note.velocity)
        stop = midi_file.seconds_to_ticks(t0 + CLIP_SECONDS)
        track.control(stop, channel, midi_file.CC_ALL_NOTES_OFF, 0)
        track.control(stop, channel, midi_file.CC_ALL_SOUND_OFF, 0)
    track.end(midi_file.seconds_to_ticks(len(clips) * SLOT_SECONDS))
    return track.to_bytes()


def render_batch(clips: List[Clip], seed: int, soundfont: str) -> List[np.ndarray]:
    """The raw clips (float32 [CLIP_SECONDS * 44100] each) of one fluidsynth run."""
    audio = render.render_midi(clip_midi(clips, seed), soundfont, len(clips) * SLOT_SECONDS)
    slot, length = int(SLOT_SECONDS * SAMPLE_RATE), int(CLIP_SECONDS * SAMPLE_RATE)
    return [audio[i * slot:i * slot + length].copy() for i in range(len(clips))]


def render_speech(clip: Clip, seed: int) -> np.ndarray:
    """The raw speech clip: one voice, accent, rate and pitch saying one or two sentences."""
    rng = clip.rng(seed, 0)
    start = rng.uniform(*START_RANGE)
    accent = ACCENTS[int(rng.integers(0, len(ACCENTS)))]
    text = phrases.sentence_text(rng, phrases.SENTENCES[clip.fold - 1])
    wpm, pitch = int(rng.integers(SPEECH_WPM[0], SPEECH_WPM[1] + 1)), int(rng.integers(*SPEECH_PITCH))
    speech = render.speak(text, f"{accent}+{VOICE_VARIANTS[clip.group]}", wpm, pitch)
    out = np.zeros(int(CLIP_SECONDS * SAMPLE_RATE), np.float32)
    at = int(start * SAMPLE_RATE)
    take = min(len(speech), len(out) - at)
    out[at:at + take] = speech[:take]
    return out


def finish_clip(raw: np.ndarray, clip: Clip, seed: int) -> np.ndarray:
    """Loudness, noise floor and end fade of a raw clip: float32 [1, samples] in [-1, 1]."""
    rng = clip.rng(seed, 1)
    x = raw.astype(np.float64)
    fade = int(FADE_SECONDS * SAMPLE_RATE)
    x[-fade:] *= np.linspace(1.0, 0.0, fade)
    rms = np.sqrt(np.mean(x ** 2))
    if rms < 1e-7:
        raise render.RenderError(f"{clip.filename} ({describe_clip(clip)}) rendered silent; "
                                 "is the SoundFont a General MIDI one?")
    gain = 10 ** (rng.uniform(*RMS_DBFS) / 20) / rms
    gain = min(gain, PEAK_LIMIT / np.max(np.abs(x)))
    noise = rng.standard_normal(x.shape[0], dtype=np.float32) * 10 ** (rng.uniform(*NOISE_DBFS) / 20)
    return np.clip(x * gain + noise, -1.0, 1.0).astype(np.float32)[None, :]


@dataclasses.dataclass
class RealAudioSummary:
    """What `generate_real_audio_set` did; str() is the one-line report."""

    output_dir: str
    clips: int
    classes: int
    bytes: int
    render_seconds: float
    reused: bool = False
    tools: Dict[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        what = "reused the existing set" if self.reused else f"rendered in {self.render_seconds:.1f} s"
        return (f"{self.clips} real-audio clips, {self.classes} classes, {NUM_FOLDS} folds, "
                f"{self.bytes / 1e6:.1f} MB; {what}")


def _description(seed: int, clips_per_class: int, soundfont: str, tools: Dict[str, str]) -> dict:
    return {
        "generator": "data_tools.real_audio", "generator_version": GENERATOR_VERSION, "layout": "ESC-50",
        "seed": seed, "clips_per_class": clips_per_class,
        "soundfont": {"path": soundfont, "bytes": os.path.getsize(soundfont)}, "tools": tools,
        "sample_rate": SAMPLE_RATE, "clip_seconds": CLIP_SECONDS, "categories": list(CATEGORIES),
        "fold_rule": "pitched: cell (program i, register r) in fold (i + r) mod 5 + 1; drum_kit: (kit i, groove g) "
                     "in fold (i + g) mod 5 + 1; speech: voice variant v in fold v mod 5 + 1, fold f speaks "
                     "sentence group f; src_file names the cell",
        "classes": {
            **{f.name: [f"{p.number} {p.name} ({p.low}-{p.high})" for p in f.programs] for f in PLAN},
            "drum_kit": {"kits": [f"{n} {name}" for n, name in DRUM_KITS], "grooves": list(GROOVES)},
            "speech": {"voice_variants": list(VOICE_VARIANTS), "accents": list(ACCENTS)},
        },
    }


def _check_voices() -> None:
    """Raises RenderError if this espeak-ng lacks an accent or voice variant of the plan."""
    languages, variants = render.espeak_voices()
    missing = [a for a in ACCENTS if a not in languages] + [f"+{v}" for v in VOICE_VARIANTS if v not in variants]
    if missing:
        raise render.RenderError(f"espeak-ng ({render.tool_versions()['espeak-ng']}) lacks the voices "
                                 f"{', '.join(missing)} the speech class uses (espeak-ng 1.51 has them all)")


def _existing_description(output_dir: str) -> Optional[dict]:
    """The MARKER of a complete set in output_dir, None if there is none; raises ValueError if the
    folder holds something else (never overwritten)."""
    if not os.path.exists(output_dir):
        return None
    if not os.path.isdir(output_dir):
        raise ValueError(f"{output_dir}: exists and is not a folder")
    if not os.listdir(output_dir):
        return None
    marker = os.path.join(output_dir, MARKER)
    if not os.path.isfile(marker):
        raise ValueError(f"{output_dir}: not empty and holds no {MARKER}; give a new or empty folder "
                         "(a previous real-audio set there would be replaced)")
    try:
        with open(marker, encoding="utf-8") as f:
            description = json.load(f)
    except (OSError, ValueError):
        return {}
    complete = os.path.isfile(os.path.join(output_dir, "meta", "esc50.csv"))
    return description if complete and isinstance(description, dict) else {}


def _folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, name)) for d, _, names in os.walk(path) for name in names)


def generate_real_audio_set(output_dir: str, seed: int, clips_per_class: int = DEFAULT_CLIPS_PER_CLASS,
                            soundfont: Optional[str] = None, workers: int = 2) -> RealAudioSummary:
    """Renders the set (module docstring) into `output_dir`, in the ESC-50 layout plus MARKER.

    The set is written into a temporary sibling folder (meta/esc50.csv last) and renamed into
    place, so a reader never sees half a set. A folder already holding the same set (same seed,
    clips, SoundFont, tool versions, generator version) is reused as it is; one holding another
    real-audio set is replaced; any other non-empty folder is refused (ValueError). Raises
    MissingToolError (an OSError: one line naming what is missing and the install command) when
    fluidsynth, the SoundFont or espeak-ng is absent, RenderError when a renderer fails.
    `workers`: fluidsynth runs at a time.
    """
    clips = plan_clips(clips_per_class)  # checks clips_per_class first
    sf2 = render.require_tools(soundfont)
    tools = render.tool_versions()
    _check_voices()
    description = _description(seed, clips_per_class, sf2, tools)
    output_dir = os.path.abspath(output_dir)
    existing = _existing_description(output_dir)
    if existing == description:
        return RealAudioSummary(output_dir, len(clips), len(CATEGORIES), _folder_bytes(output_dir), 0.0, True, tools)
    started = time.monotonic()
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_leftovers(output_dir)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.partial-", dir=parent)
    try:
        _write_set(tmp, clips, seed, sf2, workers)
        write_text_atomic(os.path.join(tmp, MARKER), json.dumps(description, indent=1) + "\n")
        _write_meta(tmp, clips)
        size = _folder_bytes(tmp)
        _move_into_place(tmp, output_dir, existing is not None)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RealAudioSummary(output_dir, len(clips), len(CATEGORIES), size, time.monotonic() - started, False, tools)


def _remove_leftovers(output_dir: str) -> None:
    """Removes the temporary siblings (.<name>.partial-*, .<name>.old-*) a killed run left behind."""
    parent, base = os.path.split(output_dir)
    for name in os.listdir(parent):
        if name.startswith((f".{base}.partial-", f".{base}.old-")):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _write_set(root: str, clips: List[Clip], seed: int, soundfont: str, workers: int) -> None:
    """Renders and writes every clip into root/audio/: one fluidsynth run per instrument class,
    `workers` of them at a time (at most workers + 1 classes' audio held in memory), the speech
    clips while the first runs go on."""
    audio_dir = os.path.join(root, "audio")
    os.makedirs(audio_dir)
    by_target: Dict[int, List[Clip]] = {}
    for clip in clips:
        by_target.setdefault(clip.target, []).append(clip)
    batches = [by_target[t] for t in sorted(by_target) if t != SPEECH_TARGET]
    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = collections.deque(pool.submit(render_batch, b, seed, soundfont) for b in batches[:workers])
        for clip in by_target.get(SPEECH_TARGET, []):
            _write_clip(audio_dir, clip, render_speech(clip, seed), seed)
        for i, batch in enumerate(batches):
            raws = pending.popleft().result()
            if i + workers < len(batches):
                pending.append(pool.submit(render_batch, batches[i + workers], seed, soundfont))
            for clip, raw in zip(batch, raws):
                _write_clip(audio_dir, clip, raw, seed)


def _write_clip(audio_dir: str, clip: Clip, raw: np.ndarray, seed: int) -> None:
    write_wav(os.path.join(audio_dir, clip.filename), finish_clip(raw, clip, seed), SAMPLE_RATE)


def _write_meta(root: str, clips: List[Clip]) -> None:
    rows = sorted((c.filename, c.fold, c.target, c.category, str(c.target < DRUM_TARGET), c.src_file, c.take)
                  for c in clips)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    write_text_atomic(os.path.join(root, "meta", "esc50.csv"), text.getvalue())


def _move_into_place(tmp: str, output_dir: str, replace: bool) -> None:
    """Renames the finished set `tmp` to `output_dir` (an empty folder there is removed first; a
    previous set is renamed aside, then deleted once the new one is in place)."""
    old = None
    if os.path.isdir(output_dir):
        if replace:
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.old-", dir=os.path.dirname(output_dir))
            os.rename(output_dir, os.path.join(old, "set"))
        else:
            os.rmdir(output_dir)  # empty (checked); fails, leaving it untouched, if something appeared since
    os.rename(tmp, output_dir)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
