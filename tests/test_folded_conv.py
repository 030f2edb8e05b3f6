"""Conv + inference batch norm folded into one convolution (l3net.serving.folded_conv) and its use
on the shared audio path: the same numbers as the Keras layers, with non-trivial statistics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from l3net.models import build_model
from l3net.models.batch_norm import FusedBatchNormalization
from l3net.models.precision import bfloat16_compute
from l3net.serving import folded_conv
from l3net.serving.shared_audio import SharedAudioNetwork


def _randomise_batch_norms(layers, seed: int) -> None:
    """Moving statistics, gamma and beta far from a fresh layer's (which make batch norm ~identity)."""
    rng = np.random.default_rng(seed)
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = int(layer.moving_mean.shape[0])
            layer.moving_mean.assign(rng.normal(0, 0.5, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, n).astype(np.float32))
            if layer.scale:
                layer.gamma.assign(rng.normal(1, 0.5, n).astype(np.float32))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.5, n).astype(np.float32))


def _chain():
    """conv (no bias) -> fused BN -> ReLU -> pool -> conv (bias, valid) -> BN (no beta) -> ReLU ->
    strided conv -> BN: two foldable pairs, one that is not (stride 2)."""
    inputs = keras.Input([12, 10, 3])
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, name="c1")(inputs)
    x = FusedBatchNormalization(name="b1")(x)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = keras.layers.Conv2D(5, 3, padding="valid", name="c2")(x)
    x = keras.layers.BatchNormalization(center=False, name="b2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c3")(x)
    x = keras.layers.BatchNormalization(name="b3")(x)
    model = keras.Model(inputs, x)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    _randomise_batch_norms(layers, 0)
    if model.get_layer("c2").use_bias:
        model.get_layer("c2").bias.assign(np.linspace(-1, 1, 5).astype(np.float32))
    return model, layers


def _run(steps, x):
    for step in steps:
        x = step(x, training=False)
    return x


def test_folded_chain_equals_the_keras_layers():
    model, layers = _chain()
    steps = folded_conv.fold_chain(layers)
    assert [s.name for s in steps] == ["c1+b1", "r1", "p1", "c2+b2", "r2", "c3", "b3"]
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 12, 10, 3)).astype(np.float32))
    want = model(x, training=False).numpy()
    got = _run(steps, x).numpy()
    assert got.shape == want.shape == (2, 2, 2, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The folded weights are read at call time: a later change of the statistics is followed.
    model.get_layer("b1").moving_mean.assign(model.get_layer("b1").moving_mean + 1.0)
    np.testing.assert_allclose(_run(steps, x).numpy(), model(x, training=False).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="inference only"):
        steps[0](x, training=True)


def test_only_plain_stride_one_convolutions_fold():
    bn = keras.layers.BatchNormalization()
    assert folded_conv.foldable(keras.layers.Conv2D(4, 3), bn)
    assert not folded_conv.foldable(keras.layers.Conv2D(4, 3, strides=2), bn)
    assert not folded_conv.foldable(keras.layers.Conv2D(4, 3, dilation_rate=2), bn)
    assert not folded_conv.foldable(keras.layers.Conv2D(4, 3, activation="relu"), bn)
    assert not folded_conv.foldable(keras.layers.DepthwiseConv2D(3), bn)
    assert not folded_conv.foldable(keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(axis=1))
    assert not folded_conv.foldable(keras.layers.Conv2D(4, 3), keras.layers.ReLU())
    with pytest.raises(ValueError, match="not a foldable"):
        folded_conv.FoldedConvBN(keras.layers.Conv2D(4, 3, strides=2), bn)


def test_the_shared_audio_path_folds_every_conv_of_the_tower(tiny_config):
    """SharedAudioNetwork.feature_map runs each conv + BN folded and equals the tower's own layers."""
    keras.utils.set_random_seed(3)
    model = build_model(tiny_config)
    net = SharedAudioNetwork(model, tiny_config)
    _randomise_batch_norms(net._layers, 2)
    folded = [s for s in net._steps if isinstance(s, folded_conv.FoldedConvBN)]
    assert len(folded) == 2 * len(tiny_config.audio_widths)
    segment = tf.constant(np.random.default_rng(4).normal(0, 0.3, (2, 3 * tiny_config.num_audio_samples)),
                          tf.float32)
    want = _run(net._layers, net._frontend.spectrogram(segment, pad_end=False)).numpy()
    got = net.feature_map(segment).numpy()
    assert float(np.abs(want).max()) > 0.1
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_bfloat16_folded_chain_is_close_and_computes_in_bfloat16():
    with bfloat16_compute(True):
        model, layers = _chain()
    assert keras.mixed_precision.dtype_policy().name == "float32"
    steps = folded_conv.fold_chain(layers)
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 12, 10, 3)).astype(np.float32))
    got = steps[0](x)
    assert got.dtype == tf.bfloat16
    want = tf.cast(model(x, training=False), tf.float32).numpy().ravel()
    low = tf.cast(_run(steps, x), tf.float32).numpy().ravel()
    assert not np.array_equal(low, want)
    cosine = float(np.dot(low, want) / (np.linalg.norm(low) * np.linalg.norm(want)))
    assert cosine > 0.999
