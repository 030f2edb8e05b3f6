"""Pooled conv features: the L3 paper's large embeddings (OpenL3's embedding_size 6144 and 8192).

The L3 paper (and OpenL3 after it) describes each input by its tower's last conv block *before*
the final pooling, max-pooled over cells of 8 x 8 positions (the paper's audio map [32, 24, 512]
-> 4 x 3 x 512 = 6144; OpenL3's image map [28, 28, 512] -> 4 x 4 x 512 = 8192, its 7 x 7 pooling
with 'same' padding). The grid follows the model: a [H, W, C] map is split into ceil(H / 8) x
ceil(W / 8) near-equal cells (the rule and cell size of `l3net_probe`'s features,
l3net.evaluation.probe_features.pool_grid; tests check both give the same numbers), each
max-pooled, and flattened row-major (row, col, C). At paper size that is 6144-d audio and
8192-d image features; the CPU demo's audio map [4, 24, 64] gives 1 x 3 x 64 = 192.

Audio maps keep OpenL3's four frequency bands: OpenL3 pools every front end's map to 4 x 3 cells
(pool (8, 8) on the [32, 24] maps of its linear and mel256 front ends, (4, 8) on mel128's
[16, 24]), so an audio map of H frequency rows is cut into at least min(4, H // 4) rows (bands of
at least 4 rows): mel128 gives 4 x 3 x 512 = 6144 as OpenL3 does (8 x 8 cells alone would give
2 x 3 x 512 = 3072), maps of fewer than 8 rows (the demo's 4) stay one row.
"""

from __future__ import annotations

import math
from typing import Callable, List, Tuple

import tensorflow as tf

PAPER_CELL = 8
AUDIO_BANDS = 4  # OpenL3's frequency bands (module doc); also the smallest band height


def pool_grid(height: int, width: int, cell: int = PAPER_CELL, audio: bool = False) -> Tuple[int, int]:
    """Cells of the pooled grid for a [height, width] map: (ceil(h / cell), ceil(w / cell)); an audio
    map (height = frequency) has at least min(AUDIO_BANDS, h // AUDIO_BANDS) rows (module doc)."""
    rows = max(1, math.ceil(height / cell))
    if audio:
        rows = max(rows, min(AUDIO_BANDS, height // AUDIO_BANDS))
    return rows, max(1, math.ceil(width / cell))


def cell_edges(size: int, cells: int) -> List[Tuple[int, int]]:
    """[start, end) of `cells` near-equal, non-empty ranges covering `size` positions."""
    return [(i * size // cells, (i + 1) * size // cells) for i in range(cells)]


def pooled_size(conv_shape: Tuple[int, ...], audio: bool = False) -> int:
    """Length of the pooled features of a conv map of shape [..., H, W, C] (audio: a spectrogram's)."""
    height, width, channels = conv_shape[-3:]
    rows, cols = pool_grid(height, width, audio=audio)
    return rows * cols * channels


def pool_features(fmap: tf.Tensor, audio: bool = False) -> tf.Tensor:
    """float [B, H, W, C] (static H, W, C) -> float32 [B, rows * cols * C]: max over each cell."""
    height, width = int(fmap.shape[1]), int(fmap.shape[2])
    rows, cols = pool_grid(height, width, audio=audio)
    fmap = tf.cast(fmap, tf.float32)
    cells = [tf.reduce_max(fmap[:, r0:r1, c0:c1, :], axis=[1, 2])
             for r0, r1 in cell_edges(height, rows) for c0, c1 in cell_edges(width, cols)]
    return tf.concat(cells, axis=-1)


def pooled_function(conv_model, audio: bool = False) -> Tuple[Callable[[tf.Tensor], tf.Tensor], int]:
    """(fn, size): fn maps the conv model's input to its pooled features [B, size] (inference mode)."""
    size = pooled_size(tuple(conv_model.output.shape), audio)

    def fn(x: tf.Tensor) -> tf.Tensor:
        return pool_features(conv_model(x, training=False), audio)

    return fn, size


def audio_pooled_function(model) -> Tuple[Callable[[tf.Tensor], tf.Tensor], int]:
    """(waveforms [B, window] -> [B, size], size) of an AVC model's audio tower."""
    from l3net.models import audio_conv_feature_model

    return pooled_function(audio_conv_feature_model(model), audio=True)


def image_pooled_function(model) -> Tuple[Callable[[tf.Tensor], tf.Tensor], int]:
    """(images [B, S, S, 3] in [0, 1] -> [B, size], size) of an AVC model's vision tower."""
    from l3net.models import vision_conv_feature_model

    return pooled_function(vision_conv_feature_model(model))
