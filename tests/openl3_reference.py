"""Reference windows cut by hand, independent of l3net.serving.windows, for the embedding tests.

OpenL3's rules (openl3.core: `_center_audio`, `_pad_audio`, the librosa-style framing of
`_preprocess_audio_batch`), restated from their description, not their code:
  center=True:  int(window / 2) zeros are put in front of the clip;
  then (both):  if the (padded) clip is shorter than a window it is zero-padded to one window,
                else it is zero-padded at the end to window + ceil((L - window) / hop) * hop;
                the frames start every hop samples: 1 + (len - window) // hop of them.
  timestamps:   arange(frames) * hop_size.
The two l3net-only layouts: "inside" (windows inside the clip, at least one, the L3 paper's
clip protocol) and "center_full" (a window centred on every multiple of the hop inside the clip).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def openl3_hop(hop_seconds: float, sample_rate: int) -> int:
    """OpenL3's int(hop_size * sr) of the decimal hop as written (no float rounding error)."""
    return max(1, int(Fraction(repr(hop_seconds)) * sample_rate))


def openl3_windows(audio: np.ndarray, window: int, hop: int, center: bool) -> np.ndarray:
    """[frames, window] float32: OpenL3's frames of a 1-D clip (module doc)."""
    x = np.asarray(audio, np.float32)
    if center:
        x = np.concatenate([np.zeros(int(window / 2.0), np.float32), x])
    if x.size < window:
        x = np.pad(x, (0, window - x.size))
    else:
        steps = -(-(x.size - window) // hop)
        x = np.pad(x, (0, window + steps * hop - x.size))
    frames = 1 + (x.size - window) // hop
    return np.stack([x[i * hop:i * hop + window] for i in range(frames)])


def openl3_count(num_samples: int, window: int, hop: int, center: bool) -> int:
    """OpenL3's number of windows, from the closed form 1 + ceil(max(0, L - window) / hop)."""
    length = num_samples + (window // 2 if center else 0)
    return 1 + max(0, int(np.ceil((length - window) / hop)))


def inside_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[count, window]: windows starting at i * hop that lie inside the clip (one padded window if
    the clip is shorter than a window)."""
    x = np.asarray(audio, np.float32)
    count = 1 + max(0, (x.size - window) // hop)
    x = np.pad(x, (0, max(0, window - x.size)))
    return np.stack([x[i * hop:i * hop + window] for i in range(count)])


def center_full_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[ceil(N / hop), window]: a window centred on every i * hop < N, zeros outside the clip."""
    x = np.asarray(audio, np.float32)
    count = -(-x.size // hop)
    padded = np.concatenate([np.zeros(window // 2, np.float32), x, np.zeros(window + hop, np.float32)])
    return np.stack([padded[i * hop:i * hop + window] for i in range(count)])
