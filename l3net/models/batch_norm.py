"""Batch normalisation of conv maps with TensorFlow's fused kernel in training.

Keras 3's `BatchNormalization` normalises with separate ops (moments, subtract, scale, shift) and
differentiates each of them; TensorFlow's `FusedBatchNormV3` / `FusedBatchNormGradV3` do the
same in one pass each way. Every conv of both towers is followed by a batch norm, and at the
demo's size the fused kernel takes a quarter off the whole training step (0.132 -> 0.099 s per
step of configs/demo_cpu.flags; `bench/train_step.py --sizes demo --batch_norm both`, 2026-12-07,
AMD EPYC, 2 cores, quiet machine).

The layer below is Keras' own with only the training-mode forward pass of 4-D channels-last maps
replaced: the same variables (gamma, beta, moving_mean, moving_variance), so a checkpoint written
with either loads into the other, and the same moving-statistics rule as Keras 3 (the biased batch
variance, `moving = momentum * moving + (1 - momentum) * batch`). Inference, other ranks, masks
and cross-replica (`synchronized`) batch norm run the parent's code.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="l3net")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step on [B, H, W, C] uses the fused kernel.

    inputs: [B, H, W, C] (any float dtype; normalised in float32, returned in the input's dtype)
    -> the same shape. Identical in result to the parent up to float rounding.
    """

    def _fusable(self, inputs: tf.Tensor, training: Optional[bool], mask) -> bool:
        return (bool(training) and self.trainable and mask is None and not self.synchronized
                and self.center and self.scale and len(inputs.shape) == 4 and self.axis in (-1, 3))

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=self.epsilon, data_format="NHWC", is_training=True)
        # The kernel returns the unbiased (n / (n - 1)) batch variance for the running average;
        # Keras 3 averages the biased one, which is also what normalised `y`.
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 2.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, inputs.dtype)
