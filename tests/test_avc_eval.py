"""`evaluate_avc` on hand-made pairs: accuracy overall, per class of pair, and the false-negative split.

The "model" answers from the audio alone (audio value > 0 means "corresponds"), so every number
below is counted by hand from the table of pairs.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from l3net.evaluation.avc import evaluate_avc


def _audio_says(inputs, training=False):
    yes = tf.cast(inputs["audio"][:, 0] > 0, tf.float32)
    return tf.stack([1.0 - 0.9 * yes - 0.05, 0.9 * yes + 0.05], axis=1)


# (label, frame labels, audio labels, model says "corresponds")
PAIRS = [
    (1, "violin", "violin", True),        # positive, right
    (1, "dog", "dog", False),             # positive, wrong
    (0, "violin", "violin", True),        # negative sharing a label (another violin), wrong
    (0, "violin", "violin;choir", False), # negative sharing a label, right
    (0, "dog", "violin", False),          # other negative, right
    (0, "dog", "car", False),             # other negative, right
    (0, "car", "dog", True),              # other negative, wrong
]


def _dataset():
    labels = np.array([p[0] for p in PAIRS], np.int32)
    audio = np.array([[1.0 if p[3] else -1.0] * 4 for p in PAIRS], np.float32)
    features = {"image": np.zeros((len(PAIRS), 2, 2, 3), np.float32), "audio": audio,
                "frame_labels": np.array([p[1].encode() for p in PAIRS]),
                "audio_labels": np.array([p[2].encode() for p in PAIRS])}
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(3)


def test_false_negative_split_counted_by_hand():
    result = evaluate_avc(_audio_says, _dataset())
    assert result.num_pairs == 7 and result.accuracy == pytest.approx(4 / 7)
    assert result.positive_accuracy == pytest.approx(1 / 2) and result.negative_accuracy == pytest.approx(3 / 5)
    assert result.shared_label_negative_share == pytest.approx(2 / 5)
    assert result.shared_label_negative_accuracy == pytest.approx(1 / 2)
    assert result.other_negative_accuracy == pytest.approx(2 / 3)
    assert result.per_label["violin"] == {"accuracy": pytest.approx(2 / 3), "num_pairs": 3}


def test_without_audio_labels_there_is_no_split():
    def drop_audio_labels(features, label):
        return {k: v for k, v in features.items() if k != "audio_labels"}, label

    result = evaluate_avc(_audio_says, _dataset().map(drop_audio_labels))
    assert np.isnan(result.shared_label_negative_share) and result.accuracy == pytest.approx(4 / 7)
