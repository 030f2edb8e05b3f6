"""`l3net_data convert`: records against their sources, bad inputs, splits, resume, exit codes."""

import csv
import io
import math
import os
import subprocess
import sys
import textwrap
import types

import av
import numpy as np
import pytest

from data_tools import cli
from data_tools.convert import ConvertOptions, Failure, convert_video
from data_tools.manifest import VideoSource
from data_tools.shard_writer import (ConversionStateError, assign_split, plan_shards, resolve_splits,
                                     write_dataset)
from l3net.data.schema import VideoRecord, read_dataset_info, shard_paths
from media_fixtures import (square_x, write_audio_only, write_bytes, write_manifest, write_truncated,
                            write_video)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Good and bad inputs, named with spaces and non-ASCII characters."""
    d = tmp_path_factory.mktemp("media")
    p = {
        "mono": write_video(str(d / "clip one.mp4"), seconds=2.0, fps=24, sample_rate=44100, tone_hz=440.0),
        "stereo": write_video(str(d / "stéréo 22k.mkv"), seconds=2.0, fps=25, sample_rate=22050, channels=2,
                              tone_hz=1000.0),
        "short": write_video(str(d / "short.mp4"), seconds=0.5),
        "no_audio": write_video(str(d / "no audio.mp4"), sample_rate=None),
        "silent": write_video(str(d / "silent.mp4"), amplitude=0.0),
        "empty": write_bytes(str(d / "empty.mp4"), b""),
        "text": write_bytes(str(d / "notes.mp4"), b"this is not a video\n" * 20),
        "wav": write_audio_only(str(d / "sound.wav")),
    }
    faststart = write_video(str(d / "whole fs.mp4"), seconds=2.0, container_options={"movflags": "faststart"})
    p["cut_mp4"] = write_truncated(str(d / "cut fs.mp4"), faststart, 0.6)
    p["cut_mkv"] = write_truncated(str(d / "cut.mkv"), write_video(str(d / "whole.mkv"), seconds=3.0), 0.6)
    p["cut_moov"] = write_truncated(str(d / "cut moov.mp4"), p["mono"], 0.5)
    p["missing"] = str(d / "never downloaded.mp4")
    p["directory"] = str(d)
    return p


def _source(path, split="train", labels=("tone",), **kw):
    return VideoSource(video_id=os.path.basename(path), source_path=os.path.basename(path), file_path=path,
                       labels=tuple(labels), split=split, **kw)


def _rgb(jpeg):
    return next(av.open(io.BytesIO(jpeg)).decode(video=0)).to_ndarray(format="rgb24")


def _square_left(rgb):
    """Left edge (pixels) of the bright square (vertically centred) in a frame."""
    height = rgb.shape[0]
    columns = np.flatnonzero(rgb[height * 23 // 48: height * 25 // 48].mean(axis=(0, 2)) > 140)
    return int(columns[0])


def _tone(audio, sample_rate):
    """(dominant frequency Hz, RMS as a fraction of full scale) of the middle second."""
    mid = audio[len(audio) // 2 - sample_rate // 2: len(audio) // 2 + sample_rate // 2].astype(np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    return np.fft.rfftfreq(len(mid), 1.0 / sample_rate)[np.argmax(spectrum)], np.sqrt(np.mean(mid ** 2))


def _source_frames(path):
    """(number of frames, frames/s) of a source video, counted by decoding it."""
    with av.open(path) as c:
        return sum(1 for _ in c.decode(video=0)), float(c.streams.video[0].average_rate)


@pytest.mark.parametrize("name,tone_hz,rms", [
    ("mono", 440.0, 0.5 / np.sqrt(2)),                   # 44.1 kHz mono
    ("stereo", 1000.0, (0.5 + 0.25) / 2 / np.sqrt(2)),   # 22.05 kHz stereo, channels 0.5 and 0.25 -> mean
])
def test_record_matches_source(media, name, tone_hz, rms):
    options = ConvertOptions(fps=12.0, sample_rate=48000, short_side=256)
    record = convert_video(_source(media[name]), options)
    assert isinstance(record, VideoRecord), record
    record = VideoRecord.from_example_bytes(record.to_example_bytes())
    num_src, src_fps = _source_frames(media[name])
    seconds = num_src / src_fps
    assert len(record.frames) == math.ceil(seconds * options.fps - 1e-9)
    first = _rgb(record.frames[0])
    assert min(first.shape[:2]) == 256 and first.shape[:2] == (256, round(64 * 256 / 48))
    scale = 256 / 48
    for i in range(0, len(record.frames), 5):
        shown = math.floor(i / options.fps * src_fps + 1e-9) / src_fps  # last source frame <= i / fps
        assert abs(_square_left(_rgb(record.frames[i])) - square_x(shown, seconds, 64) * scale) <= 4, i
    assert record.sample_rate == 48000 and record.audio.dtype == np.int16
    assert abs(len(record.audio) / 48000 - seconds) < 0.05
    freq, level = _tone(record.audio, 48000)
    assert abs(freq - tone_hz) <= 1.5
    assert abs(level - rms) < 0.1 * rms
    assert abs(record.duration - seconds) < 0.05 and not record.audio_padded
    assert record.labels == ["tone"] and record.split == "train" and record.fps == 12.0


def test_frame_rule_at_other_rates(media):
    record = convert_video(_source(media["stereo"]), ConvertOptions(fps=7.0, short_side=48))
    num_src, src_fps = _source_frames(media["stereo"])
    assert len(record.frames) == math.ceil(num_src / src_fps * 7.0)
    lefts = [_square_left(_rgb(f)) for f in record.frames]
    expected = [square_x(math.floor(i / 7.0 * src_fps + 1e-9) / src_fps, num_src / src_fps, 64)
                for i in range(len(lefts))]
    assert lefts == expected  # exact: showing the nearest or the next source frame is off by 1 px


def test_short_video_is_padded_or_dropped(media):
    padded = convert_video(_source(media["short"]), ConvertOptions())
    assert padded.audio_padded and len(padded.audio) == 48000
    assert len(padded.frames) == math.ceil(0.5 * 12)
    assert np.all(padded.audio[int(0.6 * 48000):] == 0) and np.any(padded.audio[:int(0.4 * 48000)] != 0)
    assert abs(padded.duration - 0.5) < 0.05
    dropped = convert_video(_source(media["short"]), ConvertOptions(drop_short=True))
    assert isinstance(dropped, Failure) and dropped.kind == "too short"


@pytest.mark.parametrize("name,kind", [
    ("no_audio", "no audio track"), ("silent", "silent audio"), ("empty", "empty file"),
    ("text", "undecodable"), ("wav", "no video stream"), ("cut_mp4", "truncated"), ("cut_mkv", "truncated"),
    ("cut_moov", "undecodable"), ("missing", "missing"), ("directory", "unreadable"),
])
def test_bad_input_becomes_failure(media, name, kind):
    result = convert_video(_source(media[name]), ConvertOptions())
    assert isinstance(result, Failure) and result.kind == kind, result
    assert "\n" not in result.reason and result.source_path == os.path.basename(media[name])


def test_silence_threshold(tmp_path):
    quiet = write_video(str(tmp_path / "quiet.mp4"), seconds=1.0, amplitude=0.0005)  # about -66 dBFS
    assert convert_video(_source(quiet), ConvertOptions()).kind == "silent audio"
    record = convert_video(_source(quiet), ConvertOptions(silence_threshold=1e-4))
    assert isinstance(record, VideoRecord) and 8 < np.max(np.abs(record.audio)) < 33


def test_max_seconds_and_segment_cut(media):
    head = convert_video(_source(media["mono"]), ConvertOptions(max_seconds=1.0, short_side=48))
    assert len(head.frames) == 12 and len(head.audio) == 48000
    cut = convert_video(_source(media["mono"], start_seconds=0.5, end_seconds=1.75), ConvertOptions(short_side=48))
    assert len(cut.frames) == math.ceil(1.25 * 12) and abs(len(cut.audio) - 1.25 * 48000) <= 1
    for i in (0, 7):  # Frame i shows file time start + i / fps.
        assert _square_left(_rgb(cut.frames[i])) == square_x(0.5 + i / 12, 2.0, 64)


def _records(data_dir, split):
    import tensorflow as tf

    return [VideoRecord.from_example_bytes(x.numpy()) for x in tf.data.TFRecordDataset(shard_paths(data_dir, split))]


def _failures(data_dir):
    with open(os.path.join(data_dir, "failures.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def converted(media, tmp_path_factory):
    """One CLI run (2 workers) over good and bad videos, with a split column."""
    root = tmp_path_factory.mktemp("run")
    good = [("mono", "train"), ("stereo", "val"), ("short", "test")]
    bad = ["no_audio", "silent", "empty", "text", "wav", "cut_mp4", "cut_mkv", "missing"]
    rows = [(media[n], f"{n};tone", split) for n, split in good] + [(media[n], n, "") for n in bad]
    manifest = write_manifest(str(root / "manifest.csv"), rows, header=("path", "labels", "split"))
    out = str(root / "out dir é")
    code = cli.main(["convert", "--manifest", manifest, "--output_dir", out, "--workers", "2",
                     "--num_shards", "2", "--short_side", "64"])
    return types.SimpleNamespace(code=code, out=out, media=media, bad=bad, manifest=manifest)


def test_cli_converts_good_and_reports_bad(converted, capsys):
    assert converted.code == 0
    info = read_dataset_info(converted.out)
    assert info.counts == {"train": 1, "val": 1, "test": 1}
    assert info.labels == sorted(["mono", "stereo", "short", "tone"])
    assert (info.sample_rate, info.fps, info.short_side) == (48000, 12.0, 64)
    assert info.extra["num_failed"] == len(converted.bad)
    rows = _failures(converted.out)
    by_path = {r["path"]: r["reason"].split(":")[0] for r in rows}
    expected = {"no_audio": "no audio track", "silent": "silent audio", "empty": "empty file",
                "text": "undecodable", "wav": "no video stream", "cut_mp4": "truncated", "cut_mkv": "truncated",
                "missing": "missing"}
    assert by_path == {converted.media[n]: kind for n, kind in expected.items()}
    for split in ("train", "val", "test"):
        assert all(os.path.isfile(os.path.join(converted.out, n)) for n in info.shards[split])
        assert all("-of-" in n and n.startswith(split) for n in info.shards[split])


def test_cli_split_column_and_paths_round_trip(converted):
    for split, name in [("train", "mono"), ("val", "stereo"), ("test", "short")]:
        (record,) = _records(converted.out, split)
        assert record.split == split and record.source_path == converted.media[name]
        assert record.labels == [name, "tone"]
        assert min(_rgb(record.frames[0]).shape[:2]) == 64


def test_cli_nothing_converted_exits_1(media, tmp_path, capsys):
    manifest = write_manifest(str(tmp_path / "m.csv"), [(media["silent"], "x"), (media["empty"], "x")])
    out = str(tmp_path / "out")
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", out, "--workers", "1"]) == 1
    assert len(_failures(out)) == 2 and not os.path.exists(os.path.join(out, "dataset.json"))
    assert "failed 2" in capsys.readouterr().out


def test_cli_invalid_manifest_exits_2_and_writes_nothing(tmp_path, capsys):
    manifest = write_manifest(str(tmp_path / "m.csv"), [("a.mp4", "x", "train"), ("b.mp4", "y", "dev")],
                              header=("path", "labels", "split"))
    out = str(tmp_path / "out")
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", out]) == 2
    err = capsys.readouterr().err
    assert f"{manifest}:3:" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not os.path.exists(out)


@pytest.mark.parametrize("argv,words", [
    (["convert", "--output_dir", "o"], "either --manifest or"),
    (["convert", "--manifest", "m.csv", "--audioset_csv", "s.csv", "--output_dir", "o"], "either --manifest or"),
    (["convert", "--audioset_csv", "s.csv", "--output_dir", "o"], "needs --class_index_csv"),
    (["convert", "--manifest", "m.csv", "--output_dir", "o", "--jpeg_quality", "0"], "--jpeg_quality"),
    (["convert", "--manifest", "m.csv", "--output_dir", "o", "--fps", "ten"], "--fps"),
    (["convert", "--manifest", "m.csv", "--output_dir", "o", "--val_fraction", "0.6", "--test_fraction", "0.5"],
     "--val_fraction + --test_fraction"),
    (["convert", "--manifest", "m.csv", "--output_dir", "o", "--bogus"], "--bogus"),
    (["convert", "--manifest", "no such.csv", "--output_dir", "o"], "no such.csv: no such file"),
    (["frobnicate"], "frobnicate"),
    (["synthetic", "--output_dir", "o", "--num_videos", "0", "--seed", "1"], "--num_videos must be > 0"),
    (["synthetic", "--output_dir", "o", "--num_videos", "2", "--seed", "1", "--world", "tiny"],
     "world='tiny': unknown; known: basic, rich"),
])
def test_cli_usage_errors_exit_2_on_one_line(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not os.path.exists(tmp_path / "o")


def test_hash_split_is_deterministic_and_follows_fractions():
    ids = [f"video-{i}" for i in range(4000)]
    splits = [assign_split(i, 0.1, 0.2) for i in ids]
    assert splits == [assign_split(i, 0.1, 0.2) for i in ids]
    share = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    assert abs(share["val"] - 0.1) < 0.02 and abs(share["test"] - 0.2) < 0.02
    # Raising a fraction only moves videos out of train.
    for wider, target in [([assign_split(i, 0.1, 0.3) for i in ids], "test"),
                          ([assign_split(i, 0.25, 0.2) for i in ids], "val")]:
        assert all(w == s or (s == "train" and w == target) for s, w in zip(splits, wider))
        assert wider.count(target) > splits.count(target)
    sources = [VideoSource(i, i, i, split="val" if n % 7 == 0 else None) for n, i in enumerate(ids[:300])]
    resolved = resolve_splits(sources, 0.1, 0.2)
    assert all(r.split == "val" for n, r in enumerate(resolved) if n % 7 == 0)
    plans = plan_shards(resolved, num_shards=4)
    assert [p.name for p in plans if p.split == "train"] == [f"train-0000{i}-of-00004.tfrecord" for i in range(4)]
    sizes = [len(p.sources) for p in plans if p.split == "train"]
    assert max(sizes) - min(sizes) <= 1
    assert sorted(s.video_id for p in plans for s in p.sources) == sorted(ids[:300])
    assert plan_shards(list(reversed(resolved)), 4) == plans  # independent of manifest order


def _counting(calls):
    def convert(source, options):
        calls.append(source.video_id)
        return convert_video(source, options)
    return convert


def test_resume_skips_finished_shards_and_keeps_their_failures(media, tmp_path):
    sources = [_source(media[n], split="train") for n in ("mono", "stereo", "short", "silent")]
    out = str(tmp_path / "out")
    options = ConvertOptions(short_side=32, max_seconds=1.0)
    calls = []
    first = write_dataset(sources, out, options, num_shards=4, log=lambda _: None, convert=_counting(calls))
    assert sorted(calls) == sorted(s.video_id for s in sources) and first.converted == 3
    plans = plan_shards(sources, 4)
    stamps = {p.name: os.stat(os.path.join(out, p.name)).st_mtime_ns for p in plans}
    redo = next(p for p in plans if p.sources[0].video_id != "silent.mp4")
    os.remove(os.path.join(out, redo.name))  # Interrupted before this shard was renamed into place.
    stale = os.path.join(out, "." + redo.name[:-len(".tfrecord")] + ".abc123.tmp.tfrecord")
    write_bytes(stale, b"half")
    calls.clear()
    second = write_dataset(sources, out, options, num_shards=4, log=lambda _: None, convert=_counting(calls))
    assert calls == [redo.sources[0].video_id]
    assert second.shards_skipped == 3 and not os.path.exists(stale)
    for p in plans:
        if p.name != redo.name:
            assert os.stat(os.path.join(out, p.name)).st_mtime_ns == stamps[p.name]
    assert [r["path"] for r in _failures(out)] == ["silent.mp4"]
    assert read_dataset_info(out).counts == first.info.counts
    with pytest.raises(ConversionStateError, match="other videos or options"):
        write_dataset(sources, out, ConvertOptions(short_side=48, max_seconds=1.0), num_shards=4)


def fake_convert(source, options):
    """Stands in for convert_video in pool tests: kills its process on 'crash' paths."""
    if "crash" in source.source_path:
        os._exit(3)
    return VideoRecord(video_id=source.video_id, source_path=source.source_path, split=source.split, labels=[],
                       fps=options.fps, frames=[b"jpeg"], sample_rate=options.sample_rate,
                       audio=np.ones(options.sample_rate, np.int16), duration=1.0)


def test_worker_crash_costs_one_video(tmp_path):
    sources = [VideoSource(f"v{i}", f"{'crash' if i == 3 else 'ok'}{i}.mp4", "unused", split="train")
               for i in range(8)]
    summary = write_dataset(sources, str(tmp_path / "out"), ConvertOptions(), num_shards=1, workers=2,
                            log=lambda _: None, convert=fake_convert)
    assert summary.counts["train"] == 7
    assert [(f.source_path, f.kind) for f in summary.failures] == [("crash3.mp4", "crashed")]


def test_audioset_segments_convert_cut_from_full_video(tmp_path, capsys):
    videos = tmp_path / "downloads"
    write_video(str(videos / "AAAAAAAAAAA.mp4"), seconds=3.0)
    write_video(str(videos / "BBBBBBBBBBB_5.000.mp4"), seconds=2.0)
    index = tmp_path / "index.csv"
    index.write_text('index,mid,display_name\n0,/m/a,"Bell"\n1,/m/b,"Drum, kit"\n', encoding="utf-8")
    segments = tmp_path / "segments.csv"
    segments.write_text('# YTID, start_seconds, end_seconds, positive_labels\n'
                        'AAAAAAAAAAA, 1.000, 2.500, "/m/a,/m/b"\n'
                        'BBBBBBBBBBB, 5.000, 7.000, "/m/b"\n'
                        'CCCCCCCCCCC, 0.000, 10.000, "/m/a"\n', encoding="utf-8")
    out = str(tmp_path / "out")
    assert cli.main(["convert", "--audioset_csv", str(segments), "--class_index_csv", str(index),
                     "--video_dir", str(videos), "--output_dir", out, "--workers", "1", "--short_side", "48",
                     "--val_fraction", "0", "--test_fraction", "0"]) == 0
    records = {r.video_id: r for r in _records(out, "train")}
    a, b = records["AAAAAAAAAAA_1000"], records["BBBBBBBBBBB_5000"]
    assert a.labels == ["Bell", "Drum, kit"] and b.labels == ["Drum, kit"]
    assert len(a.frames) == math.ceil(1.5 * 12) and abs(len(a.audio) / 48000 - 1.5) < 0.01
    assert abs(_square_left(_rgb(a.frames[0])) - square_x(1.0, 3.0, 64)) <= 1
    assert len(b.frames) == 24 and abs(_square_left(_rgb(b.frames[0])) - square_x(0.0, 2.0, 64)) <= 1
    assert [(r["path"], r["reason"]) for r in _failures(out)] == [("CCCCCCCCCCC.*", "missing: no such file")]
    assert read_dataset_info(out).labels == ["Bell", "Drum, kit"]


def test_synthetic_subcommands_call_the_generators(monkeypatch, tmp_path, capsys):
    calls = []
    fake = types.ModuleType("data_tools.synthetic")
    fake.generate_videos = lambda *a, **k: calls.append(("videos", a, k)) or os.path.join(a[0], "manifest.csv")
    fake.generate_esc50 = lambda *a, **k: calls.append(("esc50", a, k))
    fake.generate_dcase2013 = lambda *a, **k: calls.append(("dcase", a, k))
    monkeypatch.setitem(sys.modules, "data_tools.synthetic", fake)
    assert cli.main(["synthetic", "--output_dir", "d", "--num_videos", "3", "--seed", "7", "--workers", "2",
                     "--max_seconds", "4", "--clutter", "0.5"]) == 0
    assert cli.main(["synthetic_esc50", "--output_dir", "e", "--seed", "1", "--clips_per_class", "2",
                     "--world", "rich"]) == 0
    assert cli.main(["synthetic_dcase2013", "--output_dir", "f", "--seconds", "5"]) == 0
    assert calls == [
        ("videos", ("d", 3, 7), dict(workers=2, max_seconds=4.0, width=160, height=120, clutter=0.5,
                                     world="basic")),
        ("esc50", ("e", 1), dict(clips_per_class=2, world="rich")),
        ("dcase", ("f", 0), dict(clips_per_class=10, seconds=5.0, world="basic")),
    ]
    assert "manifest.csv" in capsys.readouterr().out


MEMORY_PROBE = textwrap.dedent("""
    import resource, sys
    from data_tools.convert import ConvertOptions, convert_video
    from data_tools.manifest import VideoSource
    options = ConvertOptions(short_side=32, max_seconds=0, sample_rate=16000)
    def run(path):
        record = convert_video(VideoSource("v", path, path, (), "train"), options)
        assert isinstance(record.frames, list), record
        return sum(map(len, record.frames)) + record.audio.nbytes
    run(sys.argv[1])  # warm-up: imports, codec tables, allocator pools
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    output = run(sys.argv[2])
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, output)
""")


def test_decoding_is_streamed(tmp_path):
    """Peak memory while converting a 60 s video grows by about the output, not the decoded video."""
    kw = dict(width=320, height=240, fps=6, sample_rate=16000, audio_codec="pcm_s16le")
    warm = write_video(str(tmp_path / "warm.mkv"), seconds=1.0, **kw)
    long = write_video(str(tmp_path / "long.mkv"), seconds=60.0, **kw)
    decoded_rgb = 60 * 6 * 320 * 240 * 3  # 83 MB if the decoded frames were held
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, warm, long], capture_output=True, text=True,
                           check=True, cwd=HERE)
    growth, output = map(int, probe.stdout.split())
    assert growth < 3 * output + 8_000_000 < decoded_rgb / 4
