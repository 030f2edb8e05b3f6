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
  * Hostile input (tests/test_hostile_inputs.py):
    - NaN or Inf samples are refused (`AudioFileError` naming the time and channel of the first;
      ValueError for arrays), never replaced: they are no sound at all but the trace of a bug or
      a damaged float file, and embedding them would give numbers that look valid (the model's
      front end absorbs them) for audio that does not exist.
    - Any channel count is read (up to 64, the limit of FFmpeg's resampler), averaged to mono.
      PyAV's `AudioFrame.planes` / `to_ndarray` / `from_ndarray` read past the end of the
      channel pointers of planar frames with 8 or more channels (a segmentation fault, or
      garbage), so the planes are read and written one by one here (`_planes`, `_frame_of`).
    - A sound with at least one sample never comes out empty: libswresample, through PyAV,
      returns nothing for inputs shorter than its filter (under about 100 samples at 48 kHz ->
      8 kHz, even on flush), so such a sound is followed by silence inside the resampler and its
      output cut back to round(samples * rate / source rate) samples, at least 1.

Every failure is an `AudioFileError` whose message is one line: "<path>: <reason>".
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple, Type

import av
import numpy as np
from av.audio.plane import AudioPlane

from l3net.media_decode import MediaError, check_file, strerror

# Blocks of `read_audio` (samples at the output rate): large enough that the Python loop costs
# nothing, small next to the result.
_READ_BLOCK = 1 << 20
# libswresample's channel limit (SWR_CH_MAX).
MAX_CHANNELS = 64
# Sample formats that can hold NaN or Inf.
_FLOAT_FORMATS = ("flt", "fltp", "dbl", "dblp")


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
        channels = stream.codec_context.channels
        if channels > MAX_CHANNELS:
            raise AudioFileError(path, f"{channels} channels; l3net reads at most {MAX_CHANNELS} (FFmpeg's "
                                 "resampler); mix it down first (e.g. ffmpeg -i IN -ac 2 OUT)")
        blocks = _Blocks(block_samples)
        resampler = _Resampler(sample_rate)
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        skip: Optional[int] = None
        try:
            for frame in container.decode(stream):
                if skip is None:
                    offset = 0 if frame.time is None else int(round((frame.time - origin) * sample_rate))
                    blocks.add(np.zeros(max(offset, 0), np.float32))
                    skip = max(-offset, 0)
                _check_finite_frame(path, frame, resampler.consumed, origin)
                for mono in resampler.resample(frame):
                    skip = blocks.add(mono, skip)
                yield from blocks.full()
            if skip is not None:
                for mono in resampler.flush():
                    skip = blocks.add(mono, skip)
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
    if audio.shape[1] > MAX_CHANNELS:
        raise ValueError(f"audio of shape {audio.shape}: {audio.shape[1]} channels (at most {MAX_CHANNELS}); "
                         "audio is [samples] or [samples, channels]: transpose a [channels, samples] array "
                         "(audio.T)")
    check_finite(audio)
    planar = np.ascontiguousarray(audio.T)
    if sample_rate == target_rate or planar.shape[1] == 0:
        return planar.mean(axis=0, dtype=np.float32)
    layout = _layout(planar.shape[0])
    resampler = _Resampler(target_rate)
    blocks = _Blocks(_READ_BLOCK)
    for start in range(0, planar.shape[1], _READ_BLOCK):
        frame = _frame_of(planar[:, start:start + _READ_BLOCK], layout)
        frame.sample_rate = sample_rate
        for mono in resampler.resample(frame):
            blocks.add(mono)
    for mono in resampler.flush():
        blocks.add(mono)
    parts = list(blocks.full()) + list(blocks.rest())
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def check_finite(audio: np.ndarray, axes: Tuple[str, ...] = ("sample", "channel")) -> None:
    """Raises ValueError naming the first NaN or Inf of a float array (`axes` name its axes)."""
    finite = np.isfinite(audio)
    if not finite.all():
        index = np.unravel_index(int(np.argmin(finite)), audio.shape)
        where = ", ".join(f"{name} {i}" for name, i in zip(axes, index))
        raise ValueError(f"audio has a non-finite value ({audio[index]}) at {where}: NaN and Inf are not sound; "
                         "fix the audio (e.g. numpy.nan_to_num) and re-run")


def _check_finite_frame(path: str, frame: av.AudioFrame, before: int, origin: float) -> None:
    """Raises AudioFileError at the first NaN or Inf of a decoded float frame (`before` samples
    of the stream precede it)."""
    if frame.format.name not in _FLOAT_FORMATS:
        return
    planes = _planes(frame)
    finite = np.isfinite(planes)
    if finite.all():
        return
    channel, sample = np.unravel_index(int(np.argmin(finite)), planes.shape)
    if not frame.format.is_planar:
        channel, sample = sample % frame.layout.nb_channels, sample // frame.layout.nb_channels
    start = before / frame.sample_rate if frame.time is None else frame.time - origin
    raise AudioFileError(path, f"non-finite sample ({planes.flat[int(np.argmin(finite))]}) at "
                         f"{start + sample / frame.sample_rate:.4f} s, channel {channel}: NaN and Inf are not "
                         "sound (a damaged float file?); fix or re-export the audio and re-run")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels} channels")


def _planes(frame: av.AudioFrame) -> np.ndarray:
    """The samples of a frame, one row per plane (a planar frame: [channels, samples]; packed:
    [1, samples * channels]), read plane by plane (PyAV's `planes` overruns at >= 8 channels)."""
    dtype = np.dtype(av.audio.frame.format_dtypes[frame.format.name])
    count = frame.samples * (1 if frame.format.is_planar else frame.layout.nb_channels)
    rows = frame.layout.nb_channels if frame.format.is_planar else 1
    return np.stack([np.frombuffer(AudioPlane(frame, i), dtype, count=count) for i in range(rows)])


def _frame_of(planar: np.ndarray, layout: str) -> av.AudioFrame:
    """A float planar frame of float32 [channels, samples] (PyAV's from_ndarray overruns at >= 8 channels)."""
    frame = av.AudioFrame(format="fltp", layout=layout, samples=planar.shape[1])
    for i in range(planar.shape[0]):
        AudioPlane(frame, i).update(np.ascontiguousarray(planar[i]))
    return frame


def _silence_like(frame: av.AudioFrame, samples: int) -> av.AudioFrame:
    """`samples` of silence in the format, layout and rate of `frame` (to push a short sound through)."""
    silence = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=samples)
    for i in range(frame.layout.nb_channels if frame.format.is_planar else 1):
        plane = AudioPlane(silence, i)
        plane.update(bytes(plane.buffer_size))
    silence.sample_rate = frame.sample_rate
    return silence


class _Resampler:
    """libswresample to float at `rate`, mono blocks out; never empty for a non-empty input (module doc)."""

    def __init__(self, rate: int):
        self.rate = rate
        self.consumed = 0  # input samples so far
        self._produced = 0
        self._last: Optional[av.AudioFrame] = None
        self._resampler = av.AudioResampler(format="fltp", rate=rate)

    def resample(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        self.consumed += frame.samples
        self._last = frame
        for out in self._resampler.resample(frame):
            self._produced += out.samples
            yield _mono(out)

    def flush(self) -> Iterator[np.ndarray]:
        """The resampler's last samples (call once, after the last frame)."""
        last, short = self._last, self._produced == 0 and self.consumed > 0
        if not short:
            for out in self._resampler.resample(None):
                yield _mono(out)
            return
        # Too short for the filter: push it through with silence, keep its own length.
        want = max(1, int(round(self.consumed * self.rate / last.sample_rate)))
        outs = self._resampler.resample(_silence_like(last, last.sample_rate)) + self._resampler.resample(None)
        mono = np.concatenate([_mono(out) for out in outs]) if outs else np.zeros(0, np.float32)
        yield np.pad(mono[:want], (0, max(0, want - mono.shape[0])))


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """float32 [samples]: mean over the channels of a planar float frame."""
    planes = _planes(frame)
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
