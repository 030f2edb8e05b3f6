"""Decoding images and video frames with PyAV (any format FFmpeg reads), as uint8 RGB arrays.

Video frames are sampled on a regular time grid: the frame for time t is the last decoded frame
whose presentation time is <= t (the first frame for earlier times), as the converter does
(l3net.media_decode), and output times run while t < the end of the last frame. At most
the frame on screen and its RGB copy are held, whatever the video's length.
"""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

import av
import numpy as np

from l3net.media_decode import strerror
from l3net.audio_files import AudioFileError, open_stream

# Slack on time comparisons (frame times are rationals rounded to float).
TIME_EPS = 1e-6


class MediaFileError(AudioFileError):
    """An image or video that cannot be read; str(e) is "<path>: <reason>" on one line."""


def _open_video(path: str) -> Tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    return open_stream(path, "video", MediaFileError)


def read_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] RGB of an image file (or the first frame of a video)."""
    container, stream = _open_video(path)
    with container:
        try:
            for frame in container.decode(stream):
                return frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise MediaFileError(path, f"cannot decode the image ({strerror(e)})") from None
    raise MediaFileError(path, "no decodable image")


def has_audio(path: str) -> bool:
    container, _ = _open_video(path)
    with container:
        return bool(container.streams.audio)


def iter_video_frames(path: str, hop_seconds: float) -> Iterator[Tuple[float, np.ndarray]]:
    """(t, uint8 [H, W, 3]) for t = 0, hop, 2 hop, ... while t < the end of the video."""
    container, stream = _open_video(path)
    with container:
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        shown: Optional[av.VideoFrame] = None
        rgb: Optional[np.ndarray] = None
        shown_end, i = 0.0, 0
        try:
            for frame in container.decode(stream):
                t = shown_end if frame.time is None else frame.time - origin
                if shown is not None:
                    while i * hop_seconds < t - TIME_EPS:
                        rgb = shown.to_ndarray(format="rgb24") if rgb is None else rgb
                        yield i * hop_seconds, rgb
                        i += 1
                duration = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
                shown, rgb = frame, None
                shown_end = max(shown_end, t + (duration if duration > 0 else 1.0 / rate))
        except av.error.FFmpegError as e:
            raise MediaFileError(path, f"decoding failed after {i * hop_seconds:.2f} s ({strerror(e)})") from None
        if shown is None:
            raise MediaFileError(path, "no decodable video frame")
        while i * hop_seconds < shown_end - TIME_EPS:
            rgb = shown.to_ndarray(format="rgb24") if rgb is None else rgb
            yield i * hop_seconds, rgb
            i += 1
