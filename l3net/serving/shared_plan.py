"""Where each window's slice lies in a feature map shared by overlapping windows (integers only).

Why: at OpenL3's 0.1 s hop, consecutive 1 s windows overlap by 90 %, so embedding each window
on its own computes every time-frequency position about ten times. The audio tower is
convolutional up to its last conv block, and only its final max-pool looks at a whole window.
So the conv part can run once over a long stretch of audio ("segment") and each window's
embedding be pooled from its slice of the final map (l3net.serving.shared_audio).

The final map has one column every `stride` samples (frame hop x 2^(blocks - 1): 1,920 samples
= 40 ms at paper size, 648 = 40.5 ms for the CPU demo's 16 kHz mel32), and a window's exact map
is `columns` wide (24 for 199 frames: 199 // 8). Column c of the shared grid is made of frames
starting at sample `origin + c * stride` of the clip. A window whose start is not on that grid is
pooled from the nearest grid position: its slice *moves* by `shift` samples, never more than
half a stride. Window starts a_i = i * hop - left_pad fall, modulo the stride, on multiples of
g = gcd(hop, stride) (all of them, as i runs), so the origin in the middle of the arc they cover
makes the largest move (stride - g) / 2 samples:
  paper size, hop 4,800 (0.1 s at 48 kHz):   g = 960, moves of +-480 samples (10 ms);
  CPU demo, hop 1,600 (0.1 s at 16 kHz):     g = 8, moves of up to 320 samples (20 ms);
  a hop that is a multiple of the stride:   no move at all.
Windows themselves (count, timestamps) do not change: only the samples an embedding is pooled
from move by at most that much.

A segment serves a run of consecutive windows (unless it would compute more columns than the
windows on their own, `segment_is_cheaper`: those runs are computed exactly): it covers their
columns plus `margin` columns of real neighbouring audio on each side, more than the receptive
field of the last conv reaches,
so a window's features do not depend on where segments start or end (a long file streamed in
segments gives the embeddings of one segment over the whole file). Outside the clip a segment
holds zeros, as the exact windows do.

Every formula here uses only + - * // on its arguments, so it serves Python ints (streaming,
l3net.embed.shared_stream) and int32 tensors (the SavedModel graph, l3net.serving.shared_audio)
alike; only the gcd differs (math.gcd / `gcd_tensor`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from l3net.models.config import ModelConfig
from l3net.models.frontend_geometry import frontend_geometry

# Audio one segment spans at most (seconds at the model's rate): 25.6 s is 256 windows at a 0.1 s
# hop (the margins then add ~4 % columns); the paper-size conv1 map of a segment is ~0.5 GB.
SEGMENT_SECONDS = 25.6


@dataclasses.dataclass(frozen=True)
class SharedGeometry:
    """Numbers of a model's audio tower that the shared computation needs (all in samples/frames)."""

    frame_window: int       # samples per front-end frame
    frame_hop: int          # samples between frames
    frames_per_column: int  # 2^(blocks - 1): frames pooled into one final-map column
    columns: int            # final-map columns of one window (exact computation)
    margin: int             # extra columns each side of a segment's windows

    @property
    def stride(self) -> int:
        """Samples between final-map columns."""
        return self.frame_hop * self.frames_per_column

    def segment_samples(self, num_columns: Any) -> Any:
        """Samples a segment of `num_columns` columns needs: exactly frames_per_column frames each."""
        return (num_columns * self.frames_per_column - 1) * self.frame_hop + self.frame_window


def shared_geometry(cfg: ModelConfig) -> SharedGeometry:
    """The SharedGeometry of `cfg`'s audio tower.

    Margin: each 3x3 conv of block b reaches one position of its resolution (2^(b-1) frames) to
    each side, two convs per block: 2 * (2^blocks - 1) frames in all, rounded up to columns, plus
    one column for the pools' alignment. Paper size: 30 frames -> 4 + 1 = 5 columns.
    """
    g = frontend_geometry(cfg.frontend, cfg.sample_rate, cfg.num_audio_samples)
    blocks = len(cfg.audio_widths)
    per_column = 2 ** (blocks - 1)
    reach = 2 * (2 ** blocks - 1)
    return SharedGeometry(frame_window=g.window, frame_hop=g.hop, frames_per_column=per_column,
                          columns=g.num_frames // per_column, margin=-(-reach // per_column) + 1)


def grid_origin(geometry: SharedGeometry, left_pad: Any, hop_gcd: Any) -> Any:
    """Sample (clip coordinates, may be negative) where column 0 starts.

    hop_gcd: gcd(hop, stride). Window 0 starts at -left_pad; the origin sits (stride - gcd) // 2
    samples after it, in the middle of the arc the window starts cover modulo the stride.
    """
    return (geometry.stride - hop_gcd) // 2 - left_pad


def hop_gcd(hop: int, geometry: SharedGeometry) -> int:
    """gcd(hop, stride) of a Python int hop."""
    return math.gcd(int(hop), geometry.stride)


def window_column(geometry: SharedGeometry, index: Any, hop: Any, left_pad: Any, origin: Any) -> Any:
    """Column where window `index`'s slice starts: the grid position nearest its start."""
    start = index * hop - left_pad
    return (start - origin + geometry.stride // 2) // geometry.stride


def window_shift(geometry: SharedGeometry, index: Any, hop: Any, left_pad: Any, origin: Any) -> Any:
    """Samples by which window `index`'s slice is moved (positive: later); |shift| <= stride / 2."""
    column = window_column(geometry, index, hop, left_pad, origin)
    return origin + column * geometry.stride - (index * hop - left_pad)


def segment_first_column(geometry: SharedGeometry, first_window_column: Any) -> Any:
    """First column of a segment whose first window's slice starts at `first_window_column`."""
    return first_window_column - geometry.margin


def segment_columns(geometry: SharedGeometry, first_window_column: Any, last_window_column: Any) -> Any:
    """Columns of a segment serving windows whose slices start from first to last column."""
    return last_window_column - first_window_column + geometry.columns + 2 * geometry.margin


def column_start_sample(geometry: SharedGeometry, column: Any, origin: Any) -> Any:
    """Clip sample where `column`'s first frame starts."""
    return origin + column * geometry.stride


def segment_is_cheaper(geometry: SharedGeometry, windows: Any, first_window_column: Any,
                       last_window_column: Any) -> Any:
    """Whether a segment computes fewer columns than its `windows` exact windows would.

    When it does not (one window, or a few far apart), the windows are computed exactly: as
    fast or faster, and then identical to `exact=True` (a clip shorter than a window, say).
    """
    return segment_columns(geometry, first_window_column, last_window_column) < windows * geometry.columns


def shares_work(hop: int, window: int, exact: bool) -> bool:
    """Whether the shared computation applies: not `exact`, and windows overlap (hop < window)."""
    return not exact and hop < window


def segment_budget(sample_rate: int) -> int:
    """Samples of SEGMENT_SECONDS at `sample_rate`."""
    return int(SEGMENT_SECONDS * sample_rate)


def segment_windows(hop: Any, sample_rate: int) -> Any:
    """Windows per segment (before the at-least-one rule): those that start within SEGMENT_SECONDS."""
    return segment_budget(sample_rate) // hop
