"""Streaming decode of one video file into what a record stores: JPEG frames + mono int16 audio.

Why here, in `l3net`: this is the one PyAV decode path of the project. The converter
(`data_tools.convert`) uses it to write records, and l3net's own readers use it too: the sound
file reader (`l3net.audio_files`, its file checks and error texts), the frame reader
(`l3net.embed.media`) and `l3net_localize --video` (`l3net.localization.animation`), so a file the
converter can read is a file the tools can read. `data_tools` depends on `l3net`, never the
reverse, so the shared code lives on the `l3net` side. Writing media is `l3net.media_encode`;
write-then-rename is `l3net.atomic_files`.

Why streaming: source videos can be hours long and full-resolution. The file is demuxed once,
audio and video packets interleaved, and each decoded frame is dropped as soon as it has been
turned into output. At any time the process holds at most two decoded frames (the one on screen
and the newest), the resampler's small buffer, and the output itself (JPEG bytes + int16 audio),
so memory is bounded by the output size, not by the input (and decoding stops at the clip end
instead of reading the rest of the file).

Time base: clip times are seconds from the container's start time. Stored frame i shows clip time
`i / fps`: it is the last decoded frame whose presentation time is <= that time (the first frame
for times before it), so N = ceil(video_seconds * fps) frames for video content of
`video_seconds`. Audio sample j is clip time `j / sample_rate`: audio starting late in the file is
preceded by zeros, so sound and picture stay aligned (the AVC task depends on it).

All failures are raised as `MediaError(kind, detail)`; `kind` is a short category used for the
summary and failures.csv.
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction
from typing import List, Optional

import av
import numpy as np

# Content ending this long before the container's declared duration is a cut file.
_TRUNCATION_TOLERANCE_S = 0.5
_EPS = 1e-6


class MediaError(Exception):
    """A file that cannot become a record; `reason` is the one-line failures.csv text."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail

    @property
    def reason(self) -> str:
        return str(self)


@dataclasses.dataclass
class DecodedClip:
    """Output of `decode_clip`.

    frames:        N JPEG images, short side = `short_side`; frame i shows clip time i / fps.
    video_seconds: seconds of video content decoded (<= clip length).
    audio:         int16 mono [S] at `sample_rate`, sample j at clip time j / sample_rate (unpadded).
    """

    frames: List[bytes]
    video_seconds: float
    audio: np.ndarray


def jpeg_qscale(quality: int) -> int:
    """libjpeg-style quality (1-100) -> FFmpeg MJPEG quantiser scale (1-31).

    libjpeg scales its base tables by s = 5000/q % (q < 50) or 200 - 2q % (q >= 50); FFmpeg's
    MJPEG quantiser q_s scales the same base tables by about 12.5 % per step (measured: q_s 2 gives
    file sizes/PSNR close to libjpeg quality 90, q_s 4 to 75, q_s 8 to 50).
    """
    quality = min(max(int(quality), 1), 100)
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return int(min(max(round(scale / 12.5), 1), 31))


def output_size(width: int, height: int, short_side: int) -> tuple:
    """(width, height) with the short side = `short_side`, aspect ratio kept (rounded)."""
    if width <= height:
        return short_side, max(1, int(round(height * short_side / width)))
    return max(1, int(round(width * short_side / height))), short_side


def decode_clip(path: str, *, start: float, end: Optional[float], fps: float, short_side: int,
                jpeg_quality: int, sample_rate: int, max_output_bytes: int) -> DecodedClip:
    """Decodes clip [start, end) (end None = to the end of the file) of the video at `path`.

    Raises:
      MediaError: missing/unreadable/empty file, undecodable, no video stream, no audio track,
        truncated or corrupt data, no frames, output larger than `max_output_bytes`.
    """
    check_file(path)
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise MediaError("undecodable", f"not a readable media file ({strerror(e)})") from None
    with container:
        video = next((s for s in container.streams.video
                      if not s.disposition & av.stream.Disposition.attached_pic), None)
        if video is None:
            raise MediaError("no video stream", "the file has no video (audio only or image)")
        if not container.streams.audio:
            raise MediaError("no audio track")
        audio = container.streams.audio[0]
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        frames = _FrameSampler(fps, start, end, short_side, jpeg_qscale(jpeg_quality),
                               float(video.average_rate or video.guessed_rate or fps))
        sound = _AudioCollector(sample_rate, start, end)
        if start > 0:
            try:
                container.seek(int((origin + start) * av.time_base), backward=True)
            except av.error.FFmpegError as e:
                raise MediaError("truncated", f"cannot seek to {start:g} s ({strerror(e)})") from None
        reached_eof = _demux(container, video, audio, origin, frames, sound, max_output_bytes)
        if not frames.frames:
            clip = f"{start:g} s to {'the end' if end is None else f'{end:g} s'}"
            raise MediaError("no frames", f"the video stream has no frames from {clip}")
        if reached_eof and container.duration is not None:
            declared = container.duration / av.time_base
            wanted = declared if end is None else min(end, declared)
            got = start + max(frames.video_seconds, sound.seconds)
            if got < wanted - max(_TRUNCATION_TOLERANCE_S, 0.02 * wanted):
                raise MediaError("truncated", f"content ends at {got:.2f} s, the file declares {declared:.2f} s")
        return DecodedClip(frames=frames.frames, video_seconds=frames.video_seconds, audio=sound.samples())


def _demux(container: av.container.InputContainer, video: av.video.stream.VideoStream,
           audio: av.audio.stream.AudioStream, origin: float, frames: "_FrameSampler",
           sound: "_AudioCollector", max_output_bytes: int) -> bool:
    """Feeds decoded frames to the two consumers; returns True if the whole file was read."""
    try:
        for packet in container.demux(video, audio):
            is_video = packet.stream.index == video.index
            if frames.done and sound.done:
                return False
            if (frames.done if is_video else sound.done):
                continue
            for frame in packet.decode():
                t = None if frame.time is None else frame.time - origin
                if is_video:
                    frames.add(frame, t)
                else:
                    sound.add(frame, t)
            if frames.output_bytes + sound.output_bytes > max_output_bytes:
                raise MediaError("too large", f"output exceeds {max_output_bytes} bytes; lower --max_seconds")
        frames.finish()
        sound.finish()
        return True
    except av.error.FFmpegError as e:
        where = max(frames.video_seconds, sound.seconds)
        if where <= 0:
            raise MediaError("undecodable", f"decoding failed at the start ({strerror(e)})") from None
        raise MediaError("truncated", f"decoding failed after {where:.2f} s ({strerror(e)})") from None


class _FrameSampler:
    """Turns decoded frames (any rate, any size) into JPEGs at `fps`, short side `short_side`."""

    def __init__(self, fps: float, start: float, end: Optional[float], short_side: int, qscale: int,
                 stream_rate: float):
        self.fps = fps
        self.stream_rate = stream_rate  # frames/s of the source, for frames without a duration
        self.start = start
        self.end = math.inf if end is None else end
        self.short_side = short_side
        self.qscale = qscale
        self.frames: List[bytes] = []
        self.output_bytes = 0
        self.video_seconds = 0.0
        self._shown: Optional[av.VideoFrame] = None
        self._shown_jpeg: Optional[bytes] = None
        self._shown_end = start
        self._encoder: Optional[av.CodecContext] = None
        self._size = (0, 0)

    @property
    def done(self) -> bool:
        return self._next_time() >= self.end - _EPS

    def _next_time(self) -> float:
        return self.start + len(self.frames) / self.fps

    def add(self, frame: av.VideoFrame, t: Optional[float]) -> None:
        """Emits every output time before `t` with the frame on screen, then shows `frame`.

        A frame without a timestamp follows the previous one.
        """
        if t is None:
            t = self._shown_end
        if self._shown is None:
            self._show(frame, t)
        self._emit_until(min(t, self.end))
        self._show(frame, t)

    def finish(self) -> None:
        """Emits the remaining output times up to the end of the last frame (or the clip end)."""
        if self._shown is not None:
            self._emit_until(min(self._shown_end, self.end))
        self.video_seconds = min(max(self._shown_end, self.start), self.end) - self.start
        self._shown = None

    def _show(self, frame: av.VideoFrame, t: float) -> None:
        duration = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
        if duration <= 0:
            duration = 1.0 / self.stream_rate
        self._shown, self._shown_jpeg = frame, None
        self._shown_end = max(self._shown_end, t + duration)
        self.video_seconds = min(max(self._shown_end, self.start), self.end) - self.start

    def _emit_until(self, limit: float) -> None:
        while self._next_time() < limit - _EPS:
            if self._shown_jpeg is None:
                self._shown_jpeg = self._encode(self._shown)
            self.frames.append(self._shown_jpeg)
            self.output_bytes += len(self._shown_jpeg)

    def _encode(self, frame: av.VideoFrame) -> bytes:
        if self._encoder is None:
            width, height = output_size(frame.width, frame.height, self.short_side)
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
            encoder.time_base = Fraction(1, 1000)  # pts = output index; only order matters
            encoder.options = {"qmin": str(self.qscale), "qmax": str(self.qscale)}
            encoder.open()
            self._encoder, self._size = encoder, (width, height)
        width, height = self._size
        shrinking = width * height < frame.width * frame.height
        image = frame.reformat(width=width, height=height, format="yuvj420p",
                               interpolation="AREA" if shrinking else "BILINEAR")
        image.pts, image.time_base = len(self.frames), self._encoder.time_base
        packets = self._encoder.encode(image)
        return b"".join(bytes(p) for p in packets)


class _AudioCollector:
    """Resamples decoded audio to mono int16 at `sample_rate`, placed on the clip time line."""

    def __init__(self, sample_rate: int, start: float, end: Optional[float]):
        self.sample_rate = sample_rate
        self.start = start
        self.wanted = None if end is None else int(round((end - start) * sample_rate))
        self.output_bytes = 0
        self._chunks: List[np.ndarray] = []
        self._count = 0
        self._skip = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self._started = False

    @property
    def done(self) -> bool:
        return self.wanted is not None and self._count >= self.wanted

    @property
    def seconds(self) -> float:
        return self._count / self.sample_rate

    def add(self, frame: av.AudioFrame, t: Optional[float]) -> None:
        """Appends `frame` (clip time `t`; None = right after the previous frame)."""
        if not self._started:
            self._started = True
            offset = 0 if t is None else int(round((t - self.start) * self.sample_rate))
            if offset > 0:
                self._append(np.zeros(offset, np.int16))
            else:
                self._skip = -offset
        for out in self._resampler.resample(frame):
            self._append(out.to_ndarray().reshape(-1))

    def finish(self) -> None:
        if self._started:
            for out in self._resampler.resample(None):
                self._append(out.to_ndarray().reshape(-1))

    def samples(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks).astype(np.int16, copy=False)

    def _append(self, chunk: np.ndarray) -> None:
        if self._skip:
            dropped = min(self._skip, chunk.shape[0])
            chunk, self._skip = chunk[dropped:], self._skip - dropped
        if self.wanted is not None:
            chunk = chunk[:max(self.wanted - self._count, 0)]
        if chunk.shape[0]:
            self._chunks.append(np.array(chunk, dtype=np.int16))
            self._count += chunk.shape[0]
            self.output_bytes += 2 * chunk.shape[0]


def check_file(path: str) -> None:
    """Distinguishes missing / unreadable / empty files before FFmpeg turns them into one error."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise MediaError("missing", "no such file") from None
    except OSError as e:
        raise MediaError("unreadable", e.strerror or type(e).__name__) from None
    if os.path.isdir(path):
        raise MediaError("unreadable", "is a directory")
    if not os.access(path, os.R_OK):
        raise MediaError("unreadable", "permission denied")
    if size == 0:
        raise MediaError("empty file", "0 bytes")


def strerror(error: av.error.FFmpegError) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())
