"""Band-limited resampling inside a TensorFlow graph, for any input rate known only at run time.

Why FFT: the SavedModel's input rate is a tensor, so the filter cannot be designed at export
time; the ideal (FFT) resampler needs no filter design, works for every rate pair, and costs
O(N log N). It is scipy.signal.resample (same unpaired-Nyquist-bin rule) applied to the signal
zero-padded at both ends, so the periodic FFT does not wrap the end of the clip onto its start:

  g = gcd(rate_in, rate_out); the padded length is a multiple of rate_in / g, so it maps to an
  exact whole number of output samples and output sample j sits exactly at input time
  j * rate_in / rate_out. Output length = round(N * rate_out / rate_in). Equal rates return the
  input unchanged. Computed in float64.

Accuracy (tests/test_export.py): equal to scipy.signal.resample of the same padded signal to
1e-6, and to scipy.signal.resample_poly on a 440 Hz tone within 2e-3 away from the ends. Memory
is a few copies of the padded input: this is for clips, not hour-long recordings.
"""

from __future__ import annotations

import tensorflow as tf

# Zeros added at each end before the FFT (at least; rounded up to a whole output sample).
PAD_SECONDS = 0.05


def _gcd(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    _, g = tf.while_loop(lambda x, y: tf.not_equal(x, 0), lambda x, y: (y % x, x), (b, a))
    return g


def resample(waveform: tf.Tensor, rate_in: tf.Tensor, rate_out: int) -> tf.Tensor:
    """float32 [B, N] at `rate_in` (int32 scalar tensor) -> float32 [B, round(N * rate_out / rate_in)]."""
    rate_in = tf.cast(rate_in, tf.int64)
    return tf.cond(tf.equal(rate_in, rate_out), lambda: tf.identity(waveform),
                   lambda: _fft_resample(waveform, rate_in, tf.constant(rate_out, tf.int64)))


def _fft_resample(waveform: tf.Tensor, rate_in: tf.Tensor, rate_out: tf.Tensor) -> tf.Tensor:
    n = tf.cast(tf.shape(waveform)[1], tf.int64)
    g = _gcd(rate_in, rate_out)
    step_in, step_out = rate_in // g, rate_out // g
    min_pad = tf.cast(tf.math.ceil(PAD_SECONDS * tf.cast(rate_in, tf.float64)), tf.int64)
    pad = -(-min_pad // step_in) * step_in
    extra = (-(n + 2 * pad)) % step_in
    n_pad = n + 2 * pad + extra
    m_pad = n_pad // step_in * step_out
    x = tf.pad(tf.cast(waveform, tf.float64), tf.stack([[0, 0], tf.stack([pad, pad + extra])]))
    spectrum = tf.signal.rfft(x)  # complex128 [B, n_pad // 2 + 1]
    m = tf.minimum(n_pad, m_pad)
    kept = spectrum[:, :m // 2 + 1]
    # scipy's rule for the bin at m / 2 when m is even and the length changes (it has no pair).
    nyquist_scale = tf.where(m_pad < n_pad, tf.constant(2.0, tf.float64), tf.constant(0.5, tf.float64))
    scale = tf.where(tf.logical_and(m % 2 == 0, tf.not_equal(m_pad, n_pad)), nyquist_scale,
                     tf.constant(1.0, tf.float64))
    weights = tf.concat([tf.ones([m // 2], tf.float64), scale[None]], axis=0)
    kept = kept * tf.cast(weights, tf.complex128)[None, :]
    ratio = tf.cast(m_pad, tf.float64) / tf.cast(n_pad, tf.float64)
    out = tf.signal.irfft(kept, fft_length=tf.cast(m_pad, tf.int32)[None]) * ratio
    start = pad // step_in * step_out
    length = (n * rate_out + rate_in // 2) // rate_in
    return tf.cast(out[:, start:start + length], tf.float32)
