"""How a waveform is cut into model windows: the one place that decides it, for every caller.

A model takes `window` samples (its audio_seconds at its sample rate); windows are `hop` samples
apart. A *layout* says where window 0 starts and how many windows a clip of N samples gets.
Window i always covers [i * hop - left_pad, i * hop - left_pad + window) of the clip, with zeros
wherever that reaches outside it.

  "center"  OpenL3's center=True (the default of the Python API, the CLI and the SavedModel).
            left_pad = window // 2 (OpenL3's `_center_audio` pads int(window / 2) zeros in front),
            so window i is centred on sample i * hop. OpenL3's `_pad_audio` then pads the end so
            that every sample is in a window, which gives (L = N + window // 2)
              count = 1                                 if L <= window
                      1 + ceil((L - window) / hop)      otherwise
            e.g. 96 windows for 10 s at a 0.1 s hop with 1 s windows.
  "start"   OpenL3's center=False: left_pad = 0, window i starts at i * hop, and the last, partial
            window is zero-padded (OpenL3's `_pad_audio` on the unpadded clip):
              count = 1 if N <= window else 1 + ceil((N - window) / hop)
  "inside"  only windows that lie inside the clip (at least one, zero-padded, for a clip shorter
            than a window): count = 1 + max(0, floor((N - window) / hop)). The L3 paper's
            clip protocol; `l3net_probe` cuts clips this way.
  "center_full"  window i centred on i * hop for every i * hop < N: count = ceil(N / hop).
            Centres cover the whole clip, as the HEAR API needs (l3net.hear).

An empty clip (N = 0) has no windows in any layout; the APIs refuse it with a clear error (OpenL3
raises "Got empty audio").

`hop_samples` is OpenL3's hop rule, int(hop_seconds * sample_rate) (at least 1), computed without
floating-point error (see there). `timestamps` are OpenL3's: i * hop_seconds, i.e. window
centres for "center"/"center_full" and window starts for "start"/"inside". When hop_seconds *
sample_rate is a whole number (0.1 s at 8, 16, 22.05, 44.1 or 48 kHz) they are exactly where
the windows are; otherwise the windows are int(...) samples apart, as in OpenL3, and the
timestamps drift from them by less than one sample per window.

The numpy side (counts, padding) serves l3net.embed.audio_windows, which streams; the TF side
(`frame_windows`) serves the SavedModel's embed_audio signature. Both follow the rules above.
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import tensorflow as tf

CENTER, START, INSIDE, CENTER_FULL = "center", "start", "inside", "center_full"
LAYOUTS = (CENTER, START, INSIDE, CENTER_FULL)
# A product hop_seconds * sample_rate within this relative distance below a whole number counts as
# that number: 0.29 s * 48 kHz is 13919.999999999998 in float64 and 0.7 s * 8 kHz 5599.9999 in
# float32 (the SavedModel's hop input); both mean 13,920 and 5,600 samples.
_HOP_TOLERANCE = 1e-6


def layout_for(center: bool) -> str:
    """OpenL3's `center` flag as a layout: True -> "center", False -> "start"."""
    return CENTER if center else START


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: must be one of {', '.join(LAYOUTS)}")
    return layout


def hop_samples(hop_seconds: float, sample_rate: int) -> int:
    """Samples between windows: OpenL3's int(hop_seconds * sample_rate), at least 1.

    Rounded down as OpenL3 does, but a product a hair below a whole number through floating-point
    error (0.29 * 48000 = 13919.999999999998) counts as that number.
    """
    return max(1, int(math.floor(hop_seconds * sample_rate * (1 + _HOP_TOLERANCE))))


def left_pad(window: int, layout: Union[str, bool] = CENTER) -> int:
    """Zeros before sample 0 in the padded signal that window 0 starts at."""
    if isinstance(layout, bool):  # the former `center` argument
        layout = layout_for(layout)
    return window // 2 if layout in (CENTER, CENTER_FULL) else 0


def num_windows(num_samples: int, window: int, hop: int, layout: Union[str, bool] = CENTER) -> int:
    """How many windows a clip of `num_samples` gets (module doc); 0 for an empty clip."""
    if isinstance(layout, bool):
        layout = layout_for(layout)
    check_layout(layout)
    if num_samples <= 0:
        return 0
    if layout == CENTER_FULL:
        return -(-num_samples // hop)
    if layout == INSIDE:
        return 1 + max(0, (num_samples - window) // hop)
    length = num_samples + left_pad(window, layout)
    return 1 if length <= window else 1 + -(-(length - window) // hop)


def timestamps(count: int, hop_seconds: float) -> np.ndarray:
    """float64 [count] seconds, OpenL3's i * hop_seconds: window centres ("center") or starts ("start")."""
    return np.arange(count, dtype=np.float64) * hop_seconds


def hop_samples_tensor(hop_seconds: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """`hop_samples` of a float scalar tensor, as an int32 scalar tensor."""
    product = tf.cast(hop_seconds, tf.float64) * float(sample_rate) * (1 + _HOP_TOLERANCE)
    return tf.maximum(1, tf.cast(tf.floor(product), tf.int32))


def frame_windows(waveform: tf.Tensor, window: int, hop: tf.Tensor) -> tf.Tensor:
    """float32 [B, N] -> [B, n, window], the "center" windows (n as `num_windows`).

    hop: int32 scalar tensor (samples). An empty waveform (N = 0) is an error. Graph code for the
    SavedModel; memory is n * window per row (callers with hour-long audio use the streaming
    Python API instead).
    """
    num_samples = tf.shape(waveform)[1]
    tf.debugging.assert_positive(num_samples, message="empty audio: the waveform has no samples")
    pad = window // 2
    extra = tf.maximum(num_samples + pad - window, 0)
    count = 1 + (extra + hop - 1) // hop
    needed = (count - 1) * hop + window
    right = tf.maximum(needed - pad - num_samples, 0)
    padded = tf.pad(waveform, tf.stack([[0, 0], tf.stack([pad, right])]))
    index = tf.range(count)[:, None] * hop + tf.range(window)[None, :]
    return tf.gather(padded, index, axis=1)
