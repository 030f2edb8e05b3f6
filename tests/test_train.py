"""Training loop, resume, bad flags and `l3net_eval avc`, on a tiny learnable fake dataset.

The dataset is made so AVC is learnable in a few dozen steps: each video shows a square of its
class colour at a random place and sounds a tone of its class frequency, so a frame and a window
correspond exactly when colour and pitch agree (up to same-class negatives).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import record_fixtures as rf
from l3net import model_dir as model_dir_lib
from l3net.data import avc_dataset, schema
from l3net.data.config import DataConfig
from l3net.evaluation.avc import evaluate_avc
from l3net.models import build_model
from l3net.models.config import ModelConfig
from l3net.train.train_config import TrainConfig
from l3net.train.trainer import train
from l3net.train.training_curves import append_history, truncate_history

SAMPLE_RATE = 8000
FPS = 8.0
BIN = os.path.dirname(sys.executable)
TINY_FLAGS = ["--image_size=32", "--resize_short_side=36", "--vision_widths=8,16", "--audio_widths=8,16",
              "--frontend=mel32", "--batchnorm_momentum=0.8", f"--sample_rate={SAMPLE_RATE}", "--batch_size=16",
              "--learning_rate=1e-3", "--log_every_steps=5", "--eval_every_steps=1000", "--eval_pairs=16",
              "--example_shuffle_buffer=64", "--video_shuffle_buffer=16"]

MODEL_CFG = ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                        sample_rate=SAMPLE_RATE, batchnorm_momentum=0.8)
DATA_CFG = DataConfig.for_model(MODEL_CFG, resize_short_side=36, batch_size=16, video_shuffle_buffer=16,
                                example_shuffle_buffer=64)


def _video(index: int, split: str) -> schema.VideoRecord:
    return rf.class_video(index, split, index % len(rf.CLASS_COLOURS), sample_rate=SAMPLE_RATE, fps=FPS)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("avc_data"))
    records = ([_video(i, "train") for i in range(24)] + [_video(i, "val") for i in range(24, 32)]
               + [_video(i, "test") for i in range(32, 40)])
    rf.write_dataset(path, records, sample_rate=SAMPLE_RATE, fps=FPS, short_side=40)
    return path


@pytest.fixture(scope="module")
def trained_dir(data_dir, tmp_path_factory) -> str:
    """A model dir trained for 80 steps in-process (as `l3net_train` would leave it).

    ~8 s on 2 cores: every test that uses it is marked slow, so `-m "not slow"` never builds it.
    """
    path = str(tmp_path_factory.mktemp("model"))
    model_dir_lib.ModelDir(path).write_run("avc", MODEL_CFG, "", {"data": dataclasses.asdict(DATA_CFG)})
    train_cfg = TrainConfig(learning_rate=1e-3, train_steps=80, log_every_steps=10, eval_every_steps=40,
                            eval_pairs=16)
    result = train(MODEL_CFG, DATA_CFG, train_cfg, data_dir, path, verbose=False)
    assert result.final_step == 80 and result.stopped_by == "steps"
    return path


def _fixed_pairs(data_dir: str, split: str, seed: int = 1) -> tf.data.Dataset:
    cfg = DataConfig.for_model(MODEL_CFG, resize_short_side=36, batch_size=32, augment=False)
    return avc_dataset(data_dir, split, cfg, training=False, seed=seed, with_metadata=True)


@pytest.mark.slow
def test_training_lowers_the_loss(data_dir, trained_dir):
    untrained = build_model(MODEL_CFG)
    before = evaluate_avc(untrained, _fixed_pairs(data_dir, "train"))
    model, _, step = model_dir_lib.load_model(trained_dir)
    after = evaluate_avc(model, _fixed_pairs(data_dir, "train"))
    assert step == 80
    assert after.loss < before.loss - 0.05, (before.loss, after.loss)
    assert after.accuracy > before.accuracy


@pytest.mark.slow
def test_model_dir_holds_what_a_rerun_needs(trained_dir):
    names = set(os.listdir(trained_dir))
    assert {model_dir_lib.CURVES_NAME, model_dir_lib.HISTORY_NAME, "checkpoints", "summaries"} <= names
    with open(os.path.join(trained_dir, model_dir_lib.HISTORY_NAME)) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == list(range(10, 81, 10))
    assert {int(r["step"]) for r in rows if r["split"] == "val"} == {40, 80}
    assert tf.io.gfile.listdir(os.path.join(trained_dir, "summaries", "train"))


@pytest.mark.slow
def test_resume_continues_from_saved_step(data_dir, trained_dir, tmp_path):
    resumed = str(tmp_path / "resumed")
    subprocess.check_call(["cp", "-r", trained_dir, resumed])
    cfg = TrainConfig(learning_rate=1e-3, train_steps=90, log_every_steps=10, eval_every_steps=1000, eval_pairs=16)
    result = train(MODEL_CFG, DATA_CFG, cfg, data_dir, resumed, verbose=False)
    assert (result.start_step, result.final_step) == (80, 90)
    model, _, step = model_dir_lib.load_model(resumed, "latest")  # "best" stays at 80 unless step 90 validates better
    assert step == 90
    newest = tf.train.latest_checkpoint(os.path.join(resumed, model_dir_lib.CHECKPOINT_SUBDIR))
    reader = tf.train.load_checkpoint(newest)
    iterations = [k for k in reader.get_variable_to_shape_map() if k.startswith("optimizer/") and "iteration" in k]
    assert iterations and int(reader.get_tensor(iterations[0])) == 90


def _run(args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=240, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_resumes_from_checkpoint(data_dir, tmp_path, signum):
    model_dir = str(tmp_path / "interrupted")
    args = [os.path.join(BIN, "l3net_train"), f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY_FLAGS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(args + ["--train_steps=100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    history = os.path.join(model_dir, model_dir_lib.HISTORY_NAME)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(history) and len(open(history).read().splitlines()) >= 3:
            break
        time.sleep(0.5)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    saved = model_dir_lib.load_model(model_dir)[2]
    assert saved >= 10
    done = _run(args + [f"--train_steps={saved + 5}"])
    assert done.returncode == 0, done.stderr
    assert f"started at {saved})" in done.stdout
    assert model_dir_lib.load_model(model_dir)[2] == saved + 5
    with open(os.path.join(model_dir, model_dir_lib.FLAGS_NAME)) as f:
        assert f"--train_steps={saved + 5}" in f.read()


@pytest.mark.slow  # 14 cases, one fresh TF interpreter each: 4-11 s apiece, ~80 s in all
@pytest.mark.parametrize("extra, needle", [
    (["--data_dir={missing}"], "--data_dir"),
    (["--data_dir={empty}"], "dataset.json"),
    (["--vision_widths=a,b"], "--vision_widths"),
    (["--frontend=cqt"], "--frontend"),
    (["--sample_rate=16000"], "--sample_rate"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["--flagfile={missing}/x.flags"], "x.flags"),
    (["--frontend=mel0"], "--frontend"),
    (["--audio_widths=4,4,4,4,4,4,4"], "--audio_widths"),
    (["--fusion_width=0"], "--fusion_width"),
    (["--model=avolnet", "--head_batchnorm"], "--head_batchnorm"),
    (["--pitch_shift=13"], "--pitch_shift"),
    (["--ema_decay=1"], "--ema_decay"),
    (["--strategy=multi_worker"], "TF_CONFIG"),
    (["--model_dir={afile}"], "is a file"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(data_dir, tmp_path, extra, needle):
    empty = tmp_path / "empty"
    empty.mkdir()
    model_dir = tmp_path / "model"
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    extra = [e.format(missing=tmp_path / "missing", empty=empty, afile=afile) for e in extra]
    args = [os.path.join(BIN, "l3net_train"), f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY_FLAGS,
            "--train_steps=5", *extra]
    result = _run(args)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("l3net_train")]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not model_dir.exists()


@pytest.mark.slow
def test_eval_avc_command_writes_json(data_dir, trained_dir, tmp_path):
    out = tmp_path / "avc.json"
    result = _run([os.path.join(BIN, "l3net_eval"), "avc", f"--model_dir={trained_dir}", f"--data_dir={data_dir}",
                   "--split=test", f"--output_json={out}"])
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["num_pairs"] == 8 * 4 and report["checkpoint_step"] == 80
    assert set(report["per_label"]) == {f"class{k}" for k in range(4)}
    model, _, _ = model_dir_lib.load_model(trained_dir)
    direct = evaluate_avc(model, _fixed_pairs(data_dir, "test", seed=0))
    assert report["accuracy"] == pytest.approx(direct.accuracy)


def test_eval_avc_bad_model_dir(data_dir, tmp_path):
    result = _run([os.path.join(BIN, "l3net_eval"), "avc", f"--model_dir={tmp_path}", f"--data_dir={data_dir}"])
    assert result.returncode == 2 and "model_config.json" in result.stderr and "Traceback" not in result.stderr


def test_history_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    path = str(tmp_path / "history.csv")
    for step in (10, 20, 30):
        append_history(path, step, "train", 0.7, 0.5, float(step))
    append_history(path, 20, "val", 0.6, 0.6, 21.0)
    truncate_history(path, 20)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), r["split"]) for r in rows] == [(10, "train"), (20, "train"), (20, "val")]



def _train_100_steps(cfg: ModelConfig, data_dir: str, path: str, verbose: bool = False, **options):
    """Trains `cfg` for 100 steps into model dir `path` with TrainConfig `options`; returns the AVC
    evaluation of the training split at random init and after training, and the trained model."""
    model_dir_lib.ModelDir(path).write_run("avc", cfg, "", {})
    train_cfg = TrainConfig(learning_rate=2e-3, train_steps=100, log_every_steps=50, eval_every_steps=100,
                            eval_pairs=16, **options)
    assert train(cfg, DATA_CFG, train_cfg, data_dir, path, verbose=verbose).final_step == 100
    before = evaluate_avc(build_model(cfg), _fixed_pairs(data_dir, "train"))
    model, _, step = model_dir_lib.load_model(path)
    assert step == 100
    return before, evaluate_avc(model, _fixed_pairs(data_dir, "train")), model


@pytest.mark.slow
@pytest.mark.parametrize("model_name,ema_decay", [("l3net", 0.0), ("avenet", 0.0), ("l3net", 0.9)])
def test_batch_negatives_training_lowers_the_loss(data_dir, tmp_path, model_name, ema_decay):
    """`--batch_negatives` (all B x B pairs of a batch) trains the same network for the same AVC task,
    also with weight averaging (whose second copy of the network must not take over the step)."""
    cfg = dataclasses.replace(MODEL_CFG, model=model_name)
    before, after, _ = _train_100_steps(cfg, data_dir, str(tmp_path), batch_negatives=True, ema_decay=ema_decay)
    assert after.loss < before.loss - 0.05, (before.loss, after.loss)
    assert after.accuracy > before.accuracy


def test_label_disjoint_batch_negatives_carry_each_sides_labels(data_dir):
    """--batch_negatives --label_disjoint_negatives: the training batches carry label keys of the
    frames' and the audio's videos, and `same_label` of them is the label-set intersection."""
    from l3net.tasks.avc import AvcTask
    from l3net.data.pair_sampling import label_keys, same_label

    cfg = dataclasses.replace(DATA_CFG, label_disjoint_negatives=True)
    features, _ = next(iter(AvcTask(MODEL_CFG, cfg, 16, batch_negatives=True).train_dataset(data_dir, 0)))
    assert features["frame_label_keys"].shape[0] == features["image"].shape[0] == 16
    assert "frame_label_keys" not in next(iter(AvcTask(MODEL_CFG, DATA_CFG, 16, batch_negatives=True)
                                               .train_dataset(data_dir, 0)))[0]
    meta, _ = next(iter(avc_dataset(data_dir, "train", cfg, training=True, seed=0, with_metadata=True)))
    frames = [set(x.decode().split(";")) - {""} for x in meta["frame_labels"].numpy()]
    audio = [set(x.decode().split(";")) - {""} for x in meta["audio_labels"].numpy()]
    want = np.array([[bool(f & a) for a in audio] for f in frames])
    got = same_label(label_keys(meta["frame_labels"]), label_keys(meta["audio_labels"])).numpy()
    np.testing.assert_array_equal(got, want)
    assert want.any() and not want.all()


def test_label_disjoint_batch_negatives_loss_leaves_out_same_label_pairs(data_dir):
    """The task's loss on a real batch: with same-label cross pairs left out it differs from the
    plain all-pairs loss, and equals it when no pair shares a label."""
    from l3net.tasks.avc import AvcTask

    cfg = dataclasses.replace(DATA_CFG, label_disjoint_negatives=True)
    task = AvcTask(MODEL_CFG, cfg, 16, batch_negatives=True)
    plain = AvcTask(MODEL_CFG, DATA_CFG, 16, batch_negatives=True)
    model = task.build_model()
    plain._pairwise = task._pairwise
    features, labels = next(iter(task.train_dataset(data_dir, 0)))
    loss, _ = task.compute(model, features, labels)
    base, _ = plain.compute(model, features, labels)
    assert np.isfinite(float(loss[0])) and abs(float(loss[0]) - float(base[0])) > 1e-4
    unlabelled = dict(features, audio_label_keys=tf.zeros_like(features["audio_label_keys"]))
    np.testing.assert_allclose(float(task.compute(model, unlabelled, labels)[0][0]), float(base[0]), rtol=1e-5)


@pytest.mark.slow
def test_periodic_evaluator_runs_on_the_val_split_during_training(data_dir, tmp_path):
    """`--periodic_eval=avc`: the evaluator's report per validation, on val, with the checkpoint just saved."""
    path = str(tmp_path / "m")
    model_dir_lib.ModelDir(path).write_run("avc", MODEL_CFG, "", {"data": dataclasses.asdict(DATA_CFG)})
    train_cfg = TrainConfig(learning_rate=1e-3, train_steps=20, log_every_steps=10, eval_every_steps=10,
                            eval_pairs=16, periodic_eval=("avc",))
    train(MODEL_CFG, DATA_CFG, train_cfg, data_dir, path, verbose=False)
    for step in (10, 20):
        with open(os.path.join(path, "periodic_eval", "avc", f"step_{step}", "eval_avc_val.json")) as f:
            report = json.load(f)
        assert (report["split"], report["checkpoint"], report["checkpoint_step"]) == ("val", "latest", step)


@pytest.mark.slow
def test_mixed_precision_training_learns_restores_the_policy_and_notes_emulated_bfloat16(
        data_dir, tmp_path, monkeypatch, capsys):
    """--mixed_precision (what configs/demo_cpu_bf16.flags trains with): bfloat16 compute, float32
    variables that tools load at the default policy; the process-wide policy is put back afterwards;
    on a CPU without bfloat16 instructions the run says bfloat16 is emulated there."""
    import keras

    from l3net import cpu_features

    monkeypatch.setattr(cpu_features, "bfloat16_instructions", lambda: [])
    before, after, model = _train_100_steps(MODEL_CFG, data_dir, str(tmp_path), verbose=True, mixed_precision=True)
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert "note: --mixed_precision on a CPU without bfloat16 instructions" in capsys.readouterr().err
    assert all(w.dtype == "float32" for w in model.weights)
    assert after.loss < before.loss - 0.05, (before.loss, after.loss)
