"""Small fake converted datasets, written directly through `l3net.data.schema` (no converter).

The content encodes its own provenance, so a test can tell from *decoded tensors* what the
pipeline sampled, independently of the pipeline's metadata:
  frame f of video v: one flat colour, R = 8 f + 4, G = 16 (v mod 16) + 8, B = 128 (survives
    JPEG, resizing, cropping and flipping; f < 32);
  audio of video v: even samples hold -(v + 1), odd samples hold their own index (< 32768).
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from l3net.data import schema

FRAME_STEP = 8
VIDEO_STEP = 16
MAX_FRAMES = 256 // FRAME_STEP
MAX_VIDEOS = 256 // VIDEO_STEP
MAX_SAMPLES = 32768


def frame_jpeg(video: int, frame: int, height: int, width: int) -> bytes:
    """A flat-colour JPEG whose colour encodes (video, frame)."""
    if not (0 <= frame < MAX_FRAMES and 0 <= video < MAX_VIDEOS):
        raise ValueError(f"video {video} / frame {frame} cannot be encoded in a colour")
    colour = np.array([FRAME_STEP * frame + FRAME_STEP // 2, VIDEO_STEP * video + VIDEO_STEP // 2, 128], np.uint8)
    image = np.broadcast_to(colour, (height, width, 3))
    return tf.io.encode_jpeg(tf.constant(image), quality=95).numpy()


def coded_audio(video: int, num_samples: int) -> np.ndarray:
    """int16 [num_samples]: even samples -(video + 1), odd samples their index."""
    if num_samples > MAX_SAMPLES:
        raise ValueError(f"{num_samples} samples cannot be encoded in int16 indices")
    audio = np.arange(num_samples, dtype=np.int64)
    audio[0::2] = -(video + 1)
    return audio.astype(np.int16)


def fake_video(video: int, *, split: str = "train", num_frames: int = 20, fps: float = 10.0,
               sample_rate: int = 8000, audio_seconds: float = 2.0, short_side: int = 40,
               landscape: bool = True, labels: Sequence[str] = ()) -> schema.VideoRecord:
    """One record; frames are short_side x (1.5 short_side) (or portrait), audio >= 1 s."""
    long_side = int(short_side * 1.5)
    height, width = (short_side, long_side) if landscape else (long_side, short_side)
    num_samples = max(int(round(audio_seconds * sample_rate)), sample_rate)
    return schema.VideoRecord(
        video_id=f"vid{video:03d}", source_path=f"videos/vid{video:03d}.mp4", split=split,
        labels=list(labels), fps=fps,
        frames=[frame_jpeg(video % MAX_VIDEOS, f, height, width) for f in range(num_frames)],
        sample_rate=sample_rate, audio=coded_audio(video, num_samples),
        duration=max(num_frames / fps, num_samples / sample_rate),
        audio_padded=audio_seconds * sample_rate < num_samples)


# Colours of the learnable classes of `class_video`.
CLASS_COLOURS = np.array([[220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 40]], np.uint8)


def class_video(index: int, split: str, cls: int, *, sample_rate: int = 8000, fps: float = 8.0) -> schema.VideoRecord:
    """A 1.5 s video of class `cls` that a tiny network can learn: a square of the class's colour
    at a random place in each of its 12 frames, and a tone of the class's pitch plus noise."""
    rng = np.random.default_rng(index)
    frames = []
    for _ in range(12):
        image = np.full((40, 60, 3), 90, np.uint8)
        y, x = rng.integers(0, 20), rng.integers(0, 40)
        image[y:y + 20, x:x + 20] = CLASS_COLOURS[cls]
        frames.append(tf.io.encode_jpeg(image).numpy())
    t = np.arange(int(1.5 * sample_rate)) / sample_rate
    audio = 0.3 * np.sin(2 * np.pi * (300 + 400 * cls) * t) + 0.05 * rng.standard_normal(t.size)
    return schema.VideoRecord(f"v{index:03d}", f"v{index:03d}.mp4", split, [f"class{cls}"], fps, frames,
                              sample_rate, (audio * 32767).astype(np.int16), 1.5)


def write_dataset(data_dir: str, records: Sequence[schema.VideoRecord], *, sample_rate: int, fps: float,
                  short_side: int, shards_per_split: int = 2) -> schema.DatasetInfo:
    """Writes records round-robin into shards per split, then dataset.json (as the converter does)."""
    os.makedirs(data_dir, exist_ok=True)
    by_split: Dict[str, List[schema.VideoRecord]] = {}
    for record in records:
        by_split.setdefault(record.split, []).append(record)
    shards: Dict[str, List[str]] = {}
    for split, split_records in by_split.items():
        count = min(shards_per_split, len(split_records))
        names = [f"{split}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]
        for i, name in enumerate(names):
            with tf.io.TFRecordWriter(os.path.join(data_dir, name)) as writer:
                for record in split_records[i::count]:
                    writer.write(record.to_example_bytes())
        shards[split] = names
    info = schema.DatasetInfo(
        schema_version=schema.SCHEMA_VERSION, sample_rate=sample_rate, fps=fps, short_side=short_side,
        labels=sorted({label for r in records for label in r.labels}),
        counts={split: len(rs) for split, rs in by_split.items()}, shards=shards)
    schema.write_dataset_info(data_dir, info)
    return info


def frame_provenance(image: np.ndarray) -> Tuple[int, int]:
    """(video mod 16, frame) encoded in a decoded image (float [H, W, 3] in [0, 1]); checks it is flat."""
    rgb = np.asarray(image, np.float64) * 255.0
    mean = rgb.reshape(-1, 3).mean(axis=0)
    if np.abs(rgb - mean).max() > 6.0:
        raise AssertionError(f"frame is not flat (max deviation {np.abs(rgb - mean).max():.1f})")
    frame = int(np.round((mean[0] - FRAME_STEP // 2) / FRAME_STEP))
    video = int(np.round((mean[1] - VIDEO_STEP // 2) / VIDEO_STEP))
    return video, frame


def audio_provenance(audio: np.ndarray) -> Tuple[int, int]:
    """(video, start sample) encoded in a decoded window (float [S] in [-1, 1]); checks continuity."""
    values = np.round(np.asarray(audio, np.float64) * 32768.0).astype(np.int64)
    odd_first = values[0] >= 0
    indices = values[0::2] if odd_first else values[1::2]
    ids = values[1::2] if odd_first else values[0::2]
    start = int(indices[0]) if odd_first else int(indices[0]) - 1
    if not np.array_equal(indices, start + (0 if odd_first else 1) + 2 * np.arange(len(indices))):
        raise AssertionError("audio window is not a contiguous run of samples")
    if not np.all(ids == ids[0]):
        raise AssertionError("audio window mixes videos")
    return int(-ids[0] - 1), start
