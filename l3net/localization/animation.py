"""Localising a video file: decode it, and write the overlaid frames back as an MP4 with its audio.

Decoding and MP4 writing are the project's one PyAV code, shared with the converter and the
synthetic generator (`l3net.media_decode.decode_clip`, `l3net.media_encode.write_video`), so a
file the converter can read is a file `l3net_localize --video` can read.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

# Libjpeg-style quality of the intermediate frames decode_clip produces.
JPEG_QUALITY = 95
MAX_DECODED_BYTES = 1 << 30


def decode_video(path: str, *, fps: float, short_side: int, sample_rate: int, max_seconds: float
                 ) -> Tuple[List[np.ndarray], np.ndarray]:
    """(frames: uint8 [H, W, 3] each, frame i at time i / fps; audio: int16 mono [S] at sample_rate).

    Raises l3net.media_decode.MediaError for an unusable file.
    """
    import tensorflow as tf

    from l3net.media_decode import decode_clip

    clip = decode_clip(path, start=0.0, end=max_seconds if max_seconds > 0 else None, fps=fps,
                       short_side=short_side, jpeg_quality=JPEG_QUALITY, sample_rate=sample_rate,
                       max_output_bytes=MAX_DECODED_BYTES)
    frames = [tf.io.decode_jpeg(jpeg, channels=3).numpy() for jpeg in clip.frames]
    return frames, clip.audio


def write_overlay_video(path: str, frames: Sequence[np.ndarray], fps: float, audio: np.ndarray,
                        sample_rate: int) -> None:
    """MP4 (H.264 + AAC) of uint8 [H, W, 3] frames with int16 mono `audio`; odd sizes lose a row/column."""
    from l3net.media_encode import write_video

    h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    even = (np.ascontiguousarray(f[:h, :w]) for f in frames)
    pcm = (np.asarray(audio, np.float32) / 32768.0)[None, :]
    write_video(path, even, w, h, fps, pcm, sample_rate)
