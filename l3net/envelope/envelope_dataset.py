"""tf.data clips for envelope prediction: frames of a clip and its per-frame audio envelope.

Reads the same converted records as AVC training (`l3net.data.schema`: JPEG frames at the
converted fps, int16 audio); the target is computed in the pipeline from the record's own audio
(`targets.envelope_targets`, over the whole video so a training window and the full-clip
evaluation share one [0, 1] scale). Frames are decoded by the AVC pipeline's
`augmentation.decode_frame` / `finish_image`, so the tower sees exactly what it was trained on.

Training (infinite): shards shuffled and interleaved as for AVC, one random window of
`sequence_frames` consecutive frames per record (shorter videos are padded with their last
frame, mask 0), one crop / flip / colour jitter per clip (the same for all its frames: jitter
that changed between frames would look like motion), clip shuffle, batch (drop remainder).
Evaluation (finite): every video of the split in file order, whole, centre crop, padded batches.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import tensorflow as tf

from l3net.data import augmentation, schema
from l3net.data.avc_pipeline import _training_records
from l3net.data.config import DataConfig
from l3net.envelope.targets import SIGMA_SAMPLES_AT_44K, envelope_targets

_PARSE_KEYS = ("video_id", "labels", "fps", "frames", "sample_rate", "audio")


def parse_clip(serialized: tf.Tensor, *, sample_rate: int, sigma_at_44k: float = SIGMA_SAMPLES_AT_44K
               ) -> Dict[str, tf.Tensor]:
    """One record -> video_id, labels (';'-joined), jpegs (string [N]), target (float32 [N])."""
    spec = {k: v for k, v in schema.feature_spec().items() if k in _PARSE_KEYS}
    parsed = tf.io.parse_single_example(serialized, spec)
    checked = tf.debugging.assert_equal(
        parsed["sample_rate"], tf.constant(sample_rate, tf.int64),
        message=f"a record's sample_rate differs from dataset.json ({sample_rate} Hz); re-convert the dataset")
    with tf.control_dependencies([checked]):
        audio = tf.io.decode_raw(parsed["audio"], tf.int16, little_endian=True)
    jpegs = parsed["frames"]
    num_frames = tf.shape(jpegs)[0]
    target = envelope_targets(audio, num_frames, parsed["sample_rate"], parsed["fps"],
                              nominal_rate=sample_rate, sigma_at_44k=sigma_at_44k)
    return {"video_id": parsed["video_id"], "labels": tf.strings.reduce_join(parsed["labels"], separator=";"),
            "jpegs": jpegs, "target": target}


def decode_frames(jpegs: tf.Tensor, config: DataConfig, *, ratio: int,
                  params: Optional[Dict[str, tf.Tensor]] = None) -> tf.Tensor:
    """string [T] -> float32 [T, S, S, 3] in [0, 1]; `params` (one clip's `draw_params`) augments."""
    if params is None:
        crop, flip = tf.constant([0.5, 0.5]), tf.constant(False)
    else:
        crop, flip = params["crop"][0], params["flip"][0]

    def one(jpeg: tf.Tensor) -> tf.Tensor:
        image = augmentation.decode_frame(jpeg, crop, flip, image_size=config.image_size,
                                          resize_short_side=config.resize_short_side, ratio=ratio)
        if params is None:
            return augmentation.finish_image(image)
        return augmentation.finish_image(image, params["colour"][0], params["brightness"][0])

    spec = tf.TensorSpec([config.image_size, config.image_size, 3], tf.float32)
    return tf.map_fn(one, jpegs, fn_output_signature=spec)


def clip_window(values: tf.Tensor, target: tf.Tensor, start: tf.Tensor, length: int
                ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """values [N, ...], target [N] -> (values [T, ...], target [T], mask [T]) of frames start .. start + T - 1.

    Past the clip's end the last frame is repeated with target 0 and mask 0. Shared by the frames
    pipeline and the cached-features pipeline (`feature_cache`), so both draw the same windows.
    """
    n = tf.shape(values, out_type=tf.int64)[0]
    index = start + tf.range(length, dtype=tf.int64)
    valid = index < n
    index = tf.minimum(index, n - 1)
    return (tf.gather(values, index), tf.where(valid, tf.gather(target, index), 0.0),
            tf.cast(valid, tf.float32))


def random_start(clip_seed: tf.Tensor, num_frames: tf.Tensor, length: int) -> tf.Tensor:
    """A uniformly drawn first frame of a `length`-frame window (0 when the clip is shorter)."""
    room = tf.maximum(tf.cast(num_frames, tf.int64) - length, 0) + 1
    return tf.random.stateless_uniform([], seed=clip_seed, maxval=tf.int64.max, dtype=tf.int64) % room


def envelope_dataset(data_dir: str, split: str, config: DataConfig, *, sequence_frames: int, training: bool,
                     seed: int = 0, sigma_at_44k: float = SIGMA_SAMPLES_AT_44K,
                     num_clips: Optional[int] = None) -> tf.data.Dataset:
    """Batches of (features, target) of `split`.

    Args:
      config: image_size, resize_short_side, sample_rate (must equal the dataset's), batch_size
        (clips per batch), video_shuffle_buffer (clips mixed in training), augment.
      sequence_frames: T, frames per training clip (evaluation yields whole videos).
      training: infinite, shuffled, augmented windows vs every video once, whole, in file order.
      num_clips: cap on the number of clips.

    Returns:
      features: frames float32 [B, T, S, S, 3] in [0, 1]; mask float32 [B, T] (1 = a real frame);
        in evaluation also video_id, labels (string [B]) and num_frames (int32 [B]).
      target: float32 [B, T] in [0, 1] (0 where mask is 0). Evaluation pads T to the longest
        video of the batch.

    Raises:
      DatasetError: unusable data dir or split, or a sample rate that differs from config's.
    """
    info = schema.read_dataset_info(data_dir)
    if int(info.sample_rate) != config.sample_rate:
        raise schema.DatasetError(f"{data_dir}: audio converted at {info.sample_rate} Hz but the config expects "
                                  f"{config.sample_rate} Hz")
    paths = schema.shard_paths(data_dir, split, info)
    ratio = augmentation.jpeg_decode_ratio(int(info.short_side), config.resize_short_side)
    rate = config.sample_rate

    def train_clip(index: tf.Tensor, serialized: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        clip = parse_clip(serialized, sample_rate=rate, sigma_at_44k=sigma_at_44k)
        clip_seed = tf.stack([tf.constant(seed, tf.int64), index])
        start = random_start(clip_seed, tf.shape(clip["jpegs"])[0], sequence_frames)
        jpegs, target, mask = clip_window(clip["jpegs"], clip["target"], start, sequence_frames)
        params = None
        if config.augment:
            params = augmentation.draw_params(tf.random.experimental.stateless_fold_in(clip_seed, 1), 1)
        frames = decode_frames(jpegs, config, ratio=ratio, params=params)
        return {"frames": frames, "mask": mask}, target

    def eval_clip(serialized: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        clip = parse_clip(serialized, sample_rate=rate, sigma_at_44k=sigma_at_44k)
        frames = decode_frames(clip["jpegs"], config, ratio=ratio)
        n = tf.shape(frames)[0]
        return ({"frames": frames, "mask": tf.ones([n], tf.float32), "video_id": clip["video_id"],
                 "labels": clip["labels"], "num_frames": n}, clip["target"])

    if training:
        records = _training_records(paths, seed)
        if num_clips is not None:
            records = records.take(num_clips)
        clips = records.map(train_clip, num_parallel_calls=tf.data.AUTOTUNE)
        clips = clips.shuffle(max(1, min(config.video_shuffle_buffer, int(info.counts.get(split, 1)))),
                              seed=seed + 1, reshuffle_each_iteration=True)
        batches = clips.batch(config.batch_size, drop_remainder=True)
    else:
        records = tf.data.TFRecordDataset(paths)
        if num_clips is not None:
            records = records.take(num_clips)
        clips = records.map(eval_clip, num_parallel_calls=tf.data.AUTOTUNE)
        batches = clips.padded_batch(config.batch_size)
    options = tf.data.Options()
    options.deterministic = True
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)
