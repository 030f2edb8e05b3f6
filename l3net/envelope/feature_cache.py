"""Per-frame vision-tower features of every video of a split, computed once and kept on disk.

Why: with a frozen tower (the default) a frame's features never change during training, yet the
frames pipeline decodes every frame and runs it through the tower at every step (0.6 steps/s for
the CPU demo on a loaded 2-core machine). With the features cached, a step is only the head
(LSTMs + fc) on [B, T, F] windows: hundreds of times cheaper.

What is cached: the evaluation pipeline's frames (`envelope_dataset(training=False)`: whole
videos, centre crop, no augmentation), so cached training sees exactly what `l3net_eval
envelope` feeds the model, and that pipeline's targets (the tf.data targets of `targets`).
Hence not usable with a fine-tuned tower or augmentation (`check_usable`).

Key: sha256 over the feature model's weights and output width, the data dir (absolute path and
its dataset.json), the split, the image / resize / sample-rate settings and the target's sigma.
A changed checkpoint, grid, dataset or target gives a new file; files are written atomically, so
a killed run never leaves a partial cache under a final name. Layout: `<cache_dir>/<split>_<key>.npz`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from l3net.atomic_files import atomic_path
from l3net.data import schema
from l3net.data.config import DataConfig
from l3net.envelope.config import EnvelopeConfig
from l3net.envelope.envelope_dataset import clip_window, envelope_dataset, random_start

CACHE_SUBDIR = "feature_cache"
# Frames per forward pass of the tower while filling the cache (memory bound, not a result).
CHUNK_FRAMES = 512


@dataclasses.dataclass
class CachedSplit:
    """Every frame of every video of a split, in file order.

    features: float32 [M, F] (M frames over all videos); targets: float32 [M] in [0, 1];
    offsets: int64 [V + 1], video v's frames are rows offsets[v] .. offsets[v + 1] - 1;
    video_ids, labels: V strings (labels ';'-joined).
    """

    features: np.ndarray
    targets: np.ndarray
    offsets: np.ndarray
    video_ids: List[str]
    labels: List[str]

    @property
    def num_videos(self) -> int:
        return len(self.video_ids)

    def clip(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """(features [N, F], target [N]) of video `index`."""
        lo, hi = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.features[lo:hi], self.targets[lo:hi]


def check_usable(cfg: EnvelopeConfig, data_cfg: DataConfig) -> None:
    """ValueError (naming the flag) when cached features would not be what the model sees in training."""
    if cfg.finetune_vision:
        raise ValueError("cache_features: a fine-tuned tower's features change every step; "
                         "use --cache_features=false with --finetune_vision=true")
    if data_cfg.augment:
        raise ValueError("cache_features: the cache holds unaugmented centre crops; "
                         "use --augment=false (or --cache_features=false)")


def cache_key(feature_model: keras.Model, data_cfg: DataConfig, data_dir: str, split: str,
              sigma_at_44k: float) -> str:
    """Hex digest naming the cache file of `split` for this tower, data and target (module docstring)."""
    digest = hashlib.sha256()
    for weight in feature_model.weights:
        value = np.ascontiguousarray(weight.numpy(), np.float32)
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    with open(os.path.join(data_dir, schema.DATASET_INFO_NAME), "rb") as f:
        digest.update(f.read())
    settings = {"data_dir": os.path.abspath(data_dir), "split": split, "image_size": data_cfg.image_size,
                "resize_short_side": data_cfg.resize_short_side, "sample_rate": data_cfg.sample_rate,
                "sigma_at_44k": float(sigma_at_44k), "width": int(feature_model.output.shape[-1])}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def compute_features(feature_model: keras.Model, data_dir: str, split: str, data_cfg: DataConfig, *,
                     sigma_at_44k: float) -> CachedSplit:
    """Runs `feature_model` (image [N, S, S, 3] -> [N, F], inference mode) on every frame of `split`."""
    image = data_cfg.image_size

    @tf.function(input_signature=[tf.TensorSpec([None, image, image, 3], tf.float32)])
    def features_of(frames: tf.Tensor) -> tf.Tensor:
        return feature_model(frames, training=False)

    eval_cfg = dataclasses.replace(data_cfg, augment=False)
    dataset = envelope_dataset(data_dir, split, eval_cfg, sequence_frames=2, training=False,
                               sigma_at_44k=sigma_at_44k)
    features: List[np.ndarray] = []
    targets: List[np.ndarray] = []
    lengths: List[int] = []
    video_ids: List[str] = []
    labels: List[str] = []
    for batch, target in dataset:
        real = tf.boolean_mask(batch["frames"], batch["mask"] > 0)
        features.extend(features_of(real[i:i + CHUNK_FRAMES]).numpy()
                        for i in range(0, int(real.shape[0]), CHUNK_FRAMES))
        targets.append(tf.boolean_mask(target, batch["mask"] > 0).numpy())
        lengths.extend(int(n) for n in batch["num_frames"].numpy())
        video_ids.extend(v.decode() for v in batch["video_id"].numpy())
        labels.extend(v.decode() for v in batch["labels"].numpy())
    width = int(feature_model.output.shape[-1])
    return CachedSplit(
        features=np.concatenate(features).astype(np.float32) if features else np.zeros([0, width], np.float32),
        targets=np.concatenate(targets).astype(np.float32) if targets else np.zeros([0], np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), video_ids=video_ids, labels=labels)


def _save(path: str, cached: CachedSplit) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, features=cached.features, targets=cached.targets, offsets=cached.offsets,
                 video_ids=np.array(cached.video_ids, dtype=str), labels=np.array(cached.labels, dtype=str))


def _load(path: str) -> CachedSplit:
    with np.load(path) as z:
        return CachedSplit(features=z["features"], targets=z["targets"], offsets=z["offsets"],
                           video_ids=[str(v) for v in z["video_ids"]], labels=[str(v) for v in z["labels"]])


def cached_split(feature_model: keras.Model, data_dir: str, split: str, data_cfg: DataConfig, cache_dir: str, *,
                 sigma_at_44k: float, verbose: bool = False) -> CachedSplit:
    """The split's features from `cache_dir`, computing and saving them first when absent."""
    key = cache_key(feature_model, data_cfg, data_dir, split, sigma_at_44k)
    path = os.path.join(cache_dir, f"{split}_{key}.npz")
    if os.path.isfile(path):
        return _load(path)
    cached = compute_features(feature_model, data_dir, split, data_cfg, sigma_at_44k=sigma_at_44k)
    _save(path, cached)
    if verbose:
        print(f"feature cache: {split} ({cached.num_videos} videos, {len(cached.targets)} frames, "
              f"{cached.features.shape[1]} features each) -> {path}")
    return cached


def window_dataset(cached: CachedSplit, *, sequence_frames: int, batch_size: int, seed: int) -> tf.data.Dataset:
    """Infinite batches of ({'features': float32 [B, T, F], 'mask': float32 [B, T]}, target float32 [B, T]).

    Each epoch visits every video once in a new order; one window per visit, drawn as the frames
    pipeline draws it (`random_start`, `clip_window`: padded with the last frame, mask 0).
    """
    if cached.num_videos < 1:
        raise schema.DatasetError("feature cache: the split has no video")
    features = tf.constant(cached.features)
    targets = tf.constant(cached.targets)
    offsets = tf.constant(cached.offsets)
    videos = tf.data.Dataset.range(cached.num_videos).shuffle(cached.num_videos, seed=seed,
                                                              reshuffle_each_iteration=True)

    def window(draw: tf.Tensor, video: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        lo, hi = offsets[video], offsets[video + 1]
        start = random_start(tf.stack([tf.constant(seed, tf.int64), draw]), hi - lo, sequence_frames)
        x, target, mask = clip_window(features[lo:hi], targets[lo:hi], start, sequence_frames)
        return {"features": x, "mask": mask}, target

    batches = videos.repeat().enumerate().map(window, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return batches.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE).with_options(options)


def default_cache_dir(model_dir: str, cache_dir: Optional[str] = None) -> str:
    """`cache_dir` when given, else `<model_dir>/feature_cache`."""
    return cache_dir or os.path.join(model_dir, CACHE_SUBDIR)
