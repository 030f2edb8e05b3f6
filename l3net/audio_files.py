"""Reading sound files for the embedding tools and probes: any format FFmpeg reads, as mono float32.

Why one module: `l3net_embed`, the linear probes (ESC-50, DCASE) and the benchmarks must all see
the same waveform for the same file (same downmix, same resampler), or their numbers disagree.

Conventions:
  * Decoding and resampling are FFmpeg's (PyAV, libswresample with its default windowed-sinc
    filter); every channel is resampled to `sample_rate` as float, then the channels are
    averaged (mono = mean of the channels, as OpenL3/librosa do; FFmpeg's own stereo->mono
    downmix scales by 1/sqrt(2) and can exceed [-1, 1]). Integer formats of any depth come out
    in [-1, 1] (FFmpeg scales them by 1/2^(bits-1)).
  * Sample 0 is the start of the container's time line: audio starting late is preceded by zeros
    (so the sound of a video stays aligned to its picture), samples before it are dropped.
  * `stream_audio` holds at most one block plus one decoded frame: memory does not grow with the
    file's length.

Every failure is an `AudioFileError` whose message is one line: "<path>: <reason>".
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple, Type

import av
import numpy as np

from l3net.media_decode import MediaError, check_file, strerror

# Blocks of `read_audio` (samples at the output rate): large enough that the Python loop costs
# nothing, small next to the result.
_READ_BLOCK = 1 << 20


class AudioFileError(ValueError):
    """A sound file that cannot be read; str(e) is "<path>: <reason>" on one line."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def open_stream(path: str, kind: str = "audio", error: Type[AudioFileError] = AudioFileError
                ) -> Tuple[av.container.InputContainer, av.stream.Stream]:
    """(open container, its first `kind` stream: 'audio' or 'video'); raises `error(path, reason)`.

    Missing, unreadable, empty and non-media files get distinct reasons. The caller closes the
    container (use it in a `with`).
    """
    try:
        check_file(path)
    except MediaError as e:
        raise error(path, e.reason) from None
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise error(path, f"not a readable media file ({strerror(e)})") from None
    streams = container.streams.audio if kind == "audio" else container.streams.video
    if not streams:
        container.close()
        raise error(path, f"no {kind} stream")
    return container, streams[0]


def audio_info(path: str) -> Tuple[float, int, int]:
    """(duration_s, sample_rate, channels) of the first audio stream, from the headers.

    duration_s is the stream's declared duration (the container's if the stream has none; 0.0
    if neither is known). Raises AudioFileError.
    """
    container, stream = open_stream(path)
    with container:
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        channels = stream.codec_context.layout.nb_channels if stream.codec_context.layout else 0
        return duration, int(stream.sample_rate or 0), int(channels or stream.codec_context.channels)


def stream_audio(path: str, sample_rate: int, block_samples: int) -> Iterator[np.ndarray]:
    """Consecutive mono float32 blocks [block_samples] of the file at `sample_rate`.

    The last block may be shorter (never empty); a file without any sample raises. The
    concatenation of the blocks is `read_audio(path, sample_rate)`. Raises AudioFileError
    (before the first block for an unreadable file, or when decoding fails midway).
    """
    if sample_rate < 1 or block_samples < 1:
        raise ValueError(f"sample_rate={sample_rate}, block_samples={block_samples}: must be >= 1")
    container, stream = open_stream(path)
    with container:
        blocks = _Blocks(block_samples)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        skip: Optional[int] = None
        try:
            for frame in container.decode(stream):
                if skip is None:
                    offset = 0 if frame.time is None else int(round((frame.time - origin) * sample_rate))
                    blocks.add(np.zeros(max(offset, 0), np.float32))
                    skip = max(-offset, 0)
                for out in resampler.resample(frame):
                    skip = blocks.add(_mono(out), skip)
                yield from blocks.full()
            if skip is not None:
                for out in resampler.resample(None):
                    skip = blocks.add(_mono(out), skip)
        except av.error.FFmpegError as e:
            where = blocks.total / sample_rate
            raise AudioFileError(path, f"decoding failed after {where:.2f} s ({strerror(e)})") from None
        yield from blocks.full()
        if blocks.total == 0:
            raise AudioFileError(path, "no audio samples (empty or corrupt audio stream)")
        yield from blocks.rest()


def read_audio(path: str, sample_rate: int) -> np.ndarray:
    """The whole file as mono float32 [samples] in [-1, 1] at `sample_rate`. Raises AudioFileError."""
    parts = list(stream_audio(path, sample_rate, _READ_BLOCK))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def resample_audio(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """float [samples] or [samples, channels] at `sample_rate` -> mono float32 at `target_rate`.

    Exactly what reading a file with these samples gives: each channel resampled by
    libswresample, then the channel mean. Length round(samples * target_rate / sample_rate).
    """
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"audio of shape {audio.shape}: expected [samples] or [samples, channels]")
    planar = np.ascontiguousarray(audio.T)
    if sample_rate == target_rate or planar.shape[1] == 0:
        return planar.mean(axis=0, dtype=np.float32)
    layout = {1: "mono", 2: "stereo"}.get(planar.shape[0], f"{planar.shape[0]}c")
    resampler = av.AudioResampler(format="fltp", rate=target_rate)
    blocks = _Blocks(_READ_BLOCK)
    for start in range(0, planar.shape[1], _READ_BLOCK):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + _READ_BLOCK]),
                                           format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        for out in resampler.resample(frame):
            blocks.add(_mono(out))
    for out in resampler.resample(None):
        blocks.add(_mono(out))
    parts = list(blocks.full()) + list(blocks.rest())
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """float32 [samples]: mean over the channels of a planar float frame."""
    planes = frame.to_ndarray()
    return planes[0].copy() if planes.shape[0] == 1 else planes.mean(axis=0, dtype=np.float32)


class _Blocks:
    """Cuts a stream of sample chunks into blocks of a fixed length."""

    def __init__(self, block_samples: int):
        self.block = block_samples
        self.total = 0
        self._chunks: List[np.ndarray] = []
        self._count = 0

    def add(self, chunk: np.ndarray, skip: int = 0) -> int:
        """Appends `chunk` minus its first `skip` samples; returns the samples still to skip."""
        dropped = min(skip, chunk.shape[0])
        chunk = chunk[dropped:]
        if chunk.shape[0]:
            self._chunks.append(chunk)
            self._count += chunk.shape[0]
            self.total += chunk.shape[0]
        return skip - dropped

    def full(self) -> Iterator[np.ndarray]:
        if self._count < self.block:
            return
        data = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        stop = self._count - self._count % self.block
        for start in range(0, stop, self.block):
            yield data[start:start + self.block]
        rest = data[stop:].copy()  # a view would keep all of `data` alive
        self._chunks, self._count = ([rest] if rest.shape[0] else []), rest.shape[0]

    def rest(self) -> Iterator[np.ndarray]:
        if self._count:
            yield np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
            self._chunks, self._count = [], 0
