"""l3net.audio_files: formats, channel counts, rates and bit depths, against scipy's resampler.

Reference: the written tone (float64), averaged over channels and resampled with
scipy.signal.resample_poly. libswresample's default filter and scipy's Kaiser filter agree to
~4e-4 on a 440 Hz tone away from the ends; the stated tolerance is 2e-3 (int16 files add 3e-5 of
quantisation). The first and last 20 ms are skipped (the two filters treat the edges differently).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.signal

import media_fixtures as mf
from l3net.audio_files import AudioFileError, audio_info, read_audio, resample_audio, stream_audio

OUT_RATE = 16000
RESAMPLE_TOL = 2e-3
EDGE = int(0.02 * OUT_RATE)


def reference(seconds: float, rate: int, channels: int, out_rate: int = OUT_RATE) -> np.ndarray:
    wave = mf.tone(seconds, rate, 440.0, 0.5, channels).astype(np.float64).mean(axis=0)
    g = math.gcd(rate, out_rate)
    return scipy.signal.resample_poly(wave, out_rate // g, rate // g)


@pytest.mark.parametrize("codec,rate,channels", [
    ("pcm_s16le", 8000, 1), ("pcm_s16le", 44100, 2), ("pcm_s32le", 96000, 1), ("pcm_f32le", 96000, 2),
    ("pcm_s16le", OUT_RATE, 1), ("flac", 44100, 2)])
def test_wav_and_flac_match_scipy_resampling(tmp_path, codec, rate, channels):
    ext = "flac" if codec == "flac" else "wav"
    path = mf.write_sound(str(tmp_path / f"a.{ext}"), codec=codec, seconds=1.0, sample_rate=rate, channels=channels)
    got = read_audio(path, OUT_RATE)
    want = reference(1.0, rate, channels)
    assert got.dtype == np.float32 and got.ndim == 1
    assert got.shape == want.shape
    assert np.abs(got[EDGE:-EDGE] - want[EDGE:-EDGE]).max() < RESAMPLE_TOL
    assert audio_info(path) == (pytest.approx(1.0, abs=1e-3), rate, channels)


def test_stereo_is_the_mean_of_the_channels(tmp_path):
    # Channel 1 is channel 0 / 2: the mean is 0.75 x channel 0 (FFmpeg's downmix would give 1.06x).
    path = mf.write_sound(str(tmp_path / "s.wav"), codec="pcm_f32le", sample_rate=OUT_RATE, channels=2)
    mono = mf.tone(1.0, OUT_RATE, 440.0, 0.5, 1)[0]
    np.testing.assert_allclose(read_audio(path, OUT_RATE), 0.75 * mono, atol=1e-6)


@pytest.mark.parametrize("name,codec", [("a.mp3", "libmp3lame"), ("a.ogg", "vorbis")])
def test_lossy_formats_keep_the_tone(tmp_path, name, codec):
    path = mf.write_sound(str(tmp_path / name), codec=codec, seconds=1.0, sample_rate=44100, channels=2)
    got = read_audio(path, OUT_RATE)
    assert abs(got.shape[0] - OUT_RATE) < 0.01 * OUT_RATE + 1200  # codec padding, at most a frame
    spectrum = np.abs(np.fft.rfft(got * np.hanning(got.shape[0])))
    peak_hz = np.argmax(spectrum) * OUT_RATE / got.shape[0]
    assert abs(peak_hz - 440.0) < 3.0
    rms_want = np.sqrt(np.mean(reference(1.0, 44100, 2) ** 2))
    assert np.sqrt(np.mean(got ** 2)) == pytest.approx(rms_want, rel=0.1)


@pytest.mark.parametrize("block", [1, 777, 16000, 16001, 100000])
def test_stream_blocks_concatenate_to_read_audio(tmp_path, block):
    path = mf.write_sound(str(tmp_path / "a.wav"), seconds=1.3, sample_rate=22050, channels=2)
    whole = read_audio(path, OUT_RATE)
    blocks = list(stream_audio(path, OUT_RATE, block)) if block > 1 else None
    if blocks is None:  # 1-sample blocks are slow in Python; check the first few only
        first = []
        for b in stream_audio(path, OUT_RATE, 1):
            first.append(b)
            if len(first) == 50:
                break
        assert all(b.shape == (1,) for b in first)
        np.testing.assert_array_equal(np.concatenate(first), whole[:50])
        return
    assert all(b.shape[0] == block for b in blocks[:-1]) and 0 < blocks[-1].shape[0] <= block
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_audio_track_of_a_video(tmp_path):
    path = mf.write_video(str(tmp_path / "v.mp4"), seconds=1.0, sample_rate=44100)
    got = read_audio(path, OUT_RATE)
    assert abs(got.shape[0] - OUT_RATE) < 0.05 * OUT_RATE
    assert np.abs(got).max() == pytest.approx(0.5, abs=0.05)


def _error(path: str) -> str:
    with pytest.raises(AudioFileError) as info:
        read_audio(path, OUT_RATE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(path + ": ")
    with pytest.raises(AudioFileError):
        next(stream_audio(path, OUT_RATE, 1000))
    return message


def test_bad_files_raise_one_line_errors(tmp_path):
    assert "no such file" in _error(str(tmp_path / "missing.wav"))
    assert "0 bytes" in _error(mf.write_bytes(str(tmp_path / "empty.wav"), b""))
    assert "is a directory" in _error(str(tmp_path))
    rng = np.random.default_rng(0)
    assert "not a readable media file" in _error(mf.write_bytes(str(tmp_path / "noise.wav"),
                                                                rng.bytes(5000)))
    assert "not a readable media file" in _error(mf.write_bytes(str(tmp_path / "text.mp3"), b"hello " * 400))
    assert "no audio stream" in _error(mf.write_video(str(tmp_path / "silent.mp4"), sample_rate=None))
    with pytest.raises(AudioFileError):
        audio_info(str(tmp_path / "missing.wav"))


def test_truncated_wav_gives_what_is_there(tmp_path):
    path = mf.write_sound(str(tmp_path / "a.wav"), seconds=1.0, sample_rate=OUT_RATE)
    cut = mf.write_truncated(str(tmp_path / "cut.wav"), path, 0.5)
    got = read_audio(cut, OUT_RATE)
    whole = read_audio(path, OUT_RATE)
    assert 0.4 * OUT_RATE < got.shape[0] < 0.6 * OUT_RATE
    np.testing.assert_array_equal(got[:1000], whole[:1000])
    assert os.path.getsize(cut) < os.path.getsize(path)


@pytest.mark.parametrize("rate,channels", [(44100, 2), (8000, 1), (OUT_RATE, 2)])
def test_resample_audio_equals_reading_the_same_samples(tmp_path, rate, channels):
    path = mf.write_sound(str(tmp_path / "f.wav"), codec="pcm_f32le", seconds=0.7, sample_rate=rate, channels=channels)
    samples = mf.tone(0.7, rate, 440.0, 0.5, channels).T  # [samples, channels], exactly the file's
    np.testing.assert_allclose(resample_audio(samples, rate, OUT_RATE), read_audio(path, OUT_RATE), atol=1e-6)
