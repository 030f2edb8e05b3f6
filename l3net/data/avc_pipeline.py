"""The AVC input pipeline: converted video records -> batches of (frame, 1 s audio, label) pairs.

What a pair is (positives overlap in time, negatives come from another video, every window on
the frame grid) is decided in `l3net.data.pair_sampling`; how a pair becomes tensors, in
`l3net.data.augmentation`. This module assembles them into a tf.data pipeline:

Training (infinite):
  shard files (seeded shuffle, repeat)
  -> deterministic parallel interleave of TFRecord readers (shards mixed)
  -> per record, in parallel: parse it once, draw `pairs_per_video` (frame, window) draws and drop
     the rest of the record (a few hundred KB left of several MB)
  -> video shuffle of the draws -> windows of `WINDOW_VIDEOS` videos -> pairs (negatives take a
     window of another video of the same window)
  -> example shuffle of compact pairs (one JPEG string + one int16 window, ~120 KB at paper size;
     a public Objects-that-Sound reproduction's shortcut came from poor shuffling, so this buffer is large)
  -> decode + augment -> batch (drop remainder) -> prefetch.
Eval (finite, fixed): every video once in file order, the same pairs for the same seed, labels
alternating positive/negative, centre crop, no augmentation, last partial batch kept.

Every random choice is a stateless op seeded from (seed, position in the stream), and every stage
keeps its order (deterministic interleave and maps, seeded shuffles), so the same seed gives
identical batches.

Shards are read through `l3net.data.records`: a damaged one (truncated, altered bytes) fails the
stream with an error naming it and the byte offset, or, for datasets built under
`records.skipping_damaged_records(True)` (`l3net_train --skip_corrupt_records`), is read up to
the damage.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from l3net.data import augmentation, pair_sampling, records, schema, worker_shards
from l3net.data.config import DataConfig

# Videos whose draws are paired together: negatives find their partner among them. Large enough
# that a window nearly always holds another video, small enough to pair cheaply.
WINDOW_VIDEOS = 16
# Shards read at once in training: mixes shards before the video shuffle.
MAX_INTERLEAVED_SHARDS = 16


def avc_dataset(data_dir: str, split: str, config: DataConfig, *, training: bool, seed: int = 0,
                with_metadata: bool = False, num_pairs: Optional[int] = None) -> tf.data.Dataset:
    """AVC pairs of `split` of a converted dataset, batched.

    Args:
      data_dir: output directory of `l3net_data convert` (holds dataset.json and the shards).
      split: 'train', 'val' or 'test'.
      config: sampling/augmentation settings; its sample_rate must equal the dataset's.
      training: True -> infinite, shuffled, augmented (if config.augment), drop_remainder batches.
        False -> a fixed finite pair set: every video in file order, config.pairs_per_video pairs
        each, alternating positive/negative, centre crop, no augmentation, last batch kept.
      seed: the same seed gives identical batches (and, in eval mode, identical pairs).
      with_metadata: also return where each pair came from (see Returns).
      num_pairs: cap on the number of pairs (makes a training stream finite too).

    Returns:
      Dataset of (features, label). label: int32 [B], 1 = frame and audio from the same video and
      overlapping in time, 0 = different videos. features:
        image: float32 [B, image_size, image_size, 3] in [0, 1]
        audio: float32 [B, num_audio_samples] in [-1, 1]
      (sequence configs: image [B, num_frames, image_size, image_size, 3], audio [B, avc_samples];
      one crop, flip and colour jitter for all frames of a pair, so only the content moves)
      and with `with_metadata`: frame_video_id, audio_video_id (string [B]), frame_time (float32
      [B], frame_index / fps seconds), audio_start (float32 [B], seconds), frame_labels,
      audio_labels (string [B], labels joined with ';').

    Raises:
      DatasetError: unusable data dir or split (one line naming the path and what to do).
      ValueError: inconsistent config or num_pairs.
    """
    _check_config(config, num_pairs)
    info = schema.read_dataset_info(data_dir)
    if int(info.sample_rate) != config.sample_rate:
        raise schema.DatasetError(
            f"{data_dir}: audio converted at {info.sample_rate} Hz but the model expects {config.sample_rate} Hz; "
            f"convert with `l3net_data convert --sample_rate {config.sample_rate}` or change the model's "
            f"sample_rate to {info.sample_rate}")
    paths = schema.shard_paths(data_dir, split, info)
    count = int(info.counts.get(split, 0))
    if count < 2:
        raise schema.DatasetError(
            f"{data_dir}: split '{split}' has {count} video; AVC needs at least 2 (negatives pair a frame "
            f"with another video's audio); convert more videos into this split")

    def draw(video_index: tf.Tensor, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        return pair_sampling.draw_from_video(
            video_index, serialized, pairs=config.pairs_per_video, window=config.avc_samples,
            audio_seconds=config.avc_seconds, sample_rate=config.sample_rate, seed=seed,
            alternate=not training, sequence_frames=config.num_frames if config.is_sequence else 0,
            margin=config.read_samples(training) - config.avc_samples)

    augment = training and config.augment

    def pair(draws: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        pairs = pair_sampling.pair_window(draws, seed=seed, with_metadata=with_metadata,
                                          label_disjoint=training and config.label_disjoint_negatives)
        if augment:
            pairs.update(augmentation.draw_params(pair_sampling.window_seed(seed, draws, 2),
                                                  tf.shape(pairs["label"])[0], config.strength))
        return pairs

    ratio = augmentation.jpeg_decode_ratio(int(info.short_side), config.resize_short_side)

    def decode(example: Dict[str, tf.Tensor]) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        return decode_pair(example, config, ratio=ratio, augment=augment)

    if training:
        draws = _training_records(paths, seed).map(draw, num_parallel_calls=tf.data.AUTOTUNE)
        # Draws are compact, but a buffer larger than the split would only hold repeats.
        draws = draws.shuffle(max(1, min(config.video_shuffle_buffer, count)), seed=seed + 1,
                              reshuffle_each_iteration=True)
        windows = draws.batch(WINDOW_VIDEOS, drop_remainder=True)
    else:
        draws = records.read_shards(paths).enumerate().map(draw, num_parallel_calls=tf.data.AUTOTUNE)
        windows = _eval_windows(draws, count)
    pairs = windows.map(pair, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if num_pairs is not None:
        pairs = pairs.take(num_pairs)
    if training:
        pairs = pairs.shuffle(config.example_shuffle_buffer, seed=seed + 2, reshuffle_each_iteration=True)
    batches = pairs.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.batch(config.batch_size, drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = True
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


def _check_config(config: DataConfig, num_pairs: Optional[int]) -> None:
    """Raises ValueError naming the field a pipeline cannot be built with."""
    if config.image_size < 1 or config.resize_short_side < config.image_size:
        raise ValueError(f"DataConfig: need 1 <= image_size ({config.image_size}) <= resize_short_side "
                         f"({config.resize_short_side})")
    if config.batch_size < 1 or config.pairs_per_video < 1:
        raise ValueError(f"DataConfig: batch_size ({config.batch_size}) and pairs_per_video "
                         f"({config.pairs_per_video}) must be >= 1")
    if config.num_audio_samples < 1:
        raise ValueError(f"DataConfig: sample_rate ({config.sample_rate}) x audio_seconds "
                         f"({config.audio_seconds}) must give at least one sample")
    if config.num_frames < 1 or config.avc_samples < config.num_audio_samples:
        raise ValueError(f"DataConfig: num_frames ({config.num_frames}) must be >= 1 and clip_seconds "
                         f"({config.clip_seconds}) 0 or >= audio_seconds ({config.audio_seconds})")
    if config.video_shuffle_buffer < 1 or config.example_shuffle_buffer < 1:
        raise ValueError("DataConfig: video_shuffle_buffer and example_shuffle_buffer must be >= 1")
    if num_pairs is not None and num_pairs < 1:
        raise ValueError(f"num_pairs={num_pairs}: must be >= 1 (or None for no cap)")


def _training_records(paths: List[str], seed: int) -> tf.data.Dataset:
    """Infinite (record index int64, serialized record) stream, shards shuffled and interleaved.

    A damaged shard fails the stream naming it, or is read up to the damage when the dataset is
    built under `records.skipping_damaged_records(True)` (`l3net.data.records`). With several
    workers, each reads only its own shards (`l3net.data.worker_shards`).
    """
    paths = worker_shards.select(paths)
    skip = records.skipping()
    files = tf.data.Dataset.from_tensor_slices((paths, records.shard_sizes(paths)))
    files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    stream = files.interleave(lambda path, size: records.read_shard(path, size, skip=skip),
                              cycle_length=min(len(paths), MAX_INTERLEAVED_SHARDS), block_length=1,
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return stream.enumerate()


def _eval_windows(draws: tf.data.Dataset, count: int) -> tf.data.Dataset:
    """Groups eval draws (in file order) into windows of consecutive videos.

    The remainder of the split joins the last window, so no window holds a single video (its
    negatives would have no partner): windows hold WINDOW_VIDEOS videos, the last one up to
    2 * WINDOW_VIDEOS - 1.
    """
    last = max(1, count // WINDOW_VIDEOS) - 1

    def key(d: Dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.minimum(d["video_index"] // WINDOW_VIDEOS, last)

    def size(window_key: tf.Tensor) -> tf.Tensor:
        return tf.where(window_key < last, tf.constant(WINDOW_VIDEOS, tf.int64),
                        tf.constant(2 * WINDOW_VIDEOS, tf.int64))

    return draws.group_by_window(key, lambda _, window: window.batch(2 * WINDOW_VIDEOS), window_size_func=size)


_AUGMENT_KEYS = ("crop", "flip", "colour", "brightness", "gain", "tilt", "speed")


def decode_pair(example: Dict[str, tf.Tensor], config: DataConfig, *, ratio: int,
                augment: bool) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
    """One pair -> ({'image', 'audio', metadata...}, label).

    `example` holds jpeg, audio, label and metadata (`pair_sampling.pair_window`), plus the
    augmentation parameters of `augmentation.draw_params` when `augment`.
    """
    if augment:
        crop, flip = example["crop"], example["flip"]
    else:
        crop, flip = tf.constant([0.5, 0.5]), tf.constant(False)
    def frame(jpeg: tf.Tensor) -> tf.Tensor:
        return augmentation.decode_frame(jpeg, crop, flip, image_size=config.image_size,
                                         resize_short_side=config.resize_short_side, ratio=ratio)

    shape = [config.image_size, config.image_size, 3]
    if config.is_sequence:
        # num_frames is static: one decode op per frame, no tf.map_fn loop.
        image = tf.stack([frame(example["jpeg"][i]) for i in range(config.num_frames)])
        shape = [config.num_frames] + shape
    else:
        image = frame(example["jpeg"])
    if augment:
        image = augmentation.finish_image(image, example["colour"], example["brightness"])
        tilt = example["tilt"] if config.strength.spectral_tilt > 0 else None
        speed = example["speed"] if config.strength.pitch_shift > 0 else None
        audio = augmentation.decode_audio(example["audio"], config.avc_samples, example["gain"], tilt, speed,
                                          margin=config.read_samples(training=True) - config.avc_samples)
    else:
        image = augmentation.finish_image(image)
        audio = augmentation.decode_audio(example["audio"], config.avc_samples)
    features = {"image": tf.ensure_shape(image, shape), "audio": audio}
    features.update({k: v for k, v in example.items() if k not in ("jpeg", "audio", "label") + _AUGMENT_KEYS})
    return features, example["label"]
