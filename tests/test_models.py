"""L3-Net / AVE-Net: paper-size parameter counts and shapes (built, never run), small-config
forward passes, .keras round trips and the AVE-Net distance-only decision."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from l3net.evaluation.probe_features import pooled_feature_fn
from l3net.models.avc_models import dense_relu_layers
from l3net.models import (ModelConfig, audio_conv_feature_model, build_model, count_flops,
                          count_params, embedding_models, get_towers, vision_conv_feature_model)

PAPER = {"l3net": ModelConfig(model="l3net"), "avenet": ModelConfig(model="avenet")}
SMALL = dict(image_size=32, vision_widths=(4, 8, 16), audio_widths=(4, 8, 16), sample_rate=8000,
             audio_seconds=0.5, fusion_width=8, embedding_width=6)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def paper_models():
    return {name: build_model(cfg) for name, cfg in PAPER.items()}


def _vgg_params(in_channels, widths):
    """Two 3x3 convs (no bias) per block, each followed by a BN with 4 values per channel."""
    total, cin = 0, in_channels
    for w in widths:
        total += (3 * 3 * cin * w + 4 * w) + (3 * 3 * w * w + 4 * w)
        cin = w
    return total


def _small_inputs(cfg, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(0, 1, (batch, cfg.image_size, cfg.image_size, 3)).astype(np.float32),
            "audio": rng.uniform(-0.5, 0.5, (batch, cfg.num_audio_samples)).astype(np.float32)}


def test_paper_parameter_counts(paper_models):
    widths = (64, 128, 256, 512)
    vision = _vgg_params(3, widths)
    audio = 4 + _vgg_params(1, widths)  # + one-channel input BN
    expected = {
        "l3net": vision + audio + (1024 * 128 + 128) + (128 * 2 + 2),
        "avenet": vision + audio + 2 * ((512 * 128 + 128) + (128 * 128 + 128)) + (1 * 2 + 2),
    }
    for name, model in paper_models.items():
        assert model.count_params() == expected[name]
        counts = count_params(PAPER[name])
        assert counts["total"] == expected[name]
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert counts["trainable"] == trainable
        vt, at = get_towers(model)
        assert (vt.count_params(), at.count_params()) == (counts["vision_tower"], counts["audio_tower"])
        assert (vt.count_params(), at.count_params()) == (vision, audio)
        # Against the paper's scale: each built tower has ~4.7M parameters.
        assert 4.6e6 < vt.count_params() < 4.8e6 and 4.6e6 < at.count_params() < 4.8e6


def test_paper_intermediate_shapes(paper_models):
    vision_hw = [(224, 224), (112, 112), (56, 56), (28, 28)]
    audio_hw = [(257, 199), (128, 99), (64, 49), (32, 24)]
    widths = (64, 128, 256, 512)
    for model in paper_models.values():
        vt, at = get_towers(model)
        assert vt.get_layer("vision_scale").output.shape == (None, 224, 224, 3)
        assert at.get_layer("audio_frontend").output.shape == (None, 257, 199, 1)
        assert at.get_layer("audio_input_bn").output.shape == (None, 257, 199, 1)
        for tower, prefix, hws in ((vt, "vision", vision_hw), (at, "audio", audio_hw)):
            for k, ((h, w), c) in enumerate(zip(hws, widths), start=1):
                for j in (1, 2):
                    assert tower.get_layer(f"{prefix}_conv{k}_{j}").output.shape == (None, h, w, c)
                if k < 4:
                    nh, nw = hws[k]
                    assert tower.get_layer(f"{prefix}_pool{k}").output.shape == (None, nh, nw, c)
            assert tower.get_layer(f"{prefix}_pool4").output.shape == (None, 512)
        assert model.output.shape == (None, 2)
    l3, ave = paper_models["l3net"], paper_models["avenet"]
    assert l3.get_layer("fusion_concat").output.shape == (None, 1024)
    assert l3.get_layer("fusion_fc1").output.shape == (None, 128)
    assert ave.get_layer("image_embedding").output.shape == (None, 128)
    assert ave.get_layer("audio_embedding").output.shape == (None, 128)
    assert ave.get_layer("av_distance").output.shape == (None, 1)


def test_paper_conv_feature_models(paper_models):
    l3 = paper_models["l3net"]
    feats = audio_conv_feature_model(l3)
    assert feats.output.shape == (None, 32, 24, 512)
    # The ESC-50 probe's feature is this map max-pooled to 4x3 cells: 6144-d, as in the L3 paper.
    _, feature_dim, grid = pooled_feature_fn(l3)
    assert (feature_dim, grid) == (6144, (4, 3))
    assert audio_conv_feature_model(get_towers(l3)[1]).output.shape == (None, 32, 24, 512)
    assert vision_conv_feature_model(l3).output.shape == (None, 28, 28, 512)
    assert feats.get_layer("audio_conv4_2_conv") is get_towers(l3)[1].get_layer("audio_conv4_2_conv")


def test_paper_flops():
    def trunk(hws, cin, widths=(64, 128, 256, 512)):
        total = 0
        for (h, w), c in zip(hws, widths):
            total += 2 * h * w * 9 * (cin * c + c * c)
            cin = c
        return total
    vision = trunk([(224, 224), (112, 112), (56, 56), (28, 28)], 3)
    audio_trunk = trunk([(257, 199), (128, 99), (64, 49), (32, 24)], 1)
    f = count_flops(PAPER["l3net"])
    assert f["vision_tower"] == vision
    assert f["audio_tower"] - f["audio_frontend"] == audio_trunk
    assert f["head"] == 2 * (1024 * 128 + 128 * 2)
    assert f["total"] == f["vision_tower"] + f["audio_tower"] + f["head"]
    assert 0 < f["audio_frontend"] < 0.01 * f["audio_tower"]  # FFT front end is cheap
    assert count_flops(PAPER["avenet"])["head"] == 2 * (2 * (512 * 128 + 128 * 128) + 2)


@pytest.mark.parametrize("model_name,frontend", [
    ("l3net", "linear"), ("l3net", "learned"), ("avenet", "mel16"), ("avenet", "learned")])
def test_small_configs_forward_and_counts(model_name, frontend):
    cfg = ModelConfig(model=model_name, frontend=frontend, **SMALL)
    model = build_model(cfg)
    assert model.count_params() == count_params(cfg)["total"]
    x = _small_inputs(cfg)
    out = model(x, training=False).numpy()
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    image_model, audio_model = embedding_models(model)
    width = cfg.embedding_width if model_name == "avenet" else 16
    assert image_model.output.shape == (None, width) and audio_model.output.shape == (None, width)
    if frontend == "learned":
        assert any("filterbank" in w.path for w in model.trainable_weights)
    # The conv feature maps, max-pooled over all positions, are exactly the towers' outputs.
    for feature_model, tower, inputs in ((audio_conv_feature_model(model), get_towers(model)[1], x["audio"]),
                                         (vision_conv_feature_model(model), get_towers(model)[0], x["image"])):
        fmap = feature_model(inputs, training=False).numpy()
        assert fmap.ndim == 4 and fmap.shape[-1] == 16
        np.testing.assert_allclose(fmap.max(axis=(1, 2)), tower(inputs, training=False).numpy(), atol=1e-6)


def test_training_step_reaches_every_weight():
    # Wider heads than SMALL: with 6 units a random init can leave every fc1 ReLU off for a batch.
    cfg = ModelConfig(model="avenet", frontend="learned", **dict(SMALL, embedding_width=32))
    model = build_model(cfg)
    x = _small_inputs(cfg, batch=4)
    y = tf.constant([0, 1, 0, 1])
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        assert g is not None and np.all(np.isfinite(g.numpy())), w.path
        assert np.abs(g.numpy()).max() > 0, w.path


@pytest.mark.parametrize("model_name,frontend", [("l3net", "mel16"), ("avenet", "learned")])
def test_keras_save_load_round_trip(tmp_path, model_name, frontend):
    cfg = ModelConfig(model=model_name, frontend=frontend, **SMALL)
    model = build_model(cfg)
    x = _small_inputs(cfg, seed=1)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), model(x, training=False).numpy())
    for ours, theirs, inputs in zip(embedding_models(model), embedding_models(loaded),
                                    (x["image"], x["audio"])):
        np.testing.assert_array_equal(theirs(inputs).numpy(), ours(inputs).numpy())
    assert [t.name for t in get_towers(loaded)] == ["vision_tower", "audio_tower"]


def test_avenet_embeddings_unit_norm_and_decision_depends_only_on_distance():
    cfg = ModelConfig(model="avenet", frontend="mel16", **SMALL)
    model = build_model(cfg)
    x = _small_inputs(cfg, batch=5, seed=2)
    image_model, audio_model = embedding_models(model)
    v = image_model(x["image"]).numpy()
    a = audio_model(x["audio"]).numpy()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    # Make the decision layer non-trivial, then predict it from the distance alone.
    model.get_layer("avc_output").set_weights([np.array([[2.0, -3.0]], np.float32),
                                               np.array([0.5, 1.0], np.float32)])
    out = model(x, training=False).numpy()
    d = np.linalg.norm(v - a, axis=1, keepdims=True)
    logits = d * np.array([[2.0, -3.0]]) + np.array([0.5, 1.0])
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # Swapping which audio goes with which image changes the output only through the distance.
    shuffled = {"image": x["image"], "audio": x["audio"][::-1]}
    d2 = np.linalg.norm(v - a[::-1], axis=1, keepdims=True)
    logits2 = d2 * np.array([[2.0, -3.0]]) + np.array([0.5, 1.0])
    np.testing.assert_allclose(model(shuffled, training=False).numpy(),
                               np.exp(logits2) / np.exp(logits2).sum(axis=1, keepdims=True), atol=1e-5)


def test_l3net_embeddings_are_tower_outputs():
    cfg = ModelConfig(model="l3net", frontend="linear", **SMALL)
    model = build_model(cfg)
    x = _small_inputs(cfg, seed=3)
    image_model, audio_model = embedding_models(model)
    assert image_model is get_towers(model)[0] and audio_model is get_towers(model)[1]
    concat = keras.Model(model.input, model.get_layer("fusion_concat").output)
    np.testing.assert_allclose(concat(x).numpy(),
                               np.concatenate([image_model(x["image"]), audio_model(x["audio"])], 1),
                               atol=1e-6)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="model="):
        build_model(ModelConfig(model="vggish"))
    with pytest.raises(ValueError, match="frontend="):
        build_model(ModelConfig(frontend="mfcc"))
    with pytest.raises(ValueError, match="head_batchnorm"):
        build_model(ModelConfig(model="avolnet", head_batchnorm=True))


def test_avenet_starts_with_near_meaning_match():
    # An untrained AVE-Net must already read a small distance as "correspond" and a large one as
    # "mismatch"; a decision layer with equal slopes for both classes never leaves chance.
    model = build_model(ModelConfig(model="avenet", frontend="mel16", **SMALL))
    decision = model.get_layer("avc_output")
    probs = decision(tf.constant([[0.0], [2 ** 0.5], [2.0]])).numpy()
    assert probs[0, 1] > 0.9 and abs(probs[1, 1] - 0.5) < 1e-6 and probs[2, 1] < 0.2


@pytest.mark.parametrize("model_name,head", [("l3net", "fusion_fc1"), ("avenet", "image_fc1"), ("avenet", "audio_fc1")])
def test_head_batchnorm_counts_and_units_that_stay_alive(model_name, head):
    """--head_batchnorm: analytic counts hold, and each first-head unit is centred on the batch.

    The head's inputs are max-pooled ReLU maps, all >= 0 with a common offset; with BatchNorm a
    unit fires on part of every training batch whatever that offset, so it keeps a gradient.
    """
    cfg = ModelConfig(model=model_name, frontend="mel16", head_batchnorm=True, **SMALL)
    model = build_model(cfg)
    counts = count_params(cfg)
    assert model.count_params() == counts["total"]
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == counts["non_trainable"]
    layers = dense_relu_layers(model, head)
    assert [type(layer) for layer in layers] == [keras.layers.Dense, keras.layers.BatchNormalization,
                                                 keras.layers.ReLU]
    assert layers[-1].name == head and not layers[0].use_bias
    fan_in = layers[0].kernel.shape[0]
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (256, fan_in)) + 3.0, tf.float32)
    for layer in layers:
        x = layer(x, training=True)
    active = (x.numpy() > 0).mean(axis=0)
    assert np.all((active > 0.2) & (active < 0.8)), active
    plain = build_model(ModelConfig(model=model_name, frontend="mel16", **SMALL))
    assert [layer.name for layer in dense_relu_layers(plain, head)] == [head]
