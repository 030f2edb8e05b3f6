"""Physics of the sound world's instruments and voice (`data_tools.synthetic.sounds`).

Each test drives one timbre with a hand-made motion (known event times or amplitude curve) and
checks a property a listener would name, measured from the spectrum: mallet notes on a scale with
a bar's inharmonic modes, a drum's Bessel-mode partials, a clarinet's odd harmonics, brass that
brightens as it gets louder, a new note per bowed or blown stroke, a voice with a pitch and
syllables. Also: the rich world's scene coupling of backdrop and background texture, and that
the basic world (the default) still makes exactly the videos and clips it made before the rich
world existed (values recorded from commit eec2dcd).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from data_tools.synthetic.motions import Motion
from data_tools.synthetic.dcase2013 import render_scene
from data_tools.synthetic.esc50 import categories, render_clip
from data_tools.synthetic.scenes import BACKGROUNDS, SCENE_LOOKS, plan_scene
from data_tools.synthetic.sound_world import DEFAULT_WORLD, WORLDS, get_world
from data_tools.synthetic.soundtrack import render_soundtrack
from data_tools.synthetic.sounds import render_source

SR = 44100
# Every interval (semitones mod 12) that one of the generator's scales contains.
SCALE_STEPS = {0, 2, 3, 4, 5, 7, 8, 9, 10, 11}
BAR_RATIOS = (2.76, 3.0, 3.99, 4.0)  # Second mode of each struck-bar material.
RICH = get_world("rich")


class EventMotion(Motion):
    """Sound events at fixed times, full gain."""

    def __init__(self, events):
        self.events = np.asarray(events, float)
        self.gains = np.ones(len(self.events))


class CurveMotion(Motion):
    """A continuous sounder with a given amplitude curve amp(t) and pitch factor 1."""

    continuous = True

    def __init__(self, amp):
        self.amp = amp
        self.events = np.zeros(0)
        self.gains = np.zeros(0)

    def audio_control(self, t):
        return self.amp(t), np.ones_like(t)


def _spectrum(x, start, seconds):
    seg = x[int(start * SR):int((start + seconds) * SR)]
    mag = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8 * len(seg)))
    return np.fft.rfftfreq(8 * len(seg), 1.0 / SR), mag


def _peak(freqs, mag, lo, hi):
    band = (freqs >= lo) & (freqs < hi)
    i = np.argmax(mag[band])
    return freqs[band][i], mag[band][i]


def _render(name, motion, pitch, seconds, seed=0):
    return render_source(RICH.by_name[name], motion, np.random.default_rng(seed), SR, seconds, pitch)


def _semitones(f, ref):
    return 12 * np.log2(f / ref)


def _assert_scale_notes(freqs, tonic, tolerance):
    """Each frequency is a whole number of semitones from `tonic` (within `tolerance`), on a scale."""
    steps = _semitones(np.asarray(freqs), tonic)
    assert np.all(np.abs(steps - np.round(steps)) < tolerance), steps
    assert {int(s) % 12 for s in np.round(steps)} <= SCALE_STEPS, steps


@pytest.mark.parametrize("seed", range(4))
def test_mallet_notes_are_on_a_scale_with_a_bar_overtone(seed):
    pitch = 300.0
    events = [0.1, 0.9, 1.7, 2.5]
    x = _render("marimba", EventMotion(events), pitch, 3.3, seed)
    fundamentals = []
    for t in events:
        freqs, mag = _spectrum(x, t + 0.03, 0.25)
        f0, a0 = _peak(freqs, mag, 100.0, 1300.0)
        fundamentals.append(f0)
        # The strongest overtone above 2 f0 sits at one of the bar materials' mode ratios.
        f1, a1 = _peak(freqs, mag, 2.3 * f0, 12 * f0)
        assert a1 > 1e-3 * a0
        assert min(abs(f1 / f0 - r) / r for r in BAR_RATIOS) < 0.02, (f0, f1)
    _assert_scale_notes(fundamentals, pitch, 0.25)


@pytest.mark.parametrize("seed", range(3))
def test_drum_partials_are_membrane_modes_not_harmonics(seed):
    pitch = 120.0
    x = _render("drum", EventMotion([0.1]), pitch, 1.0, seed)
    freqs, mag = _spectrum(x, 0.25, 0.4)  # After the tension pitch drop has settled.
    f0, a0 = _peak(freqs, mag, 80.0, 160.0)
    assert abs(f0 / pitch - 1) < 0.05
    f1, a1 = _peak(freqs, mag, 1.45 * f0, 1.75 * f0)
    assert abs(f1 / f0 - 1.59) < 0.03 and a1 > 0.05 * a0
    _, harmonic = _peak(freqs, mag, 1.95 * f0, 2.05 * f0)  # Nothing special at 2 f0 (a string's).
    assert harmonic < a1


@pytest.mark.parametrize("seed", range(3))
def test_clarinet_odd_harmonics_dominate(seed):
    x = _render("clarinet", CurveMotion(lambda t: np.ones_like(t)), 220.0, 1.5, seed)
    freqs, mag = _spectrum(x, 0.5, 0.8)
    f0, _ = _peak(freqs, mag, 150.0, 700.0)
    level = {k: _peak(freqs, mag, (k - 0.1) * f0, (k + 0.1) * f0)[1] for k in range(1, 7)}
    assert min(level[3], level[5]) > 2.0 * max(level[2], level[4]), level


def _centroid(x, start, seconds):
    freqs, mag = _spectrum(x, start, seconds)
    return float(np.sum(freqs * mag ** 2) / np.sum(mag ** 2))


@pytest.mark.parametrize("seed", range(3))
def test_brass_gets_brighter_as_it_gets_louder(seed):
    loud_after = 1.2
    x = _render("horn", CurveMotion(lambda t: np.where(t < loud_after, 0.3, 1.0)), 150.0, 2.4, seed)
    quiet, loud = _centroid(x, 0.4, 0.7), _centroid(x, loud_after + 0.4, 0.7)
    assert loud > 1.3 * quiet, (quiet, loud)


@pytest.mark.parametrize("name,seed", [("clarinet", 0), ("clarinet", 1), ("violin", 0), ("horn", 0)])
def test_each_stroke_plays_a_scale_note_held_for_the_stroke(name, seed):
    """Amplitude strokes of 0.5 s with 0.2 s gaps: one pitch per stroke, on a scale."""
    pitch = 220.0
    starts = np.arange(5) * 0.7 + 0.1

    def strokes(t):
        return (np.isin(np.floor((t - 0.1) / 0.7), np.arange(5)) & (np.mod(t - 0.1, 0.7) < 0.5)).astype(float)

    x = _render(name, CurveMotion(strokes), pitch, 3.7, seed)
    notes = []
    for s in starts:
        halves = []
        for offset in (0.12, 0.3):
            freqs, mag = _spectrum(x, s + offset, 0.16)
            # The fundamental: the lowest spectral peak within 20 dB of the strongest below 2 kHz.
            band = np.flatnonzero((freqs > 80.0) & (freqs < 2000.0))
            m = mag[band]
            peaks = np.flatnonzero((m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:]) & (m[1:-1] > 0.1 * m.max())) + 1
            halves.append(freqs[band[peaks[0]]])
        assert abs(_semitones(halves[1], halves[0])) < 0.35  # Held (vibrato aside).
        notes.append(halves[0])
    _assert_scale_notes(notes, pitch, 0.35)


@pytest.mark.parametrize("seed", range(3))
def test_voice_has_a_pitch_and_follows_the_mouth(seed):
    pitch = 140.0
    rate = 4.0

    def mouth(t):  # As motions.Pulse opens and closes the talker's face.
        return 0.04 + 0.96 * (0.5 - 0.5 * np.cos(2 * np.pi * rate * t)) ** 1.5

    x = _render("talker", CurveMotion(mouth), pitch, 3.0, seed)
    # Pitch: the real cepstrum's peak (robust to the formants) in 60 ms at each mouth opening.
    estimates = []
    lo, hi = int(SR / 400), int(SR / 60)
    for k in range(2, 10):
        centre = (k + 0.5) / rate
        seg = x[int((centre - 0.03) * SR):int((centre + 0.03) * SR)]
        cepstrum = np.fft.irfft(np.log(np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8192)) + 1e-9))
        estimates.append(SR / (lo + np.argmax(cepstrum[lo:hi])))
    assert 0.75 * pitch < np.median(estimates) < 1.33 * pitch, estimates
    # Loudness follows the mouth opening (syllables).
    hop = int(0.01 * SR)
    t = (np.arange(len(x) // hop) + 0.5) * hop / SR
    rms = np.sqrt(np.mean(x[:len(t) * hop].reshape(-1, hop) ** 2, axis=1))
    assert np.corrcoef(rms, mouth(t))[0, 1] > 0.6


@pytest.mark.parametrize("cls", RICH.classes, ids=lambda c: c.name)
def test_every_class_sounds_with_unit_active_level(cls):
    from data_tools.synthetic.motions import default_region, make_motion

    rng = np.random.default_rng(4)
    motion = make_motion(cls.motion, rng, 3.0, default_region(), 0.2, float(np.mean(cls.rate_hz)))
    x = render_source(cls, motion, rng, 22050, 3.0, float(np.sqrt(np.prod(cls.pitch_hz))))
    assert x.shape == (66150,) and np.isfinite(x).all()
    blocks = np.sort(np.mean(x[:66150 // 1102 * 1102].reshape(-1, 1102) ** 2, axis=1))
    assert abs(np.sqrt(np.mean(blocks[-len(blocks) // 5:])) - 1.0) < 0.05


def test_rich_backdrop_shows_the_background_texture_s_place():
    scenes = [plan_scene(5, i, 160, 120, 1.0, world="rich") for i in range(600)]
    matched = np.mean([s.background == SCENE_LOOKS[s.texture] for s in scenes])
    expected = RICH.scene_look_prob + (1 - RICH.scene_look_prob) / len(BACKGROUNDS)
    assert abs(matched - expected) < 0.05, matched
    assert set(Counter(s.texture for s in scenes)) == set(SCENE_LOOKS)
    others = [s.background for s in scenes if s.background != SCENE_LOOKS[s.texture]]
    assert len(set(others)) == len(BACKGROUNDS)
    basic = [plan_scene(5, i, 160, 120, 1.0) for i in range(600)]
    assert abs(np.mean([s.background == SCENE_LOOKS[s.texture] for s in basic]) - 1 / len(BACKGROUNDS)) < 0.05


def test_rich_world_extends_the_basic_one():
    basic, rich = WORLDS["basic"], RICH
    assert rich.class_names[:len(basic.classes)] == basic.class_names and len(rich.classes) == 16
    assert len(set(rich.class_names)) == 16 and len({c.shape for c in rich.classes}) == 16
    assert categories("rich")[:16] == rich.class_names and len(categories("rich")) == 21
    primaries = Counter(plan_scene(1, i, 160, 120, 1.0, 0.0, "rich").objects[0].cls.name for i in range(64))
    assert set(primaries) == set(rich.class_names) and max(primaries.values()) == 4
    with pytest.raises(ValueError, match="world='tiny'.*basic, rich"):
        get_world("tiny")
    from l3net import demo

    assert demo.SOUND_WORLDS == tuple(WORLDS) and demo.SOUND_WORLDS[0] == DEFAULT_WORLD


def test_rich_scenes_and_clips_use_the_new_sources():
    """A rich restaurant has a talker in it; the basic one cannot (no such class)."""
    rng_seed = [0, 2013, 6, 1]
    rich = render_scene("restaurant", np.random.default_rng(rng_seed), 2.0, "rich")
    basic = render_scene("restaurant", np.random.default_rng(rng_seed), 2.0)
    assert rich.shape == basic.shape and not np.allclose(rich, basic)
    clip = render_clip("talker", np.random.default_rng(3), "rich")
    assert clip.shape == (1, 220500) and np.isfinite(clip).all()
    with pytest.raises(KeyError):
        render_clip("talker", np.random.default_rng(3))


def test_basic_world_is_unchanged():
    """Recorded from the generator before the rich world existed (commit eec2dcd)."""
    plans = [plan_scene(3, i, 160, 120, 1.5) for i in range(4)]
    assert [[o.cls.name for o in p.objects] for p in plans] == [
        ["fan"], ["pulsar", "bird"], ["buzzer", "fan", "whistle"], ["bird", "fan", "bell", "clock"]]
    assert [(p.background, p.texture, p.render_seed) for p in plans] == [
        ("gradient", "crowd", 444939645), ("gradient", "rain", 1639630341), ("tiles", "wind", 978971633),
        ("stripes", "rain", 381124960)]
    np.testing.assert_allclose([p.texture_db for p in plans], [-18.658376, -27.513082, -19.943912, -15.23108],
                               atol=1e-6)
    track = render_soundtrack(plans[1])
    np.testing.assert_allclose(track[0, 1000:1004], [0.02610752359, 0.01469761226, -0.00666420627, -0.01269818842],
                               rtol=1e-5, atol=1e-7)
    clip = render_clip("bell", np.random.default_rng([0, 50, 1, 0]))
    np.testing.assert_allclose(clip[0, 50000:50003], [0.13222125173, 0.16762588918, 0.19185441733], rtol=1e-5)
    scene = render_scene("park", np.random.default_rng([0, 2013, 4, 1]), 2.0)
    np.testing.assert_allclose(scene[0, 30000:30003], [-0.02421518974, -0.02427194268, -0.02235047333], rtol=1e-5)


def test_demo_refuses_an_unknown_world_on_one_line(run_cli, tmp_path, capsys):
    from l3net import demo

    assert run_cli(demo, ["l3net_demo", "--world=tiny", f"--workdir={tmp_path / 'w'}"], "l3net_demo") == 2
    err = capsys.readouterr().err.strip()
    assert err == "l3net_demo: error: --world=tiny: unknown; known: basic, rich"
    assert not (tmp_path / "w").exists()
