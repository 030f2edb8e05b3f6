"""Tests of the synthetic sound world (`data_tools.synthetic`): real files, decoded back with PyAV.

One module-scoped dataset of short videos (generated with 2 workers and decoded once) serves the
layout, decodability, balance, annotation and shallow-cue tests; determinism regenerates a
prefix of it with 1 worker.
"""

from __future__ import annotations

import csv
import json
import os
import re

import av
import numpy as np
import pytest

from data_tools.synthetic import generate_dcase2013, generate_esc50, generate_videos
from data_tools.synthetic.esc50 import render_clip
from data_tools.synthetic.frames import render_background
from data_tools.synthetic.scenes import class_for_index, plan_scene
from data_tools.synthetic.sound_world import CLASS_NAMES, TEXTURES
from data_tools.synthetic.soundtrack import render_soundtrack

SEED = 3
NUM_VIDEOS = 150  # 15 per class: enough held-out videos for the shallow-cue test.
MAX_SECONDS = 1.5
BAND_EDGES = np.geomspace(60.0, 10000.0, 25)
IMPULSIVE = {"ball", "bell", "string", "bird", "hammer", "clock"}


def _decode(path):
    """-> (frames uint8 [N, H, W, 3], fps, audio float32 [C, S], sample_rate)."""
    with av.open(path) as container:
        vstream = container.streams.video[0]
        fps = float(vstream.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(path) as container:
        sample_rate = container.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, fps, audio, sample_rate


def _band_features(mono, sr):
    """Loudness-free spectral shape: mean/std/90th pct of log band energies (24 bands)."""
    win = 1024 if sr < 30000 else 2048
    frames = np.lib.stride_tricks.sliding_window_view(mono, win)[::win // 2] * np.hanning(win)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(win, 1.0 / sr)
    bands = np.stack([spec[:, (freqs >= lo) & (freqs < hi)].sum(1)
                      for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])], axis=1)
    logb = np.log(bands + 1e-10)
    logb -= logb.mean()
    return np.concatenate([logb.mean(0), logb.std(0), np.percentile(logb, 90, axis=0)])


def _hue_histogram(frames):
    """Share of each of 12 hue bins among saturated pixels (sat > 0.35); frames [N, H, W, 3]."""
    px = frames[::3, ::2, ::2].reshape(-1, 3).astype(np.float32) / 255.0
    top, low = px.max(1), px.min(1)
    chroma = top - low + 1e-6
    r, g, b = px.T
    hue = np.where(top == r, ((g - b) / chroma) % 6,
                   np.where(top == g, (b - r) / chroma + 2, (r - g) / chroma + 4)) / 6
    saturated = chroma / (top + 1e-6) > 0.35
    hist = np.histogram(hue[saturated], bins=12, range=(0.0, 1.0))[0].astype(np.float64)
    return hist / max(hist.sum(), 1.0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """~13 s on 2 cores: every test that uses it is marked slow, so `-m "not slow"` never builds it."""
    out = str(tmp_path_factory.mktemp("videos"))
    labels_csv = generate_videos(out, NUM_VIDEOS, SEED, workers=2, max_seconds=MAX_SECONDS)
    with open(labels_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "annotations.jsonl")) as f:
        notes = [json.loads(line) for line in f]
    decoded = []
    for row in rows:
        frames, fps, audio, sr = _decode(os.path.join(out, row["path"]))
        decoded.append({
            "num_frames": len(frames), "fps": fps, "sample_rate": sr, "channels": audio.shape[0],
            "audio_seconds": audio.shape[1] / sr, "mean_colour": frames.reshape(-1, 3).mean(0),
            "hues": _hue_histogram(frames),
            "rms": float(np.sqrt(np.mean(audio ** 2))), "bands": _band_features(audio.mean(0), sr),
            "height": frames.shape[1], "width": frames.shape[2],
        })
    return {"dir": out, "csv": labels_csv, "rows": rows, "notes": notes, "decoded": decoded}


@pytest.mark.slow
def test_layout_and_labels_csv(dataset):
    assert dataset["csv"] == os.path.join(dataset["dir"], "labels.csv")
    with open(dataset["csv"]) as f:
        assert f.readline().strip() == "path,labels"
    assert len(dataset["rows"]) == NUM_VIDEOS == len(dataset["notes"])
    for row, note in zip(dataset["rows"], dataset["notes"]):
        assert os.path.isfile(os.path.join(dataset["dir"], row["path"]))
        assert row["path"].startswith("videos/") and row["path"].endswith(".mp4")
        names = row["labels"].split(";")
        assert 1 <= len(names) <= 2 and set(names) <= set(CLASS_NAMES)
        assert note["path"] == row["path"] and note["labels"] == names
    leftovers = [n for n in os.listdir(dataset["dir"]) + os.listdir(os.path.join(dataset["dir"], "videos"))
                 if n.endswith(".tmp")]
    assert not leftovers


@pytest.mark.slow
def test_videos_decode_as_annotated(dataset):
    fps_seen, sr_seen, channels_seen = set(), set(), set()
    for note, dec in zip(dataset["notes"], dataset["decoded"]):
        assert (dec["width"], dec["height"]) == (160, 120)
        assert dec["num_frames"] == note["num_frames"] == len(note["frames"])
        assert abs(note["num_frames"] / note["fps"] - note["duration"]) < 1e-3
        assert dec["fps"] == pytest.approx(note["fps"])
        assert dec["sample_rate"] == note["sample_rate"] and dec["channels"] == note["channels"]
        # AAC pads the last 1024-sample frame; nothing else may be lost or added.
        exact = note["num_frames"] / note["fps"]
        assert 0 <= dec["audio_seconds"] - exact <= 1024 / note["sample_rate"] + 1e-6
        assert note["duration"] <= MAX_SECONDS + 1e-9
        fps_seen.add(note["fps"])
        sr_seen.add(note["sample_rate"])
        channels_seen.add(note["channels"])
    assert fps_seen == {12, 15, 24, 25, 30}
    assert sr_seen == {22050, 44100, 48000}
    assert channels_seen == {1, 2}


@pytest.mark.slow
def test_decoded_audio_is_the_rendered_soundtrack_without_delay(dataset):
    for index in range(4):
        note = dataset["notes"][index]
        _, _, audio, sr = _decode(os.path.join(dataset["dir"], note["path"]))
        scene = plan_scene(SEED, index, 160, 120, MAX_SECONDS)
        ref = render_soundtrack(scene)[0].astype(np.float64)
        got = audio[0, :len(ref)].astype(np.float64)
        lags = np.arange(-300, 301)
        core = slice(400, len(ref) - 400)
        xcorr = [np.dot(ref[core], got[400 + lag:len(ref) - 400 + lag]) for lag in lags]
        assert lags[int(np.argmax(xcorr))] == 0
        assert np.corrcoef(ref, got)[0, 1] > 0.9


@pytest.mark.slow
def test_classes_balanced_and_variety(dataset):
    primary = [row["labels"].split(";")[0] for row in dataset["rows"]]
    counts = np.array([primary.count(c) for c in CLASS_NAMES])
    assert counts.max() - counts.min() <= 1 and counts.sum() == NUM_VIDEOS
    two = np.mean([len(n["labels"]) == 2 for n in dataset["notes"]])
    assert 0.05 <= two <= 0.3
    offscreen = np.mean([any(not o["onscreen"] for o in n["objects"]) for n in dataset["notes"]])
    distractor = np.mean([any(not o["sounding"] for o in n["objects"]) for n in dataset["notes"]])
    assert 0.08 <= offscreen <= 0.4 and 0.3 <= distractor <= 0.9
    durations = [n["duration"] for n in dataset["notes"]]
    assert min(durations) < 1.0 and max(durations) > 1.3


@pytest.mark.slow
def test_annotations_boxes_and_events_are_consistent(dataset):
    for note in dataset["notes"]:
        visible = {o["id"] for o in note["objects"] if o["onscreen"]}
        sounding_visible = [o["class"] for o in note["objects"] if o["sounding"] and o["onscreen"]]
        assert sounding_visible == note["labels"]
        offscreen = [o for o in note["objects"] if not o["onscreen"]]
        assert all(o["sounding"] and o["class"] not in note["labels"] for o in offscreen)
        for frame in note["frames"]:
            for item in frame:
                x0, y0, x1, y1 = item["box"]
                assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
                assert item["object"] in visible
        assert any(item["sounding"] for item in note["frames"][0])
        times = [e["time"] for e in note["events"]]
        assert times == sorted(times)
        assert all(0.0 <= t < note["duration"] for t in times)
        for obj in note["objects"]:
            assert obj["sounding"] or not obj["events"]


@pytest.mark.slow
def test_boxes_cover_everything_drawn_over_the_background(dataset):
    """Pixels that differ from the (independently re-rendered) background lie inside boxes."""
    checked = 0
    for index, note in enumerate(dataset["notes"][:20]):
        scene = plan_scene(SEED, index, 160, 120, MAX_SECONDS)
        background = render_background(scene, np.random.default_rng([scene.render_seed, 1]))
        frames, _, _, _ = _decode(os.path.join(dataset["dir"], note["path"]))
        for t in range(0, len(frames), 5):
            changed = np.abs(frames[t].astype(np.float32) - background).max(axis=2) > 60
            inside = np.zeros_like(changed)
            for item in note["frames"][t]:
                x0, y0, x1, y1 = item["box"]
                inside[max(0, int(y0 * 120) - 2):int(np.ceil(y1 * 120)) + 2,
                       max(0, int(x0 * 160) - 2):int(np.ceil(x1 * 160)) + 2] = True
                assert changed[int(y0 * 120):int(np.ceil(y1 * 120)), int(x0 * 160):int(np.ceil(x1 * 160))].any()
            assert not (changed & ~inside).any()
            checked += 1
    assert checked >= 40


@pytest.mark.slow
def test_ball_is_on_the_floor_when_it_thuds(dataset):
    """Visual sync: at each thud the ball's box is lower than half a bounce later (apex)."""
    compared = 0
    for note in dataset["notes"]:
        balls = [o for o in note["objects"] if o["class"] == "ball" and o["sounding"] and o["onscreen"]]
        if not balls:
            continue
        ball, fps = balls[0], note["fps"]
        bottoms = {}
        for t, frame in enumerate(note["frames"]):
            for item in frame:
                if item["object"] == ball["id"]:
                    bottoms[t] = item["box"][3]
        events = ball["events"]
        for a, b in zip(events[:-1], events[1:]):
            t_land, t_apex = int(round(a * fps)), int(round(0.5 * (a + b) * fps))
            if t_land in bottoms and t_apex in bottoms and t_apex != t_land:
                assert bottoms[t_land] > bottoms[t_apex]
                compared += 1
    assert compared >= 5


@pytest.mark.slow
def test_audio_energy_rises_at_annotated_impacts(dataset):
    """Audio sync: impulsive sources get louder just after each annotated event."""
    rises = []
    for note in dataset["notes"]:
        sounding = [o for o in note["objects"] if o["sounding"]]
        if len(sounding) != 1 or sounding[0]["class"] not in IMPULSIVE:
            continue
        _, _, audio, sr = _decode(os.path.join(dataset["dir"], note["path"]))
        mono = audio.mean(0)
        for t in sounding[0]["events"]:
            i = int(t * sr)
            before, after = mono[max(0, i - int(0.05 * sr)):i - int(0.005 * sr)], mono[i:i + int(0.03 * sr)]
            if len(before) > 100 and len(after) > 100:
                rises.append(10 * np.log10(np.mean(after ** 2) / (np.mean(before ** 2) + 1e-12)))
    assert len(rises) >= 20
    assert np.median(rises) > 6.0


@pytest.mark.slow
def test_shallow_cues_do_not_give_the_class_away(dataset):
    """Colour, loudness, sample rate, fps, channels predict the class near chance; timbre does not.

    The colour features (mean RGB + hue histogram of saturated pixels) are sensitive enough to
    catch class-specific colours: with one hue per class they reach ~35 % on this set size.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.array([row["labels"].split(";")[0] for row in dataset["rows"]])
    shallow = np.array([
        [*d["mean_colour"], *d["hues"], np.log(d["rms"]), d["channels"] == 2,
         *[d["sample_rate"] == sr for sr in (22050, 44100, 48000)],
         *[d["fps"] == f for f in (12, 15, 24, 25, 30)]]
        for d in dataset["decoded"]], dtype=np.float64)
    timbre = np.array([d["bands"] for d in dataset["decoded"]])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    chance = 1.0 / len(CLASS_NAMES)

    def held_out_accuracy(features):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        return float(np.mean(cross_val_predict(model, features, y, cv=folds) == y))

    assert held_out_accuracy(shallow) < 2 * chance
    assert held_out_accuracy(timbre) > 3 * chance


@pytest.mark.slow
def test_same_seed_same_output_for_any_worker_count(dataset, tmp_path):
    count = 12
    generate_videos(str(tmp_path), count, SEED, workers=1, max_seconds=MAX_SECONDS)
    with open(dataset["csv"]) as f:
        expected_csv = f.readlines()[:count + 1]
    with open(tmp_path / "labels.csv") as f:
        assert f.readlines() == expected_csv
    with open(os.path.join(dataset["dir"], "annotations.jsonl"), "rb") as f:
        expected_notes = f.readlines()[:count]
    with open(tmp_path / "annotations.jsonl", "rb") as f:
        assert f.readlines() == expected_notes
    for row in dataset["rows"][:count]:
        a = _decode(os.path.join(dataset["dir"], row["path"]))
        b = _decode(str(tmp_path / row["path"]))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[2], b[2])


@pytest.mark.slow
def test_other_seed_other_output(dataset, tmp_path):
    generate_videos(str(tmp_path), 3, SEED + 1, max_seconds=MAX_SECONDS)
    with open(tmp_path / "annotations.jsonl") as f:
        other = [json.loads(line) for line in f]
    assert [o["frames"] for o in other] != [n["frames"] for n in dataset["notes"][:3]]


@pytest.mark.parametrize("kwargs", [dict(width=161), dict(height=0), dict(max_seconds=0.0), dict(workers=0)])
def test_bad_arguments_are_refused_with_the_name(tmp_path, kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        generate_videos(str(tmp_path), 2, 0, **kwargs)
    assert not os.path.exists(tmp_path / "labels.csv")


def _read_wav(path):
    with av.open(path) as container:
        stream = container.streams.audio[0]
        codec, rate, channels = stream.codec_context.name, stream.rate, stream.channels
        # Packed s16 decodes as [1, samples * channels], interleaved.
        chunks = [f.to_ndarray().reshape(-1, channels).T for f in container.decode(audio=0)]
    samples = np.concatenate(chunks, axis=1)
    return codec, rate, channels, samples


def test_esc50_layout(tmp_path):
    generate_esc50(str(tmp_path), 0, clips_per_class=5)
    with open(tmp_path / "meta" / "esc50.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
        rows = list(reader)
    categories = list(CLASS_NAMES) + list(TEXTURES)
    assert len(categories) >= 10 and len(rows) == 5 * len(categories)
    assert sorted(os.listdir(tmp_path / "audio")) == sorted(r["filename"] for r in rows)
    folds_per_category = {}
    for r in rows:
        m = re.fullmatch(r"(\d)-(\d+)-([A-Z])-(\d+)\.wav", r["filename"])
        assert m and m.groups() == (r["fold"], r["src_file"], r["take"], r["target"])
        assert categories[int(r["target"])] == r["category"]
        assert r["esc10"] == str(r["category"] in CLASS_NAMES)
        folds_per_category.setdefault(r["category"], []).append(int(r["fold"]))
    for folds in folds_per_category.values():
        assert sorted(folds) == [1, 2, 3, 4, 5]
    assert len({r["src_file"] for r in rows}) == len(rows)
    codec, rate, channels, samples = _read_wav(str(tmp_path / "audio" / rows[0]["filename"]))
    assert (codec, rate, channels, samples.shape) == ("pcm_s16le", 44100, 1, (1, 220500))
    assert samples.dtype == np.int16 and 0 < np.abs(samples).max() < 32767
    target = int(rows[0]["target"])
    clip_index = (int(rows[0]["fold"]) - 1 - target) % 5  # Inverse of fold = (k + target) % 5 + 1.
    again = render_clip(categories[target], np.random.default_rng([0, 50, target, clip_index]))
    assert np.abs(np.round(again * 32767) - samples).max() <= 1


def test_dcase2013_layout(tmp_path):
    generate_dcase2013(str(tmp_path), 0, clips_per_class=5, seconds=2.0)
    scenes = ["bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant",
              "supermarket", "tube", "tubestation"]
    names = sorted(f"{s}{n:02d}.wav" for s in scenes for n in range(1, 6))
    assert sorted(os.listdir(tmp_path / "audio")) == names
    tested = []
    for k in range(1, 6):
        lists = {}
        for part in ("train", "test"):
            with open(tmp_path / "evaluation_setup" / f"fold{k}_{part}.txt") as f:
                lines = [line.rstrip("\n").split("\t") for line in f]
            assert all(len(p) == 2 and re.fullmatch(r"[a-z]+\d\d\.wav", p[0]) and p[0].startswith(p[1])
                       and p[1] in scenes for p in lines)
            lists[part] = [p[0] for p in lines]
        assert sorted(lists["train"] + lists["test"]) == names and not set(lists["train"]) & set(lists["test"])
        assert sorted(n[:-6] for n in lists["test"]) == scenes  # One test clip per scene per fold.
        tested += lists["test"]
    assert sorted(tested) == names
    codec, rate, channels, samples = _read_wav(str(tmp_path / "audio" / "bus01.wav"))
    assert (codec, rate, channels, samples.shape) == ("pcm_s16le", 44100, 2, (2, 88200))
    assert not np.array_equal(samples[0], samples[1])


def test_dcase_scenes_are_distinguishable_by_spectrum(tmp_path):
    """Each scene recipe has a characteristic spectrum: a linear probe beats chance clearly."""
    from data_tools.synthetic.dcase2013 import SCENE_NAMES, render_scene
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, y = [], []
    for s, scene in enumerate(SCENE_NAMES):
        for n in range(6):
            clip = render_scene(scene, np.random.default_rng([9, s, n]), 2.0)
            features.append(_band_features(clip.mean(0), 44100))
            y.append(scene)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    pred = cross_val_predict(model, np.array(features), np.array(y), cv=folds)
    assert np.mean(pred == np.array(y)) > 3.0 / len(SCENE_NAMES)


def test_clutter_zero_gives_one_sounding_object_and_keeps_the_rest():
    for index in range(40):
        clean = plan_scene(SEED, index, 160, 120, MAX_SECONDS, clutter=0.0)
        full = plan_scene(SEED, index, 160, 120, MAX_SECONDS)
        assert len(clean.objects) == 1 and clean.objects[0].sounding and clean.objects[0].onscreen
        assert clean.objects[0].cls.name == class_for_index(SEED, index)
        assert (clean.fps, clean.sample_rate, clean.num_frames) == (full.fps, full.sample_rate, full.num_frames)
