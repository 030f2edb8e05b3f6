"""One video -> one `VideoRecord`, or a `Failure` saying why the video cannot be used.

`convert_video` is a pure function of (source, options): it reads only the source file and
returns a value, so the shard writer can run it in any process, in any order, any number of times
(resume) and get the same record. Every problem with the input becomes a `Failure` whose reason
is one line `kind: detail`; only bugs raise.
"""

from __future__ import annotations

import dataclasses
from typing import Union

import numpy as np

from data_tools.manifest import VideoSource
from l3net.data.schema import VideoRecord
from l3net.media_decode import MediaError, decode_clip


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """How videos are converted (all of it is recorded in dataset.json).

    fps:               stored frames per second (frame i shows time i / fps).
    sample_rate:       Hz of the stored mono audio (paper: 48 kHz).
    short_side:        frames are resized so their short side is this (paper: 256).
    jpeg_quality:      1-100, libjpeg-like (see `l3net.media_decode.jpeg_qscale`).
    max_seconds:       seconds converted from the clip start (papers: first 10 s); 0 = all.
    window_seconds:    the AVC audio window; shorter audio is zero-padded to it, or dropped.
    drop_short:        drop videos with less than one window of audio instead of padding.
    silence_threshold: audio whose peak |x| is at most this fraction of full scale is "silent".
    max_record_bytes:  refuse records larger than this (protobuf messages must stay < 2 GiB).
    """

    fps: float = 12.0
    sample_rate: int = 48000
    short_side: int = 256
    jpeg_quality: int = 90
    max_seconds: float = 10.0
    window_seconds: float = 1.0
    drop_short: bool = False
    silence_threshold: float = 1e-3
    max_record_bytes: int = 1 << 30


@dataclasses.dataclass(frozen=True)
class Failure:
    """A video that could not be converted; `reason` is `kind: detail` on one line."""

    video_id: str
    source_path: str
    reason: str

    @property
    def kind(self) -> str:
        return self.reason.split(":", 1)[0]


def convert_video(source: VideoSource, options: ConvertOptions) -> Union[VideoRecord, Failure]:
    """Decodes `source` into a record with `options`; `source.split` must already be set.

    Returns a `Failure` for any unusable input (see `l3net.media_decode.decode_clip` for the kinds,
    plus "silent audio" and "too short"); the record's audio is int16 [S] with
    S >= window_seconds * sample_rate, frames are JPEGs (see `l3net.data.schema`).
    """
    if source.split is None:
        raise ValueError(f"{source.source_path}: split must be assigned before conversion")
    end = source.end_seconds
    if options.max_seconds > 0:
        limit = source.start_seconds + options.max_seconds
        end = limit if end is None else min(end, limit)
    try:
        clip = decode_clip(source.file_path, start=source.start_seconds, end=end, fps=options.fps,
                           short_side=options.short_side, jpeg_quality=options.jpeg_quality,
                           sample_rate=options.sample_rate, max_output_bytes=options.max_record_bytes)
    except MediaError as e:
        return Failure(source.video_id, source.source_path, _one_line(e.reason))
    except Exception as e:  # A decoder bug on one file must not stop a 500k-video run.
        return Failure(source.video_id, source.source_path, _one_line(f"error: {type(e).__name__}: {e}"))
    audio = clip.audio
    peak = max(int(audio.max()), -int(audio.min())) if audio.size else 0  # No int32 copy of long audio.
    if peak <= options.silence_threshold * 32768:
        return Failure(source.video_id, source.source_path,
                       f"silent audio: peak {peak / 32768:.2g} of full scale <= {options.silence_threshold:g}")
    audio_seconds = audio.shape[0] / options.sample_rate
    window = int(round(options.window_seconds * options.sample_rate))
    padded = audio.shape[0] < window
    if padded and options.drop_short:
        return Failure(source.video_id, source.source_path,
                       f"too short: {audio_seconds:.2f} s of audio < {options.window_seconds:g} s window")
    if padded:
        audio = np.concatenate([audio, np.zeros(window - audio.shape[0], np.int16)])
    return VideoRecord(video_id=source.video_id, source_path=source.source_path, split=source.split,
                       labels=list(source.labels), fps=float(options.fps), frames=clip.frames,
                       sample_rate=options.sample_rate, audio=audio,
                       duration=max(clip.video_seconds, audio_seconds), audio_padded=padded)


def _one_line(text: str) -> str:
    return " ".join(text.split())
