"""The training loop: any task (AVC, envelope), Adam with weight decay, any `tf.distribute` strategy.

One trainer serves every task, model and config (L3-Net, AVE-Net, the envelope network, paper or
CPU demo sizes); what differs lives in the config objects and the `Task` (model, inputs, loss,
metric, validation: `l3net.tasks`). A custom loop rather than `model.fit` because resuming must
restore the exact step and optimizer state mid-run, the run must stop on a step count or a
wall-time budget, and validation uses a fixed pair set.

Weight decay is the paper's L2 penalty, `weight_decay * sum(||W||^2) / 2` over conv and dense
kernels added to the loss (as in TF-slim's `l2_regularizer`), not Keras' decoupled decay, which
is scaled by the learning rate and would be ~1e-9 per step at the paper's settings.

Resuming and the data position: model, optimizer and step are checkpointed. The input stream is
re-seeded from (seed, step) on resume, so a resumed run continues with new pairs instead of
replaying the ones it already saw; the contents of shuffle buffers are not checkpointed (they
would add hundreds of MB per checkpoint at paper size).

Best checkpoint: after each validation that improves on the best so far (`--best_metric`), the
weights are also saved to `checkpoints/best/` with `best.json` (step, metric, loss). Training
curves on small datasets rise and then fall (the network memorises its training videos), so
the newest checkpoint is often not the one to use; every tool defaults to the best one.
`--early_stopping_patience` stops a run that has not improved for that many validations.

Weight averaging (`--ema_decay`, `weight_averaging`): the checkpoints' `model` is then the
averaged network, which validation scores and every tool restores; the live one is saved as
`live_model` for resuming.

Faults (issue 16; README "Faults and recovery"). kill -9 at any moment leaves a resumable
directory: TensorFlow writes a checkpoint under temporary names and records it in the
`checkpoint` state file only once complete, so a re-run resumes from the newest recorded one
(older ones are tried if it is unreadable); what an interrupted save left (`ckpt-N_temp/`,
`*.tempstate*`, complete but unrecorded files) is removed at start; history rows after the
checkpoint are dropped; and a validation whose row is missing at the resumed step (killed
between the checkpoint and its validation, or between best/ckpt-N and best.json) is run again,
so history.csv and best.json end up as an uninterrupted run leaves them. A damaged shard stops
the run with one line naming it and the byte offset, after a checkpoint
(`--skip_corrupt_records`: skip the rest of that shard, counted in the summaries; see
`l3net.data.records`). A full disk (or any failed write) stops it with one line naming what could
not be written and the last complete checkpoint; partial files are removed, the run resumes
once there is space. `--deterministic` turns on TensorFlow's op determinism.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from typing import Dict, List, Optional

import keras
import tensorflow as tf

from l3net.data import records
from l3net.data.schema import DatasetError
from l3net.model_dir import ModelDir
from l3net.models.precision import bfloat16_compute, emulated_bfloat16_note
from l3net.tasks.base import Task, ValidationResult
from l3net.train.best_checkpoint import BestCheckpoint
from l3net.train.distribution import (distributed_input, is_chief, make_strategy, num_workers, statistics_sync,
                                      task_id)
from l3net.train.lr_schedule import learning_rate_at, run_progress
from l3net.train.periodic_eval import PeriodicEvaluation
from l3net.train.progress import ProgressBar
from l3net.train.stop_signals import StopSignals
from l3net.train.train_config import TrainConfig
from l3net.train.train_step import make_optimizer, make_train_step
from l3net.train.weight_averaging import WeightAverage, resume_mismatch
from l3net.train.training_curves import append_history, plot_training_curves, read_history, truncate_history


@dataclasses.dataclass
class TrainResult:
    """What a run did: the step it reached and its last train/val numbers.

    `*_metric` is the task's `metric_name` (AVC accuracy, envelope correlation).
    """

    start_step: int
    final_step: int
    stopped_by: str  # 'steps' | 'time_budget' | 'early_stopping' | 'interrupted' | 'already_done' | 'error'
    metric_name: str = "accuracy"
    train_loss: float = float("nan")
    train_metric: float = float("nan")
    val_loss: float = float("nan")
    val_metric: float = float("nan")
    elapsed_s: float = 0.0
    best_step: int = -1
    best_metric: float = float("nan")
    damaged_shard_reads: int = 0  # --skip_corrupt_records: shards read only up to a damaged record

    @property
    def best_description(self) -> str:
        if self.best_step < 0:
            return "no best checkpoint (no validation)"
        return f"best checkpoint: step {self.best_step} (val {self.metric_name} {self.best_metric:.4f})"


class TrainingError(RuntimeError):
    """Training hit a data, disk or runtime error; the one-line message says which checkpoint is intact."""


class _WriteFailed(Exception):
    """Writing `what` failed (disk full, I/O error); `error` is the OSError or OpError."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(what)
        self.what, self.error = what, error


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _is_disk_full(error: BaseException) -> bool:
    """ENOSPC / EDQUOT, from Python (OSError) or TensorFlow's file system (its message says so)."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


_TEMP_NAMES = re.compile(r"^(ckpt-\d+_temp|.*\.tempstate\d*|checkpoint\.tmp[0-9a-f]+)$")
_CHECKPOINT_FILE = re.compile(r"^(ckpt-\d+)\.(index|data-\d+-of-\d+)$")


def _remove_partial_checkpoints(directory: str) -> List[str]:
    """Removes what an interrupted or failed save left in `directory`; returns the removed names.

    TensorFlow writes a checkpoint into `ckpt-N_temp/` and `*.tempstate*` files, renames them into
    place, then records it in the `checkpoint` state file (written to a temporary name and
    renamed). Leftovers of each stage are removed: temporary folders and files, and checkpoint
    files the state file does not list (complete but never recorded: a re-run trains past that
    step again). Nothing is removed when the state file is missing or unreadable.
    """
    if not os.path.isdir(directory):
        return []
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):
        state = None
    recorded = set()
    if state is not None:
        recorded = {os.path.basename(p) for p in [state.model_checkpoint_path, *state.all_model_checkpoint_paths]}
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        unrecorded = _CHECKPOINT_FILE.match(name)
        if _TEMP_NAMES.match(name) or (unrecorded and recorded and unrecorded.group(1) not in recorded):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            removed.append(name)
    return removed


def _remove_stale_temp_files(directory: str, names: List[str]) -> None:
    """Removes `l3net.atomic_files` temporaries of `names` (e.g. 'history.csv') left by a kill."""
    if not os.path.isdir(directory):
        return
    patterns = [re.compile(rf"^\.{re.escape(base)}\.[A-Za-z0-9_]+\.tmp{re.escape(ext)}$")
                for base, ext in map(os.path.splitext, names)]
    for name in os.listdir(directory):
        if any(p.match(name) for p in patterns):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass


def _restore_newest_readable(checkpoint, ckpt_dir: str, verbose: bool) -> Optional[str]:
    """Restores the newest recorded checkpoint that can be read; returns its path (None: none yet).

    One that cannot (damaged or missing files) is named in a warning and the next older one is
    tried; TrainingError if none of them can be read.
    """
    if not os.path.isdir(ckpt_dir):
        return None
    try:
        state = tf.train.get_checkpoint_state(ckpt_dir)
    except (tf.errors.OpError, ValueError) as e:
        raise TrainingError(f"{os.path.join(ckpt_dir, 'checkpoint')}: unreadable ({_first_line(e)}); move "
                            f"{ckpt_dir} away to start afresh") from None
    if state is None or not state.model_checkpoint_path:
        return None
    candidates = list(dict.fromkeys([state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]))
    problems = []
    for path in candidates:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            problems.append(f"{os.path.basename(path)}: {_first_line(e)}")
            continue
        if problems and verbose:
            print(f"warning: resuming from {os.path.basename(path)}: newer checkpoint unreadable "
                  f"({'; '.join(problems)})", file=sys.stderr, flush=True)
        return path
    raise TrainingError(f"{ckpt_dir}: no readable checkpoint ({'; '.join(problems)}); move it away to start afresh")


def _shards_of(data_dir: str) -> List[str]:
    """Every shard of a converted dataset (for naming a damaged one), [] if it cannot be listed."""
    from l3net.data import schema

    try:
        info = schema.read_dataset_info(data_dir)
        return [os.path.join(data_dir, name) for split in schema.SPLITS for name in info.shards.get(split, [])]
    except DatasetError:
        return []


def _validation_missing(history_path: str, start_step: int, train_cfg: TrainConfig) -> bool:
    """Whether the run that saved the checkpoint at `start_step` was killed before recording its validation."""
    if start_step <= 0 or not (start_step % train_cfg.eval_every_steps == 0 or start_step == train_cfg.train_steps):
        return False
    return start_step not in read_history(history_path).get("val", {}).get("step", [])


def _run_seed(seed: int, step: int) -> int:
    """Data seed for a run starting at `step`: fresh pairs after a resume, reproducible."""
    return (seed * 1_000_003 + step) % (2 ** 31 - 1)


def train(model_cfg, data_cfg, train_cfg: TrainConfig, data_dir: str, model_dir: str, *,
          verbose: bool = True) -> TrainResult:
    """Trains (or resumes) an AVC model (`l3net.tasks.avc`) in `model_dir`: the library shorthand.

    `l3net_train` writes the resolved configs first (`ModelDir.write_run`); a caller of this
    function that wants tools to read the directory should do the same.
    """
    from l3net.tasks.avc import AvcTask

    task = AvcTask(model_cfg, data_cfg, train_cfg.eval_pairs, batch_negatives=train_cfg.batch_negatives,
                   negative_discount=train_cfg.negative_discount)
    return train_task(task, train_cfg, data_dir, model_dir, verbose=verbose)


def train_task(task: Task, train_cfg: TrainConfig, data_dir: str, model_dir: str, *,
               verbose: bool = True) -> TrainResult:
    """Trains (or resumes) `task`'s model in `model_dir` on `data_dir` until a stop condition.

    Raises TrainingError (a one-line message: what failed, at which step, which checkpoint is
    intact, what to do) when the data or the disk fails. `train_cfg.deterministic` turns on
    TensorFlow's op determinism for the rest of the process.
    """
    if train_cfg.deterministic:
        tf.config.experimental.enable_op_determinism()

    def warn(message: str) -> None:
        if verbose:
            print(f"\nwarning: {message}", file=sys.stderr, flush=True)

    with records.skipping_damaged_records(train_cfg.skip_corrupt_records, warn):
        return _train_task(task, train_cfg, data_dir, model_dir, verbose=verbose)


def _train_task(task: Task, train_cfg: TrainConfig, data_dir: str, model_dir: str, *,
                verbose: bool) -> TrainResult:
    """The run itself; `train_task` sets the process-wide switches around it."""
    t_start = time.monotonic()
    note = emulated_bfloat16_note("--mixed_precision") if train_cfg.mixed_precision else None
    if verbose and note:
        print(note, file=sys.stderr, flush=True)
    # Every worker restores from the chief's checkpoints (so all start at the same step), but a
    # non-chief worker must still take part in saving (TensorFlow's multi-worker recipe): into a
    # temporary directory of its own, outside the model directory, removed when it stops.
    scratch = None
    # The dtype policy is process-wide: bfloat16_compute puts it back for in-process callers.
    with bfloat16_compute(train_cfg.mixed_precision):
        try:
            strategy = make_strategy(train_cfg.strategy)
            if not is_chief(strategy):
                scratch = tempfile.mkdtemp(prefix=f"l3net_worker{task_id(strategy)}_")
            return _train_on(strategy, task, train_cfg, data_dir, model_dir, verbose=verbose, scratch=scratch,
                             t_start=t_start)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


def _train_on(strategy: tf.distribute.Strategy, task: Task, train_cfg: TrainConfig, data_dir: str, model_dir: str, *,
              verbose: bool, scratch: Optional[str], t_start: float) -> TrainResult:
    """The run on `strategy`; `scratch` is a non-chief worker's temporary checkpoint directory (None on the chief)."""
    chief = scratch is None
    directory = ModelDir(model_dir)
    chief_ckpt_dir = directory.checkpoint_dir
    ckpt_dir = chief_ckpt_dir if chief else scratch

    with strategy.scope():
        keras.utils.set_random_seed(train_cfg.seed)
        model = task.build_model()
        optimizer = make_optimizer(model, train_cfg)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        average = WeightAverage(model, task.build_model(), train_cfg.ema_decay) if train_cfg.ema_decay else None
        # What validation scores and the tools restore (the key `model`): the averaged copy if any.
        used = average.averaged if average else model
        extra = average.checkpoint_entries() if average else {}
        checkpoint = tf.train.Checkpoint(model=used, optimizer=optimizer, step=step_var, **extra)
    if chief:
        # Before the managers read the directories: what a killed or failed save left behind.
        _remove_partial_checkpoints(chief_ckpt_dir)
        _remove_partial_checkpoints(directory.best_checkpoint_dir)
        _remove_stale_temp_files(directory.best_checkpoint_dir, ["best.json"])
        _remove_stale_temp_files(model_dir, [os.path.basename(directory.history_path),
                                             os.path.basename(directory.curves_path)])
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=3)
    best = BestCheckpoint(directory, tf.train.Checkpoint(model=used, step=step_var), task.metric_name,
                          train_cfg.best_metric, chief=chief,
                          scratch_dir=None if chief else os.path.join(ckpt_dir, "best"))
    newest = directory.latest_checkpoint()
    mismatch = resume_mismatch(newest, train_cfg.ema_decay) if newest else None
    if mismatch:
        raise TrainingError(mismatch)
    latest = _restore_newest_readable(checkpoint, chief_ckpt_dir, verbose)
    if not latest:
        with strategy.scope():
            task.initialize(model)
            if average:
                average.reset()
    start_step = int(step_var.numpy())
    if latest and verbose:
        print(f"resuming from {os.path.basename(latest)} (step {start_step})")
    history_path = directory.history_path
    if chief:
        # Rows logged after the last checkpoint of a killed run would repeat on resume.
        truncate_history(history_path, start_step)
    result = TrainResult(start_step=start_step, final_step=start_step, stopped_by="already_done",
                         metric_name=task.metric_name)
    best.restore_state(start_step)
    result.best_step, result.best_metric = best.step, best.metric
    revalidate = _validation_missing(history_path, start_step, train_cfg)
    if start_step >= train_cfg.train_steps and not revalidate:
        if verbose:
            print(f"{model_dir}: already trained to step {start_step} (--train_steps={train_cfg.train_steps})")
        return result

    global_batch = task.global_batch_size
    run_seed = _run_seed(train_cfg.seed, start_step)
    # Each worker of a multi-worker job draws its own pairs and augmentations (worker 0: the one-worker seed).
    iterator = iter(distributed_input(
        strategy, lambda worker: task.train_dataset(data_dir, (run_seed + 7919 * worker) % (2 ** 31 - 1)),
        global_batch))
    train_step = make_train_step(task, model, optimizer, train_cfg, strategy, step_var, average)

    summary_root = directory.summary_dir
    writers = {split: tf.summary.create_file_writer(os.path.join(summary_root, split))
               for split in ("train", "val")} if chief else {}
    budget_s = train_cfg.time_budget_minutes * 60.0
    progress = ProgressBar(train_cfg.train_steps, start=start_step, budget_s=budget_s)
    t_window = time.monotonic()

    def log(split: str, step: int, loss: float, metric: float, extra: Optional[Dict[str, float]] = None) -> None:
        if not chief:
            return
        elapsed = time.monotonic() - t_start
        try:
            append_history(history_path, step, split, loss, metric, elapsed, metric_name=task.metric_name)
        except OSError as e:
            raise _WriteFailed(history_path, e) from None
        try:
            with writers[split].as_default(step=step):
                tf.summary.scalar(f"{task.name}_loss", loss)
                tf.summary.scalar(f"{task.name}_{task.metric_name}", metric)
                for k, v in (extra or {}).items():
                    tf.summary.scalar(k, v)
        except (OSError, tf.errors.OpError) as e:
            raise _WriteFailed(os.path.join(summary_root, split), e) from None

    saved_step = [start_step if latest else -1]  # the newest complete checkpoint of this run
    sync_statistics = statistics_sync(strategy, model.non_trainable_variables)

    def save(step: int) -> None:
        """Saves the checkpoint of `step`; _WriteFailed (partial files removed) if it cannot."""
        if saved_step[0] == step:
            return
        if average:
            average.copy_statistics()
        try:
            manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            if chief:
                _remove_partial_checkpoints(ckpt_dir)
            raise _WriteFailed(f"the checkpoint of step {step} in {ckpt_dir}", e) from None
        saved_step[0] = step

    damage_events_at_start = records.damage_events()

    periodic = PeriodicEvaluation(train_cfg, data_dir, model_dir, chief=chief)

    def validate(step: int) -> bool:
        """Validates, keeps a new best checkpoint, runs periodic evaluators; False to stop early."""
        try:
            res: ValidationResult = task.validate(used, data_dir, train_cfg.seed)
        except DatasetError:
            return True  # No usable val split: `l3net_train` warned once at start.
        result.val_loss, result.val_metric = res.loss, res.metric
        try:
            improved = best.offer(step, res.metric, res.loss)
        except (OSError, tf.errors.OpError) as e:
            if chief:
                _remove_partial_checkpoints(directory.best_checkpoint_dir)
            raise _WriteFailed(f"the best checkpoint (step {step}) in {directory.best_checkpoint_dir}", e) from None
        result.best_step, result.best_metric = best.step, best.metric
        log("val", step, res.loss, res.metric, {"best_step": float(best.step)})
        if verbose:
            mark = " (new best)" if improved else f" (best: step {best.step})"
            print(f"\nstep {step}: {res.description}{mark}")
        for name, scalars in periodic.run(step).items():
            if chief:
                with writers["val"].as_default(step=step):
                    for key, value in scalars.items():
                        tf.summary.scalar(f"{name}/{key}", value)
            if verbose:
                print(f"step {step}: {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scalars.items()))
        patience = train_cfg.early_stopping_patience
        return not (patience and best.validations_since_best >= patience)

    # Per-step results stay on the device until a log step (no host sync every step).
    window: list = []
    step = start_step

    def set_learning_rate() -> float:
        progress = run_progress(step, train_cfg.train_steps, time.monotonic() - t_start, budget_s)
        lr = learning_rate_at(train_cfg.learning_rate, train_cfg.lr_schedule, progress, step,
                              train_cfg.warmup_steps)
        optimizer.learning_rate.assign(lr)
        return lr

    def train_until_stop(stop_signals: StopSignals) -> None:
        nonlocal step, window, t_window
        if revalidate:
            # Killed between this checkpoint and its validation (or between best/ckpt-N and
            # best.json): the same weights give the same validation, recorded now.
            if verbose:
                print(f"step {step}: validating again (the run that saved this checkpoint stopped before "
                      "recording its validation)")
            if not validate(step):
                result.stopped_by = "early_stopping"
                return
            if step >= train_cfg.train_steps:
                result.stopped_by = "steps"
                return
        while True:
            lr = set_learning_rate()
            window.append(train_step(iterator))
            step += 1
            out_of_time = budget_s > 0 and time.monotonic() - t_start >= budget_s
            finished = step >= train_cfg.train_steps
            if step % train_cfg.log_every_steps == 0 or finished or out_of_time:
                values = tf.reduce_mean(tf.stack([tf.stack(w) for w in window]), axis=0).numpy()
                loss, metric = float(values[0]), float(values[1])
                rate = len(window) * global_batch / max(time.monotonic() - t_window, 1e-9)
                extra = {"examples_per_s": rate, "learning_rate": lr}
                if train_cfg.skip_corrupt_records:
                    extra["damaged_shard_reads"] = float(records.damage_events() - damage_events_at_start)
                log("train", step, loss, metric, extra)
                progress.update(step, {"loss": loss, task.progress_key: metric}, final=finished or out_of_time)
                result.train_loss, result.train_metric = loss, metric
                window, t_window = [], time.monotonic()
            keep_going = True
            if step % train_cfg.eval_every_steps == 0 or finished or out_of_time:
                sync_statistics()
                save(step)
                keep_going = validate(step)
            if finished or out_of_time:
                result.stopped_by = "steps" if finished else "time_budget"
                return
            if not keep_going:
                result.stopped_by = "early_stopping"
                if verbose:
                    print(f"\nearly stopping: {train_cfg.early_stopping_patience} validations without a new best "
                          f"(best: step {best.step})")
                return
            if stop_signals.requested is not None:
                return

    stop_signals = StopSignals()
    try:
        with stop_signals:
            train_until_stop(stop_signals)
    except KeyboardInterrupt:
        stop_signals.requested = signal.SIGINT
    except (tf.errors.OpError, OSError, _WriteFailed, DatasetError) as e:
        raise _training_error(e, int(step_var.numpy()), save, saved_step, ckpt_dir, data_dir,
                              workers=num_workers(strategy)) from None
    if stop_signals.requested is not None:
        try:
            save(int(step_var.numpy()))
        except _WriteFailed as e:
            raise _training_error(e, int(step_var.numpy()), save, saved_step, ckpt_dir, data_dir) from None
        result.stopped_by = "interrupted"
        if verbose:
            print(f"\ninterrupted: checkpoint saved at step {int(step_var.numpy())}; re-run to resume")
    result.final_step = int(step_var.numpy())
    result.elapsed_s = time.monotonic() - t_start
    result.damaged_shard_reads = records.damage_events() - damage_events_at_start
    if result.damaged_shard_reads and verbose:
        print(f"\n{result.damaged_shard_reads} shard reads stopped at a damaged record and skipped the rest of "
              "the shard (--skip_corrupt_records; the warnings above name the shards)")
    best.cleanup()
    if chief:
        try:
            for w in writers.values():
                w.flush()
            plot_training_curves(history_path, directory.curves_path,
                                 title=f"{task.title} - {os.path.basename(os.path.abspath(model_dir))}",
                                 **task.curve_options())
        except (OSError, tf.errors.OpError) as e:  # The checkpoints are complete: a warning, not a failure.
            print(f"warning: could not write {directory.curves_path} or the summaries ({_first_line(e)})",
                  file=sys.stderr, flush=True)
    return result


def _training_error(error: BaseException, step: int, save, saved_step: List[int], ckpt_dir: str,
                    data_dir: str, workers: int = 1) -> TrainingError:
    """The one-line TrainingError for `error` raised at `step`, after trying once to save that step.

    With several workers, an UnavailableError means another worker died or cannot be reached
    (TensorFlow's peer health check aborts the collectives): the job cannot go on without it.
    """
    cause = error.error if isinstance(error, _WriteFailed) else error
    try:
        save(step)
    except _WriteFailed:
        pass  # On a full disk this fails too; the partial files are gone, the older checkpoints intact.
    if saved_step[0] == step:
        intact = f"checkpoint saved at step {step}"
    elif saved_step[0] < 0:
        intact = "no checkpoint was written"
    else:
        intact = (f"the last complete checkpoint is step {saved_step[0]} "
                  f"({os.path.join(ckpt_dir, f'ckpt-{saved_step[0]}')})")
    if isinstance(error, _WriteFailed) or _is_disk_full(cause):
        where = f"writing {error.what}" if isinstance(error, _WriteFailed) else _first_line(cause)
        if _is_disk_full(cause):
            return TrainingError(f"no space left on device ({where}) at step {step}; {intact}; free space and "
                                 "re-run the same command to resume")
        return TrainingError(f"cannot write ({where}: {_first_line(cause)}) at step {step}; {intact}; fix it and "
                             "re-run the same command to resume")
    if workers > 1 and isinstance(cause, tf.errors.UnavailableError):
        peer = re.search(r"/job:\w+/replica:\d+/task:\d+", str(cause))
        detail = f"{peer.group(0)} is down" if peer else _first_line(cause)
        return TrainingError(f"another worker of the {workers}-worker job stopped or cannot be reached at step {step} "
                             f"({detail}); {intact}; re-launch every worker with the same command to resume")
    damage = records.describe_read_error(cause, _shards_of(data_dir))
    if damage is not None:
        return TrainingError(f"{damage.advice(skip_flag='--skip_corrupt_records')}; training stopped at step {step}, "
                             f"{intact}")
    if isinstance(cause, DatasetError):
        return TrainingError(f"{cause}; training stopped at step {step}, {intact}")
    return TrainingError(f"training stopped at step {step} ({intact}; fix the cause and re-run to resume): "
                         f"{type(cause).__name__}: {_first_line(cause)}")
