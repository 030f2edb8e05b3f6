"""Crafted hostile media for tests/test_hostile_inputs.py, written at test time (nothing committed).

The files are built by hand or streamed, so that the test never holds what it asks the tools
not to hold: a float WAV with NaN/Inf or 8 channels (written byte by byte: encoders refuse NaN),
a PNG of 20,000 x 20,000 px (1 bit per pixel, rows compressed one at a time: 76 KB on disk,
1.2 GB as RGB), a 3-hour FLAC (written one second at a time: mostly silence, so ~2 MB), and
the good and bad files of a directory run.
"""

from __future__ import annotations

import os
import struct
import wave
import zlib
from typing import Optional, Sequence

import numpy as np

from l3net.media_encode import write_audio_blocks


def float_wav(path: str, samples: np.ndarray, sample_rate: int) -> str:
    """A 32-bit float WAV (format 3, no channel mask) of float [samples] or [samples, channels]."""
    data = np.asarray(samples, np.float32)
    data = data[:, None] if data.ndim == 1 else data
    channels = data.shape[1]
    body = data.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, channels, sample_rate, sample_rate * channels * 4, channels * 4, 32)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body)
    return path


def png(path: str, width: int, height: int, rgb: Optional[Sequence[int]] = None) -> str:
    """A PNG of one colour: 8-bit RGB `rgb`, or (rgb None) 1-bit grey, all white.

    Rows are compressed one at a time, so any size costs the test no memory.
    """
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    if rgb is None:
        header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
        row = b"\x00" + b"\xff" * ((width + 7) // 8)
    else:
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        row = b"\x00" + bytes(rgb) * width
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)] + [compressor.flush()]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def burst(sample_rate: int, seconds: float = 0.25) -> np.ndarray:
    """float32 [seconds * rate]: a 300 Hz tone with a 50 ms fade, the sound of `long_flac`."""
    n = int(seconds * sample_rate)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.05 * sample_rate))
    return (0.5 * fade * np.sin(2 * np.pi * 300 * np.arange(n) / sample_rate)).astype(np.float32)


def long_flac(path: str, seconds: int, sample_rate: int = 8000, every: int = 60) -> str:
    """A mono FLAC of `seconds` s: silence with `burst` starting at every multiple of `every` s.

    Written one second at a time: the test holds one second of it, whatever its length.
    """
    sound = burst(sample_rate)

    def seconds_of_sound():
        for k in range(seconds):
            second = np.zeros((1, sample_rate), np.float32)
            if k % every == 0:
                second[0, :sound.shape[0]] = sound
            yield second

    write_audio_blocks(path, seconds_of_sound(), sample_rate, codec="flac")
    return path


def good_wav(path: str, k: int, sample_rate: int = 8000) -> str:
    """A 50 ms 16-bit WAV at 8 kHz, a different tone for each `k` (the good files of a directory)."""
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes((1000 * np.sin(np.arange(400) * (0.05 + k * 1e-4))).astype("<i2").tobytes())
    return path


def bad_files(folder: str, sample_rate: int = 8000) -> dict:
    """The 10 bad files of the 1,000-file run: name -> the start of its reason."""
    wav = float_wav(os.path.join(folder, "b0_nan.wav"), np.full(100, np.nan, np.float32), sample_rate)
    float_wav(os.path.join(folder, "b1_inf.wav"), np.full(100, np.inf, np.float32), sample_rate)
    float_wav(os.path.join(folder, "b2_header_only.wav"), np.zeros(0, np.float32), sample_rate)
    _write_bytes(os.path.join(folder, "b3_empty.wav"), b"")
    _write_bytes(os.path.join(folder, "b4_text.wav"), b"hello\n" * 100)
    png(os.path.join(folder, "b5_picture.wav"), 8, 8, rgb=(1, 2, 3))
    _write_bytes(os.path.join(folder, "b6_riff_junk.wav"), b"RIFF0000WAVEjunk" * 10)
    with open(wav, "rb") as f:
        _write_bytes(os.path.join(folder, "b7_cut_header.wav"), f.read()[:30])
    float_wav(os.path.join(folder, "b8_65_channels.wav"), np.zeros((10, 65), np.float32), sample_rate)
    _write_bytes(os.path.join(folder, "b9_not_flac.flac"), b"fLaC" + b"\x00" * 300)
    return {"b0_nan.wav": "non-finite sample (nan) at 0.0000 s", "b1_inf.wav": "non-finite sample (inf)",
            "b2_header_only.wav": "no audio samples", "b3_empty.wav": "empty file: 0 bytes",
            "b4_text.wav": "not a readable media file", "b5_picture.wav": "no audio stream",
            "b6_riff_junk.wav": "not a readable media file", "b7_cut_header.wav": "not a readable media file",
            "b8_65_channels.wav": "65 channels", "b9_not_flac.flac": "not a readable media file"}


def _write_bytes(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path
