"""A one-weight regression task (w -> 2 on constant input) for exercising the trainer's bookkeeping.

Constant data and Adam make its training deterministic and known in advance, so the trainer's
best checkpoint, early stopping, resume and weight averaging can be checked exactly. Subclasses
say what validation returns (`validate`).
"""

from __future__ import annotations

from typing import Dict, Tuple

import keras
import tensorflow as tf

from l3net.tasks.base import Task


class OneWeightTask(Task):
    """y = w x (+ b) fitted to y = 2 x on a batch of ones; the layer is called "dense"."""

    metric_name = "accuracy"
    progress_key = "acc"
    global_batch_size = 4

    def __init__(self, use_bias: bool = True, zero_init: bool = False) -> None:
        self.use_bias, self.zero_init = use_bias, zero_init

    def build_model(self) -> keras.Model:
        x = keras.Input((1,))
        dense = keras.layers.Dense(1, use_bias=self.use_bias, name="dense",
                                   kernel_initializer="zeros" if self.zero_init else "glorot_uniform")
        return keras.Model(x, dense(x))

    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        x = tf.ones([4, 1])
        return tf.data.Dataset.from_tensors(({"x": x}, 2.0 * x)).repeat()

    def compute(self, model: keras.Model, features: Dict[str, tf.Tensor],
                labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        err = tf.reshape(model(features["x"]) - labels, [-1])
        return tf.square(err), tf.reduce_sum(tf.cast(tf.abs(err) < 0.5, tf.float32))


def kernel_value(model: keras.Model) -> float:
    """The one weight w."""
    return float(model.get_layer("dense").kernel.numpy().ravel()[0])
