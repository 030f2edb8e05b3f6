"""Audio front ends against independent NumPy/SciPy references.

Tolerance: outputs are natural-log magnitudes; float32 FFTs against float64 references agree to
LOG_ATOL = 1e-3 in the log domain on the broadband test signals used here (observed: <= 2.3e-4 for
linear, <= 2e-5 for mel). A log error of 1e-3 is a 0.1 % magnitude error.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from l3net.models import LOG_EPS, AudioFrontend
from l3net.models.frontend_geometry import frontend_geometry

LOG_ATOL = 1e-3


def _signal(num_samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """[2, num_samples]: white noise plus a 1 kHz tone (row 0) and louder noise with a DC offset (row 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    rows = [0.3 * rng.standard_normal(num_samples) + 0.5 * np.sin(2 * np.pi * 1000 * t),
            0.6 * rng.standard_normal(num_samples) + 0.1]
    return np.clip(np.stack(rows), -1, 1).astype(np.float32)


def _run(frontend: str, sample_rate: int, x: np.ndarray) -> np.ndarray:
    layer = AudioFrontend(frontend, sample_rate, x.shape[1])
    return layer(tf.constant(x)).numpy()


def _periodic_hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _numpy_frames(x: np.ndarray, window: int, hop: int, pad_end: bool) -> np.ndarray:
    """[B, T, window] frames of x [B, N]; with pad_end, zero-pad to ceil(N / hop) frames."""
    n = x.shape[1]
    num_frames = -(-n // hop) if pad_end else 1 + (n - window) // hop
    padded = np.zeros((x.shape[0], (num_frames - 1) * hop + window), dtype=np.float64)
    padded[:, :min(n, padded.shape[1])] = x[:, :padded.shape[1]]
    return np.stack([padded[:, i * hop:i * hop + window] for i in range(num_frames)], axis=1)


def _htk_mel_matrix(num_mel: int, num_fft_bins: int, sample_rate: int) -> np.ndarray:
    """[num_fft_bins, num_mel] triangles in HTK-mel space, 0 Hz .. Nyquist, peak 1, DC row zero."""
    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)
    bin_mel = mel(np.linspace(0.0, sample_rate / 2.0, num_fft_bins))[:, None]
    edges = np.linspace(mel(0.0), mel(sample_rate / 2.0), num_mel + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bin_mel - lower) / (center - lower),
                                         (upper - bin_mel) / (upper - center)))
    weights[0, :] = 0.0
    return weights


def test_paper_and_scaled_geometry():
    # Paper (L3-Net) and OpenL3 numbers at 48 kHz, and the documented scaling at 16 kHz.
    g = frontend_geometry("linear", 48000, 48000)
    assert (g.window, g.hop, g.fft_length, g.num_bins, g.num_frames) == (480, 240, 512, 257, 199)
    g = frontend_geometry("mel128", 48000, 48000)
    assert (g.window, g.hop, g.fft_length, g.num_bins, g.num_frames) == (2048, 242, 2048, 128, 199)
    g = frontend_geometry("linear", 16000, 16000)
    assert (g.window, g.hop, g.fft_length, g.num_bins, g.num_frames) == (160, 80, 256, 129, 199)
    g = frontend_geometry("mel64", 16000, 16000)
    assert (g.window, g.hop, g.fft_length, g.num_bins, g.num_frames) == (683, 81, 1024, 64, 198)
    g = frontend_geometry("learned", 48000, 48000)
    assert (g.window, g.hop, g.num_bins, g.num_frames) == (480, 240, 128, 199)


def test_linear_matches_scipy_stft_at_48k():
    x = _signal(48000, 48000)
    out = _run("linear", 48000, x)
    assert out.shape == (2, 257, 199, 1)
    win = scipy.signal.get_window("hann", 480)  # periodic Hann
    _, _, z = scipy.signal.stft(x.astype(np.float64), window=win, nperseg=480, noverlap=240,
                                nfft=512, boundary=None, padded=False, detrend=False)
    ref = np.log(np.abs(z) * win.sum() + LOG_EPS)  # scipy scales the spectrum by 1 / sum(window)
    np.testing.assert_allclose(out[..., 0], ref, atol=LOG_ATOL, rtol=0)


def test_linear_matches_numpy_fft_at_16k():
    x = _signal(16000, 16000, seed=1)
    out = _run("linear", 16000, x)
    frames = _numpy_frames(x, 160, 80, pad_end=False) * _periodic_hann(160)
    ref = np.log(np.abs(np.fft.rfft(frames, n=256, axis=-1)) + LOG_EPS).transpose(0, 2, 1)
    assert out.shape == ref.shape + (1,) == (2, 129, 199, 1)
    np.testing.assert_allclose(out[..., 0], ref, atol=LOG_ATOL, rtol=0)


@pytest.mark.parametrize("frontend,sample_rate,num_samples", [
    ("mel128", 48000, 48000), ("mel256", 48000, 48000), ("mel40", 16000, 8000)])
def test_mel_matches_numpy_htk_reference(frontend, sample_rate, num_samples):
    g = frontend_geometry(frontend, sample_rate, num_samples)
    x = _signal(num_samples, sample_rate, seed=2)
    out = _run(frontend, sample_rate, x)
    frames = _numpy_frames(x, g.window, g.hop, pad_end=True) * _periodic_hann(g.window)
    magnitude = np.abs(np.fft.rfft(frames, n=g.fft_length, axis=-1))
    mel = magnitude @ _htk_mel_matrix(g.num_bins, g.fft_length // 2 + 1, sample_rate)
    ref = np.log(mel + LOG_EPS).transpose(0, 2, 1)
    assert out.shape == ref.shape + (1,)
    np.testing.assert_allclose(out[..., 0], ref, atol=LOG_ATOL, rtol=0)


def test_learned_frontend_starts_as_mel_spaced_dft_and_is_trainable():
    sample_rate, n = 16000, 8000
    x = _signal(n, sample_rate, seed=3)
    layer = AudioFrontend("learned", sample_rate, n)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        out = layer(xt)
        loss = tf.reduce_mean(out)
    assert out.shape == (2, 128, 99, 1)
    assert [w.shape for w in layer.trainable_weights] == [(160, 256)]
    grad = tape.gradient(loss, layer.trainable_weights)[0].numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    # Reference: Hann-windowed DFT at 128 centre frequencies evenly spaced in HTK mel, 0..Nyquist excluded.
    mel_max = 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0)
    centres = 700.0 * (10.0 ** (np.linspace(0.0, mel_max, 130)[1:-1] / 2595.0) - 1.0)
    frames = _numpy_frames(x, 160, 80, pad_end=False) * _periodic_hann(160)
    basis = np.exp(-2j * np.pi * np.outer(np.arange(160), centres) / sample_rate)
    proj = frames @ basis
    ref = np.log(np.sqrt(np.abs(proj) ** 2 + LOG_EPS ** 2) + LOG_EPS).transpose(0, 2, 1)
    np.testing.assert_allclose(out.numpy()[..., 0], ref, atol=LOG_ATOL, rtol=0)


def test_silence_is_finite_with_finite_gradients():
    for frontend in ("linear", "mel32", "learned"):
        layer = AudioFrontend(frontend, 8000, 4000)
        x = tf.zeros((1, 4000))
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x)
        np.testing.assert_allclose(out.numpy(), np.log(LOG_EPS) if frontend != "learned"
                                   else np.log(2 * LOG_EPS), rtol=1e-5)
        if frontend == "learned":
            grads = tape.gradient(out, layer.trainable_weights)
            assert np.all(np.isfinite(grads[0].numpy()))


@pytest.mark.parametrize("frontend", ["linear", "mel24", "learned"])
def test_config_round_trip_gives_same_output(frontend):
    x = tf.constant(_signal(4000, 8000, seed=4))
    layer = AudioFrontend(frontend, 8000, 4000, name="fe")
    out = layer(x).numpy()
    clone = AudioFrontend.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), out)
    assert clone.get_config()["frontend"] == frontend


@pytest.mark.parametrize("frontend", ["linear", "mel24", "learned"])
def test_graph_and_xla_match_eager(frontend):
    x = tf.constant(_signal(4000, 8000, seed=5))
    layer = AudioFrontend(frontend, 8000, 4000)
    eager = layer(x).numpy()
    np.testing.assert_allclose(tf.function(layer)(x).numpy(), eager, atol=1e-5, rtol=0)
    np.testing.assert_allclose(tf.function(layer, jit_compile=True)(x).numpy(), eager,
                               atol=LOG_ATOL, rtol=0)


def test_bad_frontend_and_short_audio_are_rejected():
    with pytest.raises(ValueError, match="frontend='mel0'"):
        AudioFrontend("mel0", 16000, 16000)
    with pytest.raises(ValueError, match="frontend='cqt'"):
        AudioFrontend("cqt", 16000, 16000)
    with pytest.raises(ValueError, match="shorter than one"):
        AudioFrontend("mel64", 48000, 1000)
    with pytest.raises(ValueError, match="built for 16000"):
        AudioFrontend("linear", 16000, 16000)(tf.zeros((1, 8000)))
