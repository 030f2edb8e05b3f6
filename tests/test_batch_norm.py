"""FusedBatchNormalization against Keras' own BatchNormalization (the independent reference):
same outputs, gradients and moving statistics in training, same inference, same checkpoint."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from l3net.models import ModelConfig, build_model
from l3net.models.batch_norm import FusedBatchNormalization


def _pair(channels: int, momentum: float = 0.9):
    """The two layers built on [*, 5, 7, channels] with the same non-trivial gamma and beta."""
    layers = [cls(momentum=momentum) for cls in (keras.layers.BatchNormalization, FusedBatchNormalization)]
    rng = np.random.default_rng(1)
    gamma, beta = rng.uniform(0.5, 2.0, channels), rng.normal(0, 1, channels)
    for layer in layers:
        layer.build((None, 5, 7, channels))
        layer.gamma.assign(gamma.astype(np.float32))
        layer.beta.assign(beta.astype(np.float32))
    return layers


def _maps(batch: int = 4, channels: int = 6, seed: int = 0) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(3.0, 2.0, (batch, 5, 7, channels)).astype(np.float32))


def test_training_step_matches_keras_outputs_gradients_and_moving_statistics():
    reference, fused = _pair(6)
    x = _maps()
    upstream = tf.constant(np.random.default_rng(2).normal(0, 1, x.shape).astype(np.float32))
    results = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append((y, grads))
    (y_ref, g_ref), (y_fused, g_fused) = results
    np.testing.assert_allclose(y_fused.numpy(), y_ref.numpy(), atol=1e-5)
    for a, b in zip(g_fused, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    # Moving statistics: Keras 3's rule with the biased batch variance, checked after two steps.
    fused(_maps(seed=3), training=True)
    reference(_maps(seed=3), training=True)
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy(), rtol=1e-5)
    assert not np.allclose(fused.moving_variance.numpy(), 1.0)  # the statistics did move


def test_inference_and_other_ranks_are_the_parents_code():
    reference, fused = _pair(6)
    for layer in (reference, fused):
        layer.moving_mean.assign(np.linspace(-1, 1, 6).astype(np.float32))
        layer.moving_variance.assign(np.linspace(0.5, 4, 6).astype(np.float32))
    x = _maps()
    np.testing.assert_allclose(fused(x, training=False).numpy(), reference(x, training=False).numpy(), atol=1e-6)
    flat_ref, flat_fused = (keras.layers.BatchNormalization(), FusedBatchNormalization())
    v = tf.constant(np.random.default_rng(0).normal(2, 3, (16, 5)).astype(np.float32))
    np.testing.assert_allclose(flat_fused(v, training=True).numpy(), flat_ref(v, training=True).numpy(), atol=1e-5)


def test_mixed_bfloat16_policy_returns_bfloat16_like_keras():
    """Under --mixed_precision (compute in bfloat16, variables in float32) it returns what Keras does."""
    layers = [cls(momentum=0.9, dtype="mixed_bfloat16")
              for cls in (keras.layers.BatchNormalization, FusedBatchNormalization)]
    x = tf.cast(_maps(channels=3), tf.bfloat16)
    y_ref, y_fused = (layer(x, training=True) for layer in layers)
    assert y_fused.dtype == y_ref.dtype == tf.bfloat16
    assert layers[1].moving_mean.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y_fused, tf.float32).numpy(), tf.cast(y_ref, tf.float32).numpy(), atol=0.05)
    np.testing.assert_allclose(layers[1].moving_mean.numpy(), layers[0].moving_mean.numpy(), rtol=1e-3)


@pytest.mark.parametrize("cls", [keras.layers.BatchNormalization, FusedBatchNormalization])
def test_checkpoint_of_a_keras_batch_norm_loads_into_the_fused_one(tmp_path, cls):
    """Model directories trained before the fused layer keep working (and the reverse)."""
    source = cls(momentum=0.9)
    source.build((None, 5, 7, 4))
    source.moving_mean.assign(np.arange(4, dtype=np.float32))
    source.gamma.assign(np.full(4, 2.5, np.float32))
    path = tf.train.Checkpoint(layer=source).write(str(tmp_path / "ckpt"))
    other = (FusedBatchNormalization if cls is keras.layers.BatchNormalization else keras.layers.BatchNormalization)()
    other.build((None, 5, 7, 4))
    tf.train.Checkpoint(layer=other).read(path).assert_consumed()
    np.testing.assert_array_equal(other.moving_mean.numpy(), np.arange(4))
    np.testing.assert_array_equal(other.gamma.numpy(), np.full(4, 2.5))


def test_both_towers_use_it_after_every_conv():
    cfg = ModelConfig(image_size=32, vision_widths=(4, 8), audio_widths=(4, 8), sample_rate=8000,
                      audio_seconds=0.5, fusion_width=8, frontend="mel16")
    model = build_model(cfg)
    names = [layer.name for tower in model.layers if isinstance(tower, keras.Model)
             for layer in tower.layers if isinstance(layer, FusedBatchNormalization)]
    assert sorted(names) == sorted(["audio_input_bn"] + [f"{t}_conv{b}_{c}_bn" for t in ("vision", "audio")
                                                         for b in (1, 2) for c in (1, 2)])
