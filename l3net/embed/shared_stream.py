"""Embedding a stream of audio blocks window by window, either exactly or from shared feature maps.

`embed_stream` is the one loop every audio-embedding path of the Python side goes through
(l3net.embed.api, l3net.hear, the probe's features): the same windows (l3net.serving.windows:
count, timestamps, layout), computed

  exact=False (default where windows overlap, hop < window): in segments of consecutive windows
      whose conv maps are computed once (l3net.serving.shared_plan / shared_audio); ~window/hop
      times less work, embeddings not bit-identical (README "Shared window computation"). A run
      of windows that a segment would not save work on (a clip of one window) is computed exactly.
  exact=True, or hop >= window (nothing to share): each window through the whole tower.

Memory is one block of audio plus one segment (or one batch of windows), whatever the length.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Tuple

import numpy as np

from l3net.embed.audio_windows import iter_batches, iter_windows
from l3net.serving import shared_plan
from l3net.serving.windows import check_layout, left_pad, num_windows

class _Samples:
    """The tail of a stream of blocks, addressed by clip sample index; zeros outside the clip."""

    def __init__(self) -> None:
        self.data = np.zeros(0, np.float32)
        self.start = 0  # clip index of data[0]
        self.total = 0  # samples seen so far

    def append(self, block: np.ndarray) -> None:
        self.data = np.concatenate([self.data, np.asarray(block, np.float32).reshape(-1)])
        self.total += block.shape[0]

    def take(self, begin: int, length: int) -> np.ndarray:
        """float32 [length]: samples [begin, begin + length), zeros before 0 and after `total`."""
        out = np.zeros(length, np.float32)
        lo, hi = max(begin, self.start), min(begin + length, self.total)
        if hi > lo:
            out[lo - begin:hi - begin] = self.data[lo - self.start:hi - self.start]
        return out

    def forget_before(self, index: int) -> None:
        drop = min(max(0, index - self.start), self.data.shape[0])
        self.data, self.start = self.data[drop:], self.start + drop


def iter_segments(blocks: Iterable[np.ndarray], geometry: shared_plan.SharedGeometry, window: int, hop: int,
                  layout: str, group: int) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(segment float32 [L], columns int32 [n], offsets int64 [n]) for runs of at most `group` windows.

    columns[k] is where the k-th window's slice starts in the segment's map, offsets[k] the
    sample of the segment where the k-th exact window starts (segment[o:o + window] is that
    window). Together the runs are exactly the windows of `layout` for the whole stream.
    """
    check_layout(layout)
    pad = left_pad(window, layout)
    origin = shared_plan.grid_origin(geometry, pad, shared_plan.hop_gcd(hop, geometry))
    samples = _Samples()

    def segment(first: int, last: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = np.arange(first, last + 1)
        cols = np.array([shared_plan.window_column(geometry, i, hop, pad, origin) for i in index])
        col0 = shared_plan.segment_first_column(geometry, int(cols[0]))
        width = shared_plan.segment_columns(geometry, int(cols[0]), int(cols[-1]))
        begin = shared_plan.column_start_sample(geometry, col0, origin)
        return (samples.take(begin, geometry.segment_samples(width)), (cols - col0).astype(np.int32),
                index * hop - pad - begin)

    def segment_end(first: int, last: int) -> int:
        c0 = shared_plan.window_column(geometry, first, hop, pad, origin)
        c1 = shared_plan.window_column(geometry, last, hop, pad, origin)
        begin = shared_plan.column_start_sample(geometry, shared_plan.segment_first_column(geometry, c0), origin)
        return begin + geometry.segment_samples(shared_plan.segment_columns(geometry, c0, c1))

    i = 0
    for block in blocks:
        samples.append(block)
        # A run is ready when its last window lies wholly in the data (so it is in every
        # layout's count) and the data reaches past its segment's end.
        while (i + group - 1) * hop - pad + window <= samples.total and \
                segment_end(i, i + group - 1) <= samples.total:
            yield segment(i, i + group - 1)
            i += group
            first_col = shared_plan.segment_first_column(
                geometry, shared_plan.window_column(geometry, i, hop, pad, origin))
            samples.forget_before(shared_plan.column_start_sample(geometry, first_col, origin))
    count = num_windows(samples.total, window, hop, layout)
    while i < count:
        last = min(i + group, count) - 1
        yield segment(i, last)
        i = last + 1


def embed_stream(embedder, blocks: Iterable[np.ndarray], hop: int, layout: str, *, pooled: bool = False,
                 exact: bool = False, batch_size: int = 32) -> np.ndarray:
    """float32 [windows, D] of the stream's windows (module doc); [0, D] for an empty stream.

    embedder: l3net.embed.embedder's Embedder or ExportedEmbedder. batch_size: windows per model
    call in exact mode.
    """
    parts: List[np.ndarray] = []
    window = embedder.window
    if shared_plan.shares_work(hop, window, exact) and embedder.shared_geometry is not None:
        geometry = embedder.shared_geometry
        group = max(1, shared_plan.segment_windows(hop, embedder.sample_rate))
        for seg, cols, offsets in iter_segments(blocks, geometry, window, hop, layout, group):
            if shared_plan.segment_is_cheaper(geometry, len(cols), int(cols[0]), int(cols[-1])):
                parts.append(embedder.embed_segments(seg[None], cols, pooled)[0])
            else:
                windows = [seg[o:o + window] for o in offsets]
                parts += [embedder.embed_windows(batch, pooled) for batch in iter_batches(windows, window, batch_size)]
    else:
        windows = iter_windows(blocks, embedder.window, hop, layout=layout)
        parts = [embedder.embed_windows(batch, pooled) for batch in iter_batches(windows, embedder.window, batch_size)]
    width = embedder.audio_pooled_dim if pooled else embedder.audio_dim
    return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)
