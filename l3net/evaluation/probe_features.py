"""Frozen audio-tower features for the linear probes: 1 s windows -> pooled last-conv activations.

L3-Net (ICCV 2017, sec. 4.2) takes the audio tower's last conv block *before* its final pooling
(conv4_2: [32, 24, 512] at 48 kHz / 257 bins / 199 frames) and max-pools it to 4 x 3 x 512 = 6144
values, i.e. over 8 x 8 cells. The pooled grid follows the model: `pool_grid` splits the
[F', T'] map into ceil(F'/8) x ceil(T'/8) cells (4 x 3 at paper size; 1 x 3 for the 32-mel CPU
demo's [4, 24]), each max-pooled, so a cell always covers about what a paper cell covers.

A clip is cut into windows of the model's input length every `hop` samples, only windows that fit
in the clip (`l3net.serving.windows`, layout "inside"; a clip shorter than a window gives one
zero-padded window); the probe averages the classifier's window scores per clip.
Windows of many clips are batched into one model call, audio files are decoded by a thread pool
ahead of the model, and features are stored as float16 (post-ReLU activations; halves the cache
and memory of a 6144-d ESC-50 run).

Cache: features depend only on the model weights, the feature rule, the audio files and the
windowing, so the cache key hashes exactly those (`cache_key`); `extract_or_load` writes one .npz
per key atomically, and a re-run with the same key skips the model entirely.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import os
import time
import zipfile
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from l3net.atomic_files import atomic_path
from l3net.audio_files import read_audio
from l3net.embed.audio_windows import iter_windows

# Bump when the feature rule (layer, pooling, windowing) changes: old caches stop matching.
FEATURE_VERSION = 1
PAPER_CELL = 8  # max-pool cell of the paper's 32 x 24 -> 4 x 3
READ_THREADS = 2


def pool_grid(height: int, width: int, cell: int = PAPER_CELL) -> Tuple[int, int]:
    """Cells of the pooled grid for a [height, width] conv map: (ceil(h / cell), ceil(w / cell))."""
    return max(1, math.ceil(height / cell)), max(1, math.ceil(width / cell))


def _edges(size: int, cells: int) -> List[Tuple[int, int]]:
    """[start, end) of `cells` near-equal, non-empty, covering ranges of `size` positions."""
    return [(i * size // cells, (i + 1) * size // cells) for i in range(cells)]


def pooled_feature_fn(model) -> Tuple[Callable, int, Tuple[int, int]]:
    """(fn, feature_dim, grid): fn maps waveforms float32 [B, N] -> float32 [B, rows * cols * C].

    `model` is an AVC model or its audio tower; the map is its last audio conv block's activation
    before pooling, max-pooled over the `pool_grid` cells and flattened row-major (row, col, C).
    """
    import tensorflow as tf

    from l3net.models import audio_conv_feature_model

    conv = audio_conv_feature_model(model)
    _, height, width, channels = conv.output.shape
    rows, cols = pool_grid(height, width)
    row_edges, col_edges = _edges(height, rows), _edges(width, cols)

    @tf.function(reduce_retracing=True)
    def features(waveforms: tf.Tensor) -> tf.Tensor:
        fmap = tf.cast(conv(waveforms, training=False), tf.float32)
        cells = [tf.reduce_max(fmap[:, r0:r1, c0:c1, :], axis=[1, 2]) for r0, r1 in row_edges for c0, c1 in col_edges]
        return tf.concat(cells, axis=-1)

    return features, rows * cols * channels, (rows, cols)


def cache_key(model_identity: Dict[str, object], paths: Sequence[str], *, sample_rate: int, window: int,
              hop: int) -> str:
    """sha256 of what the features depend on: model identity, files (path, size, mtime), windowing."""
    files = []
    for path in paths:
        stat = os.stat(path)
        files.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    payload = {"version": FEATURE_VERSION, "model": model_identity, "files": files,
               "sample_rate": sample_rate, "window": window, "hop": hop}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _read_ahead(paths: Sequence[str], sample_rate: int) -> Iterator[np.ndarray]:
    """Decoded clips in order, READ_THREADS files decoding ahead of the consumer (PyAV drops the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(READ_THREADS) as pool:
        pending: List[concurrent.futures.Future] = []
        ahead = 4 * READ_THREADS
        for i in range(len(paths)):
            while len(pending) < ahead and i + len(pending) < len(paths):
                pending.append(pool.submit(read_audio, paths[i + len(pending)], sample_rate))
            yield pending.pop(0).result()


def extract_features(paths: Sequence[str], feature_fn: Callable, *, sample_rate: int, window: int, hop: int,
                     batch_size: int = 64,
                     progress: Optional[Callable[[int, int], None]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Features of every window of every clip.

    Returns:
      features float16 [W_total, D], clip_index int32 [W_total] (which clip each window is from,
      in `paths` order). Raises AudioFileError (naming the file) on an unreadable clip.
    """
    out: List[np.ndarray] = []
    owners: List[np.ndarray] = []
    pending: List[np.ndarray] = []
    pending_count = 0

    def flush(final: bool) -> None:
        # Full batches only (one traced shape); the remainder waits for the next clips.
        nonlocal pending, pending_count
        batch = np.concatenate(pending)
        end = len(batch) if final else len(batch) - len(batch) % batch_size
        for start in range(0, end, batch_size):
            out.append(feature_fn(batch[start:min(start + batch_size, end)]).numpy().astype(np.float16))
        pending = [batch[end:]]
        pending_count = len(batch) - end

    for i, audio in enumerate(_read_ahead(paths, sample_rate)):
        windows = np.stack(list(iter_windows([audio], window, hop, layout="inside")))
        pending.append(windows)
        owners.append(np.full(len(windows), i, np.int32))
        pending_count += len(windows)
        if pending_count >= batch_size:
            flush(final=False)
        if progress is not None:
            progress(i + 1, len(paths))
    if pending_count:
        flush(final=True)
    if not out:
        raise ValueError("extract_features: no clips")
    return np.concatenate(out), np.concatenate(owners)


def extract_or_load(cache_path: str, key: str, compute: Callable[[], Tuple[np.ndarray, np.ndarray]]
                    ) -> Tuple[np.ndarray, np.ndarray, bool, float]:
    """(features, clip_index, cache_hit, seconds): the cached .npz if its key matches, else computed and stored."""
    start = time.time()
    if os.path.isfile(cache_path):
        try:
            with np.load(cache_path, allow_pickle=False) as cached:
                if str(cached["key"]) == key:
                    return cached["features"], cached["clip_index"], True, time.time() - start
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # A stale or damaged cache (cut short, bytes altered: zip CRC) is recomputed and replaced.
    features, clip_index = compute()
    with atomic_path(cache_path) as tmp:
        np.savez(tmp, features=features, clip_index=clip_index, key=np.asarray(key))
    return features, clip_index, False, time.time() - start
