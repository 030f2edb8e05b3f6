"""Python API compatible with OpenL3's: embeddings of arrays and files from a trained model.

Names, arguments, shapes and output files follow OpenL3 (openl3.core), so code written for
OpenL3 runs by changing the import and passing `model=`; where l3net differs on purpose, the
README's "coming from OpenL3" table says so (a model is required, images are uint8, files are
streamed, video frames are sampled every hop).

`model` is an export directory written by `l3net_export --export_dir` (its SavedModels are
loaded with TensorFlow alone), a model directory written by `l3net_train` (its networks are
rebuilt), either cached after the first call, or an embedder from
`l3net.embed.embedder.get_embedder`. Both kinds of directory give the same embeddings.

Audio: any sample rate and channel count (arrays are [samples] or [samples, channels], the
channels are averaged; files are read with l3net.audio_files). Resampling to the model's rate is
libswresample's for both, so an array and a file of the same sound give the same embeddings.
Windows are the model's audio_seconds long, int(hop_size * rate) samples apart, with OpenL3's
count and timestamps (l3net.serving.windows): center=True (default) centres window i on
i * hop_size and pads the end so every sample is in a window (96 windows for 10 s at a 0.1 s
hop, 1 s windows); center=False starts window i at i * hop_size and zero-pads the last partial
window. Timestamps are i * hop_size. Empty audio is an error (ValueError), as in OpenL3. Files
are streamed: memory stays bounded by one block of audio plus one segment, whatever the length.
Overlapping windows share their conv maps (l3net.embed.shared_stream: ~window/hop times less
work, embeddings within the README's measured cosine of exact ones); `exact=True` computes
every window on its own, as l3net did before.

embedding_size (OpenL3's argument): None = the model's embedding (512 for L3-Net at paper size,
128 for AVE-Net); the pooled conv features of the L3 paper by their size (6144 audio, 8192
image at paper size; l3net.serving.pooled); l3net.embed.embedder.choose_pooled.

Outputs (.npz, written atomically, one per input and modality), named as OpenL3 names them
(`get_output_path`): `<output_dir or the input's folder>/<stem>.npz`, `<stem>_<suffix>.npz`
with a suffix; a video gives `<stem>_audio[_<suffix>].npz` and `<stem>_image[_<suffix>].npz`.
An existing output is kept and its input skipped unless overwrite=True.
  audio (and a video's _audio): embedding float32 [windows, D], timestamps float64 [windows] (s)
                                (empty if the video has no sound)
  image:                        embedding float32 [1, D]
  a video's _image:             embedding float32 [frames, D], timestamps float64 [frames]: frames
                                sampled every hop_size seconds (the frame on screen at that time)
`get_video_embedding` returns both modalities of frames and sound already in memory.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from l3net.atomic_files import atomic_path
from l3net.audio_files import resample_audio, stream_audio
from l3net.embed import media
from l3net.embed.embedder import AUDIO_KIND, IMAGE_KIND, AnyEmbedder, choose_pooled, get_embedder
from l3net.embed.failures import Failures
from l3net.embed.shared_stream import embed_stream
from l3net.serving.windows import hop_samples, layout_for, timestamps

ModelArg = Union[str, AnyEmbedder]
PathArg = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]
# Audio read per block when streaming a file (seconds at the model's rate).
STREAM_BLOCK_SECONDS = 10.0
_NO_MODEL = ("model=None: l3net ships no pretrained weights; pass an `l3net_export --export_dir`, an "
             "`l3net_train --model_dir` or an embedder")


def _check(hop_size: float, batch_size: int) -> None:
    if not hop_size > 0:
        raise ValueError(f"hop_size={hop_size}: must be > 0")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")


def _embedder(model: Optional[ModelArg]) -> AnyEmbedder:
    if model is None:
        raise ValueError(_NO_MODEL)
    return get_embedder(model)


def _embed_blocks(embedder: AnyEmbedder, blocks: Iterable[np.ndarray], hop_size: float, layout: str,
                  batch_size: int, pooled: bool, exact: bool) -> Tuple[np.ndarray, np.ndarray]:
    hop = hop_samples(hop_size, embedder.sample_rate)
    emb = embed_stream(embedder, blocks, hop, layout, pooled=pooled, exact=exact, batch_size=batch_size)
    return emb, timestamps(emb.shape[0], hop_size)


def get_audio_embedding(audio: Union[np.ndarray, Sequence[np.ndarray]], sr: Union[int, Sequence[int]],
                        model: Optional[ModelArg] = None, *, embedding_size: Optional[int] = None,
                        center: bool = True, hop_size: float = 0.1, batch_size: int = 32,
                        verbose: bool = False, exact: bool = False) -> Tuple:
    """(embeddings float32 [windows, D], timestamps float64 [windows]) of a waveform (OpenL3's).

    audio: float [samples] or [samples, channels] in [-1, 1] at `sr` Hz, or a list of such
    arrays (then `sr` may be a list too, and the result is (list of embeddings, list of
    timestamps)). Raises ValueError for empty audio. `verbose` is accepted for OpenL3
    compatibility; nothing is printed. `exact`: every window through the whole network instead of
    the shared conv maps of overlapping windows (l3net.embed.shared_stream; same windows and
    timestamps, embeddings within the README's measured cosine of the exact ones).
    """
    del verbose
    _check(hop_size, batch_size)
    embedder = _embedder(model)
    if isinstance(audio, (list, tuple)):
        rates = sr if isinstance(sr, (list, tuple)) else [sr] * len(audio)
        if len(rates) != len(audio):
            raise ValueError(f"{len(audio)} audio arrays but {len(rates)} sample rates")
        results = [get_audio_embedding(a, r, embedder, embedding_size=embedding_size, center=center,
                                       hop_size=hop_size, batch_size=batch_size, exact=exact)
                   for a, r in zip(audio, rates)]
        return [e for e, _ in results], [t for _, t in results]
    audio = np.asarray(audio)
    if audio.size == 0:
        raise ValueError(f"empty audio (shape {audio.shape}): nothing to embed")
    if not sr or int(sr) <= 0:
        raise ValueError(f"sr={sr}: must be a positive sample rate")
    pooled = choose_pooled(embedder, AUDIO_KIND, embedding_size)
    mono = resample_audio(audio, int(sr), embedder.sample_rate)
    return _embed_blocks(embedder, [mono], hop_size, layout_for(center), batch_size, pooled, exact)


def embed_audio_file(path: str, *, model: ModelArg, hop_size: float = 0.1, center: bool = True,
                     batch_size: int = 32, embedding_size: Optional[int] = None,
                     exact: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(embeddings, timestamps) of a sound file, streamed (`exact` as get_audio_embedding).

    Raises l3net.audio_files.AudioFileError."""
    _check(hop_size, batch_size)
    embedder = _embedder(model)
    pooled = choose_pooled(embedder, AUDIO_KIND, embedding_size)
    block = int(STREAM_BLOCK_SECONDS * embedder.sample_rate)
    return _embed_blocks(embedder, stream_audio(os.fspath(path), embedder.sample_rate, block), hop_size,
                         layout_for(center), batch_size, pooled, exact)


def get_output_path(filepath: str, suffix: str, output_dir: Optional[str] = None) -> str:
    """OpenL3's output name: `<output_dir or the input's folder>/<stem>_<suffix>`, or `<stem><suffix>`
    when `suffix` starts with '.' (suffix includes the extension: "emb.npz", ".npz")."""
    stem = os.path.splitext(os.path.basename(os.fspath(filepath)))[0]
    folder = output_dir or os.path.dirname(os.path.abspath(os.fspath(filepath)))
    return os.path.join(folder, stem + suffix if suffix.startswith(".") else f"{stem}_{suffix}")


def output_path(path: str, output_dir: Optional[str] = None, suffix: Optional[str] = None) -> str:
    """Where the .npz of an audio or image file goes: `<folder>/<stem>.npz` or `<stem>_<suffix>.npz`."""
    return get_output_path(path, f"{suffix}.npz" if suffix else ".npz", output_dir)


def video_output_paths(path: str, output_dir: Optional[str] = None, suffix: Optional[str] = None
                       ) -> Tuple[str, str]:
    """(audio, image) .npz of a video, as OpenL3: `<stem>_audio[_<suffix>].npz`, `<stem>_image[_<suffix>].npz`."""
    tail = f"_{suffix}" if suffix else ""
    return (get_output_path(path, f"audio{tail}.npz", output_dir),
            get_output_path(path, f"image{tail}.npz", output_dir))


def _save(out: str, arrays: Dict[str, np.ndarray]) -> str:
    with atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    return out


def _paths(filepath: PathArg) -> Tuple[List[str], bool]:
    """(paths, whether a list was given): OpenL3's str-or-list argument."""
    if isinstance(filepath, (str, os.PathLike)):
        return [os.fspath(filepath)], False
    if isinstance(filepath, (list, tuple)):
        return [os.fspath(p) for p in filepath], True
    raise TypeError(f"filepath={filepath!r}: pass a path or a list of paths")


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(f"l3net: {message}", flush=True)


def _write_each(filepath: PathArg, output_dir: Optional[str], suffix: Optional[str], overwrite: bool,
                verbose: bool, arrays_of: Callable[[str], Dict[str, np.ndarray]]) -> Union[str, List[str]]:
    """OpenL3's file loop: one `<stem>_<suffix>.npz` of `arrays_of(path)` per input; an existing
    output is kept (its input skipped) unless `overwrite`; a path in -> a path out, a list -> a list.
    A single path's error propagates; in a list every file is tried, then FilesFailedError
    (l3net.embed.failures) lists those that failed."""
    paths, many = _paths(filepath)
    failed = Failures(many, len(paths))
    outs = []
    for k, path in enumerate(paths, 1):
        out = output_path(path, output_dir, suffix)
        outs.append(out)
        if os.path.exists(out) and not overwrite:
            _say(verbose, f"{out} exists and overwriting not enabled, skipping.")
            continue
        _say(verbose, f"Processing {path} ({k}/{len(paths)})")
        with failed.guard(path):
            _save(out, arrays_of(path))
            _say(verbose, f"Saved {out}")
    failed.check(outs)
    return outs if many else outs[0]


def process_audio_file(filepath: PathArg, output_dir: Optional[str] = None, suffix: Optional[str] = None,
                       model: Optional[ModelArg] = None, *, embedding_size: Optional[int] = None,
                       center: bool = True, hop_size: float = 0.1, batch_size: int = 32, overwrite: bool = False,
                       verbose: bool = False, exact: bool = False) -> Union[str, List[str]]:
    """Writes `embedding` [windows, D] and `timestamps` [windows] of each sound file (OpenL3's).

    filepath: a path or a list of paths. An existing output is kept (and its input skipped) unless
    `overwrite`. Returns the .npz path (a list for a list). Raises AudioFileError for a single file
    that cannot be read; for a list, every file is tried and l3net.embed.failures.FilesFailedError
    then lists the failures (the other outputs are written).
    """
    embedder = _embedder(model)
    choose_pooled(embedder, AUDIO_KIND, embedding_size)  # a bad size fails before any work

    def arrays_of(path: str) -> Dict[str, np.ndarray]:
        emb, ts = embed_audio_file(path, model=embedder, hop_size=hop_size, center=center, batch_size=batch_size,
                                   embedding_size=embedding_size, exact=exact)
        return {"embedding": emb, "timestamps": ts}

    return _write_each(filepath, output_dir, suffix, overwrite, verbose, arrays_of)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image of shape {image.shape}: expected [H, W, 3] RGB (or [H, W] grey)")
    if image.dtype != np.uint8:
        raise ValueError(f"image of dtype {image.dtype}: expected uint8 in [0, 255]")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image (shape {image.shape})")
    return image


def _as_batch(image: np.ndarray) -> List[np.ndarray]:
    """One array argument as a list of [H, W, 3] images: [H, W] and [H, W, 3] are one image,
    [N, H, W, 3] (or [N, H, W] grey) is N."""
    image = np.asarray(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3):
        return [_rgb(image)]
    if image.ndim in (3, 4):
        if image.shape[0] == 0:
            raise ValueError(f"empty image batch (shape {image.shape})")
        return [_rgb(im) for im in image]
    raise ValueError(f"image of shape {image.shape}: expected [H, W, 3], [N, H, W, 3] (or grey [H, W])")


def _embed_images(embedder: AnyEmbedder, images: List[np.ndarray], batch_size: int, pooled: bool) -> np.ndarray:
    width = embedder.image_pooled_dim if pooled else embedder.image_dim
    out = np.zeros((len(images), width), np.float32)
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        if all(im.shape == chunk[0].shape for im in chunk):
            out[start:start + len(chunk)] = embedder.embed_images(np.stack(chunk), pooled)
        else:
            for k, im in enumerate(chunk):
                out[start + k] = embedder.embed_images(im[None], pooled)[0]
    return out


def get_image_embedding(image: Union[np.ndarray, Sequence[np.ndarray]], frame_rate: Optional[float] = None,
                        model: Optional[ModelArg] = None, *, embedding_size: Optional[int] = None,
                        batch_size: int = 32, verbose: bool = False):
    """float32 [N, D] of uint8 images, OpenL3's shapes: one image [H, W, 3] gives [1, D], a batch
    [N, H, W, 3] gives [N, D], a list of such arrays gives a list of results.

    Images of any size: resized so the short side is the training resize_short_side and
    centre-cropped, exactly as evaluation prepares frames (l3net.serving.images). Grey [H, W]
    images are replicated to RGB. With `frame_rate` (frames per second) the result is
    (embeddings, timestamps = arange(N) / frame_rate), as in OpenL3. `verbose` is accepted for
    OpenL3 compatibility; nothing is printed.
    """
    del verbose
    _check(1.0, batch_size)
    embedder = _embedder(model)
    pooled = choose_pooled(embedder, IMAGE_KIND, embedding_size)
    if isinstance(image, (list, tuple)):
        rates = frame_rate if isinstance(frame_rate, (list, tuple)) else [frame_rate] * len(image)
        if len(rates) != len(image):
            raise ValueError(f"{len(image)} images but {len(rates)} frame rates")
        results = [get_image_embedding(im, r, embedder, embedding_size=embedding_size, batch_size=batch_size)
                   for im, r in zip(image, rates)]
        if frame_rate is None:
            return results
        return [e for e, _ in results], [t for _, t in results]
    emb = _embed_images(embedder, _as_batch(image), batch_size, pooled)
    if frame_rate is None:
        return emb
    if not frame_rate > 0:
        raise ValueError(f"frame_rate={frame_rate}: must be > 0")
    return emb, np.arange(emb.shape[0], dtype=np.float64) / float(frame_rate)


def process_image_file(filepath: PathArg, output_dir: Optional[str] = None, suffix: Optional[str] = None,
                       model: Optional[ModelArg] = None, *, embedding_size: Optional[int] = None,
                       batch_size: int = 32, overwrite: bool = False, verbose: bool = False) -> Union[str, List[str]]:
    """Writes `embedding` [1, D] of each image file (any format FFmpeg reads), as OpenL3 does.

    filepath: a path or a list; existing outputs are skipped unless `overwrite`. Returns the .npz
    path(s). Raises MediaFileError for a single file that cannot be read (FilesFailedError after
    the last file of a list, as process_audio_file).
    """
    embedder = _embedder(model)
    choose_pooled(embedder, IMAGE_KIND, embedding_size)

    def arrays_of(path: str) -> Dict[str, np.ndarray]:
        return {"embedding": get_image_embedding(media.read_image(path), model=embedder,
                                                 embedding_size=embedding_size, batch_size=batch_size)}

    return _write_each(filepath, output_dir, suffix, overwrite, verbose, arrays_of)


def _embed_frames(embedder: AnyEmbedder, timed_frames: Iterable[Tuple[float, np.ndarray]],
                  batch_size: int, pooled: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(embeddings [n, D], timestamps [n]) of (t, uint8 [H, W, 3]) frames of one size."""
    frames, times, parts = [], [], []
    for t, rgb in timed_frames:
        frames.append(rgb)
        times.append(t)
        if len(frames) == batch_size:
            parts.append(embedder.embed_images(np.stack(frames), pooled))
            frames = []
    if frames:
        parts.append(embedder.embed_images(np.stack(frames), pooled))
    width = embedder.image_pooled_dim if pooled else embedder.image_dim
    emb = np.concatenate(parts) if parts else np.zeros((0, width), np.float32)
    return emb, np.asarray(times, np.float64)


def _no_audio(embedder: AnyEmbedder, pooled: bool) -> Tuple[np.ndarray, np.ndarray]:
    width = embedder.audio_pooled_dim if pooled else embedder.audio_dim
    return np.zeros((0, width), np.float32), np.zeros(0, np.float64)


def get_video_embedding(frames: np.ndarray, fps: float, audio: Optional[np.ndarray] = None, sr: int = 0,
                        model: Optional[ModelArg] = None, *, hop_size: float = 0.1, center: bool = True,
                        batch_size: int = 32, audio_embedding_size: Optional[int] = None,
                        image_embedding_size: Optional[int] = None, exact: bool = False) -> Dict[str, np.ndarray]:
    """Frame and sound embeddings of a video in memory.

    Returns {"audio_embedding" [windows, D_a], "audio_timestamps" [windows], "image_embedding"
    [frames, D_i], "image_timestamps" [frames]} (what process_video_file writes into its two files).
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
    embedder = _embedder(model)
    image_pooled = choose_pooled(embedder, IMAGE_KIND, image_embedding_size)
    audio_pooled = choose_pooled(embedder, AUDIO_KIND, audio_embedding_size)
    end = frames.shape[0] / fps
    times = np.arange(int(np.ceil(end / hop_size)) + 1) * hop_size
    times = times[times < end - media.TIME_EPS]
    index = np.minimum(np.floor(times * fps + media.TIME_EPS).astype(np.int64), frames.shape[0] - 1)
    image_emb, image_ts = _embed_frames(embedder, ((t, frames[k]) for t, k in zip(times, index)), batch_size,
                                        image_pooled)
    if audio is None:
        audio_emb, audio_ts = _no_audio(embedder, audio_pooled)
    else:
        audio_emb, audio_ts = get_audio_embedding(audio, sr, embedder, embedding_size=audio_embedding_size,
                                                  hop_size=hop_size, center=center, batch_size=batch_size,
                                                  exact=exact)
    return {"audio_embedding": audio_emb, "audio_timestamps": audio_ts,
            "image_embedding": image_emb, "image_timestamps": image_ts}


def embed_video_file(path: str, *, model: ModelArg, hop_size: float = 0.1, center: bool = True,
                     batch_size: int = 32, audio_embedding_size: Optional[int] = None,
                     image_embedding_size: Optional[int] = None, audio: bool = True,
                     image: bool = True, exact: bool = False) -> Dict[str, np.ndarray]:
    """Audio and frame embeddings of a video, streamed (keys as `get_video_embedding`; a modality
    turned off by `audio=False` / `image=False` is left out)."""
    _check(hop_size, batch_size)
    embedder = _embedder(model)
    image_pooled = choose_pooled(embedder, IMAGE_KIND, image_embedding_size)
    audio_pooled = choose_pooled(embedder, AUDIO_KIND, audio_embedding_size)
    result: Dict[str, np.ndarray] = {}
    if image:
        emb, ts = _embed_frames(embedder, media.iter_video_frames(path, hop_size), batch_size, image_pooled)
        result.update(image_embedding=emb, image_timestamps=ts)
    if audio:
        if media.has_audio(path):
            emb, ts = embed_audio_file(path, model=embedder, hop_size=hop_size, center=center,
                                       batch_size=batch_size, embedding_size=audio_embedding_size, exact=exact)
        else:
            emb, ts = _no_audio(embedder, audio_pooled)
        result.update(audio_embedding=emb, audio_timestamps=ts)
    return result


def process_video_file(filepath: PathArg, output_dir: Optional[str] = None, suffix: Optional[str] = None,
                       model: Optional[ModelArg] = None, *, hop_size: float = 0.1, center: bool = True,
                       batch_size: int = 32, audio_embedding_size: Optional[int] = None,
                       image_embedding_size: Optional[int] = None, overwrite: bool = False, verbose: bool = False,
                       audio_hop_size: Optional[float] = None, audio_center: Optional[bool] = None,
                       audio_batch_size: Optional[int] = None, image_batch_size: Optional[int] = None,
                       exact: bool = False) -> Union[Tuple[str, str], List[Tuple[str, str]]]:
    """Writes `<stem>_audio[_<suffix>].npz` and `<stem>_image[_<suffix>].npz` of each video (OpenL3's).

    Each holds `embedding` and `timestamps`: audio windows as process_audio_file (empty arrays for
    a video without sound); frames sampled every `hop_size` seconds. An existing output is kept
    unless `overwrite` (a video whose two outputs exist is skipped). OpenL3's argument names
    audio_hop_size, audio_center, audio_batch_size and image_batch_size are accepted too (the
    hop spaces both the audio windows and the sampled frames). Returns (audio path, image path),
    a list of them for a list. Errors as process_audio_file (FilesFailedError for a list).
    """
    hop_size = hop_size if audio_hop_size is None else audio_hop_size
    center = center if audio_center is None else audio_center
    batch_size = batch_size if audio_batch_size is None else audio_batch_size
    image_batch = batch_size if image_batch_size is None else image_batch_size
    paths, many = _paths(filepath)
    embedder = _embedder(model)
    choose_pooled(embedder, AUDIO_KIND, audio_embedding_size)
    choose_pooled(embedder, IMAGE_KIND, image_embedding_size)
    failed = Failures(many, len(paths))
    outs = []
    for k, path in enumerate(paths, 1):
        audio_out, image_out = video_output_paths(path, output_dir, suffix)
        outs.append((audio_out, image_out))
        do_audio = overwrite or not os.path.exists(audio_out)
        do_image = overwrite or not os.path.exists(image_out)
        if not (do_audio or do_image):
            _say(verbose, f"{audio_out} and {image_out} exist, skipping.")
            continue
        _say(verbose, f"Processing {path} ({k}/{len(paths)})")
        with failed.guard(path):
            if do_image:
                arrays = embed_video_file(path, model=embedder, hop_size=hop_size, batch_size=image_batch,
                                          image_embedding_size=image_embedding_size, audio=False)
                _save(image_out, {"embedding": arrays["image_embedding"], "timestamps": arrays["image_timestamps"]})
                _say(verbose, f"Saved {image_out}")
            if do_audio:
                arrays = embed_video_file(path, model=embedder, hop_size=hop_size, center=center, batch_size=batch_size,
                                          audio_embedding_size=audio_embedding_size, image=False, exact=exact)
                _save(audio_out, {"embedding": arrays["audio_embedding"], "timestamps": arrays["audio_timestamps"]})
                _say(verbose, f"Saved {audio_out}")
    failed.check(outs)
    return outs if many else outs[0]
