"""AVOL-Net: grid shapes (paper size built, never run), the multiple-instance max giving the AVC
probability (checked against a NumPy recomputation from the model's own intermediate tensors),
analytic counts, the whole-frame localizer sharing the trained weights, and the stable loss."""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from l3net.models import ModelConfig, build_model, count_flops, count_params, grid_size, localizer
from l3net.models.avolnet import CELL_LOGITS

SMALL = ModelConfig(model="avolnet", image_size=32, vision_widths=(4, 8, 16), audio_widths=(4, 8, 16),
                    sample_rate=8000, audio_seconds=0.5, embedding_width=6)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(1)
    return build_model(SMALL)


def _inputs(cfg, batch=3, size=None, seed=0):
    rng = np.random.default_rng(seed)
    h, w = size or (cfg.image_size, cfg.image_size)
    return {"image": rng.uniform(0, 1, (batch, h, w, 3)).astype(np.float32),
            "audio": rng.uniform(-0.5, 0.5, (batch, cfg.num_audio_samples)).astype(np.float32)}


def test_paper_size_keeps_a_14x14_grid_and_counts_match():
    cfg = ModelConfig(model="avolnet")
    model = build_model(cfg)
    assert grid_size(cfg) == 14
    assert tuple(model.get_layer("vision_tower").output.shape) == (None, 14, 14, 512)
    assert tuple(model.get_layer("image_conv2").output.shape) == (None, 14, 14, 128)
    assert tuple(model.get_layer("audio_embedding").output.shape) == (None, 128)
    assert tuple(model.get_layer(CELL_LOGITS).output.shape) == (None, 14, 14)
    assert tuple(model.output.shape) == (None, 2)
    counts = count_params(cfg)
    assert counts["total"] == model.count_params()
    assert counts["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # Head by hand: two 1x1 convs 512->128->128, audio fc 512->128->128, scale + bias.
    assert counts["head"] == 2 * ((512 * 128 + 128) + (128 * 128 + 128)) + 2
    avenet = ModelConfig(model="avenet")
    # Same trunks as AVE-Net: the towers' FLOPs agree; the 1x1 convs run on all 196 cells.
    assert count_flops(cfg)["vision_tower"] == count_flops(avenet)["vision_tower"]
    assert count_flops(cfg)["head"] == 2 * 196 * (512 * 128 + 128 * 128) + 2 * (512 * 128 + 128 * 128)


def test_small_counts_match_the_built_model(small_model):
    assert count_params(SMALL)["total"] == small_model.count_params()


def test_max_over_cells_is_the_avc_probability(small_model):
    x = _inputs(SMALL)
    probe = keras.Model(small_model.inputs, [small_model.get_layer("image_conv2").output,
                                             small_model.get_layer("audio_embedding").output,
                                             small_model.get_layer(CELL_LOGITS).output,
                                             small_model.output])
    cells, audio, logits, probs = (np.asarray(t, np.float64) for t in probe(x, training=False))
    g = grid_size(SMALL)
    assert cells.shape == (3, g, g, 6) and logits.shape == (3, g, g) and probs.shape == (3, 2)
    layer = small_model.get_layer(CELL_LOGITS)
    scale, bias = np.exp(float(layer.log_scale.numpy())), float(layer.bias.numpy())
    expected_logits = np.einsum("bhwe,be->bhw", cells, audio) * scale + bias
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-5)
    per_cell = 1.0 / (1.0 + np.exp(-expected_logits))
    p = per_cell.reshape(3, -1).max(axis=1)  # multiple-instance learning: the best cell decides
    np.testing.assert_allclose(probs[:, 1], p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_confident_outputs_keep_a_finite_precise_loss():
    """[1 - p, p] = softmax([0, z]): the small column is exact even where 1 - p would round to 0."""
    from l3net.models.avolnet import MaxCellDecision

    logits = np.array([[[30.0, -5.0]], [[-40.0, -45.0]]], np.float32)  # [2, 1, 2]
    probs = np.asarray(MaxCellDecision()(logits), np.float64)
    np.testing.assert_allclose(probs[0, 0], np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-5)
    np.testing.assert_allclose(probs[1, 1], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-5)
    loss = keras.losses.SparseCategoricalCrossentropy()(np.array([1, 0]), probs)
    assert np.isfinite(float(loss)) and float(loss) < 1e-6


def test_localizer_maps_whole_frames_with_the_trained_weights(small_model):
    loc = localizer(small_model, SMALL)
    cell = 2 ** len(SMALL.vision_widths)
    x = _inputs(SMALL, size=(3 * cell, 5 * cell), seed=2)
    logits, probs = (np.asarray(t) for t in loc(x, training=False))
    assert logits.shape == (3, 3, 5)
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-logits.reshape(3, -1).max(axis=1))), rtol=1e-5)
    # At the training size the localizer and the AVC model agree exactly.
    square = _inputs(SMALL, seed=3)
    np.testing.assert_allclose(np.asarray(loc(square, training=False)[1]),
                               np.asarray(small_model(square, training=False)), rtol=1e-5, atol=1e-6)


def test_localizer_refuses_models_without_a_cell_map():
    cfg = dataclasses.replace(SMALL, model="avenet")
    with pytest.raises(ValueError, match="avolnet"):
        localizer(build_model(cfg), cfg)


def test_avolnet_trains_one_step_without_nan(small_model):
    """The trainer's loss (sparse CE on the [B, 2] output) gives finite gradients to every variable."""
    import tensorflow as tf

    model = build_model(SMALL)
    x = _inputs(SMALL, batch=4, seed=4)
    labels = np.array([1, 0, 1, 0])
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(labels, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(np.asarray(g))) for g in grads)
    names = {v.path.split("/")[-1] for v, g in zip(model.trainable_variables, grads)}
    assert {"log_scale", "bias"} <= names
