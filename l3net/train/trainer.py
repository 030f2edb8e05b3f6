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
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Dict, Optional

import keras
import tensorflow as tf

from l3net.data.schema import DatasetError
from l3net.model_dir import ModelDir
from l3net.tasks.base import Task, ValidationResult
from l3net.train.best_checkpoint import BestCheckpoint
from l3net.train.distribution import is_chief, make_strategy
from l3net.train.lr_schedule import learning_rate_at, run_progress
from l3net.train.periodic_eval import PeriodicEvaluation
from l3net.train.progress import ProgressBar
from l3net.train.stop_signals import StopSignals
from l3net.train.train_config import TrainConfig
from l3net.train.training_curves import append_history, plot_training_curves, truncate_history


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

    @property
    def best_description(self) -> str:
        if self.best_step < 0:
            return "no best checkpoint (no validation)"
        return f"best checkpoint: step {self.best_step} (val {self.metric_name} {self.best_metric:.4f})"


class TrainingError(RuntimeError):
    """Training hit a data or runtime error; a checkpoint of the last step was saved first."""


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

    task = AvcTask(model_cfg, data_cfg, train_cfg.eval_pairs, batch_negatives=train_cfg.batch_negatives)
    return train_task(task, train_cfg, data_dir, model_dir, verbose=verbose)


def train_task(task: Task, train_cfg: TrainConfig, data_dir: str, model_dir: str, *,
               verbose: bool = True) -> TrainResult:
    """Trains (or resumes) `task`'s model in `model_dir` on `data_dir` until a stop condition."""
    t_start = time.monotonic()
    if train_cfg.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    strategy = make_strategy(train_cfg.strategy)
    chief = is_chief(strategy)
    directory = ModelDir(model_dir)
    # Every worker restores from the chief's checkpoints (so all start at the same step);
    # non-chief workers must still take part in saving, into a scratch dir of their own.
    chief_ckpt_dir = directory.checkpoint_dir
    ckpt_dir = chief_ckpt_dir if chief else os.path.join(
        model_dir, f".worker_{strategy.cluster_resolver.task_id}")

    with strategy.scope():
        keras.utils.set_random_seed(train_cfg.seed)
        model = task.build_model()
        optimizer = keras.optimizers.Adam(learning_rate=train_cfg.learning_rate)
        optimizer.build(model.trainable_variables)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=3)
    best = BestCheckpoint(directory, tf.train.Checkpoint(model=model, step=step_var), task.metric_name,
                          train_cfg.best_metric, chief=chief,
                          scratch_dir=None if chief else os.path.join(ckpt_dir, "best"))
    latest = tf.train.latest_checkpoint(chief_ckpt_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    else:
        with strategy.scope():
            task.initialize(model)
    start_step = int(step_var.numpy())
    history_path = directory.history_path
    if chief:
        # Rows logged after the last checkpoint of a killed run would repeat on resume.
        truncate_history(history_path, start_step)
    result = TrainResult(start_step=start_step, final_step=start_step, stopped_by="already_done",
                         metric_name=task.metric_name)
    best.restore_state(start_step)
    result.best_step, result.best_metric = best.step, best.metric
    if start_step >= train_cfg.train_steps:
        if verbose:
            print(f"{model_dir}: already trained to step {start_step} (--train_steps={train_cfg.train_steps})")
        return result

    global_batch = task.global_batch_size
    train_ds = task.train_dataset(data_dir, _run_seed(train_cfg.seed, start_step))
    iterator = iter(strategy.experimental_distribute_dataset(train_ds))
    decayed = [v for v in model.trainable_variables if v.path.endswith("kernel")]

    @tf.function(jit_compile=train_cfg.jit_compile)
    def replica_step(features: Dict[str, tf.Tensor], labels: tf.Tensor):
        with tf.GradientTape() as tape:
            per_example, metric_sum = task.compute(model, features, labels)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            penalty = train_cfg.weight_decay * tf.add_n([tf.nn.l2_loss(v) for v in decayed])
            total = loss + tf.nn.scale_regularization_loss(penalty)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, metric_sum

    @tf.function
    def train_step(it):
        features, labels = next(it)
        loss, metric_sum = strategy.run(replica_step, args=(features, labels))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        metric_sum = strategy.reduce(tf.distribute.ReduceOp.SUM, metric_sum, axis=None)
        step_var.assign_add(1)
        return loss, metric_sum / global_batch

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
        append_history(history_path, step, split, loss, metric, elapsed, metric_name=task.metric_name)
        with writers[split].as_default(step=step):
            tf.summary.scalar(f"{task.name}_loss", loss)
            tf.summary.scalar(f"{task.name}_{task.metric_name}", metric)
            for k, v in (extra or {}).items():
                tf.summary.scalar(k, v)

    periodic = PeriodicEvaluation(train_cfg, data_dir, model_dir, chief=chief)

    def validate(step: int) -> bool:
        """Validates, keeps a new best checkpoint, runs periodic evaluators; False to stop early."""
        try:
            res: ValidationResult = task.validate(model, data_dir, train_cfg.seed)
        except DatasetError:
            return True  # No usable val split: `l3net_train` warned once at start.
        result.val_loss, result.val_metric = res.loss, res.metric
        improved = best.offer(step, res.metric, res.loss)
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
                log("train", step, loss, metric, {"examples_per_s": rate, "learning_rate": lr})
                progress.update(step, {"loss": loss, task.progress_key: metric}, final=finished or out_of_time)
                result.train_loss, result.train_metric = loss, metric
                window, t_window = [], time.monotonic()
            keep_going = True
            if step % train_cfg.eval_every_steps == 0 or finished or out_of_time:
                manager.save(checkpoint_number=step)
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
    except tf.errors.OpError as e:
        saved = int(step_var.numpy())
        manager.save(checkpoint_number=saved)
        first = (e.message or str(e)).strip().splitlines()[0]
        raise TrainingError(f"training stopped at step {saved} (checkpoint saved; fix the cause and re-run "
                            f"to resume): {type(e).__name__}: {first}") from None
    if stop_signals.requested is not None:
        manager.save(checkpoint_number=int(step_var.numpy()))
        result.stopped_by = "interrupted"
        if verbose:
            print(f"\ninterrupted: checkpoint saved at step {int(step_var.numpy())}; re-run to resume")
    result.final_step = int(step_var.numpy())
    result.elapsed_s = time.monotonic() - t_start
    best.cleanup()
    if chief:
        for w in writers.values():
            w.flush()
        plot_training_curves(history_path, directory.curves_path,
                             title=f"{task.title} - {os.path.basename(os.path.abspath(model_dir))}",
                             **task.curve_options())
    return result
