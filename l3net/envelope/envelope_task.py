"""The envelope training task (`l3net_train --model=envelope`).

Loss: binary cross-entropy between the per-frame sigmoid output and the [0, 1] target (the
seed's), averaged over the real frames of each clip (mask). Metric: per-clip Pearson correlation
of prediction and target over the real frames, the number `l3net_eval envelope` reports.
A fresh run copies the vision tower from `init_from` (an L3-Net / AVE-Net model dir).

With `feature_cache` (a directory; frozen tower, no augmentation) the tower runs once per frame
of the train and val splits (`feature_cache`) and training steps run the head alone on cached
[B, T, F] windows; the checkpoint is the same full frames model either way.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from l3net.data.config import DataConfig
from l3net.envelope.config import RANDOM_INIT, EnvelopeConfig
from l3net.envelope.envelope_dataset import envelope_dataset
from l3net.envelope.envelope_metrics import binary_cross_entropy, pearson
from l3net.envelope import feature_cache
from l3net.envelope.envelope_model import feature_part, head_part, load_pretrained_tower, new_envelope_model
from l3net.train.tasks import Task, ValidationResult

EPSILON = 1e-7


def masked_bce(target: tf.Tensor, pred: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """[B, T] each -> [B] mean binary cross-entropy over the frames where mask is 1."""
    p = tf.clip_by_value(pred, EPSILON, 1.0 - EPSILON)
    bce = -(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p))
    return tf.math.divide_no_nan(tf.reduce_sum(bce * mask, axis=1), tf.reduce_sum(mask, axis=1))


def masked_pearson(a: tf.Tensor, b: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """[B, T] each -> [B] Pearson r over the masked frames (0 where either side is constant)."""
    count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    da = (a - tf.reduce_sum(a * mask, axis=1, keepdims=True) / count) * mask
    db = (b - tf.reduce_sum(b * mask, axis=1, keepdims=True) / count) * mask
    cov = tf.reduce_sum(da * db, axis=1)
    denom = tf.sqrt(tf.reduce_sum(da * da, axis=1) * tf.reduce_sum(db * db, axis=1))
    return tf.where(denom > 1e-12, cov / tf.maximum(denom, 1e-12), 0.0)


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


class EnvelopeTask(Task):
    """Sound envelope from video frames."""

    name = "envelope"
    metric_name = "correlation"
    progress_key = "r"

    def __init__(self, cfg: EnvelopeConfig, data_cfg: DataConfig, eval_clips: int,
                 feature_cache_dir: Optional[str] = None, verbose: bool = False) -> None:
        """feature_cache_dir: train on cached tower features kept there (None: frames every step).

        Raises ValueError when the cache cannot be used (`feature_cache.check_usable`).
        """
        if feature_cache_dir:
            feature_cache.check_usable(cfg, data_cfg)
        self.cfg = cfg
        self.data_cfg = data_cfg
        self.eval_clips = eval_clips
        self.feature_cache_dir = feature_cache_dir
        self.verbose = verbose
        self.global_batch_size = data_cfg.batch_size
        self.title = f"envelope ({cfg.vision.model} tower)"
        self._avc_model = None
        self._model = None
        self._cached: Dict[str, feature_cache.CachedSplit] = {}

    def build_model(self) -> keras.Model:
        self._model, self._avc_model = new_envelope_model(self.cfg)
        return self._model

    def cached(self, data_dir: str, split: str) -> feature_cache.CachedSplit:
        """The split's tower features (computed with the model's current, restored tower weights)."""
        if split not in self._cached:
            self._cached[split] = feature_cache.cached_split(
                feature_part(self._model), data_dir, split, self.data_cfg, self.feature_cache_dir,
                sigma_at_44k=self.cfg.sigma_at_44k, verbose=self.verbose)
        return self._cached[split]

    def initialize(self, model: keras.Model) -> None:
        if self.cfg.init_from != RANDOM_INIT:
            load_pretrained_tower(self._avc_model, self.cfg.init_from)

    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        if self.feature_cache_dir:
            return feature_cache.window_dataset(self.cached(data_dir, "train"), sequence_frames=self.cfg.sequence_frames,
                                                batch_size=self.global_batch_size, seed=seed)
        return envelope_dataset(data_dir, "train", self.data_cfg, sequence_frames=self.cfg.sequence_frames,
                                training=True, seed=seed, sigma_at_44k=self.cfg.sigma_at_44k)

    def compute(self, model: keras.Model, features: Dict[str, tf.Tensor],
                labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        if self.feature_cache_dir:
            pred = tf.cast(head_part(model)(features["features"], training=True), tf.float32)
        else:
            pred = tf.cast(model(features["frames"], training=True), tf.float32)
        mask = features["mask"]
        return masked_bce(labels, pred, mask), tf.reduce_sum(masked_pearson(pred, labels, mask))

    def validate(self, model: keras.Model, data_dir: str, seed: int) -> ValidationResult:
        del seed  # Validation uses every frame of the first `eval_clips` val videos: nothing is drawn.
        if self.feature_cache_dir:
            clips = predict_cached(head_part(model), self.cached(data_dir, "val"), self.eval_clips)
        else:
            eval_cfg = dataclasses.replace(self.data_cfg, augment=False)
            dataset = envelope_dataset(data_dir, "val", eval_cfg, sequence_frames=self.cfg.sequence_frames,
                                       training=False, sigma_at_44k=self.cfg.sigma_at_44k, num_clips=self.eval_clips)
            clips = ((pred, target) for _, pred, target in predict_clips(model, dataset))
        losses, rs = [], []
        for pred, target in clips:
            losses.append(binary_cross_entropy(pred, target))
            rs.append(pearson(pred, target))
        loss, r = float(np.mean(losses)), float(np.mean(rs))
        return ValidationResult(loss, r, f"val envelope correlation {r:.4f} BCE {loss:.4f} ({len(rs)} clips)")

    def curve_options(self) -> Dict[str, object]:
        return {"task_label": "envelope", "loss_label": "binary cross-entropy", "metric_label": "correlation",
                "metric_ylim": (-0.2, 1.0), "chance": 0.0}
