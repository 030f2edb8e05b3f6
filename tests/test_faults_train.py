"""Faults during training and evaluation, injected (issue 16): kill -9 at random moments, including
inside checkpoint writes; damaged shards; a full disk; a damaged checkpoint.

Random kill moments come from a seeded RNG: the seed is printed, and L3NET_FAULT_SEED=<seed>
re-runs the same sequence. Faults inside a save are injected by a wrapper around `l3net_train`
that SIGKILLs its own process at a chosen call of TensorFlow's checkpoint functions, so "killed
while a checkpoint is being written" happens for sure, not by luck of timing.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

import fault_points as fp
import record_fixtures as rf
from l3net.data import records
from l3net.data.config import DataConfig
from l3net.model_dir import ModelDir
from l3net.models.config import ModelConfig
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import TrainingError, train
from l3net.train.training_curves import read_history

SEED = int(os.environ.get("L3NET_FAULT_SEED", "1616"))
RATE = 8000
MODEL_CFG = ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                        sample_rate=RATE, audio_seconds=0.5, batchnorm_momentum=0.8)
DATA_CFG = DataConfig.for_model(MODEL_CFG, resize_short_side=36, batch_size=16, video_shuffle_buffer=16,
                                example_shuffle_buffer=64)
TINY_FLAGS = ["--image_size=32", "--resize_short_side=36", "--vision_widths=8,16", "--audio_widths=8,16",
              "--frontend=mel32", "--batchnorm_momentum=0.8", f"--sample_rate={RATE}", "--audio_seconds=0.5",
              "--batch_size=16", "--learning_rate=1e-3", "--eval_pairs=16", "--example_shuffle_buffer=64",
              "--video_shuffle_buffer=16"]
DAMAGED = "train-00001-of-00003.tfrecord"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("fault_data"))
    videos = ([rf.fake_video(i, split="train", num_frames=12, fps=8.0, sample_rate=RATE, audio_seconds=1.5)
               for i in range(12)]
              + [rf.fake_video(i, split=split, num_frames=12, fps=8.0, sample_rate=RATE, audio_seconds=1.5)
                 for i, split in zip(range(12, 20), ["val"] * 4 + ["test"] * 4)])
    rf.write_dataset(path, videos, sample_rate=RATE, fps=8.0, short_side=40, shards_per_split=3)
    return path


def _record_starts(path: str):
    """[(byte offset, data length)] of every record of a TFRecord file."""
    out, offset, data = [], 0, open(path, "rb").read()
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        out.append((offset, length))
        offset += 16 + length
    return out


def _damage(path: str, kind: str, record: int) -> int:
    """Truncates the file inside record `record` (0-based) or flips bytes of its data; returns its offset."""
    start, length = _record_starts(path)[record]
    data = bytearray(open(path, "rb").read())
    if kind == "truncated":
        data = data[:start + 12 + length // 2]
    else:
        middle = start + 12 + length // 2
        data[middle:middle + 8] = bytes(b ^ 0xA5 for b in data[middle:middle + 8])
    with open(path, "wb") as f:
        f.write(bytes(data))
    return start


def _damaged_copy(data_dir: str, dest: str, damage=((DAMAGED, "truncated", 2),)) -> dict:
    shutil.copytree(data_dir, dest)
    return {name: _damage(os.path.join(dest, name), kind, record) for name, kind, record in damage}


def _tool_lines(text: str, tool: str):
    return [line for line in text.splitlines() if line.startswith(f"{tool}:")]


def _new_model_dir(path: str) -> str:
    ModelDir(path).write_run("avc", MODEL_CFG, "", {"data": dataclasses.asdict(DATA_CFG)})
    return path


def _leftovers(model_dir: str):
    """Files that only an interrupted or failed write leaves behind."""
    found = []
    for root, dirs, files in os.walk(model_dir):
        for name in dirs + files:
            if name.endswith("_temp") or ".tempstate" in name or re.search(r"\.tmp", name):
                found.append(os.path.join(root, name))
    return found


def _check_checkpoints(model_dir: str) -> int:
    """Every checkpoint present is readable to its last tensor, the recorded ones exist, and the tools
    load best and latest; returns the latest step (0 if none)."""
    directory = ModelDir(model_dir)
    for folder in (directory.checkpoint_dir, directory.best_checkpoint_dir):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.endswith(".index"):
                reader = tf.train.load_checkpoint(os.path.join(folder, name[:-len(".index")]))
                for key in reader.get_variable_to_shape_map():
                    reader.get_tensor(key)
        state = tf.train.get_checkpoint_state(folder)
        if state is not None:
            assert os.path.isfile(state.model_checkpoint_path + ".index"), state.model_checkpoint_path
    latest = directory.latest_checkpoint()
    if latest is None:
        return 0
    for which in ("best", "latest"):
        directory.load_model(which)
    return int(latest.rsplit("-", 1)[1])


def _check_history(model_dir: str, train_steps, val_steps) -> None:
    with open(ModelDir(model_dir).history_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == list(train_steps)
    assert [int(r["step"]) for r in rows if r["split"] == "val"] == list(val_steps)


def _check_best(model_dir: str) -> None:
    """best.json names the checkpoint in best/ and the best validation of history.csv."""
    directory = ModelDir(model_dir)
    info = directory.best_info()
    assert int(directory.best_checkpoint().rsplit("-", 1)[1]) == info["step"]
    val = read_history(directory.history_path)["val"]
    best = max(val["accuracy"])
    assert info["metric"] == pytest.approx(best, abs=1e-6)
    assert info["step"] in [s for s, a in zip(val["step"], val["accuracy"]) if a == best]


# --- kill -9 ---------------------------------------------------------------------------------------

KILL_WRAPPER = fp.KILL_POINTS + textwrap.dedent("""
    import l3net.train.main as command  # l3net's quiet TensorFlow start-up comes first
    from tensorflow.python.checkpoint import checkpoint_management
    from tensorflow.python.ops import gen_io_ops
    from l3net.model_dir import ModelDir

    merge = gen_io_ops.merge_v2_checkpoints
    def merge_v2_checkpoints(*args, **kwargs):
        if reached("merge"):
            die()  # the checkpoint's tensors are written in ckpt-N_temp/, not yet renamed into place
        return merge(*args, **kwargs)
    gen_io_ops.merge_v2_checkpoints = merge_v2_checkpoints

    record_state = checkpoint_management.CheckpointManager._record_state
    def recording(self):
        if reached("state"):
            die()  # 1st call of a save: files complete, not recorded; 2nd: recorded, older one not yet swept
        return record_state(self)
    checkpoint_management.CheckpointManager._record_state = recording

    write_best_info = ModelDir.write_best_info
    def best_info(self, info):
        if reached("best_json"):
            die()  # best/ckpt-N saved, best.json still names the previous best
        return write_best_info(self, info)
    ModelDir.write_best_info = best_info

    sys.argv = ["l3net_train", *sys.argv[1:]]
    command.run()
""")
PROGRESS = re.compile(r"^step\s+(\d+)/", re.M)


def _kill_after_progress(proc, log_path: str, start: int, steps: int, jitter: float, deadline: float) -> None:
    """SIGKILL once the run printed progress `steps` past `start` (plus `jitter` seconds)."""
    while time.monotonic() < deadline and proc.poll() is None:
        with open(log_path) as f:
            done = [int(s) for s in PROGRESS.findall(f.read())]
        if done and done[-1] >= start + steps:
            time.sleep(jitter)
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)


@pytest.mark.slow
def test_kill_9_at_random_moments_resumes_from_the_last_complete_checkpoint(data_dir, tmp_path):
    """Five SIGKILLs, at random steps and inside checkpoint writes (before TensorFlow's rename, before
    or between the state-file updates, between best/ckpt-N and best.json): each restart resumes from
    the newest complete checkpoint, no checkpoint present is ever unreadable, and the run ends at the
    requested step with a clean history.csv and a consistent best checkpoint. (A full disk during a
    checkpoint write: test_full_disk_and_damaged_checkpoint_stop_with_one_line_and_resume.)"""
    rng = random.Random(SEED)
    print(f"fault seed {SEED} (L3NET_FAULT_SEED={SEED} reproduces this sequence)")
    total = 90  # each round advances at most ~20 steps, so every round is killed before the end
    model_dir = str(tmp_path / "model")
    args = [sys.executable, "-c", KILL_WRAPPER, f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY_FLAGS,
            "--log_every_steps=1", "--eval_every_steps=10", f"--train_steps={total}"]
    # best_json first: the first validation of a fresh run is always a new best.
    rounds = ["best_json"] + rng.sample(["delay", "delay", "merge", "state"], 4)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    expected_start, kills = 0, 0
    for number, phase in enumerate(rounds + ["none"]):
        nth = {"merge": rng.randint(1, 2), "state": rng.randint(1, 4)}.get(phase, 1)
        log_path = str(tmp_path / f"round{number}.log")
        with open(log_path, "w") as out, open(str(tmp_path / f"round{number}.err"), "w") as err:
            proc = subprocess.Popen(args, stdout=out, stderr=err, env=dict(env, L3NET_TEST_FAULT=f"{phase}:{nth}"))
            if phase == "delay":
                _kill_after_progress(proc, log_path, expected_start, rng.randint(3, 14), rng.uniform(0, 0.1),
                                     time.monotonic() + 240)
            proc.wait(timeout=300)
        output, errors = open(log_path).read(), open(str(tmp_path / f"round{number}.err")).read()
        what = f"round {number} ({phase}:{nth}, seed {SEED})"
        if expected_start:
            assert f"resuming from ckpt-{expected_start} (step {expected_start})" in output, (what, output[-2000:])
        if phase == "none":
            assert proc.returncode == 0, (what, errors[-2000:])
            assert f"stopped by steps at step {total}" in output, what
        else:
            assert proc.returncode == -signal.SIGKILL, (what, proc.returncode, errors[-2000:])
            kills += 1
        expected_start = _check_checkpoints(model_dir)
        print(f"{what}: newest complete checkpoint step {expected_start}")
    assert kills >= 5
    assert expected_start == total
    assert not _leftovers(model_dir)
    _check_history(model_dir, range(1, total + 1), range(10, total + 1, 10))
    _check_best(model_dir)


# --- damaged shards --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["truncated", "flipped"])
def test_damaged_shard_stops_training_with_one_line_naming_it(data_dir, tmp_path, capsys, kind, run_cli):
    from l3net.train import main as train_main

    bad = str(tmp_path / "data")
    offset = _damaged_copy(data_dir, bad, [(DAMAGED, kind, 2)])[DAMAGED]
    model_dir = str(tmp_path / "model")
    code = run_cli(train_main, ["l3net_train", f"--data_dir={bad}", f"--model_dir={model_dir}", *TINY_FLAGS,
                                "--train_steps=50", "--eval_every_steps=10"])
    err = capsys.readouterr().err
    assert code == 1, err
    (line,) = _tool_lines(err, "l3net_train")
    word = "truncated" if kind == "truncated" else "corrupted"
    assert f"{os.path.join(bad, DAMAGED)}: {word} record at byte {offset} (record 3;" in line, line
    assert "--skip_corrupt_records" in line and "Traceback" not in err
    step = int(re.search(r"checkpoint saved at step (\d+)", line).group(1))
    assert _check_checkpoints(model_dir) == step


@pytest.mark.slow
def test_skip_corrupt_records_trains_on_and_counts_the_damage(data_dir, tmp_path, capsys):
    bad = str(tmp_path / "data")
    offsets = _damaged_copy(data_dir, bad, [(DAMAGED, "truncated", 2), ("train-00002-of-00003.tfrecord", "flipped", 1),
                                            ("val-00000-of-00003.tfrecord", "flipped", 0)])
    model_dir = _new_model_dir(str(tmp_path / "model"))
    cfg = TrainConfig(learning_rate=1e-3, train_steps=30, log_every_steps=5, eval_every_steps=10, eval_pairs=16,
                      skip_corrupt_records=True)
    result = train(MODEL_CFG, DATA_CFG, cfg, bad, model_dir)
    assert (result.stopped_by, result.final_step) == ("steps", 30)
    assert result.damaged_shard_reads >= 3
    err = capsys.readouterr().err
    for name, offset in offsets.items():
        word = "truncated" if name == DAMAGED else "corrupted"
        warnings = [ln for ln in err.splitlines() if f"{os.path.join(bad, name)}: {word} record at byte {offset}" in ln]
        assert len(warnings) == 1, err  # once per shard, however often it is read
    _check_history(model_dir, range(5, 31, 5), range(10, 31, 10))
    counts = []
    for events in tf.io.gfile.glob(os.path.join(model_dir, "summaries", "train", "events*")):
        for event in tf.compat.v1.train.summary_iterator(events):
            counts += [float(tf.make_ndarray(v.tensor)) for v in event.summary.value if v.tag == "damaged_shard_reads"]
    assert len(counts) == 6 and counts == sorted(counts) and counts[-1] >= 2


def test_damaged_shard_reader_names_the_file_and_keeps_the_records_before(data_dir, tmp_path):
    bad = str(tmp_path / "data")
    offsets = _damaged_copy(data_dir, bad, [(DAMAGED, "truncated", 2), ("train-00002-of-00003.tfrecord", "flipped", 1)])
    paths = [os.path.join(bad, f"train-0000{i}-of-00003.tfrecord") for i in range(3)]
    skipped = records.damage_events()
    kept = [r.numpy() for r in records.read_shards(paths, skip=True)]
    assert len(kept) == 4 + 2 + 1 and records.damage_events() == skipped + 2
    assert kept == [r.numpy() for r in tf.data.TFRecordDataset(paths).ignore_errors()]
    with pytest.raises(tf.errors.OpError) as error:
        for _ in records.read_shards(paths[1:], skip=False):
            pass
    damage = records.damage_in(error.value)
    assert (damage.path, damage.offset, damage.record, damage.kind) == (paths[1], offsets[DAMAGED], 3, "truncated")
    # A plain TFRecordDataset's DataLossError is traced back by the file headers / checksums.
    for expected, kind, shard in [(offsets[DAMAGED], "truncated", paths[1]),
                                  (offsets["train-00002-of-00003.tfrecord"], "corrupted", paths[2])]:
        with pytest.raises(tf.errors.DataLossError) as error:
            for _ in tf.data.TFRecordDataset([paths[0], shard]):
                pass
        found = records.describe_read_error(error.value, paths)
        assert (found.path, found.offset, found.kind) == (shard, expected, kind)


def test_evaluation_tools_name_the_damaged_shard(tiny_model_dir, tmp_path, capsys, run_cli):
    from l3net.evaluation import cli as eval_cli
    from l3net.evaluation import retrieval_cli

    videos = [rf.fake_video(i, split="test", num_frames=12, fps=8.0, sample_rate=RATE, audio_seconds=1.5,
                            labels=[f"c{i % 2}"]) for i in range(6)]
    data = str(tmp_path / "data")
    rf.write_dataset(data, videos, sample_rate=RATE, fps=8.0, short_side=40, shards_per_split=2)
    name = "test-00001-of-00002.tfrecord"
    for kind in ("truncated", "flipped"):
        shutil.copy(os.path.join(data, name), str(tmp_path / "clean"))
        offset = _damage(os.path.join(data, name), kind, 1)
        word = "truncated" if kind == "truncated" else "corrupted"
        for module, tool, argv in [
                (eval_cli, "l3net_eval", ["avc", f"--model_dir={tiny_model_dir}", f"--data_dir={data}",
                                          f"--output_json={tmp_path / 'avc.json'}"]),
                (retrieval_cli, "l3net_retrieval", [f"--model_dir={tiny_model_dir}", f"--data_dir={data}",
                                                    f"--output_dir={tmp_path / 'retrieval'}"])]:
            code = run_cli(module, [tool, *argv], tool)
            err = capsys.readouterr().err
            (line,) = _tool_lines(err, tool)
            assert code == 2 and "Traceback" not in err, err
            assert f"{os.path.join(data, name)}: {word} record at byte {offset} (record 2;" in line, line
        assert not os.path.exists(tmp_path / "avc.json") and not os.path.exists(tmp_path / "retrieval")
        shutil.copy(str(tmp_path / "clean"), os.path.join(data, name))


def test_probe_names_an_undecodable_clip(tiny_model_dir, tmp_path, capsys, run_cli):
    import media_fixtures as mf
    from l3net.evaluation import probe_cli

    root = tmp_path / "esc50"
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = []
    for fold in range(1, 6):
        for target in range(2):
            filename = f"{fold}-{100 + target}-A-{target}.wav"
            mf.write_sound(str(root / "audio" / filename), seconds=0.6, sample_rate=RATE, tone_hz=300 + 900 * target)
            rows.append([filename, fold, target, f"class{target}"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows([["filename", "fold", "target", "category"], *rows])
    bad = root / "audio" / "3-101-A-1.wav"
    bad.write_bytes(b"\xff" * 64 + bad.read_bytes()[64:])  # the RIFF header overwritten
    code = run_cli(probe_cli, ["l3net_probe", "esc50", f"--data_dir={root}", f"--model_dir={tiny_model_dir}",
                               f"--output_dir={tmp_path / 'probe'}"], "l3net_probe")
    err = capsys.readouterr().err
    (line,) = _tool_lines(err, "l3net_probe")
    assert code == 2 and str(bad) in line and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "probe" / "probe.json")


# --- full disk, damaged checkpoint -------------------------------------------------------------------

def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.slow
def test_full_disk_and_damaged_checkpoint_stop_with_one_line_and_resume(data_dir, tmp_path, monkeypatch, capsys):
    """ENOSPC injected at each kind of write of a run (best.json, a checkpoint's rename, history.csv
    half-written), then a damaged newest checkpoint: each run stops with one line naming what it could
    not write and the last complete checkpoint, leaves no partial file, and the next run resumes."""
    from tensorflow.python.ops import gen_io_ops

    import l3net.train.trainer as trainer

    model_dir = _new_model_dir(str(tmp_path / "model"))
    cfg = TrainConfig(learning_rate=1e-3, train_steps=40, log_every_steps=5, eval_every_steps=10, eval_pairs=16)

    def fails(expected: str, start: int) -> str:
        with pytest.raises(TrainingError) as error:
            train(MODEL_CFG, DATA_CFG, cfg, data_dir, model_dir)
        message = str(error.value)
        assert "\n" not in message and expected in message, message
        assert not _leftovers(model_dir), _leftovers(model_dir)
        assert start == 0 or f"resuming from ckpt-{start} (step {start})" in capsys.readouterr().out
        return message

    # 1. best.json at the first validation (best/ckpt-10 is saved, its best.json is not).
    with monkeypatch.context() as m:
        m.setattr(ModelDir, "write_best_info", _enospc)
        message = fails("no space left on device (writing the best checkpoint (step 10)", 0)
    assert "checkpoint saved at step 10" in message and _check_checkpoints(model_dir) == 10

    # 2. A checkpoint's last step (TensorFlow's merge and rename), from the second write of the next run
    #    on (the first re-saves best/ckpt-10 after the validation of step 10 is run again).
    merge, merges = gen_io_ops.merge_v2_checkpoints, []

    def full_from_the_second(*args, **kwargs):
        merges.append(1)
        if len(merges) >= 2:
            raise tf.errors.ResourceExhaustedError(None, None, "part-00000-of-00001: No space left on device")
        return merge(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(gen_io_ops, "merge_v2_checkpoints", full_from_the_second)
        message = fails("no space left on device (writing the checkpoint of step 20", 10)
    assert "the last complete checkpoint is step 10" in message and _check_checkpoints(model_dir) == 10
    assert ModelDir(model_dir).best_info()["step"] == 10

    # 3. history.csv: the disk fills in the middle of a row (the validation row of step 20).
    append, rows = trainer.append_history, []

    def half_a_row(path, step, *args, **kwargs):
        rows.append(step)
        if len(rows) == 3:
            with open(path, "a") as f:
                f.write(f"{step},va")
            _enospc()
        return append(path, step, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(trainer, "append_history", half_a_row)
        message = fails(f"no space left on device (writing {ModelDir(model_dir).history_path}) at step 20", 10)
    assert "checkpoint saved at step 20" in message and _check_checkpoints(model_dir) == 20

    # 4. The newest checkpoint's data altered on disk: the run warns and resumes from the one before.
    result = train(MODEL_CFG, DATA_CFG, dataclasses.replace(cfg, train_steps=30), data_dir, model_dir)
    assert (result.start_step, result.final_step) == (20, 30)
    _damage_bytes(os.path.join(ModelDir(model_dir).checkpoint_dir, "ckpt-30.data-00000-of-00001"))
    capsys.readouterr()
    result = train(MODEL_CFG, DATA_CFG, cfg, data_dir, model_dir)
    assert (result.start_step, result.final_step) == (20, 40)
    assert "resuming from ckpt-20: newer checkpoint unreadable (ckpt-30:" in capsys.readouterr().err
    assert not _leftovers(model_dir) and _check_checkpoints(model_dir) == 40
    _check_history(model_dir, range(5, 41, 5), range(10, 41, 10))
    _check_best(model_dir)


def _damage_bytes(path: str) -> None:
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2:len(data) // 2 + 16] = bytes(b ^ 0xFF for b in data[len(data) // 2:len(data) // 2 + 16])
    with open(path, "wb") as f:
        f.write(bytes(data))


@pytest.fixture
def small_disk(tmp_path):
    """mount(path, size_kb): a size-limited tmpfs at `path` (skips if this machine does not allow it)."""
    mounted = []

    def mount(path: str, size_kb: int) -> str:
        fp.mount_tmpfs(path, size_kb)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)


@pytest.mark.slow
def test_training_on_a_real_full_disk_stops_cleanly_and_resumes(data_dir, tmp_path, small_disk):
    disk = small_disk(str(tmp_path / "disk"), 2048)
    filler = os.path.join(disk, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (2048 - 440) * 1024)  # ~440 KB left: two checkpoints of ~180 KB and a best one, not three
    model_dir = _new_model_dir(os.path.join(disk, "model"))
    cfg = TrainConfig(learning_rate=1e-3, train_steps=30, log_every_steps=5, eval_every_steps=10, eval_pairs=16)
    with pytest.raises(TrainingError) as error:
        train(MODEL_CFG, DATA_CFG, cfg, data_dir, model_dir, verbose=False)
    message = str(error.value)
    assert "\n" not in message and "no space left on device" in message, message
    last = int(re.search(r"(?:last complete checkpoint is|checkpoint saved at) step (\d+)", message).group(1))
    assert last >= 10 and _check_checkpoints(model_dir) == last
    assert not _leftovers(model_dir)
    os.remove(filler)
    result = train(MODEL_CFG, DATA_CFG, cfg, data_dir, model_dir, verbose=False)
    assert (result.start_step, result.final_step) == (last, 30)
    _check_history(model_dir, range(5, 31, 5), range(10, 31, 10))
    json.loads(open(os.path.join(ModelDir(model_dir).best_checkpoint_dir, "best.json")).read())
    assert np.isfinite(result.train_loss)
