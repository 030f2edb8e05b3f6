"""Clip-wise prediction of an envelope model, shared by validation in training and `l3net_eval envelope`.

Each clip is predicted alone over its real frames (a bidirectional head's outputs would
otherwise depend on the padding of shorter clips in the batch), from frames or from cached
tower features.
"""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from l3net.envelope import feature_cache


def predict_clips(model: keras.Model, dataset: tf.data.Dataset):
    """Yields (features of one clip as numpy, prediction [N], target [N]) for every clip of an eval dataset.

    Each clip is predicted alone over its real frames: a bidirectional head's outputs would
    otherwise depend on the padding of shorter clips in the batch.
    """

    # Clip lengths vary: one trace for any [B, T].
    @tf.function(input_signature=[tf.TensorSpec([None, None] + list(model.input.shape[2:]), tf.float32)])
    def predict(frames: tf.Tensor) -> tf.Tensor:
        return tf.cast(model(frames, training=False), tf.float32)

    for features, target in dataset:
        target = target.numpy()
        lengths = features["num_frames"].numpy()
        for i, n in enumerate(lengths):
            clip = {k: v[i].numpy() for k, v in features.items() if k != "frames"}
            clip["frames"] = features["frames"][i, :n].numpy()
            yield clip, predict(clip["frames"][None])[0].numpy(), target[i, :n]


def predict_cached(head: keras.Model, cached: feature_cache.CachedSplit,
                   count: Optional[int] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Yields (prediction [N], target [N]) of the first `count` (default all) cached clips, each alone."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, cached.features.shape[1]], tf.float32)])
    def predict(features: tf.Tensor) -> tf.Tensor:
        return tf.cast(head(features, training=False), tf.float32)

    for index in range(min(cached.num_videos, cached.num_videos if count is None else count)):
        features, target = cached.clip(index)
        yield predict(features[None])[0].numpy(), target
