"""Writing media through PyAV: MP4 (H.264 + AAC) videos and 16-bit PCM WAV files.

Why here, in `l3net`: both packages write media. The synthetic generator (`data_tools.synthetic`)
writes its videos and sound clips with it, and `l3net_localize --video`
(`l3net.localization.animation`) writes its overlay video; `data_tools` depends on `l3net`, never
the reverse. Reading media is `l3net.media_decode`; the write-then-rename it relies on is
`l3net.atomic_files`.

Why real containers for synthetic data: the demo must exercise the same decode path
(`l3net_data convert`) as real data, compression included. Settings are chosen for speed and
reproducibility: x264 `ultrafast` with one thread (bit-exact output for a given input, and
process-level parallelism is done by the caller), the native AAC encoder with its fast coder and
without perceptual noise substitution (which would replace noise bands by decoder-made noise).
Files are written under a temporary name and renamed, so an interrupted run never leaves a
truncated file under the final name.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable

import av
import numpy as np

from l3net.atomic_files import atomic_path

AAC_FRAME = 1024  # Samples per AAC frame; fed in whole frames so packetisation is fixed.
_LAYOUTS = {1: "mono", 2: "stereo"}


def write_video(path: str, frames: Iterable[np.ndarray], width: int, height: int, fps: int,
                audio: np.ndarray, sample_rate: int) -> None:
    """Writes an MP4 with H.264 (yuv420p) video and AAC audio.

    frames: iterable of uint8 [height, width, 3] RGB; frame i is shown at time i / fps.
    audio:  float32 [channels, samples] in [-1, 1], channels 1 or 2, starting at time 0;
            decoders return it followed by < 1024 zero samples (AAC frame padding).
    """
    if width % 2 or height % 2:
        raise ValueError(f"{path}: width and height must be even for yuv420p, got {width}x{height}")
    channels = audio.shape[0]
    with atomic_path(path) as tmp:
        with av.open(tmp, "w", format="mp4") as container:
            vstream = container.add_stream("libx264", rate=Fraction(fps),
                                           options={"preset": "ultrafast", "crf": "23"})
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.codec_context.thread_count = 1
            astream = container.add_stream("aac", rate=sample_rate, layout=_LAYOUTS[channels],
                                           options={"aac_coder": "fast", "aac_pns": "0"})
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode())
            # Zero-pad to whole AAC frames: a last frame of < ~26 samples is silently dropped on
            # the way through PyAV/the MP4 muxer, and decoders pad the last frame anyway.
            padded = -(-audio.shape[1] // AAC_FRAME) * AAC_FRAME
            pcm = np.zeros((channels, padded), np.float32)
            pcm[:, :audio.shape[1]] = audio
            for start in range(0, pcm.shape[1], AAC_FRAME):
                chunk = np.ascontiguousarray(pcm[:, start:start + AAC_FRAME])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=_LAYOUTS[channels])
                frame.sample_rate = sample_rate
                frame.pts = start
                container.mux(astream.encode(frame))
            container.mux(astream.encode())


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """Writes 16-bit PCM WAV. audio: float [channels, samples] in [-1, 1], channels 1 or 2."""
    channels = audio.shape[0]
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
    with atomic_path(path) as tmp:
        with av.open(tmp, "w", format="wav") as container:
            stream = container.add_stream("pcm_s16le", rate=sample_rate, layout=_LAYOUTS[channels])
            frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=_LAYOUTS[channels])
            frame.sample_rate = sample_rate
            frame.pts = 0
            container.mux(stream.encode(frame))
            container.mux(stream.encode())


def write_audio_blocks(path: str, blocks: Iterable[np.ndarray], sample_rate: int, codec: str = "pcm_s16le") -> None:
    """Writes an audio file block by block, so a long file never has to be in memory.

    blocks: float32 [channels, n] in [-1, 1] (1 or 2 channels, the same for every block); codec:
    any PyAV audio encoder that takes planar float input at `sample_rate` (pcm_s16le, flac, ...);
    the container follows `path`'s extension.
    """
    with atomic_path(path) as tmp:
        with av.open(tmp, "w") as out:  # the temporary name keeps the extension: the container follows it
            stream = None
            pts = 0
            for block in blocks:
                block = np.ascontiguousarray(block, np.float32)
                layout = _LAYOUTS[block.shape[0]]
                if stream is None:
                    stream = out.add_stream(codec, rate=sample_rate)
                    stream.layout = layout
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = sample_rate, pts, Fraction(1, sample_rate)
                pts += block.shape[1]
                for packet in stream.encode(frame):
                    out.mux(packet)
            if stream is not None:
                for packet in stream.encode(None):
                    out.mux(packet)

