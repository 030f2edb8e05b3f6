"""What retrieval embeds: one frame and one 1 s audio window per video, chosen deterministically.

Objects that Sound ranks a test set of *videos*, each represented by one frame and one 1 s audio
clip. We take the middle frame and the audio window centred on it, snapped to the video's frame
grid like every training window (so its cut looks like the ones the network saw). Frames go
through exactly the evaluation preprocessing of the AVC pipeline (`augmentation.decode_frame`
with a centre crop after resizing the short side to the training `resize_short_side`, then
`finish_image`), so retrieval sees objects at the scale the network was trained on.

Videos without frames cannot be queried or shown and are skipped (their count is reported).
"""

from __future__ import annotations

from typing import Dict

import tensorflow as tf

from l3net.data import augmentation, pair_sampling, records, schema
from l3net.data.config import DataConfig

_PARSE_KEYS = ("video_id", "labels", "fps", "frames", "sample_rate", "audio")


def middle_frame_window(num_frames: tf.Tensor, fps: tf.Tensor, num_samples: tf.Tensor, sample_rate: tf.Tensor,
                        audio_seconds: float) -> Dict[str, tf.Tensor]:
    """Index of the middle frame and start sample of the grid window centred on it.

    Args: int64/float scalars of one video; audio_seconds: window length.
    Returns: frame_index (int64), audio_start (int64 sample), both scalars. The window starts at
      grid step k = round(frame - fps * audio_seconds / 2) (time k / fps), clipped so it lies
      inside the audio (start 0 when the audio is shorter than a window; it is zero-padded).
    """
    frame = tf.maximum(num_frames - 1, 0) // 2
    fps = tf.cast(fps, tf.float64)
    rate = tf.cast(sample_rate, tf.float64)
    window = tf.cast(tf.round(rate * audio_seconds), tf.int64)
    k = tf.round(tf.cast(frame, tf.float64) - fps * audio_seconds / 2.0)
    start = tf.cast(tf.round(k * rate / fps), tf.int64)
    start = tf.clip_by_value(start, 0, tf.maximum(num_samples - window, 0))
    return {"frame_index": frame, "audio_start": start}


def retrieval_dataset(data_dir: str, split: str, config: DataConfig) -> tf.data.Dataset:
    """Batches of one (frame, window) per video of `split`, in file order.

    Args:
      data_dir: output of `l3net_data convert`; its sample rate must equal config.sample_rate.
      split: 'train' | 'val' | 'test'.
      config: image_size, resize_short_side, sample_rate, audio_seconds and batch_size are used.

    Returns:
      Dataset of dicts: image float32 [B, S, S, 3] in [0, 1]; audio float32 [B, num_audio_samples]
      in [-1, 1]; video_id, labels (string [B], labels ';'-joined); frame_time, audio_start
      (float32 [B], seconds). Videos without frames are dropped.

    Raises:
      DatasetError: unusable data dir or split, or a sample-rate mismatch.
    """
    info = schema.read_dataset_info(data_dir)
    if int(info.sample_rate) != config.sample_rate:
        raise schema.DatasetError(
            f"{data_dir}: audio converted at {info.sample_rate} Hz but the model expects {config.sample_rate} Hz; "
            f"convert with `l3net_data convert --sample_rate {config.sample_rate}`")
    paths = schema.shard_paths(data_dir, split, info)
    spec = {k: v for k, v in schema.feature_spec().items() if k in _PARSE_KEYS}
    ratio = augmentation.jpeg_decode_ratio(int(info.short_side), config.resize_short_side)
    window = config.num_audio_samples

    def parse(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        return tf.io.parse_single_example(serialized, spec)

    def select(parsed: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        audio = parsed["audio"]
        num_samples = tf.cast(tf.strings.length(audio), tf.int64) // 2
        # Short audio is zero-padded to one window, as the AVC sampler and the converter do.
        audio = tf.cond(num_samples < window, lambda: pair_sampling.zero_pad_audio(audio, window), lambda: audio)
        where = middle_frame_window(tf.size(parsed["frames"], out_type=tf.int64), parsed["fps"], num_samples,
                                    parsed["sample_rate"], config.audio_seconds)
        fps = tf.cast(parsed["fps"], tf.float64)
        rate = tf.cast(parsed["sample_rate"], tf.float64)
        return {"video_id": parsed["video_id"],
                "labels": tf.strings.reduce_join(parsed["labels"], separator=";"),
                "jpeg": tf.gather(parsed["frames"], where["frame_index"]),
                "frame_time": tf.cast(tf.cast(where["frame_index"], tf.float64) / fps, tf.float32),
                "window": tf.strings.substr(audio, where["audio_start"] * 2, 2 * window),
                "audio_start": tf.cast(tf.cast(where["audio_start"], tf.float64) / rate, tf.float32)}

    def decode(item: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        image = augmentation.decode_frame(item["jpeg"], tf.constant([0.5, 0.5]), tf.constant(False),
                                          image_size=config.image_size,
                                          resize_short_side=config.resize_short_side, ratio=ratio)
        return {"image": tf.ensure_shape(augmentation.finish_image(image),
                                         [config.image_size, config.image_size, 3]),
                "audio": augmentation.decode_audio(item["window"], window),
                "video_id": item["video_id"], "labels": item["labels"],
                "frame_time": item["frame_time"], "audio_start": item["audio_start"]}

    items = records.read_shards(paths).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    items = items.filter(lambda parsed: tf.size(parsed["frames"]) > 0)
    items = items.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    items = items.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return items.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
