"""The envelope target: audio waveform -> one loudness value in [0, 1] per video frame.

The sound-from-video experiment's recipe, as graph code so it runs in tf.data on the records' own audio:
  1. int16 -> float in [-1, 1], absolute value;
  2. Gaussian smoothing, sigma = 200 samples at 44.1 kHz, scaled with the sample rate (so the
     smoothing is the same 4.5 ms at any rate); kernel truncated at 4 sigma and the signal
     mirrored at its ends (scipy.ndimage.gaussian_filter1d's defaults, the test's reference);
  3. downsample to the frame rate: frame i (showing time i / fps) gets the mean of the smoothed
     envelope over the samples nearest to it, [(i - 1/2) / fps, (i + 1/2) / fps) (clipped to the
     audio). A block mean rather than picking one sample: at 12 fps a frame spans ~83 ms and a
     20 ms impact between two frame instants would otherwise vanish;
  4. per-clip min-max scaling to [0, 1] (a silent clip -> all zeros).
"""

from __future__ import annotations

import tensorflow as tf

SIGMA_SAMPLES_AT_44K = 200.0
REFERENCE_RATE = 44100.0
TRUNCATE = 4.0
# Clips whose envelope varies less than this (float waveform units) count as silent.
SILENT_RANGE = 1e-6


def smoothing_sigma(sample_rate: float, sigma_at_44k: float = SIGMA_SAMPLES_AT_44K) -> float:
    """Gaussian sigma in samples at `sample_rate` (200 at 44.1 kHz, ~72.6 at 16 kHz)."""
    return sigma_at_44k * float(sample_rate) / REFERENCE_RATE


def gaussian_kernel(sigma: float) -> tf.Tensor:
    """float32 [2r + 1] normalised Gaussian, r = int(4 sigma + 0.5) (as scipy's)."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = tf.range(-radius, radius + 1, dtype=tf.float64)
    weights = tf.exp(-0.5 * tf.square(x / sigma))
    return tf.cast(weights / tf.reduce_sum(weights), tf.float32)


def smooth_abs(audio: tf.Tensor, sigma: float) -> tf.Tensor:
    """float32 [S] waveform -> float32 [S] Gaussian-smoothed |waveform| (mirrored ends).

    A clip shorter than the kernel radius (under ~18 ms; the converter stores at least one
    window) is zero-padded first, as mirroring cannot reach further than the clip itself.
    """
    kernel = gaussian_kernel(sigma)
    radius = (int(kernel.shape[0]) - 1) // 2
    x = tf.abs(tf.cast(audio, tf.float32))
    length = tf.shape(x)[0]
    x = tf.pad(x, [[0, tf.maximum(radius - length, 0)]])
    # SYMMETRIC repeats the edge sample (d c b a | a b c d): scipy's 'reflect'.
    padded = tf.pad(x, [[radius, radius]], mode="SYMMETRIC")
    out = tf.nn.conv1d(padded[None, :, None], kernel[:, None, None], stride=1, padding="VALID")
    return out[0, :length, 0]


def frame_means(signal: tf.Tensor, num_frames: tf.Tensor, sample_rate: tf.Tensor, fps: tf.Tensor) -> tf.Tensor:
    """float32 [S] -> float32 [N]: mean of `signal` over the samples nearest each frame instant.

    Frame i covers samples [round((i - 1/2) r / fps), round((i + 1/2) r / fps)) clipped to [0, S);
    a frame with no audio under it (video longer than its audio) gets 0. Cumulative sums in
    float64, so long clips keep exact means.
    """
    num_samples = tf.shape(signal, out_type=tf.int64)[0]
    per_frame = tf.cast(sample_rate, tf.float64) / tf.cast(fps, tf.float64)
    centres = tf.range(tf.cast(num_frames, tf.float64), dtype=tf.float64)
    lo = tf.clip_by_value(tf.cast(tf.round((centres - 0.5) * per_frame), tf.int64), 0, num_samples)
    hi = tf.clip_by_value(tf.cast(tf.round((centres + 0.5) * per_frame), tf.int64), 0, num_samples)
    cumulative = tf.concat([tf.zeros([1], tf.float64), tf.cumsum(tf.cast(signal, tf.float64))], axis=0)
    sums = tf.gather(cumulative, hi) - tf.gather(cumulative, lo)
    counts = tf.cast(hi - lo, tf.float64)
    return tf.cast(tf.math.divide_no_nan(sums, counts), tf.float32)


def scale_unit(values: tf.Tensor) -> tf.Tensor:
    """float32 [N] -> (v - min) / (max - min) in [0, 1]; all zeros when the range is ~0."""
    lo = tf.reduce_min(values)
    span = tf.reduce_max(values) - lo
    return tf.where(span > SILENT_RANGE, (values - lo) / tf.maximum(span, SILENT_RANGE), tf.zeros_like(values))


def envelope_targets(audio: tf.Tensor, num_frames: tf.Tensor, sample_rate: tf.Tensor, fps: tf.Tensor, *,
                     nominal_rate: float, sigma_at_44k: float = SIGMA_SAMPLES_AT_44K) -> tf.Tensor:
    """The per-frame target of one clip.

    Args:
      audio: float32 [S] waveform in [-1, 1] (or int16 [S]; scaled by 1 / 32768).
      num_frames: N, frames of the clip.
      sample_rate, fps: the record's (scalars).
      nominal_rate: the dataset's sample rate (dataset.json); the smoothing kernel is built for
        it once (static), records are checked against it by the caller.
      sigma_at_44k: smoothing width in samples at 44.1 kHz (sound-from-video experiment: 200).

    Returns:
      float32 [N] in [0, 1].
    """
    if audio.dtype == tf.int16:
        audio = tf.cast(audio, tf.float32) * (1.0 / 32768.0)
    smoothed = smooth_abs(audio, smoothing_sigma(nominal_rate, sigma_at_44k))
    return scale_unit(frame_means(smoothed, num_frames, sample_rate, fps))
