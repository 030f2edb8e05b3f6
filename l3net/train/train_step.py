"""The training step `l3net_train` runs: one Adam update of a task's model on one global batch.

A module of its own so that `bench/train_step.py` times exactly the function the trainer calls
(the task's loss, the L2 weight decay, the optimizer, the strategy's reductions) instead of an
approximation of it such as Keras' `train_on_batch`, and the two cannot drift apart.

The minimised loss of a step: the task's per-example loss averaged over the global batch
(`tf.nn.compute_average_loss`), plus the paper's L2 penalty `weight_decay * sum(||W||^2) / 2`
over every conv and dense kernel (TF-slim's `l2_regularizer`; not Keras' decoupled decay,
which is scaled by the learning rate), divided by the number of replicas
(`tf.nn.scale_regularization_loss`) so that the all-reduced gradients carry it once.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Tuple

import keras
import tensorflow as tf

from l3net.tasks.base import Task
from l3net.train.train_config import TrainConfig
from l3net.train.weight_averaging import WeightAverage

TrainStep = Callable[[Iterator], Tuple[tf.Tensor, tf.Tensor]]


def make_optimizer(model: keras.Model, train_cfg: TrainConfig) -> keras.optimizers.Optimizer:
    """Adam at `train_cfg.learning_rate`, its slots built for `model`'s trainable variables.

    Call inside the strategy scope. The slots are built before the first step so that a
    checkpoint restores them (the loop re-sets the learning rate before every step).
    """
    optimizer = keras.optimizers.Adam(learning_rate=train_cfg.learning_rate)
    optimizer.build(model.trainable_variables)
    return optimizer


def decayed_variables(model: keras.Model) -> List[tf.Variable]:
    """The variables the L2 penalty covers: every conv and dense kernel (no biases, no BN parameters)."""
    return [v for v in model.trainable_variables if v.path.endswith("kernel")]


def make_train_step(task: Task, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                    train_cfg: TrainConfig, strategy: tf.distribute.Strategy, step_var: tf.Variable,
                    average: Optional[WeightAverage] = None) -> TrainStep:
    """The compiled step: `train_step(iterator) -> (loss, metric)`, both float32 scalars on the device.

    `iterator` is a (distributed) iterator over batches of (features, labels) of
    `task.global_batch_size` examples (`Task.train_dataset`); each call takes one batch, applies
    one update of `model`'s trainable variables and adds 1 to `step_var` (int64 scalar).
    loss: the task loss averaged over the global batch, without the weight-decay penalty;
    metric: the task's metric summed over the batch / global batch size. `train_cfg.jit_compile`
    compiles the per-replica computation with XLA. With `average` (`--ema_decay`) the averaged
    weights move after each update (in cross-replica context: every replica's copy alike).
    """
    global_batch = task.global_batch_size
    decayed = decayed_variables(model)

    @tf.function(jit_compile=train_cfg.jit_compile)
    def replica_step(features: Dict[str, tf.Tensor], labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            per_example, metric_sum = task.compute(model, features, labels)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            penalty = train_cfg.weight_decay * tf.add_n([tf.nn.l2_loss(v) for v in decayed])
            total = loss + tf.nn.scale_regularization_loss(penalty)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, metric_sum

    @tf.function
    def train_step(it: Iterator) -> Tuple[tf.Tensor, tf.Tensor]:
        features, labels = next(it)
        loss, metric_sum = strategy.run(replica_step, args=(features, labels))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        metric_sum = strategy.reduce(tf.distribute.ReduceOp.SUM, metric_sum, axis=None)
        if average is not None:
            average.update(step_var)
        step_var.assign_add(1)
        return loss, metric_sum / global_batch

    return train_step
