"""All-pairs AVC scoring and its loss, against the model's own per-pair output and NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from l3net.models import ModelConfig, build_model
from l3net.models.pairwise_avc import PairwiseAvc
from l3net.data.pair_sampling import label_keys, same_label
from l3net.tasks.batch_negatives import PROB_EPS, all_pairs_loss, video_keys

SMALL = dict(image_size=32, vision_widths=(4, 8), audio_widths=(4, 8), sample_rate=8000,
             audio_seconds=0.5, fusion_width=8, embedding_width=6, frontend="mel32")


@pytest.mark.parametrize("name,head_batchnorm", [("l3net", False), ("avenet", False), ("avolnet", False),
                                                 ("l3net", True), ("avenet", True)])
def test_every_pair_equals_the_model_on_that_pair(name, head_batchnorm):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(model=name, head_batchnorm=head_batchnorm, **SMALL)
    model = build_model(cfg)
    # Head BatchNorm statistics far from their (identity) initial values, so a BatchNorm left out
    # of the all-pairs head would change its output.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            width = layer.moving_mean.shape[0]
            layer.moving_mean.assign(np.linspace(-1.0, 1.0, width).astype(np.float32))
            layer.moving_variance.assign(np.full(width, 25.0, np.float32))
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    audio = rng.uniform(-0.5, 0.5, (3, cfg.num_audio_samples)).astype(np.float32)
    pairs = np.asarray(PairwiseAvc(model)(image, audio, training=False))
    assert pairs.shape == (3, 3, 2)
    for i in range(3):
        frames = np.repeat(image[i:i + 1], 3, axis=0)
        direct = np.asarray(model({"image": frames, "audio": audio}, training=False))
        np.testing.assert_allclose(pairs[i], direct, atol=1e-5)


def _reference_loss(p1, labels, frame_ids, audio_ids):
    p1 = np.clip(p1, PROB_EPS, 1 - PROB_EPS)
    pos = [-np.log(p1[i, i]) for i in range(len(labels)) if labels[i] == 1]
    neg = [-np.log(1 - p1[i, j]) for i in range(len(labels)) for j in range(len(labels))
           if frame_ids[i] != audio_ids[j]]
    return 0.5 * (np.mean(pos) + np.mean(neg))


def test_loss_weighs_positives_and_negatives_equally_and_ignores_same_video_cross_pairs():
    rng = np.random.default_rng(1)
    frame_ids = np.array([b"a", b"a", b"b", b"c", b"d"])
    audio_ids = np.array([b"a", b"a", b"c", b"c", b"a"])  # pair 2 and 4 are sampled negatives
    labels = np.array([1, 1, 0, 1, 0], np.int32)
    p1 = rng.uniform(0.01, 0.99, (5, 5)).astype(np.float32)
    probs = np.stack([1 - p1, p1], axis=-1)
    got = all_pairs_loss(tf.constant(probs), tf.constant(labels), video_keys(tf.constant(frame_ids)),
                         video_keys(tf.constant(audio_ids)))
    np.testing.assert_allclose(float(got), _reference_loss(p1, labels, frame_ids, audio_ids), rtol=1e-5)
    # The same-video cross pair (frame 0, audio 1) does not count: changing it changes nothing.
    p1b = p1.copy()
    p1b[0, 1] = 0.5 if p1[0, 1] != 0.5 else 0.4
    again = all_pairs_loss(tf.constant(np.stack([1 - p1b, p1b], -1)), tf.constant(labels),
                           video_keys(tf.constant(frame_ids)), video_keys(tf.constant(audio_ids)))
    np.testing.assert_allclose(float(again), float(got), rtol=1e-6)


def test_same_label_is_the_intersection_of_label_sets():
    frame = [b"dog;bark", b"", b"car", b"violin;music", b"engine;car"]
    audio = [b"bark", b"dog", b"music", b"", b"car;street"]
    got = same_label(label_keys(tf.constant(frame)), label_keys(tf.constant(audio))).numpy()
    sets = [set(x.decode().split(";")) - {""} for x in frame], [set(x.decode().split(";")) - {""} for x in audio]
    want = np.array([[bool(f & a) for a in sets[1]] for f in sets[0]])
    np.testing.assert_array_equal(got, want)
    assert want.sum() == 5  # dog/bark x2, car x2 (car, engine;car vs car;street), violin;music vs music


def test_pairs_sharing_a_label_are_left_out_of_the_negatives():
    rng = np.random.default_rng(3)
    frame_ids = np.array([b"a", b"b", b"c", b"d"])
    audio_ids = np.array([b"a", b"c", b"c", b"d"])  # pair 1 is a sampled negative
    labels = np.array([1, 0, 1, 1], np.int32)
    frame_labels = tf.constant([b"dog", b"car", b"dog;bark", b"violin"])
    audio_labels = tf.constant([b"dog", b"dog;bark", b"dog;bark", b"violin"])
    shared = same_label(label_keys(frame_labels), label_keys(audio_labels))
    p1 = rng.uniform(0.05, 0.95, (4, 4)).astype(np.float32)
    keys = video_keys(tf.constant(frame_ids)), video_keys(tf.constant(audio_ids))
    got = all_pairs_loss(tf.constant(np.stack([1 - p1, p1], -1)), tf.constant(labels), *keys, 0.0, shared)
    pos = [-np.log(p1[i, i]) for i in range(4) if labels[i] == 1]
    neg = [-np.log(1 - p1[i, j]) for i in range(4) for j in range(4)
           if frame_ids[i] != audio_ids[j] and not shared.numpy()[i, j]]
    assert len(neg) < sum(frame_ids[i] != audio_ids[j] for i in range(4) for j in range(4))
    np.testing.assert_allclose(float(got), 0.5 * (np.mean(pos) + np.mean(neg)), rtol=1e-5)
    p1b = p1.copy()
    p1b[0, 2] = 0.99 if p1[0, 2] < 0.9 else 0.1  # frame "dog" vs audio "dog;bark" of another video
    again = all_pairs_loss(tf.constant(np.stack([1 - p1b, p1b], -1)), tf.constant(labels), *keys, 0.0, shared)
    np.testing.assert_allclose(float(again), float(got), rtol=1e-6)


def test_saturated_probabilities_give_a_finite_loss():
    probs = np.zeros((2, 2, 2), np.float32)
    probs[..., 1] = 1.0  # says "match" everywhere, also for the negatives
    loss = all_pairs_loss(tf.constant(probs), tf.constant([1, 1]), video_keys(tf.constant([b"x", b"y"])),
                          video_keys(tf.constant([b"x", b"y"])))
    assert np.isfinite(float(loss)) and float(loss) > 5


def _discounted_reference(p1, labels, frame_ids, audio_ids, gamma):
    p1 = np.clip(p1, PROB_EPS, 1 - PROB_EPS)
    pos = [-np.log(p1[i, i]) for i in range(len(labels)) if labels[i] == 1]
    terms, weights = [], []
    for i in range(len(labels)):
        for j in range(len(labels)):
            if frame_ids[i] != audio_ids[j]:
                w = 1.0 if i == j else (1.0 - p1[i, j]) ** gamma
                terms.append(-w * np.log(1 - p1[i, j]))
                weights.append(w)
    return 0.5 * (np.mean(pos) + np.sum(terms) / np.sum(weights))


def test_false_negative_discount_against_numpy_and_its_gradient():
    rng = np.random.default_rng(2)
    frame_ids = np.array([b"a", b"b", b"c", b"d"])
    audio_ids = np.array([b"a", b"c", b"c", b"d"])  # pair 1 is a sampled negative (diagonal, label 0)
    labels = np.array([1, 0, 1, 1], np.int32)
    p1 = rng.uniform(0.05, 0.95, (4, 4)).astype(np.float32)
    p1[0, 2] = 0.97   # a cross pair the network finds matching (a likely false negative)
    p1[1, 1] = 0.97   # the sampled negative, just as confident
    keys = video_keys(tf.constant(frame_ids)), video_keys(tf.constant(audio_ids))
    for gamma in (0.0, 1.0, 2.0):
        got = all_pairs_loss(tf.constant(np.stack([1 - p1, p1], -1)), tf.constant(labels), *keys, gamma)
        np.testing.assert_allclose(float(got), _discounted_reference(p1, labels, frame_ids, audio_ids, gamma),
                                   rtol=1e-5)
    probs = tf.Variable(np.stack([1 - p1, p1], -1))
    with tf.GradientTape() as tape:
        loss = all_pairs_loss(probs, tf.constant(labels), *keys, 2.0)
    grad = tape.gradient(loss, probs).numpy()[..., 1]
    # The discounted cross pair barely pushes; the sampled negative keeps its full push.
    assert abs(grad[0, 2]) < 0.1 * abs(grad[1, 1])
