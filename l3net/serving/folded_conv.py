"""A convolution followed by inference-mode batch norm, run as one convolution with a bias.

Why: in inference, batch norm is a per-channel affine map, y = (conv(x) - mean) * s + beta with
s = gamma / sqrt(var + eps), i.e. the convolution with its kernel's output channels scaled by s and
a bias beta - mean * s. Run as Keras layers, the batch norm is a separate pass over every
feature map (and, under bfloat16 compute, two casts to float32 and back, as Keras computes batch
norm in float32); folded, TensorFlow's graph optimiser fuses conv + bias + ReLU into one kernel.
On the paper-size audio tower's shared maps (`bench/probe_speed.py`, ESC-50-size features on an
AMD EPYC with AVX512_BF16, 2 cores) that took 0.545 -> 0.512 s/clip in float32 and
0.303 -> 0.255 s/clip in bfloat16.

The folded weights are computed from the layers' variables at every call (a few kernel-sized
multiplies, nothing per position), so a folded chain cannot go stale against its model.
Numerically it equals the layers up to float rounding (float32: ~1e-6 relative); the exact
per-window path (`embed_windows`, `--exact`) keeps the Keras layers, unchanged.
"""

from __future__ import annotations

from typing import Callable, List, Sequence

import keras
import tensorflow as tf


def foldable(conv: keras.layers.Layer, bn: keras.layers.Layer) -> bool:
    """Whether `conv` -> `bn` is a plain stride-1 2-D convolution into channel-last batch norm."""
    return (type(conv) is keras.layers.Conv2D and isinstance(bn, keras.layers.BatchNormalization)
            and tuple(conv.strides) == (1, 1) and tuple(conv.dilation_rate) == (1, 1) and conv.groups == 1
            and conv.data_format == "channels_last" and conv.padding in ("same", "valid")
            and conv.activation is keras.activations.linear and bn.axis in (-1, 3))


class FoldedConvBN:
    """conv -> batch norm (inference statistics) as one call: [B, H, W, C_in] -> [B, H', W', C_out]
    in the conv's compute dtype (bfloat16 under Keras' mixed_bfloat16, as the layers would give)."""

    def __init__(self, conv: keras.layers.Layer, bn: keras.layers.Layer):
        if not foldable(conv, bn):
            raise ValueError(f"{conv.name} -> {bn.name}: not a foldable conv / batch norm pair")
        self.conv, self.bn = conv, bn
        self.name = f"{conv.name}+{bn.name}"

    def scale_and_offset(self) -> tuple:
        """float32 ([C_out], [C_out]): the batch norm's per-channel scale and the folded bias."""
        bn = self.bn
        scale = tf.math.rsqrt(tf.cast(bn.moving_variance, tf.float32) + bn.epsilon)
        if bn.scale:
            scale = scale * tf.cast(bn.gamma, tf.float32)
        mean = tf.cast(bn.moving_mean, tf.float32)
        if self.conv.use_bias:
            mean = mean - tf.cast(self.conv.bias, tf.float32)
        offset = -mean * scale
        if bn.center:
            offset = offset + tf.cast(bn.beta, tf.float32)
        return scale, offset

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if training:
            raise ValueError(f"{self.name}: inference only (batch norm's moving statistics are folded in)")
        scale, offset = self.scale_and_offset()
        dtype = self.conv.compute_dtype
        kernel = tf.cast(tf.cast(self.conv.kernel, tf.float32) * scale, dtype)  # [kh, kw, C_in, C_out]
        y = tf.nn.conv2d(tf.cast(x, dtype), kernel, strides=1, padding=self.conv.padding.upper())
        return tf.nn.bias_add(y, tf.cast(offset, dtype))


def fold_chain(layers: Sequence[keras.layers.Layer]) -> List[Callable]:
    """The chain `layers` (each applied to the previous one's output) with every foldable conv ->
    batch norm pair replaced by one FoldedConvBN; the other layers are kept as they are.
    Call each element as f(x, training=False)."""
    out: List[Callable] = []
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and foldable(layers[i], layers[i + 1]):
            out.append(FoldedConvBN(layers[i], layers[i + 1]))
            i += 2
        else:
            out.append(layers[i])
            i += 1
    return out
