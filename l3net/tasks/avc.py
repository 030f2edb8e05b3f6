"""The AVC task: L3-Net / AVE-Net / AVOL-Net trained to tell corresponding (frame, 1 s audio) pairs.

Sparse cross-entropy over the softmax [B, 2], accuracy as the metric, validation by
`l3net.evaluation.avc.evaluate_avc` on a fixed pair set of the val split. `SPEC` registers it
as `--task=avc` (the default); `--model` picks the network.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Tuple

import keras
import tensorflow as tf

from l3net.data import avc_dataset
from l3net.data.config import DataConfig
from l3net.data.pair_sampling import label_keys, same_label
from l3net.evaluation.avc import evaluate_avc
from l3net.models import build_model
from l3net.models.config import MODEL_NAMES, ModelConfig
from l3net.models.pairwise_avc import PairwiseAvc
from l3net.tasks.base import SettingsError, Task, TaskSetup, TaskSpec, ValidationResult, parse_widths
from l3net.tasks.batch_negatives import all_pairs_loss, video_keys


class AvcTask(Task):
    """Audio-visual correspondence on `avc_dataset` pairs."""

    name = "avc"
    metric_name = "accuracy"
    progress_key = "acc"

    def __init__(self, model_cfg: ModelConfig, data_cfg: DataConfig, eval_pairs: int, *,
                 batch_negatives: bool = False, negative_discount: float = 0.0) -> None:
        self.model_cfg = model_cfg
        self.data_cfg = data_cfg
        self.eval_pairs = eval_pairs
        self.batch_negatives = batch_negatives
        self.negative_discount = negative_discount
        # With batch negatives: cross pairs of videos sharing a label are not negatives either.
        self.label_disjoint = batch_negatives and data_cfg.label_disjoint_negatives
        # PairwiseAvc of each built model, by id (with batch_negatives): the trainer builds a second
        # copy for weight averaging, and each step must score pairs with the network it updates.
        self._pairwise: Dict[int, PairwiseAvc] = {}
        self.global_batch_size = data_cfg.batch_size
        self.title = model_cfg.model
        self._loss = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    def build_model(self) -> keras.Model:
        model = build_model(self.model_cfg)
        if self.batch_negatives:
            self._pairwise[id(model)] = PairwiseAvc(model)
        return model

    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        if not self.batch_negatives:
            return avc_dataset(data_dir, "train", self.data_cfg, training=True, seed=seed)

        def keep_video_keys(features: Dict[str, tf.Tensor], labels: tf.Tensor):
            kept = {"image": features["image"], "audio": features["audio"],
                    "frame_key": video_keys(features["frame_video_id"]),
                    "audio_key": video_keys(features["audio_video_id"])}
            if self.label_disjoint:
                kept.update(frame_label_keys=label_keys(features["frame_labels"]),
                            audio_label_keys=label_keys(features["audio_labels"]))
            return kept, labels

        return avc_dataset(data_dir, "train", self.data_cfg, training=True, seed=seed,
                           with_metadata=True).map(keep_video_keys)

    def compute(self, model: keras.Model, features: Dict[str, tf.Tensor],
                labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        if self.batch_negatives:
            pair_probs = self._pairwise[id(model)](features["image"], features["audio"], training=True)  # [B, B, 2]
            probs = tf.cast(tf.stack([tf.linalg.diag_part(pair_probs[..., 0]),
                                      tf.linalg.diag_part(pair_probs[..., 1])], axis=-1), tf.float32)
            shared = (same_label(features["frame_label_keys"], features["audio_label_keys"])
                      if self.label_disjoint else None)
            loss = all_pairs_loss(pair_probs, labels, features["frame_key"], features["audio_key"],
                                  self.negative_discount, shared)
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


def model_config_from_settings(settings: Mapping[str, Any], model: str = "") -> ModelConfig:
    """ModelConfig from the model settings (network `model`, default settings['model'])."""
    name = model or settings["model"]
    if name not in MODEL_NAMES:
        raise SettingsError(f"--model={name}: use one of {', '.join(MODEL_NAMES)}")
    cfg = ModelConfig(
        model=name,
        image_size=settings["image_size"],
        vision_widths=parse_widths("vision_widths", settings["vision_widths"]),
        audio_widths=parse_widths("audio_widths", settings["audio_widths"]),
        frontend=settings["frontend"],
        sample_rate=settings["sample_rate"],
        audio_seconds=settings["audio_seconds"],
        fusion_width=settings["fusion_width"],
        embedding_width=settings["embedding_width"],
        batchnorm_momentum=settings["batchnorm_momentum"],
        head_batchnorm=settings.get("head_batchnorm", False),
        num_frames=settings.get("num_frames", 1),
        clip_seconds=settings.get("clip_seconds", 0.0),
        sequence_layer=settings.get("sequence_layer", "gru"),
    )
    try:
        return cfg.validate()
    except ValueError as e:
        raise SettingsError(f"--{e}") from None


def data_config_from_settings(settings: Mapping[str, Any], model: ModelConfig) -> DataConfig:
    """DataConfig matching `model`'s input contract, from the data settings."""
    for name in ("batch_size", "pairs_per_video", "video_shuffle_buffer", "example_shuffle_buffer"):
        if settings[name] < 1:
            raise SettingsError(f"--{name}={settings[name]}: must be >= 1")
    resize = settings["resize_short_side"]
    if resize and resize < model.image_size:
        raise SettingsError(f"--resize_short_side={resize}: must be >= --image_size")
    if not 0.0 <= settings["hue_jitter"] <= 0.5:
        raise SettingsError(f"--hue_jitter={settings['hue_jitter']}: must be in [0, 0.5] (a fraction of a turn)")
    if not 0.0 <= settings["spectral_tilt"] < 1.0 or settings["gain_db"] < 0:
        raise SettingsError("--spectral_tilt must be in [0, 1) and --gain_db >= 0")
    if not 0.0 <= settings.get("pitch_shift", 0.0) <= 12.0:
        raise SettingsError(f"--pitch_shift={settings['pitch_shift']}: must be in [0, 12] semitones")
    if settings.get("batch_negatives") and model.is_sequence:
        raise SettingsError(f"--batch_negatives scores frames against audio through single-frame embeddings; the "
                            f"sequence model (--num_frames={model.num_frames}, --clip_seconds={model.clip_seconds}) "
                            "trains on the sampled pairs only: drop --batch_negatives")
    overrides = {"resize_short_side": resize} if resize else {}
    return DataConfig.for_model(
        model,
        batch_size=settings["batch_size"],
        pairs_per_video=settings["pairs_per_video"],
        video_shuffle_buffer=settings["video_shuffle_buffer"],
        example_shuffle_buffer=settings["example_shuffle_buffer"],
        augment=settings["augment"],
        hue_jitter=settings["hue_jitter"],
        gain_db=settings["gain_db"],
        spectral_tilt=settings["spectral_tilt"],
        pitch_shift=settings.get("pitch_shift", 0.0),
        label_disjoint_negatives=bool(settings.get("label_disjoint_negatives", False)),
        **overrides,
    )


class AvcSpec(TaskSpec):
    """`--task=avc`: checks the dataset can give AVC pairs at the model's sample rate."""

    name = "avc"

    def setup(self, settings: Mapping[str, Any], info: Any) -> TaskSetup:
        model_cfg = model_config_from_settings(settings)
        data_cfg = data_config_from_settings(settings, model_cfg)
        data_dir = settings["data_dir"]
        if info.counts.get("train", 0) < 2:
            raise SettingsError(f"--data_dir={data_dir}: the train split has {info.counts.get('train', 0)} video(s); "
                                "AVC needs at least 2 (negatives pair a frame with another video's audio)")
        if info.sample_rate != model_cfg.sample_rate:
            raise SettingsError(f"--sample_rate={model_cfg.sample_rate} but {data_dir} was converted at "
                                f"{info.sample_rate} Hz; pass --sample_rate={info.sample_rate} or re-convert with "
                                f"`l3net_data convert --sample_rate {model_cfg.sample_rate}`")
        warnings = []
        if info.counts.get("val", 0) < 2:
            warnings.append(f"{data_dir} has {info.counts.get('val', 0)} val video(s); training runs without "
                            "validation (no best checkpoint)")

        def make_task(train_cfg, model_dir: str) -> Task:
            del model_dir
            return AvcTask(model_cfg, data_cfg, train_cfg.eval_pairs, batch_negatives=train_cfg.batch_negatives,
                           negative_discount=train_cfg.negative_discount)

        return TaskSetup(config=model_cfg, data_config=data_cfg, warnings=warnings, make_task=make_task,
                         description=f"{model_cfg.model} on {data_dir} ({info.counts})")


SPEC = AvcSpec()
