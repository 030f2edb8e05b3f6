"""Cutting a stream of audio blocks into model windows, with the memory of one block plus a window.

The windows (and their number) are exactly those of l3net.serving.windows for the whole signal,
in any of its layouts: a window that straddles two blocks is assembled from both, and windows
that reach past the end are zero-padded. So streaming a file in blocks gives the same embeddings
as embedding it in memory.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

import numpy as np

from l3net.serving.windows import CENTER, INSIDE, check_layout, left_pad, num_windows


def iter_windows(blocks: Iterable[np.ndarray], window: int, hop: int, center: bool = True,
                 layout: Optional[str] = None) -> Iterator[np.ndarray]:
    """float32 [window] windows of the concatenated 1-D `blocks` (see l3net.serving.windows).

    `layout` names the layout ("center", "start", "inside", "center_full"). Without it, `center`
    picks "center" (True) or "inside" (False: windows inside the clip, this function's meaning of
    center=False before OpenL3's end padding, which `l3net.evaluation.probe_features` relies on;
    the embedding API passes layout="start" for OpenL3's center=False).
    """
    layout = check_layout(layout) if layout is not None else (CENTER if center else INSIDE)
    buf = np.zeros(left_pad(window, layout), np.float32)
    buf_start = 0  # padded-signal index of buf[0]; always <= the next window's start
    total = 0
    i = 0
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, np.float32)])
        total += block.shape[0]
        # Windows that lie wholly in the data seen so far; in every layout they all belong to
        # the clip (the count only adds windows past the last whole one).
        while i * hop + window <= buf_start + buf.shape[0]:
            s = i * hop - buf_start
            yield buf[s:s + window]
            i += 1
        drop = min(i * hop - buf_start, buf.shape[0])
        buf, buf_start = buf[drop:], buf_start + drop
    for i in range(i, num_windows(total, window, hop, layout)):
        s = i * hop - buf_start
        part = buf[s:s + window]
        yield np.pad(part, (0, window - part.shape[0]))


def iter_batches(windows: Iterable[np.ndarray], window: int, batch_size: int) -> Iterator[np.ndarray]:
    """float32 [batch_size, window] batches of the windows (the last one may be smaller)."""
    batch = np.zeros((batch_size, window), np.float32)
    count = 0
    for w in windows:
        batch[count] = w
        count += 1
        if count == batch_size:
            yield batch
            batch, count = np.zeros((batch_size, window), np.float32), 0
    if count:
        yield batch[:count]
