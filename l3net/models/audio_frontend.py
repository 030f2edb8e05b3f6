"""Audio front end: raw waveform -> log-magnitude time-frequency image, as a Keras layer.

The front end lives inside the model so that a saved model takes raw audio (the data pipeline,
evaluation and export never recompute spectrograms, and can never disagree with training).

Output orientation is (frequency, time), channels-last: float32 [batch, num_bins, num_frames, 1],
i.e. the paper's 257 x 199 single-channel image for 1 s at 48 kHz with the linear front end.
Framing rules for every rate are in `frontend_geometry`.

  linear:  log(|STFT| + LOG_EPS), periodic Hann window (for every length, see
           `periodic_hann_window`), frame zero-padded at its end to the FFT size.
  mel<N>:  log(|STFT| @ M + LOG_EPS), M = tf.signal.linear_to_mel_weight_matrix (HTK mel,
           triangles of peak 1, N bands from 0 Hz to Nyquist, DC bin weight 0): mel *magnitude*,
           as OpenL3 (power 1). Bands narrower than the FFT bin spacing catch no bin and stay at
           log(LOG_EPS) (mel256 at 48 kHz: bands 0 and 7); the input BatchNorm copes.
  learned: a trainable filterbank on the raw waveform (the L3 paper notes' end-to-end idea): LEARNED_FILTERS
           bands, each a quadrature pair of `window`-tap filters applied with the linear front
           end's hop; band energy = sqrt(re^2 + im^2 + LOG_EPS^2), output log(energy + LOG_EPS).
           Initialised to Hann-windowed cosine/sine pairs at mel-spaced centre frequencies, so at
           step 0 it is a mel-spaced (non-zero-padded) DFT magnitude and training moves from there.

No normalisation happens here (the audio tower puts a BatchNorm after it), so this layer's output
is exactly the reference formula above.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

from l3net.models.frontend_geometry import FrontendGeometry, frontend_geometry

# Floor added before the log: 1e-6 is ~120 dB below the magnitude of a full-scale tone in a
# 480-sample Hann frame, so it only matters for digital silence (log(1e-6) = -13.8, not -inf).
LOG_EPS = 1e-6


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """HTK mel scale (the one tf.signal uses)."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def periodic_hann_window(length: int) -> np.ndarray:
    """float32 [length]: 0.5 - 0.5 cos(2 pi n / length), n = 0..length-1 (scipy's periodic 'hann').

    Not tf.signal.hann_window(periodic=True): that one is only periodic for even lengths and falls
    back to the symmetric window for odd ones (e.g. the 683-sample mel window at 16 kHz).
    """
    n = np.arange(length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


def learned_filterbank_init(geometry: FrontendGeometry, sample_rate: int) -> np.ndarray:
    """Initial learned filterbank, float32 [window, 2 * num_bins]: columns [cos pairs | sin pairs].

    Band k is a periodic-Hann-windowed complex exponential at the k-th of num_bins centre
    frequencies spaced evenly on the mel scale strictly between 0 Hz and Nyquist.
    """
    n = np.arange(geometry.window, dtype=np.float64)
    hann = periodic_hann_window(geometry.window).astype(np.float64)
    mels = np.linspace(0.0, hz_to_mel(sample_rate / 2.0), geometry.num_bins + 2)[1:-1]
    phase = 2.0 * np.pi * np.outer(n, mel_to_hz(mels)) / sample_rate  # [window, bands]
    kernel = np.concatenate([hann[:, None] * np.cos(phase), -hann[:, None] * np.sin(phase)], axis=1)
    return kernel.astype(np.float32)


@keras.saving.register_keras_serializable(package="l3net")
class AudioFrontend(keras.layers.Layer):
    """Waveform float32 [batch, num_samples] in [-1, 1] -> float32 [batch, num_bins, num_frames, 1].

    Args:
      frontend: 'linear', 'mel<N>' (any N >= 1) or 'learned'.
      sample_rate: Hz of the waveform.
      num_samples: waveform length the model is built for (checked when the layer is built).
    Only the 'learned' front end has weights (trainable, [window, 2 * LEARNED_FILTERS]).
    """

    def __init__(self, frontend: str, sample_rate: int, num_samples: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frontend = str(frontend)
        self.sample_rate = int(sample_rate)
        self.num_samples = int(num_samples)
        self.geometry = frontend_geometry(self.frontend, self.sample_rate, self.num_samples)
        self._window = None
        self._mel_weights = None
        self.filterbank = None

    def build(self, input_shape: Tuple[Any, ...]) -> None:
        length = input_shape[-1]
        if length is not None and int(length) != self.num_samples:
            raise ValueError(
                f"{self.name}: built for {self.num_samples} audio samples, got input length {length}")
        g = self.geometry
        if g.kind in ("linear", "mel"):
            with tf.init_scope():  # constants of the outer (eager) context, even if built in a graph
                self._window = tf.constant(periodic_hann_window(g.window))
                if g.kind == "mel":
                    self._mel_weights = tf.signal.linear_to_mel_weight_matrix(
                        num_mel_bins=g.num_bins, num_spectrogram_bins=g.num_fft_bins,
                        sample_rate=self.sample_rate, lower_edge_hertz=0.0,
                        upper_edge_hertz=self.sample_rate / 2.0, dtype=tf.float32)
        else:
            init = learned_filterbank_init(g, self.sample_rate)
            self.filterbank = self.add_weight(
                name="filterbank", shape=init.shape, trainable=True,
                initializer=lambda shape, dtype=None: tf.constant(init, dtype=dtype or tf.float32))

    def call(self, waveform: tf.Tensor) -> tf.Tensor:
        return self.spectrogram(waveform, self.geometry.pad_end)

    def spectrogram(self, waveform: tf.Tensor, pad_end: bool = False) -> tf.Tensor:
        """float32 [B, N] (any N >= one frame) -> [B, num_bins, frames, 1], frames as the geometry's rule.

        The layer's own call uses the geometry's `pad_end` on its fixed-length input. The shared
        window computation (l3net.serving.shared_audio) calls this on a longer stretch of audio
        with pad_end=False, so that every frame is made of real samples: frame k of the stretch
        then equals frame k - j of a window starting j frame hops later.
        """
        g = self.geometry
        waveform = tf.cast(waveform, tf.float32)
        if g.kind == "learned":
            frames = tf.signal.frame(waveform, g.window, g.hop)              # [B, T, window]
            proj = tf.einsum("btw,wf->btf", frames, tf.cast(self.filterbank, tf.float32))
            re, im = tf.split(proj, 2, axis=-1)                              # [B, T, bands] each
            magnitude = tf.sqrt(tf.square(re) + tf.square(im) + LOG_EPS ** 2)
        else:
            stft = tf.signal.stft(
                waveform, frame_length=g.window, frame_step=g.hop, fft_length=g.fft_length,
                window_fn=lambda length, dtype: self._window,
                pad_end=pad_end)                                           # [B, T, fft/2+1]
            magnitude = tf.abs(stft)
            if g.kind == "mel":
                magnitude = tf.tensordot(magnitude, self._mel_weights, axes=1)  # [B, T, N]
        log_mag = tf.math.log(magnitude + LOG_EPS)
        return tf.transpose(log_mag, [0, 2, 1])[..., tf.newaxis]

    def compute_output_shape(self, input_shape: Tuple[Any, ...]) -> Tuple[Any, ...]:
        return (input_shape[0], self.geometry.num_bins, self.geometry.num_frames, 1)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(frontend=self.frontend, sample_rate=self.sample_rate,
                      num_samples=self.num_samples)
        return config
