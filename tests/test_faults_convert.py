"""Faults during `l3net_data convert`, injected (issue 16): kill -9 at random moments and inside the
write of a shard and of dataset.json, a full disk, a video that hangs the decoder.

Random kill moments come from a seeded RNG: the seed is printed, and L3NET_FAULT_SEED=<seed>
re-runs the same sequence.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow as tf

import fault_points as fp
from data_tools import cli, shard_writer
from l3net.data.schema import VideoRecord
from media_fixtures import write_manifest, write_video

SEED = int(os.environ.get("L3NET_FAULT_SEED", "1616"))
OPTIONS = ["--num_shards", "8", "--short_side", "32", "--sample_rate", "16000", "--max_seconds", "2"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    """16 short videos (8 train shards of 2, val 2, test 2) and a silent one."""
    d = tmp_path_factory.mktemp("fault_videos")
    rows = []
    for i in range(20):
        split = "train" if i < 16 else ("val" if i < 18 else "test")
        path = write_video(str(d / f"v{i:02d}.mp4"), seconds=1.0 + 0.1 * (i % 4), tone_hz=300.0 + 40 * i)
        rows.append((path, f"c{i % 3}", split))
    rows.append((write_video(str(d / "silent.mp4"), seconds=1.0, amplitude=0.0), "c0", "train"))
    return write_manifest(str(d / "manifest.csv"), rows, header=("path", "labels", "split"))


def _decoded(path: str):
    """The records of one shard, decoded, as comparable tuples."""
    out = []
    for serialized in tf.data.TFRecordDataset(path):
        r = VideoRecord.from_example_bytes(serialized.numpy())
        out.append((r.video_id, r.source_path, r.split, tuple(r.labels), r.fps, tuple(r.frames), r.sample_rate,
                    r.audio.tobytes(), r.duration, r.audio_padded))
    return out


def _shards(out_dir: str):
    return {name: _decoded(os.path.join(out_dir, name)) for name in sorted(os.listdir(out_dir))
            if name.endswith(".tfrecord") and not name.startswith(".")}


def _convert_args(manifest: str, out: str, workers: int = 2):
    return ["convert", "--manifest", manifest, "--output_dir", out, "--workers", str(workers), *OPTIONS]


@pytest.fixture(scope="module")
def reference(manifest, tmp_path_factory):
    """An uninterrupted conversion: {shard name: records}, failures.csv and dataset.json."""
    out = str(tmp_path_factory.mktemp("reference") / "out")
    assert cli.main(_convert_args(manifest, out)) == 0
    return {"shards": _shards(out), "failures": open(os.path.join(out, "failures.csv")).read(),
            "info": json.load(open(os.path.join(out, "dataset.json")))}


def _check_against(reference, out: str, *, complete: bool) -> None:
    """Every shard under its final name is whole and equal to the uninterrupted run's; a complete run
    also has the same failures.csv and dataset.json, and no temporary file."""
    shards = _shards(out)
    assert len(reference["shards"]) == 12
    for name, records in shards.items():
        assert records == reference["shards"][name], name
    if complete:
        assert shards == reference["shards"]
        assert open(os.path.join(out, "failures.csv")).read() == reference["failures"]
        assert json.load(open(os.path.join(out, "dataset.json"))) == reference["info"]
        assert not _temporaries(out)
    else:
        assert not os.path.exists(os.path.join(out, "dataset.json")) or shards == reference["shards"]


def _temporaries(out: str):
    return [os.path.join(root, name) for root, _, names in os.walk(out) for name in names if ".tmp" in name]


def _children(pid: int):
    """Pids of the live processes whose parent is `pid`."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            match = re.search(r"^PPid:\s+(\d+)$", status, re.M)
            if match and int(match.group(1)) == pid:
                found.add(int(entry))
    return found


def _alive(pids):
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                if not re.search(r"^State:\s+Z", f.read(), re.M):
                    alive.add(pid)
        except OSError:
            pass
    return alive


CONVERT_WRAPPER = fp.KILL_POINTS + textwrap.dedent("""
    import time
    from data_tools import cli, shard_writer

    replace = os.replace
    def replacing(src, dst):
        if dst.endswith(".tfrecord") and reached("rename"):
            die()  # the shard is complete under its temporary name and its failures are on disk
        return replace(src, dst)
    os.replace = replacing

    # Each record takes 0.15 s to write (slow storage), so that "after a random number of shards plus a
    # random delay" lands inside the run on a fast machine too.
    serialize = shard_writer.VideoRecord.to_example_bytes
    def slowly(record):
        time.sleep(0.15)
        return serialize(record)
    shard_writer.VideoRecord.to_example_bytes = slowly

    write_info = shard_writer.write_dataset_info
    def writing_info(*args):
        if reached("finish"):
            die()  # every shard and failures.csv written, dataset.json not yet
        return write_info(*args)
    shard_writer.write_dataset_info = writing_info

    sys.argv = ["l3net_data", *sys.argv[1:]]
    cli.run()
""")
SHARD_LINE = re.compile(r"^\[\d+/\d+\] ", re.M)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_rerun_gives_the_uninterrupted_records(manifest, reference, tmp_path):
    """Five SIGKILLs (three after a random number of shards plus a random delay, one between a shard's
    last byte and its rename, one before dataset.json): after each, every shard under its final name
    is whole and equal to the uninterrupted run's, and no decoding process is left; re-running the
    same command finishes with the records, failures.csv and dataset.json of an uninterrupted run."""
    rng = random.Random(SEED)
    print(f"fault seed {SEED} (L3NET_FAULT_SEED={SEED} reproduces this sequence)")
    out = str(tmp_path / "out")
    # "finish" completes every shard, so it comes last; a full disk mid-run: the tests below.
    rounds = rng.sample(["delay", "delay", "delay", "rename"], 4) + ["finish", "none"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kills = 0
    for number, phase in enumerate(rounds):
        nth = rng.randint(1, 2) if phase == "rename" else 1
        shards_to_wait, jitter = rng.randint(0, 2), rng.uniform(0, 0.25)
        what = f"round {number} ({phase}:{nth}, seed {SEED})"
        log_path, err_path = str(tmp_path / f"round{number}.log"), str(tmp_path / f"round{number}.err")
        children = set()
        with open(log_path, "w") as log, open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, "-c", CONVERT_WRAPPER, *_convert_args(manifest, out)],
                                    stdout=log, stderr=err, env=dict(env, L3NET_TEST_FAULT=f"{phase}:{nth}"))
            started, kill_at = time.monotonic(), None
            while proc.poll() is None and time.monotonic() - started < 300:
                children |= _children(proc.pid)
                if phase == "delay" and kill_at is None:
                    with open(log_path) as f:
                        if len(SHARD_LINE.findall(f.read())) >= shards_to_wait:
                            kill_at = time.monotonic() + (jitter if shards_to_wait else rng.uniform(0.5, 3.0))
                if kill_at is not None and time.monotonic() >= kill_at:
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.05)
            proc.wait(timeout=60)
        errors = open(err_path).read()
        if phase == "none":
            assert proc.returncode == 0, (what, errors[-2000:])
            assert "converted 20 of 21 videos" in open(log_path).read(), what
        else:
            assert proc.returncode == -signal.SIGKILL, (what, proc.returncode, errors[-2000:])
            kills += 1
        deadline = time.monotonic() + 20
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(children)
        for pid in left:  # do not leave them running if the assertion below fails
            os.kill(pid, signal.SIGKILL)
        assert not left, f"{what}: processes left behind by the killed converter: {sorted(left)}"
        _check_against(reference, out, complete=phase == "none")
        print(f"{what}: {len(_shards(out))} of 12 shards finished")
    assert kills == 5


def test_full_disk_while_writing_a_shard_is_one_line_and_a_rerun_finishes(manifest, reference, tmp_path, monkeypatch,
                                                                          capsys):
    tf_io, writes = shard_writer._tf_io, []

    class FullDisk:
        def __init__(self, path):
            self.inner = tf_io().TFRecordWriter(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

        def write(self, record):
            writes.append(1)
            if len(writes) >= 5:
                raise tf.errors.ResourceExhaustedError(None, None, "write: No space left on device")
            self.inner.write(record)

    # The shard that holds the 5th record, in write order (train, val, test; by index).
    order = sorted(reference["shards"], key=lambda n: (["train", "val", "test"].index(n.split("-")[0]), n))
    counts = [len(reference["shards"][n]) for n in order]
    failing = next(i for i in range(len(order)) if sum(counts[:i + 1]) >= 5)
    out = str(tmp_path / "out")
    with monkeypatch.context() as m:
        m.setattr(shard_writer, "_tf_io", lambda: type("io", (), {"TFRecordWriter": FullDisk}))
        assert cli.main(_convert_args(manifest, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert (f"cannot write {os.path.join(out, order[failing])} (No space left on device); finished shards are "
            "intact; free space and re-run the same command to resume") in err, err
    assert sorted(_shards(out)) == sorted(order[:failing])
    assert not _temporaries(out)
    _check_against(reference, out, complete=False)
    assert cli.main(_convert_args(manifest, out)) == 0
    assert f"{failing} shards were already finished" in capsys.readouterr().out
    _check_against(reference, out, complete=True)


def test_conversion_on_a_real_full_disk_stops_cleanly_and_resumes(manifest, reference, tmp_path, capsys):
    needed = sum(len(b"".join(r[5])) + len(r[7]) for records in reference["shards"].values() for r in records)
    size_kb = needed // 1024 + 256
    disk = str(tmp_path / "disk")
    fp.mount_tmpfs(disk, size_kb)
    try:
        filler = os.path.join(disk, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (size_kb * 1024 - 128 * 1024 - needed // 2))  # room for about half of the shards
        out = os.path.join(disk, "out")
        assert cli.main(_convert_args(manifest, out)) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err, err
        assert 0 < len(_shards(out)) < 12 and not _temporaries(out)
        _check_against(reference, out, complete=False)
        os.remove(filler)
        assert cli.main(_convert_args(manifest, out)) == 0
        _check_against(reference, out, complete=True)
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_video_that_hangs_the_decoder_is_a_timeout_failure(manifest, tmp_path, capsys):
    """A playlist (FFmpeg's concat format, detected from the content whatever the file name) naming a
    FIFO that nobody writes: opening it blocks forever, like a file on a stalled network mount."""
    videos = os.path.dirname(manifest)
    os.mkfifo(str(tmp_path / "stalled"))
    hang = tmp_path / "hang.mp4"
    hang.write_text("ffconcat version 1.0\nfile stalled\n")
    rows = [(os.path.join(videos, "v00.mp4"), "a", "train"), (str(hang), "a", "train"),
            (os.path.join(videos, "v01.mp4"), "a", "train"), (os.path.join(videos, "v02.mp4"), "a", "test")]
    small = write_manifest(str(tmp_path / "m.csv"), rows, header=("path", "labels", "split"))
    out = str(tmp_path / "out")
    started = time.monotonic()
    assert cli.main(["convert", "--manifest", small, "--output_dir", out, "--workers", "1", "--timeout_seconds", "5",
                     "--num_shards", "1", "--short_side", "32", "--sample_rate", "16000"]) == 0
    elapsed = time.monotonic() - started
    printed = capsys.readouterr().out
    assert "converted 3 of 4 videos" in printed and "timeout 1" in printed, printed
    assert elapsed < 120
    failures = open(os.path.join(out, "failures.csv")).read().splitlines()
    assert failures[1].startswith(f"{hang},timeout: still decoding after 5 s (--timeout_seconds)"), failures
    assert len(failures) == 2 and not multiprocessing.active_children()
    assert sorted(r[1] for r in _shards(out)["train-00000-of-00001.tfrecord"]) == [rows[0][0], rows[2][0]]


def test_timeout_flag_is_checked(manifest, tmp_path, capsys):
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", str(tmp_path / "o"),
                     "--timeout_seconds", "-1"]) == 2
    assert "--timeout_seconds must be >= 0" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o")
