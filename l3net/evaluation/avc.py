"""AVC accuracy: does the model tell corresponding (frame, 1 s audio) pairs from mismatched ones?

The pairs come from `l3net.data.avc_dataset(..., training=False)`: a fixed, deterministic set
(every video of the split, alternating positive/negative), so numbers are comparable between
checkpoints and runs. Per-label accuracy groups pairs by the labels of the video the *frame*
comes from (a pair counts once for each of its labels).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Dict, Iterable, Tuple

import numpy as np
import tensorflow as tf

MODEL_INPUTS = ("image", "audio")


@dataclasses.dataclass
class AvcResult:
    """Accuracy and cross-entropy over a fixed pair set; per-label accuracy when labels exist."""

    accuracy: float
    loss: float
    num_pairs: int
    num_positive: int
    positive_accuracy: float
    negative_accuracy: float
    per_label: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    # Negatives whose frame and audio videos share a label are semantic matches labelled "no":
    # they cap AVC accuracy (see `evaluate_avc`). NaN when the data has no labels.
    shared_label_negative_share: float = float("nan")
    shared_label_negative_accuracy: float = float("nan")
    other_negative_accuracy: float = float("nan")

    def to_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


def _predict_fn(model: tf.keras.Model):
    @tf.function(reduce_retracing=True)
    def predict(image: tf.Tensor, audio: tf.Tensor) -> tf.Tensor:
        return tf.cast(model({"image": image, "audio": audio}, training=False), tf.float32)

    return predict


def evaluate_avc(model: tf.keras.Model, dataset: Iterable[Tuple[Dict[str, tf.Tensor], tf.Tensor]]) -> AvcResult:
    """Runs `model` over every batch of `dataset` and scores its AVC decisions.

    Args:
      model: takes {'image': [B,H,W,3] float32, 'audio': [B,S] float32} -> [B,2] softmax.
      dataset: finite; batches of (features, label [B] int32). If features hold 'frame_labels'
        (string [B], ';'-joined), per-label accuracy is reported too; with 'audio_labels' as well,
        negatives whose two videos share a label ("false negatives": a violin frame with another
        violin's sound) are scored apart from the others, with their share of the negatives.
    """
    predict = _predict_fn(model)
    correct_all, loss_all, labels_all, shared_all = [], [], [], []
    per_label = collections.defaultdict(lambda: [0, 0])
    for features, labels in dataset:
        probs = predict(features["image"], features["audio"]).numpy()
        y = labels.numpy().astype(np.int64)
        p_true = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
        correct = (np.argmax(probs, axis=1) == y)
        correct_all.append(correct)
        loss_all.append(-np.log(p_true))
        labels_all.append(y)
        if "frame_labels" in features:
            for names, ok in zip(features["frame_labels"].numpy(), correct):
                for name in filter(None, names.decode("utf-8").split(";")):
                    per_label[name][0] += int(ok)
                    per_label[name][1] += 1
        if "frame_labels" in features and "audio_labels" in features:
            shared_all.append(np.array([bool(set(filter(None, f.decode("utf-8").split(";")))
                                             & set(filter(None, a.decode("utf-8").split(";"))))
                                        for f, a in zip(features["frame_labels"].numpy(),
                                                        features["audio_labels"].numpy())]))
    if not correct_all:
        raise ValueError("evaluate_avc: the dataset yielded no pairs")
    correct = np.concatenate(correct_all)
    y = np.concatenate(labels_all)
    positives = y == 1
    split = {}
    if shared_all and (~positives).any():
        shared = np.concatenate(shared_all) & ~positives
        other = ~positives & ~shared
        split = {"shared_label_negative_share": float(shared.sum() / (~positives).sum()),
                 "shared_label_negative_accuracy": float(correct[shared].mean()) if shared.any() else float("nan"),
                 "other_negative_accuracy": float(correct[other].mean()) if other.any() else float("nan")}
    return AvcResult(
        accuracy=float(correct.mean()),
        loss=float(np.concatenate(loss_all).mean()),
        num_pairs=int(correct.size),
        num_positive=int(positives.sum()),
        positive_accuracy=float(correct[positives].mean()) if positives.any() else float("nan"),
        negative_accuracy=float(correct[~positives].mean()) if (~positives).any() else float("nan"),
        per_label={name: {"accuracy": ok / n, "num_pairs": n} for name, (ok, n) in sorted(per_label.items())},
        **split,
    )
