"""Small synthetic media files for the converter tests, written with PyAV.

Every video shows a white square moving left to right over a dark background (so frame order and
timing can be checked from pixels) and carries a sine tone (so resampling can be checked against
the tone frequency). Sizes are tiny (64x48, a few seconds) to keep the tests fast on 2 cores.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional, Sequence

import av
import numpy as np

SQUARE = 12


def square_x(t: float, seconds: float, width: int) -> int:
    """Left edge (pixels) of the moving square at time `t` of a `seconds`-long clip."""
    return int(round((width - SQUARE) * min(max(t / seconds, 0.0), 1.0)))


def video_frame(t: float, seconds: float, width: int, height: int) -> np.ndarray:
    """RGB frame [height, width, 3] uint8 of the test pattern at time `t`."""
    img = np.full((height, width, 3), 30, np.uint8)
    x = square_x(t, seconds, width)
    y = (height - SQUARE) // 2
    img[y:y + SQUARE, x:x + SQUARE] = 255
    return img


def tone(seconds: float, sample_rate: int, tone_hz: float, amplitude: float, channels: int) -> np.ndarray:
    """Sine tone as float32 [channels, samples] with 10 ms fades (no codec clicks at the ends).

    Channel c is scaled by 1/(c+1), so a downmix is distinguishable from taking one channel.
    """
    n = int(round(seconds * sample_rate))
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * sample_rate))
    wave = amplitude * fade * np.sin(2 * np.pi * tone_hz * np.arange(n) / sample_rate)
    return np.stack([wave / (c + 1) for c in range(channels)]).astype(np.float32)


def write_video(path: str, *, seconds: float = 2.0, width: int = 64, height: int = 48, fps: int = 24,
                sample_rate: Optional[int] = 44100, channels: int = 1, tone_hz: float = 440.0,
                amplitude: float = 0.5, video_codec: str = "mpeg4", audio_codec: str = "aac",
                container_options: Optional[dict] = None) -> str:
    """Writes a test video; `sample_rate=None` writes no audio track, `amplitude=0` silence.

    Returns `path`. The container follows the extension (.mp4, .mkv, .mov ...).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with av.open(path, "w", options=container_options or {}) as out:
        vstream = out.add_stream(video_codec, rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        astream = None
        if sample_rate is not None:
            astream = out.add_stream(audio_codec, rate=sample_rate)
            astream.layout = "mono" if channels == 1 else "stereo"
        num_frames = int(round(seconds * fps))
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(video_frame(i / fps, seconds, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
        if astream is not None:
            _write_audio(out, astream, tone(seconds, sample_rate, tone_hz, amplitude, channels), sample_rate)
    return path


def _write_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                 samples: np.ndarray, sample_rate: int) -> None:
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    chunk = 1024
    for start in range(0, samples.shape[1], chunk):
        part = np.ascontiguousarray(samples[:, start:start + chunk])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def write_audio_only(path: str, *, seconds: float = 1.0, sample_rate: int = 16000) -> str:
    """A WAV file: a valid media file that is not a video."""
    with av.open(path, "w") as out:
        stream = out.add_stream("pcm_s16le", rate=sample_rate)
        stream.layout = "mono"
        _write_audio(out, stream, tone(seconds, sample_rate, 440.0, 0.5, 1), sample_rate)
    return path


def write_truncated(path: str, source: str, keep_fraction: float = 0.5) -> str:
    """Copies the first `keep_fraction` of `source`'s bytes to `path` (a cut download)."""
    with open(source, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep_fraction)])
    return path


def write_bytes(path: str, data: bytes) -> str:
    """Writes raw bytes (empty files, text pretending to be a video)."""
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_manifest(path: str, rows: Sequence[Sequence[str]], header: Sequence[str] = ("path", "labels")) -> str:
    """Writes a manifest CSV with the csv module's quoting."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_sound(path: str, *, codec: str = "pcm_s16le", seconds: float = 1.0, sample_rate: int = 16000,
                channels: int = 1, tone_hz: float = 440.0, amplitude: float = 0.5) -> str:
    """An audio-only file of `tone` (channel c scaled by 1/(c+1)); the container follows the extension.

    codec: any PyAV audio encoder (pcm_s16le/pcm_s32le/pcm_f32le for WAV, flac, libvorbis or
    vorbis for OGG, libmp3lame for MP3). Returns `path`.
    """
    with av.open(path, "w") as out:
        stream = out.add_stream(codec, rate=sample_rate)
        stream.layout = "mono" if channels == 1 else "stereo"
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        _write_audio(out, stream, tone(seconds, sample_rate, tone_hz, amplitude, channels), sample_rate)
    return path
