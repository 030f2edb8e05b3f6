"""l3net.hear: the HEAR 2021 common API, checked without PyTorch.

These tests make the calls the HEAR validator makes (hear-validator's ValidateModel: the same
audio lengths, white noise in [-1, 1] as tf.float32 tensors) and check what it checks: a
tf.Module with int sample_rate (one of HEAR's rates), scene_embedding_size and
timestamp_embedding_size; [n, T, D] float32 embeddings and [n, T] timestamps in ms, evenly
spaced, starting at 0, ending within the clip and within one hop of its end; [n, D] float32 scene
embeddings. `make hear-check` runs the validator itself (it needs PyTorch). The values are
checked against windows cut by hand (tests/openl3_reference.py) through the Keras model.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import openl3_reference as ref
from l3net import hear
from l3net import model_dir as model_dir_lib
from l3net.audio_files import resample_audio
from l3net.models import embedding_models
from l3net.serving.export import export_model

TOL = 1e-5
VALIDATOR_RATES = [16000, 22050, 32000, 44100, 48000]  # hear-validator's ACCEPTABLE_SAMPLE_RATE


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return hear.load_model(tiny_model_dir)


def _noise(num_audio: int, seconds: float, rate: int) -> tf.Tensor:
    return tf.random.uniform((num_audio, int(seconds * rate)), seed=1) * 2 - 1.0


def test_load_model_gives_the_attributes_hear_needs(model, tiny_config):
    assert isinstance(model, tf.Module)
    for name in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size"):
        assert isinstance(getattr(model, name), int), name
    # The tiny model takes 8 kHz, which HEAR does not offer: it is fed 16 kHz and resamples.
    assert tiny_config.sample_rate == 8000 and model.sample_rate == 16000 and model.sample_rate in VALIDATOR_RATES
    assert model.timestamp_embedding_size == model.scene_embedding_size == 16
    assert [hear.hear_sample_rate(r) for r in (8000, 16000, 24000, 44100, 96000)] == [16000, 16000, 32000, 44100,
                                                                                      48000]


@pytest.mark.parametrize("length", [1.07, 1.98, 4.0])
def test_timestamp_embeddings_as_the_validator_checks_them(model, length):
    audio = _noise(2, length, model.sample_rate)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert isinstance(emb, tf.Tensor) and emb.dtype == tf.float32 and isinstance(ts, tf.Tensor)
    emb, ts = emb.numpy(), ts.numpy()
    assert emb.ndim == 3 and ts.ndim == 2 and emb.shape[0] == 2 and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    diff = np.diff(ts)
    assert np.abs(diff - diff.mean()).max() <= 1.0 and diff.max() <= 50.0  # regular, hop <= 50 ms
    assert ts.min() <= diff.mean() and ts.max() <= 1000 * length  # starts at 0, ends inside the clip
    assert ts.max() >= 1000 * length - max(diff.mean(), 50)  # and covers its end (no validator warning)
    np.testing.assert_allclose(ts[0], np.arange(ts.shape[1]) * 50.0, atol=1e-3)


def test_timestamp_embeddings_are_the_windows_centred_on_the_timestamps(model, tiny_model_dir, tiny_config):
    keras_model, _, _ = model_dir_lib.load_model(tiny_model_dir)
    audio_model = embedding_models(keras_model)[1]
    audio = _noise(2, 1.3, model.sample_rate)
    exact = hear.load_model(tiny_model_dir, hop_seconds=model.hop_seconds, exact=True)
    emb, ts = hear.get_timestamp_embeddings(audio, exact)
    for row, got, stamps in zip(audio.numpy(), emb.numpy(), ts.numpy()):
        mono = resample_audio(row, model.sample_rate, tiny_config.sample_rate)  # 16 kHz -> the model's 8 kHz
        windows = ref.center_full_windows(mono, tiny_config.num_audio_samples, 400)  # 50 ms at 8 kHz
        np.testing.assert_allclose(got, audio_model(windows, training=False).numpy(), atol=TOL)
        np.testing.assert_allclose(stamps, np.arange(windows.shape[0]) * 50.0, atol=1e-3)


def test_scene_embeddings(model, tiny_model_dir, tiny_config):
    audio = _noise(4, 2.74, model.sample_rate)  # the validator's scene batch
    scene = hear.get_scene_embeddings(audio, model)
    assert isinstance(scene, tf.Tensor) and scene.dtype == tf.float32
    assert scene.shape == (4, model.scene_embedding_size)
    keras_model, _, _ = model_dir_lib.load_model(tiny_model_dir)
    audio_model = embedding_models(keras_model)[1]
    mono = resample_audio(audio.numpy()[0], model.sample_rate, tiny_config.sample_rate)
    windows = ref.inside_windows(mono, tiny_config.num_audio_samples, 4000)  # 0.5 s apart, inside the clip
    np.testing.assert_allclose(scene.numpy()[0], audio_model(windows, training=False).numpy().mean(0), atol=TOL)


def test_an_export_dir_gives_the_same_and_pooled_sizes_work(model, tiny_model_dir, tmp_path):
    export_dir = str(tmp_path / "export")
    export_model(tiny_model_dir, export_dir)
    exported = hear.load_model(export_dir)
    assert (exported.sample_rate, exported.timestamp_embedding_size) == (model.sample_rate, 16)
    audio = _noise(2, 1.07, model.sample_rate)
    np.testing.assert_allclose(hear.get_timestamp_embeddings(audio, exported)[0].numpy(),
                               hear.get_timestamp_embeddings(audio, model)[0].numpy(), atol=TOL)
    size = exported.embedder.audio_pooled_dim
    big = hear.load_model(export_dir, embedding_size=size)
    assert big.scene_embedding_size == big.timestamp_embedding_size == size
    assert hear.get_scene_embeddings(audio, big).shape == (2, size)


def test_mistakes_are_clear(model, tiny_model_dir):
    with pytest.raises(ValueError, match="l3net_export --export_dir"):
        hear.load_model()
    with pytest.raises(ValueError, match="empty audio"):
        hear.get_timestamp_embeddings(tf.zeros([2, 0]), model)
    with pytest.raises(ValueError, match=r"\[n_sounds, n_samples\]"):
        hear.get_scene_embeddings(tf.zeros([16000]), model)
    with pytest.raises(TypeError, match="l3net.hear.load_model"):
        hear.get_scene_embeddings(tf.zeros([1, 16000]), object())
    with pytest.raises(ValueError, match="embedding_size=3"):
        hear.load_model(tiny_model_dir, embedding_size=3)
