"""`l3net_data convert --runner=DirectRunner` (issue 15): the Apache Beam pipeline gives what the local
process pool gives - the same decoded records, failures with the same reasons, the same
dataset.json - and writes through tf.io.gfile (TensorFlow's in-memory `ram://` file system).

DirectRunner runs in multi-process mode with 2 workers, as `--workers 2` asks. `ram://` is one
process's memory, so the `ram://` run uses DirectRunner's in-memory mode (one process); gs:// and
s3:// are not tested here (no network), they go through the same tf.io.gfile calls.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
import tensorflow as tf

from data_tools import cli
from l3net.data.schema import VideoRecord
from media_fixtures import write_audio_only, write_bytes, write_manifest, write_video

beam = pytest.importorskip("apache_beam", reason="Apache Beam is the optional extra l3net[beam] (make install "
                                                 "installs it)")

COMMON = ["--num_shards", "2", "--short_side", "48", "--max_seconds", "2", "--sample_rate", "16000",
          "--workers", "2"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    """6 good videos (three splits) and 5 bad ones."""
    d = tmp_path_factory.mktemp("beam_media")
    rows = []
    for i in range(6):
        path = write_video(str(d / f"good {i}.mp4"), seconds=1.5, width=64, height=48, fps=12, sample_rate=16000,
                           tone_hz=300.0 + 100 * i)
        rows.append((path, f"tone{i % 2}", ("train", "train", "train", "train", "val", "test")[i]))
    rows += [(write_video(str(d / "no audio.mp4"), sample_rate=None), "bad", ""),
             (write_video(str(d / "silent.mp4"), amplitude=0.0), "bad", ""),
             (write_bytes(str(d / "empty.mp4"), b""), "bad", ""),
             (write_bytes(str(d / "notes.mp4"), b"this is not a video\n" * 20), "bad", ""),
             (write_audio_only(str(d / "sound.wav")), "bad", ""),
             (str(d / "never downloaded.mp4"), "bad", "")]
    return write_manifest(str(d / "manifest.csv"), rows, header=("path", "labels", "split"))


def _records(data_dir: str) -> set:
    """Every record of every shard, decoded, as a hashable tuple (order-independent)."""
    gfile = tf.io.gfile
    out = set()
    for name in gfile.listdir(data_dir):
        if name.endswith(".tfrecord") and not name.startswith("."):
            for data in tf.data.TFRecordDataset(os.path.join(data_dir, name)).as_numpy_iterator():
                r = VideoRecord.from_example_bytes(data)
                out.add((name, r.video_id, r.source_path, r.split, tuple(r.labels), r.fps, tuple(r.frames),
                         r.sample_rate, r.audio.tobytes(), r.duration, r.audio_padded))
    return out


def _read(path: str) -> str:
    with tf.io.gfile.GFile(path) as f:
        return f.read()


def _failures(data_dir: str) -> list:
    return sorted(map(tuple, csv.reader(io.StringIO(_read(os.path.join(data_dir, "failures.csv"))))))


@pytest.mark.slow
def test_direct_runner_gives_the_local_pool_records_failures_and_dataset_json(manifest, tmp_path, capsys):
    local, beam_dir = str(tmp_path / "local"), str(tmp_path / "beam")
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", local, *COMMON]) == 0
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", beam_dir, *COMMON,
                     "--runner", "DirectRunner"]) == 0
    capsys.readouterr()
    records = _records(local)
    assert len(records) == 6 and {r[3] for r in records} == {"train", "val", "test"}
    assert _records(beam_dir) == records
    failures = _failures(local)
    assert len(failures) == 7 and failures[-1] == ("path", "reason")  # 6 bad videos + the header
    assert _failures(beam_dir) == failures
    assert json.loads(_read(os.path.join(beam_dir, "dataset.json"))) == json.loads(
        _read(os.path.join(local, "dataset.json")))
    assert sorted(os.listdir(beam_dir)) == sorted(os.listdir(local))
    assert sorted(os.listdir(os.path.join(beam_dir, "shard_failures"))) == sorted(
        os.listdir(os.path.join(local, "shard_failures")))

    # A finished Beam conversion is resumed, not redone (the local pool's rule).
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", beam_dir, *COMMON,
                     "--runner", "DirectRunner"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"resuming: (\d+) of \1 shards already finished", out) and "Beam pipeline" not in out, out


@pytest.mark.slow
def test_beam_conversion_writes_through_gfile_to_ram(manifest, tmp_path, capsys):
    local = str(tmp_path / "local")
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", local, *COMMON, "--workers", "1"]) == 0
    out = "ram://l3net_beam_test/data"
    assert cli.main(["convert", "--manifest", manifest, "--output_dir", out, *COMMON,
                     "--beam_options", "--runner=DirectRunner --direct_running_mode=in_memory"]) == 0
    capsys.readouterr()
    assert _records(out) == _records(local)
    assert _failures(out) == _failures(local)
    assert json.loads(_read(os.path.join(out, "dataset.json"))) == json.loads(_read(os.path.join(local,
                                                                                                  "dataset.json")))
    assert not [n for n in tf.io.gfile.listdir(out) if n.startswith(".")]  # no temporary file left


def test_beam_options_that_cannot_be_split_are_one_line(manifest, tmp_path, capsys):
    code = cli.main(["convert", "--manifest", manifest, "--output_dir", str(tmp_path / "x"),
                     "--beam_options", "--runner='DirectRunner"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--beam_options" in err[0], err
    assert not (tmp_path / "x").exists()


def test_pipeline_arguments_pass_runner_and_options_through():
    from data_tools.beam_convert import pipeline_arguments

    assert pipeline_arguments("DirectRunner", "", 3) == [
        "--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=3",
        "--default_sdk_harness_log_level=WARNING"]
    assert pipeline_arguments(None, "--runner=FlinkRunner --flink_master=h:8081 --parallelism=4", 2) == [
        "--default_sdk_harness_log_level=WARNING", "--runner=FlinkRunner", "--flink_master=h:8081", "--parallelism=4"]
