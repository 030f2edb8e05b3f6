"""Window, hop, FFT size and output shape of each audio front end, as plain numbers.

Kept free of TensorFlow so that the analytic counts (`architecture_counts`), the data pipeline and
the tests can ask "what spectrogram does this config produce?" without building a layer.

Rules (the paper's / OpenL3's numbers at 48 kHz, scaled with the sample rate `sr` elsewhere so the
window and hop keep their duration in seconds):
  linear:  window = round(480 * sr / 48000) samples (10 ms), hop = window // 2 (half a window),
           fft = next power of two >= window (48 kHz: 480 / 240 / 512). No padding:
           frames = 1 + (num_samples - window) // hop (48 kHz, 1 s: 199). Bins = fft // 2 + 1 (257).
  mel<N>:  window = round(2048 * sr / 48000), fft = next power of two >= window,
           hop = round(242 * sr / 48000) (48 kHz: 2048 / 2048 / 242). The end is zero-padded as in
           tf.signal.stft(pad_end=True): frames = ceil(num_samples / hop) (48 kHz, 1 s: 199, the
           OpenL3 128 x 199 / 256 x 199 inputs). Bins = N mel bands.
  learned: window and hop of the linear front end, no padding, LEARNED_FILTERS bands.
"""

from __future__ import annotations

import dataclasses
import math

# Reference sample rate at which the papers state window/hop/FFT sizes.
REFERENCE_RATE = 48000
LINEAR_WINDOW_AT_48K = 480
MEL_WINDOW_AT_48K = 2048
MEL_HOP_AT_48K = 242
# Number of bands of the learned filterbank (each band is a quadrature pair of filters).
LEARNED_FILTERS = 128


@dataclasses.dataclass(frozen=True)
class FrontendGeometry:
    """Framing of one front end; the layer's output is float32 [batch, num_bins, num_frames, 1]."""

    kind: str          # 'linear', 'mel' or 'learned'
    window: int        # samples per analysis frame
    hop: int           # samples between frame starts
    fft_length: int    # FFT size (linear, mel); the frame is zero-padded at its end up to this
    num_bins: int      # output rows: FFT bins (linear), mel bands (mel), filter bands (learned)
    num_frames: int    # output columns
    pad_end: bool      # whether the waveform's end is zero-padded to a whole number of hops

    @property
    def num_fft_bins(self) -> int:
        return self.fft_length // 2 + 1


def next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _scaled(samples_at_48k: int, sample_rate: int) -> int:
    return max(1, int(round(samples_at_48k * sample_rate / REFERENCE_RATE)))


def frontend_geometry(frontend: str, sample_rate: int, num_samples: int) -> FrontendGeometry:
    """Framing of `frontend` ('linear', 'mel<N>', 'learned') for `num_samples` samples at `sample_rate`.

    Raises ValueError naming the front end when the name is unknown or the clip is shorter than
    one analysis window.
    """
    if frontend in ("linear", "learned"):
        window = _scaled(LINEAR_WINDOW_AT_48K, sample_rate)
        hop = max(1, window // 2)
        fft_length = next_power_of_two(window)
        pad_end = False
        if frontend == "linear":
            num_bins = fft_length // 2 + 1
        else:
            num_bins = LEARNED_FILTERS
    elif frontend.startswith("mel") and frontend[3:].isdigit() and int(frontend[3:]) > 0:
        window = _scaled(MEL_WINDOW_AT_48K, sample_rate)
        hop = _scaled(MEL_HOP_AT_48K, sample_rate)
        fft_length = next_power_of_two(window)
        pad_end = True
        num_bins = int(frontend[3:])
    else:
        raise ValueError(f"frontend={frontend!r}: use linear, mel<N> (e.g. mel128, N >= 1) or learned")
    if num_samples < window:
        raise ValueError(
            f"frontend={frontend!r}: {num_samples} samples at {sample_rate} Hz is shorter than one "
            f"{window}-sample window; use longer audio")
    if pad_end:
        num_frames = math.ceil(num_samples / hop)
    else:
        num_frames = 1 + (num_samples - window) // hop
    kind = "mel" if frontend.startswith("mel") else frontend
    return FrontendGeometry(kind, window, hop, fft_length, num_bins, num_frames, pad_end)
