"""On-disk format of converted videos: one TFRecord `tf.train.Example` per video.

Why one record per video (and not one per training pair): the AVC sampler must be free to pick
any frame and any 1 s audio window of a video, and to pair a frame with audio of *another* video
(negatives). Storing whole videos (JPEG frames at a fixed fps + mono int16 PCM) keeps decoding of
the original container out of the training loop entirely (the bottleneck the public reproductions
hit), while leaving every sampling decision to `l3net.data`.

This module is the single contract between the writer (`data_tools.convert`) and the readers
(`l3net.data`, evaluation tools). Bump `SCHEMA_VERSION` on any incompatible change.

Feature layout of one record (N = num_frames, S = num_samples):
  video_id     bytes        stable id (same source -> same id across runs)
  source_path  bytes        path of the source video as given in the manifest
  split        bytes        'train' | 'val' | 'test'
  labels       bytes[L]     label names (L >= 0)
  duration     float        seconds of content stored (max of video and audio duration)
  fps          float        frame rate of the stored frames; frame i shows time i / fps
  num_frames   int64        N
  frames       bytes[N]     JPEG-encoded RGB frames, short side resized to `short_side`
  sample_rate  int64        Hz of `audio`
  num_samples  int64        S (>= one window: short clips are zero-padded at conversion)
  audio        bytes        S little-endian int16 samples, mono
  audio_padded int64        1 if the audio was zero-padded to reach one window, else 0
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from l3net.atomic_files import write_text_atomic

SCHEMA_VERSION = 1
DATASET_INFO_NAME = "dataset.json"
FAILURES_NAME = "failures.csv"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class VideoRecord:
    """One converted video, in memory. `frames` are JPEG bytes; `audio` is int16 mono [S]."""

    video_id: str
    source_path: str
    split: str
    labels: List[str]
    fps: float
    frames: List[bytes]
    sample_rate: int
    audio: np.ndarray
    duration: float
    audio_padded: bool = False

    def to_example_bytes(self) -> bytes:
        """Serialises to a `tf.train.Example` (see module docstring for the layout)."""
        import tensorflow as tf  # Local import: writers in worker processes import lazily.

        audio = np.asarray(self.audio)
        if audio.dtype != np.int16 or audio.ndim != 1:
            raise ValueError(f"audio must be 1-D int16, got {audio.dtype} {audio.shape}")

        def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

        def _int(value: int) -> tf.train.Feature:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

        def _float(value: float) -> tf.train.Feature:
            return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))

        feature = {
            "video_id": _bytes([self.video_id.encode("utf-8")]),
            "source_path": _bytes([self.source_path.encode("utf-8")]),
            "split": _bytes([self.split.encode("utf-8")]),
            "labels": _bytes([label.encode("utf-8") for label in self.labels]),
            "duration": _float(self.duration),
            "fps": _float(self.fps),
            "num_frames": _int(len(self.frames)),
            "frames": _bytes(self.frames),
            "sample_rate": _int(self.sample_rate),
            "num_samples": _int(audio.shape[0]),
            "audio": _bytes([audio.astype("<i2").tobytes()]),
            "audio_padded": _int(1 if self.audio_padded else 0),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        return example.SerializeToString()

    @classmethod
    def from_example_bytes(cls, serialized: bytes) -> "VideoRecord":
        """Inverse of `to_example_bytes` in plain Python (tests, inspection tools)."""
        import tensorflow as tf

        example = tf.train.Example.FromString(serialized)
        f = example.features.feature
        return cls(
            video_id=f["video_id"].bytes_list.value[0].decode("utf-8"),
            source_path=f["source_path"].bytes_list.value[0].decode("utf-8"),
            split=f["split"].bytes_list.value[0].decode("utf-8"),
            labels=[v.decode("utf-8") for v in f["labels"].bytes_list.value],
            fps=float(f["fps"].float_list.value[0]),
            frames=list(f["frames"].bytes_list.value),
            sample_rate=int(f["sample_rate"].int64_list.value[0]),
            audio=np.frombuffer(f["audio"].bytes_list.value[0], dtype="<i2").astype(np.int16),
            duration=float(f["duration"].float_list.value[0]),
            audio_padded=bool(f["audio_padded"].int64_list.value[0]),
        )


def feature_spec() -> Dict[str, Any]:
    """`tf.io.parse_example` spec for the layout above; `frames`/`labels` parse as ragged."""
    import tensorflow as tf

    return {
        "video_id": tf.io.FixedLenFeature([], tf.string),
        "source_path": tf.io.FixedLenFeature([], tf.string),
        "split": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.RaggedFeature(tf.string),
        "duration": tf.io.FixedLenFeature([], tf.float32),
        "fps": tf.io.FixedLenFeature([], tf.float32),
        "num_frames": tf.io.FixedLenFeature([], tf.int64),
        "frames": tf.io.RaggedFeature(tf.string),
        "sample_rate": tf.io.FixedLenFeature([], tf.int64),
        "num_samples": tf.io.FixedLenFeature([], tf.int64),
        "audio": tf.io.FixedLenFeature([], tf.string),
        "audio_padded": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }


@dataclasses.dataclass
class DatasetInfo:
    """Contents of `<data_dir>/dataset.json`, written by the converter, read by every consumer."""

    schema_version: int
    sample_rate: int
    fps: float
    short_side: int
    labels: List[str]
    counts: Dict[str, int]
    shards: Dict[str, List[str]]
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DatasetInfo":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class DatasetError(ValueError):
    """A data directory that cannot be used; the message names the path and what to do."""


def read_dataset_info(data_dir: str) -> DatasetInfo:
    """Reads and validates `<data_dir>/dataset.json`.

    Raises:
      DatasetError: with a one-line message naming the path, if the directory, the file or
        its schema version is unusable.
    """
    path = os.path.join(data_dir, DATASET_INFO_NAME)
    if not os.path.isdir(data_dir):
        raise DatasetError(f"{data_dir}: no such directory; pass the output_dir of `l3net_data convert`")
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: missing; {data_dir} is not a converted dataset (run `l3net_data convert`)")
    try:
        with open(path, encoding="utf-8") as f:
            info = DatasetInfo.from_dict(json.load(f))
    except (OSError, ValueError, TypeError) as e:
        raise DatasetError(f"{path}: unreadable ({e}); re-run `l3net_data convert`") from None
    if info.schema_version != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: schema version {info.schema_version}, this l3net reads {SCHEMA_VERSION}; re-convert the videos")
    return info


def write_dataset_info(data_dir: str, info: DatasetInfo) -> None:
    """Writes `dataset.json` atomically (temp name, then rename)."""
    write_text_atomic(os.path.join(data_dir, DATASET_INFO_NAME), info.to_json())


def shard_paths(data_dir: str, split: str, info: Optional[DatasetInfo] = None) -> List[str]:
    """Absolute paths of the shards holding `split`, as listed in `dataset.json`.

    Raises DatasetError if the split has no videos.
    """
    info = info or read_dataset_info(data_dir)
    names = info.shards.get(split, [])
    paths = [os.path.join(data_dir, n) for n in names]
    if not paths or info.counts.get(split, 0) == 0:
        raise DatasetError(f"{data_dir}: split '{split}' has no videos (counts: {info.counts})")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{missing[0]}: listed in dataset.json but missing; re-run `l3net_data convert`")
    return paths
