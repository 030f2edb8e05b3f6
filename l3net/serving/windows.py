"""How a waveform is cut into model windows: one convention for the SavedModel and the Python API.

A model takes `window` samples (its audio_seconds at its sample rate). With hop `hop` samples:

  center=True (default, as OpenL3): window i is centred on sample i * hop, i.e. it covers samples
    [i * hop - window // 2, i * hop - window // 2 + window); samples outside the clip are zeros.
    There is one window per hop start inside the clip: n = max(1, ceil(num_samples / hop)).
    timestamps[i] = i * hop / sample_rate = the window's centre, in seconds.
  center=False: window i covers [i * hop, i * hop + window); only windows that fit in the clip,
    n = 1 + max(0, floor((num_samples - window) / hop)), a clip shorter than one window gives one
    zero-padded window. timestamps[i] = i * hop / sample_rate = the window's start.

`hop_samples` turns a hop in seconds into samples (rounded, at least 1); timestamps use that
rounded hop, so they are exactly where the windows are.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def hop_samples(hop_seconds: float, sample_rate: int) -> int:
    return max(1, int(round(hop_seconds * sample_rate)))


def num_windows(num_samples: int, window: int, hop: int, center: bool = True) -> int:
    if center:
        return max(1, -(-num_samples // hop))
    return 1 + max(0, (num_samples - window) // hop)


def left_pad(window: int, center: bool = True) -> int:
    """Zeros before sample 0 in the padded signal that window 0 starts at."""
    return window // 2 if center else 0


def timestamps(count: int, hop: int, sample_rate: int) -> np.ndarray:
    """float64 [count] seconds: window centres (center=True) or starts (center=False)."""
    return np.arange(count, dtype=np.float64) * hop / sample_rate


def frame_windows(waveform: tf.Tensor, window: int, hop: tf.Tensor) -> tf.Tensor:
    """float32 [B, N] -> [B, n, window], the center=True windows (n as `num_windows`).

    hop: int32 scalar tensor (samples). Graph code for the SavedModel; memory is n * window
    per row (callers with hour-long audio use the streaming Python API instead).
    """
    num_samples = tf.shape(waveform)[1]
    count = tf.maximum(1, (num_samples + hop - 1) // hop)
    pad = window // 2
    needed = (count - 1) * hop + window
    right = tf.maximum(needed - pad - num_samples, 0)
    padded = tf.pad(waveform, tf.stack([[0, 0], tf.stack([pad, right])]))
    index = tf.range(count)[:, None] * hop + tf.range(window)[None, :]
    return tf.gather(padded, index, axis=1)
