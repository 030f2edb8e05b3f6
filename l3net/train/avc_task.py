"""The AVC task: L3-Net / AVE-Net trained to tell corresponding (frame, 1 s audio) pairs.

Sparse cross-entropy over the softmax [B, 2], accuracy as the metric, validation by
`l3net.evaluation.avc.evaluate_avc` on a fixed pair set of the val split.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import keras
import tensorflow as tf

from l3net.data import avc_dataset
from l3net.data.config import DataConfig
from l3net.evaluation.avc import evaluate_avc
from l3net.models import build_model
from l3net.models.config import ModelConfig
from l3net.models.pairwise_avc import PairwiseAvc
from l3net.train.batch_negatives import all_pairs_loss, video_keys
from l3net.train.tasks import Task, ValidationResult


class AvcTask(Task):
    """Audio-visual correspondence on `avc_dataset` pairs."""

    name = "avc"
    metric_name = "accuracy"
    progress_key = "acc"

    def __init__(self, model_cfg: ModelConfig, data_cfg: DataConfig, eval_pairs: int, *,
                 batch_negatives: bool = False) -> None:
        self.model_cfg = model_cfg
        self.data_cfg = data_cfg
        self.eval_pairs = eval_pairs
        self.batch_negatives = batch_negatives
        self._pairwise = None  # PairwiseAvc of the built model (with batch_negatives).
        self.global_batch_size = data_cfg.batch_size
        self.title = model_cfg.model
        self._loss = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    def build_model(self) -> keras.Model:
        model = build_model(self.model_cfg)
        if self.batch_negatives:
            self._pairwise = PairwiseAvc(model)
        return model

    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        if not self.batch_negatives:
            return avc_dataset(data_dir, "train", self.data_cfg, training=True, seed=seed)

        def keep_video_keys(features: Dict[str, tf.Tensor], labels: tf.Tensor):
            return {"image": features["image"], "audio": features["audio"],
                    "frame_key": video_keys(features["frame_video_id"]),
                    "audio_key": video_keys(features["audio_video_id"])}, labels

        return avc_dataset(data_dir, "train", self.data_cfg, training=True, seed=seed,
                           with_metadata=True).map(keep_video_keys)

    def compute(self, model: keras.Model, features: Dict[str, tf.Tensor],
                labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        if self.batch_negatives:
            pair_probs = self._pairwise(features["image"], features["audio"], training=True)  # [B, B, 2]
            probs = tf.cast(tf.stack([tf.linalg.diag_part(pair_probs[..., 0]),
                                      tf.linalg.diag_part(pair_probs[..., 1])], axis=-1), tf.float32)
            loss = all_pairs_loss(pair_probs, labels, features["frame_key"], features["audio_key"])
            per_example = tf.fill(tf.shape(labels), loss)
        else:
            inputs = {"image": features["image"], "audio": features["audio"]}
            probs = tf.cast(model(inputs, training=True), tf.float32)
            per_example = self._loss(labels, probs)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, axis=1, output_type=tf.int32),
                                                 tf.cast(labels, tf.int32)), tf.float32))
        return per_example, correct

    def validate(self, model: keras.Model, data_dir: str, seed: int) -> ValidationResult:
        eval_cfg = dataclasses.replace(self.data_cfg, augment=False)
        pairs = avc_dataset(data_dir, "val", eval_cfg, training=False, seed=seed, num_pairs=self.eval_pairs)
        res = evaluate_avc(model, pairs)
        return ValidationResult(res.loss, res.accuracy, f"val AVC accuracy {res.accuracy:.4f} loss {res.loss:.4f} "
                                                        f"({res.num_pairs} pairs)")

    def curve_options(self) -> Dict[str, object]:
        return {"task_label": "AVC", "metric_label": "accuracy", "metric_ylim": (0.4, 1.0), "chance": 0.5}
