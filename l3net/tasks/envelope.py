"""The envelope training task (`l3net_train --task=envelope`): sound envelope from video frames.

Loss: binary cross-entropy between the per-frame sigmoid output and the [0, 1] target (the
sound-from-video experiment's), averaged over the real frames of each clip (mask). Metric: per-clip Pearson correlation
of prediction and target over the real frames, the number `l3net_eval envelope` reports.
A fresh run copies the vision tower from `init_from` (an L3-Net / AVE-Net model dir).

With `feature_cache` (a directory; frozen tower, no augmentation) the tower runs once per frame
of the train and val splits (`feature_cache`) and training steps run the head alone on cached
[B, T, F] windows; the checkpoint is the same full frames model either way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from l3net.data.config import DataConfig
from l3net.envelope import feature_cache
from l3net.envelope.config import RANDOM_INIT, EnvelopeConfig
from l3net.envelope.envelope_dataset import envelope_dataset
from l3net.envelope.envelope_metrics import binary_cross_entropy, pearson
from l3net.envelope.envelope_model import feature_part, head_part, load_pretrained_tower, new_envelope_model
from l3net.envelope.prediction import predict_cached, predict_clips
from l3net.model_dir import ModelDir, ModelDirError
from l3net.tasks.avc import data_config_from_settings, model_config_from_settings
from l3net.tasks.base import SettingsError, Task, TaskSetup, TaskSpec, ValidationResult, parse_widths

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
        # The AVC network under each built envelope network, by id: the trainer builds a second copy
        # for weight averaging, and pretrained weights go into the network being initialised.
        self._avc_models: Dict[int, keras.Model] = {}
        self._model = None  # the first built: the trained network, whose tower computes cached features
        self._cached: Dict[str, feature_cache.CachedSplit] = {}

    def build_model(self) -> keras.Model:
        model, avc_model = new_envelope_model(self.cfg)
        self._avc_models[id(model)] = avc_model
        if self._model is None:
            self._model = model
        return model

    def cached(self, data_dir: str, split: str) -> feature_cache.CachedSplit:
        """The split's tower features (computed with the model's current, restored tower weights)."""
        if split not in self._cached:
            self._cached[split] = feature_cache.cached_split(
                feature_part(self._model), data_dir, split, self.data_cfg, self.feature_cache_dir,
                sigma_at_44k=self.cfg.sigma_at_44k, verbose=self.verbose)
        return self._cached[split]

    def initialize(self, model: keras.Model) -> None:
        if self.cfg.init_from != RANDOM_INIT:
            load_pretrained_tower(self._avc_models[id(model)], self.cfg.init_from)

    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        if self.feature_cache_dir:
            return feature_cache.window_dataset(self.cached(data_dir, "train"),
                                                sequence_frames=self.cfg.sequence_frames,
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


def envelope_config_from_settings(settings: Mapping[str, Any]) -> EnvelopeConfig:
    """EnvelopeConfig from the envelope settings; the tower's ModelConfig comes from --init_from."""
    init_from = settings["init_from"]
    if not init_from:
        raise SettingsError("--init_from is required with --task=envelope: the model dir of a trained L3-Net "
                            f"(its vision tower is used), or --init_from={RANDOM_INIT}")
    if init_from == RANDOM_INIT:
        vision = model_config_from_settings(settings, model="l3net")
    else:
        source = ModelDir(init_from)
        try:
            vision = source.model_config()
            source.require_checkpoint("latest")
        except ModelDirError as e:
            raise SettingsError(f"--init_from: {e}") from None
        init_from = os.path.abspath(init_from)
    cfg = EnvelopeConfig(vision=vision, init_from=init_from, finetune_vision=settings["finetune_vision"],
                         feature_grid=settings["feature_grid"], lstm_units=settings["lstm_units"],
                         fc_widths=parse_widths("envelope_fc_widths", settings["envelope_fc_widths"]),
                         sequence_frames=settings["sequence_frames"], bidirectional=settings["envelope_bidirectional"],
                         frame_deltas=settings["envelope_frame_deltas"])
    try:
        return cfg.validate()
    except ValueError as e:
        raise SettingsError(f"--{e}") from None


def envelope_data_config(settings: Mapping[str, Any], cfg: EnvelopeConfig, sample_rate: int) -> DataConfig:
    """DataConfig of the envelope pipeline: the tower's image size, the data's `sample_rate`.

    Frames are resized as the tower was trained (the --init_from run's resize_short_side) unless
    --resize_short_side is given.
    """
    data = dataclasses.replace(data_config_from_settings(settings, cfg.vision), sample_rate=int(sample_rate))
    if settings["resize_short_side"] or cfg.init_from == RANDOM_INIT:
        return data
    try:
        trained = ModelDir(cfg.init_from).run_config().get("data", {})
    except ModelDirError as e:
        raise SettingsError(f"--init_from: {e}") from None
    if "resize_short_side" in trained:
        data = dataclasses.replace(data, resize_short_side=int(trained["resize_short_side"]))
    return data


class EnvelopeSpec(TaskSpec):
    """`--task=envelope`: the tower of --init_from, optional cached tower features."""

    name = "envelope"

    def setup(self, settings: Mapping[str, Any], info: Any) -> TaskSetup:
        cfg = envelope_config_from_settings(settings)
        data_cfg = envelope_data_config(settings, cfg, info.sample_rate)
        cache = settings["cache_features"]
        if cache:
            try:
                feature_cache.check_usable(cfg, data_cfg)
            except ValueError as e:
                raise SettingsError(f"--{e}") from None
        warnings = []
        if info.counts.get("val", 0) < 1:
            warnings.append(f"{settings['data_dir']} has no val video; training runs without validation "
                            "(no best checkpoint)")

        def make_task(train_cfg, model_dir: str) -> Task:
            cache_dir = feature_cache.default_cache_dir(model_dir, settings["feature_cache_dir"]) if cache else None
            return EnvelopeTask(cfg, data_cfg, train_cfg.eval_pairs, feature_cache_dir=cache_dir, verbose=True)

        description = (f"envelope on the {cfg.vision.model} vision tower of {cfg.init_from} "
                       f"({'fine-tuned' if cfg.finetune_vision else 'frozen'}), {settings['data_dir']} ({info.counts})")
        return TaskSetup(config=cfg, data_config=data_cfg, warnings=warnings, make_task=make_task,
                         description=description)


SPEC = EnvelopeSpec()
