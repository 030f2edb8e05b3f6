"""Frozen audio-tower features for the linear probes: 1 s windows -> pooled last-conv activations.

L3-Net (ICCV 2017, sec. 4.2) takes the audio tower's last conv block *before* its final pooling
(conv4_2: [32, 24, 512] at 48 kHz / 257 bins / 199 frames) and max-pools it to 4 x 3 x 512 = 6144
values, i.e. over 8 x 8 cells. The pooled grid follows the model (l3net.serving.pooled.pool_grid:
ceil(F'/8) x ceil(T'/8) cells, with at least min(4, F'//4) frequency rows, OpenL3's four bands: 4 x 3
at paper size with every front end, mel128's [16, 24] too; 1 x 3 for the 32-mel CPU demo's [4, 24]).
An earlier map of the tower can be pooled by the same rule instead (`layer`, `l3net_probe --layer`:
layer-wise probes, e.g. 'audio_conv3_2' [64, 49, 256] -> 8 x 7 x 256 = 14,336-d at paper size).

A clip is cut into windows of the model's input length every `hop` samples, only windows that fit
in the clip (`l3net.serving.windows`, layout "inside"; a clip shorter than a window gives one
zero-padded window); the probe averages the classifier's window scores per clip. Every window
runs through the tower (`exact`, the probe's default), or, where windows overlap (hop < window),
they share one conv map per clip (l3net.serving.shared_audio; README "Shared window computation":
on a trained model within half a point of exact, but not on random-init baselines, whose
features lean on the zero padding at window edges). Clips of one length are batched into one
model call, audio files are decoded by a thread pool ahead of the model, and features are
stored as float16 (post-ReLU activations; halves the cache and memory of a 6144-d ESC-50 run).

Cache: features depend only on the model weights, the feature rule, the audio files and the
windowing, so the cache key hashes exactly those (`cache_key`); `extract_or_load` writes one .npz
per key atomically, and a re-run with the same key skips the model entirely.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
import zipfile
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from l3net.atomic_files import atomic_path
from l3net.audio_files import read_audio
from l3net.embed.audio_windows import iter_windows
from l3net.embed.shared_stream import iter_segments
from l3net.serving import shared_plan
from l3net.serving.pooled import cell_edges, pool_grid

# Bump when the feature rule (layer, pooling, windowing) changes: old caches stop matching.
FEATURE_VERSION = 3
READ_THREADS = 2
INSIDE = "inside"
ClipFeatures = Callable[[Iterable[np.ndarray], int], Iterator[np.ndarray]]


def pooled_feature_fn(model, layer: Optional[str] = None) -> Tuple[Callable, int, Tuple[int, int]]:
    """(fn, feature_dim, grid): fn maps waveforms float32 [B, N] -> float32 [B, rows * cols * C].

    `model` is an AVC model or its audio tower; the map is its last audio conv block's activation
    before pooling (or the map `layer`, one of l3net.models.audio_map_layers), max-pooled over the
    `pool_grid` cells and flattened row-major (row, col, C).
    """
    import tensorflow as tf

    from l3net.models import audio_conv_feature_model

    conv = audio_conv_feature_model(model, layer)
    _, height, width, channels = conv.output.shape
    rows, cols = pool_grid(height, width, audio=True)
    row_edges, col_edges = cell_edges(height, rows), cell_edges(width, cols)

    @tf.function(reduce_retracing=True)
    def features(waveforms: tf.Tensor) -> tf.Tensor:
        fmap = tf.cast(conv(waveforms, training=False), tf.float32)
        cells = [tf.reduce_max(fmap[:, r0:r1, c0:c1, :], axis=[1, 2]) for r0, r1 in row_edges for c0, c1 in col_edges]
        return tf.concat(cells, axis=-1)

    return features, rows * cols * channels, (rows, cols)


def _split(features: np.ndarray, sizes: List[int]) -> Iterator[np.ndarray]:
    yield from np.split(features, np.cumsum(sizes)[:-1])


def _exact_clip_features(fn: Callable, window: int, hop: int) -> ClipFeatures:
    """Clips -> per-clip features, every "inside" window through the tower, windows of several clips per call."""
    def run(clips: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
        pending: List[np.ndarray] = []

        def flush() -> Iterator[np.ndarray]:
            batch = np.concatenate(pending)
            out = np.concatenate([fn(batch[s:s + batch_size]).numpy() for s in range(0, len(batch), batch_size)])
            yield from _split(out, [len(w) for w in pending])

        for audio in clips:
            pending.append(np.stack(list(iter_windows([audio], window, hop, layout=INSIDE))))
            if sum(len(w) for w in pending) >= batch_size:
                yield from flush()
                pending = []
        if pending:
            yield from flush()

    return run


def _shared_clip_features(model, cfg, window: int, hop: int, exact_fn: Callable) -> ClipFeatures:
    """Clips -> per-clip features from shared conv maps; one-segment clips of one length share a call."""
    import tensorflow as tf

    from l3net.serving.shared_audio import SharedAudioNetwork

    net = SharedAudioNetwork(model, cfg)
    fn = tf.function(lambda s, c: net.embed(s, c, pooled=True), reduce_retracing=True,
                     input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)])
    group = max(1, shared_plan.segment_windows(hop, cfg.sample_rate))

    def run(clips: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
        pending: List[Tuple[np.ndarray, np.ndarray]] = []

        def flush() -> Iterator[np.ndarray]:
            yield from fn(np.stack([seg for seg, _ in pending]), pending[0][1]).numpy()

        def one(seg: np.ndarray, cols: np.ndarray, offsets: np.ndarray) -> np.ndarray:
            if shared_plan.segment_is_cheaper(net.geometry, len(cols), int(cols[0]), int(cols[-1])):
                return fn(seg[None], cols).numpy()[0]
            return exact_fn(np.stack([seg[o:o + window] for o in offsets])).numpy()

        for audio in clips:
            segments = list(iter_segments([audio], net.geometry, window, hop, INSIDE, group))
            seg, cols, offsets = segments[0]
            batchable = len(segments) == 1 and shared_plan.segment_is_cheaper(
                net.geometry, len(cols), int(cols[0]), int(cols[-1]))
            same = pending and batchable and seg.shape == pending[0][0].shape and np.array_equal(cols, pending[0][1])
            if pending and (not same or len(pending) * len(pending[0][1]) >= batch_size):
                yield from flush()
                pending = []
            if batchable:
                pending.append((seg, cols))
            else:
                yield np.concatenate([one(*segment) for segment in segments])
        if pending:
            yield from flush()

    return run


def window_features(model, cfg, window: int, hop: int, exact: bool = True, layer: Optional[str] = None
                    ) -> Tuple[ClipFeatures, int, Tuple[int, int]]:
    """(clip_features, feature_dim, grid) for `extract_features`: shared maps unless `exact` or hop >= window.

    `layer`: an earlier map than the last conv block's (None: that block); always computed per
    window (the shared path computes the last block's map only).
    """
    fn, dim, grid = pooled_feature_fn(model, layer)
    if layer is None and shared_plan.shares_work(hop, window, exact):
        return _shared_clip_features(model, cfg, window, hop, fn), dim, grid
    return _exact_clip_features(fn, window, hop), dim, grid


def cache_key(model_identity: Dict[str, object], paths: Sequence[str], *, sample_rate: int, window: int,
              hop: int, exact: bool = True, layer: Optional[str] = None) -> str:
    """sha256 of what the features depend on: model identity, files (path, size, mtime), windowing, and
    the layer when it is not the last conv block (None keeps the keys of caches written before `layer`)."""
    files = []
    for path in paths:
        stat = os.stat(path)
        files.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    payload = {"version": FEATURE_VERSION, "model": model_identity, "files": files,
               "sample_rate": sample_rate, "window": window, "hop": hop, "exact": exact}
    if layer is not None:
        payload["layer"] = layer
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


def extract_features(paths: Sequence[str], clip_features: ClipFeatures, *, sample_rate: int, batch_size: int = 64,
                     progress: Optional[Callable[[int, int], None]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Features of every window of every clip (`clip_features` from `window_features`).

    Returns:
      features float16 [W_total, D], clip_index int32 [W_total] (which clip each window is from,
      in `paths` order). Raises AudioFileError (naming the file) on an unreadable clip.
    """
    out: List[np.ndarray] = []
    owners: List[np.ndarray] = []
    for i, features in enumerate(clip_features(_read_ahead(paths, sample_rate), batch_size)):
        out.append(features.astype(np.float16))
        owners.append(np.full(len(features), i, np.int32))
        if progress is not None:
            progress(i + 1, len(paths))
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
