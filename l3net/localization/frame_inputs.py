"""Frames and the audio around them, from converted records, ready for AVOL-Net's localizer.

Localisation looks at the *whole* frame, not the training crop: the frame is resized so its short
side is about the training `resize_short_side` (objects keep the scale the network learnt them
at), each side rounded to a multiple of the cell size 2**len(vision_widths) so the cell grid tiles
the frame exactly. The audio is the 1 s (audio_seconds) window centred on the frame's time,
shifted to lie inside the audio: it always overlaps the frame, as AVC positives do.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, List, Tuple

import numpy as np

from l3net.data import schema


@dataclasses.dataclass
class FrameItem:
    """One frame to localise. frame: uint8 [H, W, 3]; audio: float32 [num_audio_samples]."""

    video_id: str
    source_path: str
    labels: List[str]
    frame_index: int
    time: float
    frame: np.ndarray
    audio: np.ndarray


def input_size(frame_hw: Tuple[int, int], short_side: int, cell: int) -> Tuple[int, int]:
    """(H', W') fed to the localizer: short side ~short_side, both multiples of `cell`."""
    h, w = frame_hw
    scale = short_side / min(h, w)
    return (cell * max(1, int(round(h * scale / cell))), cell * max(1, int(round(w * scale / cell))))


def model_image(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [H', W', 3] in [0, 1], bilinear (the training pipeline's resampler)."""
    import tensorflow as tf

    image = tf.image.resize(tf.convert_to_tensor(frame, tf.float32), size, method="bilinear")
    return (image.numpy() / 255.0).astype(np.float32)


def audio_window(audio: np.ndarray, centre_time: float, sample_rate: int, num_samples: int) -> np.ndarray:
    """int16 [S] -> float32 [num_samples] in [-1, 1], centred on `centre_time`, kept inside the audio.

    Audio shorter than a window is zero-padded at the end (as the converter pads short clips).
    """
    audio = np.asarray(audio)
    if audio.shape[0] < num_samples:
        audio = np.concatenate([audio, np.zeros(num_samples - audio.shape[0], audio.dtype)])
    start = int(round(centre_time * sample_rate - num_samples / 2))
    start = min(max(start, 0), audio.shape[0] - num_samples)
    return audio[start:start + num_samples].astype(np.float32) / 32768.0


def chosen_frames(num_frames: int, per_video: int) -> List[int]:
    """`per_video` evenly spread frame indices (centres of equal segments), distinct, ascending."""
    count = min(per_video, num_frames)
    return sorted({int((k + 0.5) * num_frames / count) for k in range(count)})


def record_frames(data_dir: str, split: str, per_video: int, num_audio_samples: int,
                  max_videos: int = 0) -> Iterator[FrameItem]:
    """Frames of every video of `split` (file order), `per_video` each, with their audio windows.

    Raises schema.DatasetError for an unusable data dir or split.
    """
    import tensorflow as tf

    info = schema.read_dataset_info(data_dir)
    paths = schema.shard_paths(data_dir, split, info)
    for count, serialized in enumerate(tf.data.TFRecordDataset(paths).as_numpy_iterator()):
        if max_videos and count >= max_videos:
            return
        record = schema.VideoRecord.from_example_bytes(serialized)
        for index in chosen_frames(len(record.frames), per_video):
            time = index / record.fps
            frame = tf.io.decode_jpeg(record.frames[index], channels=3).numpy()
            yield FrameItem(record.video_id, record.source_path, record.labels, index, time, frame,
                            audio_window(record.audio, time, record.sample_rate, num_audio_samples))
