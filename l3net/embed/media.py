"""Decoding images and video frames with PyAV (any format FFmpeg reads), as uint8 RGB arrays.

Video frames are sampled on a regular time grid: the frame for time t is the last decoded frame
whose presentation time is <= t (the first frame for earlier times), as the converter does
(l3net.media_decode), and output times run while t < the end of the last frame. At most
the frame on screen and its RGB copy are held, whatever the video's length.

Large pictures (tests/test_hostile_inputs.py):
  * An image file of more than MAX_IMAGE_PIXELS (100 Mpx) is refused before anything is decoded,
    its size read from the header (l3net.embed.image_size; FFmpeg's own size for other formats):
    decoding happens in the file's pixel format (up to 8 bytes a pixel), and then the model
    shrinks it to a few hundred pixels anyway. The error says how to shrink it first.
  * A decoded picture (image or video frame) of more than DECODED_PIXELS (2048 x 2048) is
    area-averaged by FFmpeg to at most that many pixels, aspect kept, before it becomes an RGB
    array: the model's resize (bilinear, to its resize_short_side) then starts from at most
    12.6 MB of RGB instead of the full picture (the full picture as float32 in TensorFlow was
    12 bytes a pixel), and samples an image without the aliasing a 20x bilinear step has.
    Pictures up to that size reach the model exactly as decoded (equal to the array API).
"""

from __future__ import annotations

import math
from typing import Iterator, Optional, Tuple

import av
import numpy as np

from l3net.audio_files import AudioFileError, open_stream
from l3net.embed.image_size import header_size
from l3net.media_decode import MediaError, check_file, strerror

# Slack on time comparisons (frame times are rationals rounded to float).
TIME_EPS = 1e-6
# Image files above this many pixels are refused (module doc).
MAX_IMAGE_PIXELS = 100_000_000
# Decoded pictures above this many pixels are shrunk by FFmpeg before they become arrays.
DECODED_PIXELS = 2048 * 2048


class MediaFileError(AudioFileError):
    """An image or video that cannot be read; str(e) is "<path>: <reason>" on one line."""


def _open_video(path: str) -> Tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    return open_stream(path, "video", MediaFileError)


def read_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] RGB of an image file (or the first frame of a video); pictures above
    DECODED_PIXELS come shrunk, files above MAX_IMAGE_PIXELS are refused (module doc)."""
    try:
        check_file(path)
        _check_pixels(path, header_size(path))
    except MediaError as e:
        raise MediaFileError(path, e.reason) from None
    except OSError as e:
        raise MediaFileError(path, f"unreadable: {e.strerror or type(e).__name__}") from None
    try:
        container, stream = _open_video(path)
    except MediaFileError as e:
        if e.reason != "no video stream":
            raise
        raise MediaFileError(path, "no image in it (no picture stream: a sound file?)") from None
    with container:
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_pixels(path, (width, height) if width and height else None)
        try:
            for frame in container.decode(stream):
                return _rgb(frame)
        except av.error.FFmpegError as e:
            unsized = "; FFmpeg found no picture size (damaged, or above its limit of about 268 Mpx)"
            raise MediaFileError(path, f"cannot decode the image ({strerror(e)}{'' if width else unsized})") from None
    raise MediaFileError(path, "no decodable image")


def _check_pixels(path: str, size: Optional[Tuple[int, int]]) -> None:
    if size is None or size[0] * size[1] <= MAX_IMAGE_PIXELS:
        return
    width, height = size
    raise MediaFileError(path, f"image of {width} x {height} px ({width * height / 1e6:.0f} Mpx), above the "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} Mpx l3net decodes; shrink it first (the model sees a few "
                         "hundred pixels), e.g. magick IN -resize 4096x4096 OUT")


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """uint8 [H, W, 3] of a decoded picture, area-averaged to at most DECODED_PIXELS pixels."""
    pixels = frame.width * frame.height
    if pixels <= DECODED_PIXELS:
        return frame.to_ndarray(format="rgb24")
    scale = math.sqrt(DECODED_PIXELS / pixels)
    width, height = max(1, int(frame.width * scale)), max(1, int(frame.height * scale))
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


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
                        rgb = _rgb(shown) if rgb is None else rgb
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
            rgb = _rgb(shown) if rgb is None else rgb
            yield i * hop_seconds, rgb
            i += 1
