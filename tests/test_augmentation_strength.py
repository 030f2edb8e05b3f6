"""Augmentation beyond the paper's (hue rotation, wide gain, spectral tilt): what each does.

Checked against independent computations: colorsys's HLS hue for the rotation (a hue rotation
of a colour changes its hue by the angle, keeps its luma), numpy's difference equation for the
tilt, and the dB formula for the gain.
"""

from __future__ import annotations

import colorsys

import numpy as np
import tensorflow as tf

from l3net.data import augmentation
from l3net.data.config import DataConfig, Strength

SEED = tf.constant([3, 4], tf.int64)


def test_paper_draws_are_unchanged_by_the_options():
    plain = augmentation.draw_params(SEED, 16)
    explicit = augmentation.draw_params(SEED, 16, Strength())
    for key in ("crop", "flip", "colour", "brightness", "gain"):
        np.testing.assert_array_equal(plain[key].numpy(), explicit[key].numpy())
    gains = plain["gain"].numpy()
    assert gains.min() >= 0.9 and gains.max() <= 1.1 and not plain["tilt"].numpy().any()


def test_hue_rotation_turns_hue_and_keeps_luma():
    red = np.array([[200.0, 60.0, 40.0]], np.float32)
    directions = set()
    for turn in (0.1, 0.25, 0.4):
        matrix = augmentation.colour_matrix(tf.constant([1.0]), tf.constant([turn * 2 * np.pi])).numpy()[0]
        out = red @ matrix  # in [0, 1]
        luma = np.array([0.299, 0.587, 0.114])
        np.testing.assert_allclose(out[0] @ luma, (red[0] / 255.0) @ luma, atol=1e-5)
        h_in = colorsys.rgb_to_hls(*(red[0] / 255.0))[0]
        h_out = colorsys.rgb_to_hls(*np.clip(out[0], 0, 1))[0]
        moved = (h_out - h_in + 0.5) % 1.0 - 0.5   # signed, in (-0.5, 0.5]
        # YIQ's chroma plane is not HLS's hue wheel exactly: the hue moves by about the angle
        # (within a twelfth of a turn), always in the same direction.
        assert abs(abs(moved) - turn) < 1 / 12, (turn, moved)
        directions.add(np.sign(moved))
    assert len(directions) == 1


def test_strength_ranges_and_tilt_filter():
    params = augmentation.draw_params(SEED, 400, Strength(hue_jitter=0.5, gain_db=6.0, spectral_tilt=0.5))
    gain_db = 20 * np.log10(params["gain"].numpy())
    assert gain_db.min() >= -6.0001 and gain_db.max() <= 6.0001 and gain_db.std() > 2.5
    tilt = params["tilt"].numpy()
    assert np.abs(tilt).max() <= 0.5 and tilt.std() > 0.2
    rng = np.random.default_rng(0)
    x = (rng.uniform(-0.5, 0.5, 800) * 32767).astype(np.int16)
    a = 0.4
    got = augmentation.decode_audio(tf.constant(x.tobytes()), 800, tf.constant(1.0), tf.constant(a)).numpy()
    xf = x / 32768.0
    expected = (xf - a * np.concatenate([xf[:1], xf[:-1]])) / (1 + a)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_data_config_carries_the_strength():
    cfg = DataConfig(hue_jitter=0.25, gain_db=3.0, spectral_tilt=0.1)
    assert cfg.strength == Strength(0.25, 3.0, 0.1)
    assert DataConfig().strength == Strength()


def test_speed_read_matches_numpy_interp_and_moves_the_pitch():
    rate, n = 8000, 4000
    x = np.sin(2 * np.pi * 440.0 * np.arange(n + 900) / rate).astype(np.float32)
    for semitones in (-3.0, 2.0, 3.0):
        speed = 2.0 ** (semitones / 12.0)
        got = augmentation.speed_read(tf.constant(x), tf.constant(speed, tf.float32), n).numpy()
        expected = np.interp(np.arange(n, dtype=np.float32) * np.float32(speed), np.arange(len(x)), x)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        spectrum = np.abs(np.fft.rfft(got * np.hanning(n)))
        peak_hz = np.argmax(spectrum) * rate / n
        assert abs(peak_hz - 440.0 * speed) <= rate / n, (semitones, peak_hz)


def test_decode_audio_reads_the_margin_only_when_faster():
    rng = np.random.default_rng(1)
    n = 1000
    margin = DataConfig(pitch_shift=3.0, sample_rate=1000, audio_seconds=1.0).read_samples(True) - n
    assert margin == int(np.ceil(999 * (2 ** 0.25 - 1))) + 2
    x = (rng.uniform(-0.5, 0.5, n + margin) * 32767).astype(np.int16)
    window = tf.constant(x.tobytes())
    xf = x / 32768.0
    for speed in (2 ** -0.25, 1.0, 2 ** 0.25):
        got = augmentation.decode_audio(window, n, tf.constant(1.0), speed=tf.constant(speed, tf.float32),
                                        margin=margin).numpy()
        expected = np.interp(np.arange(n, dtype=np.float32) * np.float32(speed), np.arange(n + margin), xf)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # Off (or not training): the window is the model's, no margin.
    assert DataConfig(pitch_shift=3.0, sample_rate=1000).read_samples(False) == 1000
    assert DataConfig(pitch_shift=0.0, sample_rate=1000).read_samples(True) == 1000
    assert DataConfig(pitch_shift=3.0, sample_rate=1000, augment=False).read_samples(True) == 1000


def test_pitch_shift_draws_leave_the_other_draws_alone():
    base = augmentation.draw_params(SEED, 400, Strength(hue_jitter=0.5, spectral_tilt=0.3))
    shifted = augmentation.draw_params(SEED, 400, Strength(hue_jitter=0.5, spectral_tilt=0.3, pitch_shift=3.0))
    for key in ("crop", "flip", "colour", "brightness", "gain", "tilt"):
        np.testing.assert_array_equal(base[key].numpy(), shifted[key].numpy())
    semitones = 12 * np.log2(shifted["speed"].numpy())
    assert np.abs(semitones).max() <= 3.0001 and semitones.std() > 1.2
    assert not np.any(base["speed"].numpy() != 1.0)
