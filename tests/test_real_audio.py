"""The real-audio probe set (data_tools.real_audio): MIDI writer, class plan and fold rule, layout.

Most tests are pure Python and always run: the SMF writer is checked byte by byte against the
SMF 1.0 layout and parsed back by the small independent reader below; the fold rule is checked
on the clip plan; the ESC-50 writer runs with the two renderers replaced by fakes. The tests
marked `needs_tools` render with the real `fluidsynth` + GM SoundFont + `espeak-ng` and are
skipped, with the install command as the reason, where those are absent (CI).
"""

from __future__ import annotations

import csv
import os
import re
import wave
from collections import defaultdict
from typing import List, Tuple

import numpy as np
import pytest

from data_tools.real_audio import instrument_set as ras
from data_tools.real_audio import midi_file, phrases, render
from data_tools.real_audio.midi_file import MidiTrack, variable_length

MISSING = render.missing_tools()
needs_tools = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: {render.INSTALL_HINT}")


# --- an independent SMF reader (only what the spec says; accepts running status) ---------------

def read_smf(data: bytes) -> Tuple[Tuple[int, int, int], List[List[Tuple[int, bytes]]]]:
    """((format, ntrks, division), [[(absolute tick, event bytes incl. status)] per track])."""
    assert data[:4] == b"MThd"
    length = int.from_bytes(data[4:8], "big")
    fmt, ntrks, division = (int.from_bytes(data[8 + 2 * i:10 + 2 * i], "big") for i in range(3))
    pos, tracks = 8 + length, []
    for _ in range(ntrks):
        assert data[pos:pos + 4] == b"MTrk"
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
        pos, tick, status, events = pos + 8, 0, None, []
        while pos < end:
            delta = 0
            while True:
                byte = data[pos]
                pos += 1
                delta = (delta << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    break
            tick += delta
            if data[pos] & 0x80:
                status = data[pos]
                pos += 1
            if status == 0xFF:
                kind, size = data[pos], data[pos + 1]  # meta lengths here are < 128
                events.append((tick, bytes((0xFF, kind, size)) + data[pos + 2:pos + 2 + size]))
                pos += 2 + size
            else:
                size = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
                events.append((tick, bytes((status,)) + data[pos:pos + size]))
                pos += size
        assert pos == end, "track length field does not match its events"
        assert events[-1][1] == b"\xff\x2f\x00", "a track must end with End of Track"
        tracks.append(events)
    assert pos == len(data)
    return (fmt, ntrks, division), tracks


# --- the MIDI writer ------------------------------------------------------------------------------

VLQ = {  # examples of the SMF 1.0 specification
    0x00: "00", 0x40: "40", 0x7F: "7F", 0x80: "81 00", 0x2000: "C0 00", 0x3FFF: "FF 7F",
    0x4000: "81 80 00", 0x100000: "C0 80 00", 0x1FFFFF: "FF FF 7F", 0x200000: "81 80 80 00",
    0x08000000: "C0 80 80 00", 0x0FFFFFFF: "FF FF FF 7F",
}


@pytest.mark.parametrize("value,encoded", VLQ.items())
def test_variable_length_quantities_match_the_spec(value, encoded):
    assert variable_length(value) == bytes.fromhex(encoded)


def test_variable_length_out_of_range():
    for value in (-1, 0x10000000):
        with pytest.raises(ValueError):
            variable_length(value)


def test_two_note_file_byte_layout():
    track = MidiTrack()
    track.note(0, 480, 0, 60, 100)
    track.note(480, 480, 0, 64, 90)
    expected = bytes.fromhex(
        "4D546864 00000006 0000 0001 01E0"  # MThd, length 6, format 0, one track, 480 ticks per quarter
        "4D54726B 0000001D"                  # MTrk, 29 bytes of events
        "00 FF5103 075300"                   # tempo 480,000 us per quarter (1 tick = 1 ms)
        "00 903C64"                          # note on C4, velocity 100
        "8360 803C40"                        # 480 ticks later: note off C4 (before the next note on)
        "00 90405A"                          # note on E4, velocity 90
        "8360 804040"                        # note off E4
        "00 FF2F00")                         # end of track
    assert track.to_bytes() == expected
    header, tracks = read_smf(expected)
    assert header == (0, 1, 480)
    assert [tick for tick, _ in tracks[0]] == [0, 0, 480, 480, 960, 960]
    assert midi_file.TICKS_PER_SECOND == 1000


def test_random_track_round_trips_through_an_independent_reader():
    rng = np.random.default_rng(0)
    track, expected = MidiTrack(), []
    for _ in range(200):
        tick, channel = int(rng.integers(0, 100000)), int(rng.integers(0, 16))
        kind = rng.integers(0, 3)
        if kind == 0:
            duration, key, velocity = int(rng.integers(1, 3000)), int(rng.integers(0, 128)), int(rng.integers(1, 128))
            track.note(tick, duration, channel, key, velocity)
            expected += [(tick, bytes((0x90 | channel, key, velocity))),
                         (tick + duration, bytes((0x80 | channel, key, 64)))]
        elif kind == 1:
            controller, value = int(rng.integers(0, 128)), int(rng.integers(0, 128))
            track.control(tick, channel, controller, value)
            expected.append((tick, bytes((0xB0 | channel, controller, value))))
        else:
            program = int(rng.integers(0, 128))
            track.program(tick, channel, program)
            expected.append((tick, bytes((0xC0 | channel, program))))
    track.end(200000)
    data = track.to_bytes()
    assert data == track.to_bytes()  # deterministic
    _, (events,) = read_smf(data)
    assert events[0] == (0, b"\xff\x51\x03\x07\x53\x00")
    assert events[-1] == (200000, b"\xff\x2f\x00")
    body = events[1:-1]
    assert sorted(body) == sorted(expected)
    assert [t for t, _ in body] == sorted(t for t, _ in body)


def test_same_tick_order_controls_then_note_offs_then_note_ons():
    track = MidiTrack()
    track.note(100, 50, 0, 60, 80)   # on at 100, off at 150
    track.note(150, 50, 0, 60, 80)   # the same key struck again at 150
    track.control(150, 0, 7, 100)
    _, (events,) = read_smf(track.to_bytes())
    at_150 = [e for t, e in events if t == 150]
    assert at_150 == [bytes((0xB0, 7, 100)), bytes((0x80, 60, 64)), bytes((0x90, 60, 80))]


@pytest.mark.parametrize("call", [
    lambda t: t.note(0, 0, 0, 60, 100), lambda t: t.note(0, 10, 16, 60, 100), lambda t: t.note(0, 10, 0, 128, 100),
    lambda t: t.note(0, 10, 0, 60, 0), lambda t: t.control(0, 0, 128, 0), lambda t: t.program(0, 0, 128),
    lambda t: t.note(-1, 10, 0, 60, 100)])
def test_invalid_events_raise(call):
    with pytest.raises(ValueError):
        call(MidiTrack())


# --- the class plan and the fold rule ----------------------------------------------------------------

FILENAME = re.compile(r"^([1-5])-(\d+)-([A-Z]+)-(\d+)\.wav$")


def test_plan_layout_counts_and_names():
    clips = ras.plan_clips(40)
    assert len(clips) == 40 * len(ras.CATEGORIES) == 480
    assert len({c.filename for c in clips}) == len(clips)
    per = defaultdict(int)
    for c in clips:
        fold, src, take, target = FILENAME.match(c.filename).groups()
        assert (int(fold), int(src), take, int(target)) == (c.fold, c.src_file, c.take, c.target)
        per[c.target, c.fold] += 1
    assert set(per.values()) == {8}
    assert len(ras.CATEGORIES) == 12 and ras.CATEGORIES[-2:] == ("drum_kit", "speech")


@pytest.mark.parametrize("clips_per_class", [5, 13, 40, 80])
def test_no_cell_spans_two_folds(clips_per_class):
    """The no-leak rule: a source cell (program+register, kit+groove, speech voice) and a src_file
    live in exactly one fold; takes of a src_file are unique; speech sentence groups and voices too."""
    clips = ras.plan_clips(clips_per_class)
    fold_of_src, fold_of_cell, takes = {}, {}, defaultdict(set)
    for c in clips:
        assert fold_of_src.setdefault(c.src_file, c.fold) == c.fold
        assert fold_of_cell.setdefault((c.target, c.group, c.cell), c.fold) == c.fold
        assert c.take not in takes[c.src_file]
        takes[c.src_file].add(c.take)
        if c.target < ras.SPEECH_TARGET:
            assert (c.group + c.cell) % ras.NUM_FOLDS + 1 == c.fold
        else:
            assert c.group % ras.NUM_FOLDS + 1 == c.fold and c.cell == 0
    assert len(fold_of_src) == len(fold_of_cell)  # src_file names the cell, one to one


def test_every_fold_plays_every_program_in_its_own_register():
    clips = ras.plan_clips(40)
    for target, family in enumerate(ras.PLAN):
        for fold in range(1, 6):
            groups = {c.group for c in clips if c.target == target and c.fold == fold}
            assert groups == set(range(len(family.programs))), family.name
        registers = defaultdict(set)
        for c in clips:
            if c.target == target:
                registers[c.group].add((c.cell, c.fold))
        for group, pairs in registers.items():
            assert len({r for r, _ in pairs}) == len(pairs) == 5  # 5 registers of a program in 5 folds


def test_registers_are_disjoint_and_cover_the_range():
    for family in ras.PLAN:
        for program in family.programs:
            registers = [program.register(r) for r in range(ras.NUM_REGISTERS)]
            keys = [k for low, high in registers for k in range(low, high + 1)]
            assert keys == list(range(program.low, program.high + 1)), program.name
            assert min(high - low + 1 for low, high in registers) >= 4, program.name
    numbers = [p.number for f in ras.PLAN for p in f.programs]
    assert len(numbers) == len(set(numbers)) and all(0 <= n < 128 for n in numbers)


def test_speech_folds_have_disjoint_voices_and_sentences():
    clips = [c for c in ras.plan_clips(40) if c.target == ras.SPEECH_TARGET]
    voices = defaultdict(set)
    for c in clips:
        voices[c.fold].add(ras.VOICE_VARIANTS[c.group])
    assert all(len(v) == 4 for v in voices.values())
    assert len(set().union(*voices.values())) == 20
    sentences = [s for group in phrases.SENTENCES for s in group]
    assert len(phrases.SENTENCES) == 5 and len(sentences) == len(set(sentences))


def test_plan_rejects_no_clips():
    with pytest.raises(ValueError, match="clips_per_class"):
        ras.plan_clips(0)


def test_clip_midi_plays_each_clip_in_its_slot_and_register():
    clips = [c for c in ras.plan_clips(10) if c.target in (0, ras.DRUM_TARGET)]
    for target in (0, ras.DRUM_TARGET):
        batch = [c for c in clips if c.target == target]
        data = ras.clip_midi(batch, seed=4)
        assert data == ras.clip_midi(batch, seed=4) != ras.clip_midi(batch, seed=5)
        _, (events,) = read_smf(data)
        slot_ms, clip_ms = int(ras.SLOT_SECONDS * 1000), int(ras.CLIP_SECONDS * 1000)
        assert events[-1][0] == len(batch) * slot_ms
        for i, clip in enumerate(batch):
            mine = [(t - i * slot_ms, e) for t, e in events if i * slot_ms <= t < (i + 1) * slot_ms]
            programs = [e[1] for t, e in mine if e[0] & 0xF0 == 0xC0]
            ons = [(t, e[1]) for t, e in mine if e[0] & 0xF0 == 0x90]
            offs = [t for t, e in mine if e[0] & 0xF0 == 0x80]
            assert len(ons) >= 2 and max(offs) <= phrases.PHRASE_END * 1000 + 1
            assert min(t for t, _ in ons) >= ras.START_RANGE[0] * 1000 - 20
            assert (clip_ms, bytes((mine[-1][1][0], 120, 0))) == mine[-1]  # all sound off at 5 s
            if target == ras.DRUM_TARGET:
                assert programs == [ras.DRUM_KITS[clip.group][0]]
                assert all(e[0] & 0x0F == midi_file.DRUM_CHANNEL for _, e in mine if e[0] < 0xF0)
            else:
                program = ras.PLAN[target].programs[clip.group]
                low, high = program.register(clip.cell)
                assert programs == [program.number]
                assert all(low <= key <= high for _, key in ons)


def test_phrases_are_several_notes_inside_the_clip():
    for seed in range(50):
        rng = np.random.default_rng(seed)
        family = ras.PLAN[seed % len(ras.PLAN)]
        notes = phrases.melodic_phrase(rng, family.style, 60, 71, 0.3)
        assert len({n.start for n in notes}) >= 2
        assert all(60 <= n.key <= 71 and 1 <= n.velocity <= 127 for n in notes)
        assert all(0.2 <= n.start and n.start + n.duration <= phrases.PHRASE_END + 1e-9 for n in notes)
        groove = phrases.drum_groove(rng, ras.GROOVES[seed % 5], 0.3)
        assert len(groove) >= 4 and all(n.start < phrases.PHRASE_END for n in groove)


# --- missing tools ---------------------------------------------------------------------------------

def test_missing_tools_are_named_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth, no espeak-ng
    missing = render.missing_tools()
    assert "fluidsynth" in missing and "espeak-ng" in missing
    assert render.missing_tools(str(tmp_path / "none.sf2"))[1] == f"SoundFont {tmp_path / 'none.sf2'}"
    out = tmp_path / "set"
    with pytest.raises(render.MissingToolError) as e:
        ras.generate_real_audio_set(str(out), 0, clips_per_class=5)
    message = str(e.value)
    assert "\n" not in message and "fluidsynth" in message and "espeak-ng" in message
    assert "apt-get install fluidsynth fluid-soundfont-gm espeak-ng" in message and "make real-audio-deps" in message
    assert isinstance(e.value, OSError)
    assert not out.exists() and os.listdir(tmp_path) == []


def test_a_missing_soundfont_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: f"/usr/bin/{name}")  # both tools "installed"
    with pytest.raises(render.MissingToolError, match=r"^--soundfont .*none\.sf2: no such file"):
        render.require_tools(str(tmp_path / "none.sf2"))
    sf2 = tmp_path / "my.sf2"
    sf2.write_bytes(b"sfbk")
    assert render.missing_tools(str(sf2)) == [] and render.require_tools(str(sf2)) == str(sf2)


# --- the writer, with fake renderers (always runs) -------------------------------------------------

@pytest.fixture
def fake_renderers(monkeypatch, tmp_path):
    """fluidsynth and espeak-ng replaced by seeded noise bursts; a fake SoundFont file."""
    sf2 = tmp_path / "fake.sf2"
    sf2.write_bytes(b"sfbk")

    def render_midi(midi, soundfont, seconds):
        rng = np.random.default_rng(list(midi[-64:]))
        out = np.zeros(int(round(seconds * render.SAMPLE_RATE)), np.float32)
        _, (events,) = read_smf(midi)
        for tick, event in events:
            if event[0] & 0xF0 == 0x90:
                at = int(tick / 1000 * render.SAMPLE_RATE)
                out[at:at + 2000] += rng.standard_normal(len(out[at:at + 2000])).astype(np.float32) * 0.1
        return out

    def speak(text, voice, wpm, pitch):
        return np.sin(np.arange(len(text) * 1500) * 0.05 * (1 + pitch / 100)).astype(np.float32) * 0.3

    monkeypatch.setattr(render, "require_tools", lambda soundfont=None: str(sf2))
    monkeypatch.setattr(render, "tool_versions", lambda: {"fluidsynth": "fake 1", "espeak-ng": "fake 2"})
    monkeypatch.setattr(render, "espeak_voices", lambda: (set(ras.ACCENTS), set(ras.VOICE_VARIANTS)))
    monkeypatch.setattr(render, "render_midi", render_midi)
    monkeypatch.setattr(render, "speak", speak)
    return sf2


def _files(root) -> dict:
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def _check_layout(root: str, clips_per_class: int) -> None:
    from l3net.evaluation.sound_datasets import read_esc50

    with open(os.path.join(root, "meta", "esc50.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == ras.COLUMNS
    assert rows[1:] == sorted(rows[1:])
    assert sorted(os.listdir(os.path.join(root, "audio"))) == sorted(r[0] for r in rows[1:])
    for name, fold, target, category, esc10, src, take in rows[1:]:
        assert FILENAME.match(name).groups() == (fold, src, take, target)
        assert category == ras.CATEGORIES[int(target)] and esc10 == str(int(target) < ras.DRUM_TARGET)
        with wave.open(os.path.join(root, "audio", name)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (44100, 1, 2, 220500)
    dataset = read_esc50(root)
    assert dataset.class_names == list(ras.CATEGORIES)
    assert len(dataset.paths) == clips_per_class * 12 and len(dataset.folds) == 5


def test_writer_layout_with_fake_renderers(fake_renderers, tmp_path):
    out = str(tmp_path / "set")
    summary = ras.generate_real_audio_set(out, 1, clips_per_class=5)
    assert summary.clips == 60 and not summary.reused and "60 real-audio clips" in str(summary)
    _check_layout(out, 5)
    assert sorted(os.listdir(tmp_path)) == ["fake.sf2", "set"]  # no temporary folder left
    again = ras.generate_real_audio_set(out, 1, clips_per_class=5)
    assert again.reused and "reused" in str(again)
    first = _files(out)
    ras.generate_real_audio_set(str(tmp_path / "copy"), 1, clips_per_class=5)
    assert _files(str(tmp_path / "copy")) == first
    ras.generate_real_audio_set(out, 2, clips_per_class=5)  # another set there is replaced
    assert _files(out) != first and sorted(os.listdir(tmp_path)) == ["copy", "fake.sf2", "set"]


def test_writer_failure_leaves_no_partial_set(fake_renderers, tmp_path, monkeypatch):
    out = tmp_path / "set"
    ras.generate_real_audio_set(str(out), 1, clips_per_class=5)
    before = _files(str(out))

    def broken(midi, soundfont, seconds):
        raise render.RenderError("fluidsynth: exit status 1: boom")

    monkeypatch.setattr(render, "render_midi", broken)
    with pytest.raises(render.RenderError, match="boom"):
        ras.generate_real_audio_set(str(out), 9, clips_per_class=5)
    assert _files(str(out)) == before and sorted(os.listdir(tmp_path)) == ["fake.sf2", "set"]
    with pytest.raises(render.RenderError):
        ras.generate_real_audio_set(str(tmp_path / "new"), 9, clips_per_class=5)
    assert not (tmp_path / "new").exists() and sorted(os.listdir(tmp_path)) == ["fake.sf2", "set"]


def test_writer_removes_what_a_killed_run_left(fake_renderers, tmp_path):
    for name in (".set.partial-x1y2", ".set.old-abc", ".other.partial-x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.wav").write_bytes(b"RIFF")
    ras.generate_real_audio_set(str(tmp_path / "set"), 0, clips_per_class=5)
    assert sorted(os.listdir(tmp_path)) == [".other.partial-x", "fake.sf2", "set"]


def test_writer_refuses_a_foreign_folder(fake_renderers, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and holds no real_audio.json"):
        ras.generate_real_audio_set(str(tmp_path / "mine"), 0, clips_per_class=5)
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    ras.generate_real_audio_set(str(tmp_path / "empty"), 0, clips_per_class=5)
    _check_layout(str(tmp_path / "empty"), 5)


# --- with the real renderers ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("real_audio") / "set")
    return root, ras.generate_real_audio_set(root, 3, clips_per_class=5)


@needs_tools
@pytest.mark.slow
def test_real_set_layout_and_levels(real_set):
    root, summary = real_set
    assert summary.clips == 60 and set(summary.tools) == {"fluidsynth", "espeak-ng"}
    _check_layout(root, 5)
    for name in os.listdir(os.path.join(root, "audio")):
        with wave.open(os.path.join(root, "audio", name)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
        rms_db, peak = 20 * np.log10(np.sqrt(np.mean(x ** 2))), np.max(np.abs(x))
        assert -40 < rms_db < -15 and 0.01 < peak < 0.9, (name, rms_db, peak)
        frames = x[:220500 // 2205 * 2205].reshape(-1, 2205)
        assert np.mean(np.sqrt(np.mean(frames ** 2, axis=1)) > 10 ** (-50 / 20)) > 0.1, name  # not mostly silent


@needs_tools
@pytest.mark.slow
def test_real_set_is_deterministic(real_set, tmp_path):
    root, _ = real_set
    ras.generate_real_audio_set(str(tmp_path / "again"), 3, clips_per_class=5)
    assert _files(str(tmp_path / "again")) == _files(root)


@needs_tools
def test_fluidsynth_renders_a_note_where_the_midi_puts_it():
    track = MidiTrack()
    track.program(0, 0, 0)
    track.note(500, 300, 0, 69, 100)  # A4 at 0.5 s
    track.end(1500)
    audio = render.render_midi(track.to_bytes(), render.find_soundfont(), 1.5)
    assert audio.shape == (66150,) and audio.dtype == np.float32
    onset = np.argmax(np.abs(audio) > 1e-3) / render.SAMPLE_RATE
    assert 0.49 < onset < 0.53
    spectrum = np.abs(np.fft.rfft(audio[int(0.55 * 44100):int(0.75 * 44100)]))
    assert abs(np.argmax(spectrum) * 44100 / (0.2 * 44100) - 440) < 10  # the fundamental is 440 Hz


@needs_tools
def test_espeak_speaks_at_44k():
    audio = render.speak("Hello there.", "en-gb+f3", 160, 50)
    assert audio.dtype == np.float32 and 0.5 < len(audio) / render.SAMPLE_RATE < 3
    assert np.max(np.abs(audio)) > 0.05
