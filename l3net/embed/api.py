"""Python API in the spirit of OpenL3: embeddings of arrays and files from a trained model.

`model` is an export directory written by `l3net_export --export_dir` (its SavedModels are
loaded with TensorFlow alone), a model directory written by `l3net_train` (its networks are
rebuilt), either cached after the first call, or an embedder from
`l3net.embed.embedder.get_embedder`. Both kinds of directory give the same embeddings.

Audio: any sample rate and channel count (arrays are [samples] or [samples, channels], the
channels are averaged; files are read with l3net.audio_files). Resampling to the model's rate is
libswresample's for both, so an array and a file of the same sound give the same embeddings.
Windows are the model's audio_seconds long, `hop_size` seconds apart; center=True (default)
centres window i on i * hop_size (zeros outside the clip) and timestamps are window centres;
center=False starts window i at i * hop_size and timestamps are starts (l3net.serving.windows).
A clip shorter than one window gives one zero-padded window. Files are streamed: memory stays
bounded by one block of audio plus one batch, whatever the file's length.

Outputs (.npz, written atomically, one per input; `<output_dir>/<file stem>.npz`, the input's
folder by default):
  audio: embedding float32 [windows, D], timestamps float64 [windows] (seconds)
  image: embedding float32 [D]
  video: audio_embedding [windows, D_audio], audio_timestamps [windows] (empty if the video has
         no sound), image_embedding [frames, D_image], image_timestamps [frames] (frames sampled
         every hop_size seconds: the frame on screen at that time)
`get_video_embedding` returns the same four arrays for frames and sound already in memory.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from l3net.atomic_files import atomic_path
from l3net.audio_files import resample_audio, stream_audio
from l3net.embed import media
from l3net.embed.audio_windows import iter_batches, iter_windows
from l3net.embed.embedder import AnyEmbedder, get_embedder
from l3net.serving.windows import hop_samples, timestamps

ModelArg = Union[str, AnyEmbedder]
# Audio read per block when streaming a file (seconds at the model's rate).
STREAM_BLOCK_SECONDS = 10.0


def _check(hop_size: float, batch_size: int) -> None:
    if not hop_size > 0:
        raise ValueError(f"hop_size={hop_size}: must be > 0")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")


def _embed_blocks(embedder: AnyEmbedder, blocks: Iterable[np.ndarray], hop_size: float, center: bool,
                  batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    hop = hop_samples(hop_size, embedder.sample_rate)
    parts = []
    for batch in iter_batches(iter_windows(blocks, embedder.window, hop, center), embedder.window, batch_size):
        parts.append(embedder.embed_windows(batch))
    emb = np.concatenate(parts) if parts else np.zeros((0, embedder.audio_dim), np.float32)
    return emb, timestamps(emb.shape[0], hop, embedder.sample_rate)


def get_audio_embedding(audio: Union[np.ndarray, Sequence[np.ndarray]], sr: Union[int, Sequence[int]], *,
                        model: ModelArg, hop_size: float = 0.1, center: bool = True,
                        batch_size: int = 32) -> Tuple:
    """(embeddings float32 [windows, D], timestamps float64 [windows]) of a waveform.

    audio: float [samples] or [samples, channels] in [-1, 1] at `sr` Hz, or a list of such
    arrays (then `sr` may be a list too, and the result is (list of embeddings, list of
    timestamps)).
    """
    _check(hop_size, batch_size)
    embedder = get_embedder(model)
    if isinstance(audio, (list, tuple)):
        rates = sr if isinstance(sr, (list, tuple)) else [sr] * len(audio)
        results = [get_audio_embedding(a, r, model=embedder, hop_size=hop_size, center=center,
                                       batch_size=batch_size) for a, r in zip(audio, rates)]
        return [e for e, _ in results], [t for _, t in results]
    mono = resample_audio(audio, int(sr), embedder.sample_rate)
    return _embed_blocks(embedder, [mono], hop_size, center, batch_size)


def embed_audio_file(path: str, *, model: ModelArg, hop_size: float = 0.1, center: bool = True,
                     batch_size: int = 32) -> Tuple[np.ndarray, np.ndarray]:
    """(embeddings, timestamps) of a sound file, streamed. Raises l3net.audio_files.AudioFileError."""
    _check(hop_size, batch_size)
    embedder = get_embedder(model)
    block = int(STREAM_BLOCK_SECONDS * embedder.sample_rate)
    return _embed_blocks(embedder, stream_audio(path, embedder.sample_rate, block), hop_size, center, batch_size)


def output_path(path: str, output_dir: Optional[str] = None, suffix: str = "") -> str:
    """Where the .npz of `path` goes: `<output_dir or its folder>/<stem><suffix>.npz`."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(output_dir or os.path.dirname(os.path.abspath(path)), f"{stem}{suffix}.npz")


def _save(out: str, arrays: Dict[str, np.ndarray]) -> str:
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return out


def process_audio_file(path: str, *, model: ModelArg, output_dir: Optional[str] = None, hop_size: float = 0.1,
                       center: bool = True, batch_size: int = 32, suffix: str = "") -> str:
    """Writes `embedding` [windows, D] and `timestamps` [windows] of a sound file; returns the .npz path."""
    emb, ts = embed_audio_file(path, model=model, hop_size=hop_size, center=center, batch_size=batch_size)
    return _save(output_path(path, output_dir, suffix), {"embedding": emb, "timestamps": ts})


def get_image_embedding(image: Union[np.ndarray, Sequence[np.ndarray]], *, model: ModelArg,
                        batch_size: int = 32) -> np.ndarray:
    """float32 [D] of a uint8 RGB image [H, W, 3], or [N, D] of [N, H, W, 3] or a list of images.

    Images of any size: resized so the short side is the training resize_short_side and
    centre-cropped, exactly as evaluation prepares frames (l3net.serving.images). Grey [H, W]
    images are replicated to RGB.
    """
    _check(1.0, batch_size)
    embedder = get_embedder(model)
    if isinstance(image, np.ndarray) and image.ndim in (2, 3):
        return get_image_embedding([image], model=embedder, batch_size=batch_size)[0]
    images = [_rgb(im) for im in image]
    out = np.zeros((len(images), embedder.image_dim), np.float32)
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        if all(im.shape == chunk[0].shape for im in chunk):
            out[start:start + len(chunk)] = embedder.embed_images(np.stack(chunk))
        else:
            for k, im in enumerate(chunk):
                out[start + k] = embedder.embed_images(im[None])[0]
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image of shape {image.shape}: expected [H, W, 3] RGB (or [H, W] grey)")
    if image.dtype != np.uint8:
        raise ValueError(f"image of dtype {image.dtype}: expected uint8 in [0, 255]")
    return image


def process_image_file(path: str, *, model: ModelArg, output_dir: Optional[str] = None, suffix: str = "") -> str:
    """Writes `embedding` [D] of an image file (any format FFmpeg reads); returns the .npz path."""
    emb = get_image_embedding(media.read_image(path), model=model)
    return _save(output_path(path, output_dir, suffix), {"embedding": emb})


def _embed_frames(embedder: AnyEmbedder, timed_frames: Iterable[Tuple[float, np.ndarray]],
                  batch_size: int) -> Dict[str, np.ndarray]:
    """{"image_embedding" [n, D], "image_timestamps" [n]} of (t, uint8 [H, W, 3]) frames of one size."""
    frames, times, parts = [], [], []
    for t, rgb in timed_frames:
        frames.append(rgb)
        times.append(t)
        if len(frames) == batch_size:
            parts.append(embedder.embed_images(np.stack(frames)))
            frames = []
    if frames:
        parts.append(embedder.embed_images(np.stack(frames)))
    emb = np.concatenate(parts) if parts else np.zeros((0, embedder.image_dim), np.float32)
    return {"image_embedding": emb, "image_timestamps": np.asarray(times, np.float64)}


def _no_audio(embedder: AnyEmbedder) -> Dict[str, np.ndarray]:
    return {"audio_embedding": np.zeros((0, embedder.audio_dim), np.float32),
            "audio_timestamps": np.zeros(0, np.float64)}


def get_video_embedding(frames: np.ndarray, fps: float, audio: Optional[np.ndarray] = None, sr: int = 0, *,
                        model: ModelArg, hop_size: float = 0.1, center: bool = True,
                        batch_size: int = 32) -> Dict[str, np.ndarray]:
    """Frame and sound embeddings of a video in memory (keys as the video .npz, see the module doc).

    frames: uint8 [T, H, W, 3] RGB at `fps` frames per second (frame k is shown from k / fps to
    (k + 1) / fps); frames are sampled at t = 0, hop_size, ... while t < T / fps, each time
    taking the frame on screen, as for files. audio: float [samples] or [samples, channels] at
    `sr` Hz with sample 0 at t = 0, or None (then the audio arrays are empty).
    """
    _check(hop_size, batch_size)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames of shape {frames.shape} and dtype {frames.dtype}: expected uint8 [T, H, W, 3], "
                         "T >= 1")
    if not fps > 0:
        raise ValueError(f"fps={fps}: must be > 0")
    embedder = get_embedder(model)
    end = frames.shape[0] / fps
    times = np.arange(int(np.ceil(end / hop_size)) + 1) * hop_size
    times = times[times < end - media.TIME_EPS]
    index = np.minimum(np.floor(times * fps + media.TIME_EPS).astype(np.int64), frames.shape[0] - 1)
    result = _embed_frames(embedder, ((t, frames[k]) for t, k in zip(times, index)), batch_size)
    if audio is None:
        result.update(_no_audio(embedder))
    else:
        emb, ts = get_audio_embedding(audio, sr, model=embedder, hop_size=hop_size, center=center,
                                      batch_size=batch_size)
        result.update(audio_embedding=emb, audio_timestamps=ts)
    return result


def embed_video_file(path: str, *, model: ModelArg, hop_size: float = 0.1, center: bool = True,
                     batch_size: int = 32) -> Dict[str, np.ndarray]:
    """Audio and frame embeddings of a video, streamed (keys as the video .npz, see the module doc)."""
    _check(hop_size, batch_size)
    embedder = get_embedder(model)
    result = _embed_frames(embedder, media.iter_video_frames(path, hop_size), batch_size)
    if media.has_audio(path):
        emb, ts = embed_audio_file(path, model=embedder, hop_size=hop_size, center=center, batch_size=batch_size)
        result.update(audio_embedding=emb, audio_timestamps=ts)
    else:
        result.update(_no_audio(embedder))
    return result


def process_video_file(path: str, *, model: ModelArg, output_dir: Optional[str] = None, hop_size: float = 0.1,
                       center: bool = True, batch_size: int = 32, suffix: str = "") -> str:
    """Writes the audio and frame embeddings of a video; returns the .npz path."""
    arrays = embed_video_file(path, model=model, hop_size=hop_size, center=center, batch_size=batch_size)
    return _save(output_path(path, output_dir, suffix), arrays)
