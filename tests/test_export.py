"""`l3net_export`: SavedModels reloaded by plain TensorFlow, and `l3net_embed` on an export dir.

References: the Keras model of the same model dir, fed windows cut by hand (OpenL3's rules,
tests/openl3_reference.py) and frames prepared by the training pipeline's own `decode_frame` (on a
JPEG of the test image, whose decoded pixels are what the SavedModel gets). Resampling is
compared with scipy.signal.resample (same algorithm, 1e-6) and scipy.signal.resample_poly
(a different filter, 2e-3 on a tone away from the ends). The Python API on an export dir is
compared with the same API on the model dir it was exported from.

One test reloads the SavedModels in a fresh interpreter that never imports l3net (the issue's
requirement); everything else runs in-process (each interpreter pays seconds of TF import).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

import media_fixtures as mf
import openl3_reference as ref
from l3net import model_dir as model_dir_lib
from l3net.data import augmentation
from l3net.embed import api
from l3net.embed import cli as embed_cli
from l3net.embed.embedder import get_embedder
from l3net.embed.exported import ExportedEmbedder
from l3net.models import embedding_models
from l3net.models.config import ModelConfig
from l3net.serving import cli as export_cli
from l3net.serving import resample as resample_lib
from l3net.serving.export import export_model
TOL = 1e-5

# Loads each SavedModel with TensorFlow alone and calls every signature. Run in a fresh
# interpreter (with MAIN) for the l3net-free check, and exec'd in-process for the other model.
LOADER = r"""
import numpy as np
import tensorflow as tf


def call_all(export_dir, x):
    audio = tf.saved_model.load(export_dir + "/audio_embedding").signatures
    image = tf.saved_model.load(export_dir + "/image_embedding").signatures["embed_images"]
    avc = tf.saved_model.load(export_dir + "/avc").signatures["correspondence"]
    out = {}
    for name, rate in (("native", x["rate"]), ("other", x["other_rate"])):
        r = audio["embed_audio_exact"](waveform=tf.constant(x["wave_" + name]),
                                       sample_rate=tf.constant(int(rate), tf.int32), hop_seconds=tf.constant(0.125))
        out["audio_" + name] = r["embeddings"].numpy()
        out["stamps_" + name] = r["timestamps"].numpy()
        shared = audio["embed_audio"](waveform=tf.constant(x["wave_" + name]),
                                      sample_rate=tf.constant(int(rate), tf.int32), hop_seconds=tf.constant(0.125))
        out["shared_" + name] = shared["embeddings"].numpy()
        out["shared_stamps_" + name] = shared["timestamps"].numpy()
    for name in ("embed_audio", "embed_audio_exact"):  # one window: both compute it exactly
        out["one_window_" + name] = audio[name](waveform=tf.constant(x["short_wave"][:, :1000]),
                                                sample_rate=tf.constant(int(x["rate"]), tf.int32),
                                                hop_seconds=tf.constant(0.125))["embeddings"].numpy()
    out["windows"] = audio["embed_windows"](windows=tf.constant(x["windows"]))["embeddings"].numpy()
    out["image"] = image(images=tf.constant(x["images"]))["embeddings"].numpy()
    out["avc"] = avc(images=tf.constant(x["images"]), waveform=tf.constant(x["short_wave"]),
                     sample_rate=tf.constant(int(x["rate"]), tf.int32))["probability"].numpy()
    return out
"""
MAIN = r"""
import sys
export_dir, inputs, outputs = sys.argv[1:4]
out = call_all(export_dir, dict(np.load(inputs)))
assert not any(m == "l3net" or m.startswith("l3net.") for m in sys.modules), "l3net was imported"
np.savez(outputs, **out)
"""


def _pixels_and_reference(rng: np.random.Generator, size: int, resize_short_side: int):
    """(uint8 [2, 45, 60, 3], float32 [2, size, size, 3]): eval frames from the training code path."""
    pixels, frames = [], []
    for _ in range(2):
        jpeg = tf.io.encode_jpeg(rng.integers(0, 256, (45, 60, 3), dtype=np.uint8))
        pixels.append(tf.io.decode_jpeg(jpeg, channels=3).numpy())
        frame = augmentation.decode_frame(jpeg, tf.constant([0.5, 0.5]), tf.constant(False), image_size=size,
                                          resize_short_side=resize_short_side, ratio=1)
        frames.append(augmentation.finish_image(frame).numpy())
    return np.stack(pixels), np.stack(frames)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir, run_cli):
    """(model_dir, export_dir) of the tiny L3-Net, exported by the `l3net_export` command (in-process)."""
    model_dir = tiny_model_dir
    export_dir = str(tmp_path_factory.mktemp("export") / "export")
    assert run_cli(export_cli, ["l3net_export", "--model_dir", model_dir, "--export_dir", export_dir]) == 0
    return model_dir, export_dir


@pytest.mark.parametrize("kind", ["l3net", "avenet"])
def test_export_round_trip(tmp_path, exported, tiny_config, tiny_resize, write_tiny_model_dir, kind):
    rate = tiny_config.sample_rate
    if kind == "l3net":  # the command's export, reloaded in a fresh interpreter without l3net
        model_dir, export_dir = exported
        cfg = tiny_config
    else:
        cfg = ModelConfig(**{**tiny_config.to_dict(), "model": "avenet", "embedding_width": 12})
        model_dir = write_tiny_model_dir(str(tmp_path / "model"), cfg)
        export_dir = str(tmp_path / "export")
        export_model(model_dir, export_dir)
    assert sorted(p for p in os.listdir(export_dir)) == ["audio_embedding", "avc", "image_embedding"]

    rng = np.random.default_rng(3)
    other_rate = 22050
    window, hop = cfg.num_audio_samples, rate // 8
    x = {"wave_native": (0.3 * rng.standard_normal((2, int(1.3 * rate)))).astype(np.float32),
         "wave_other": (0.3 * rng.standard_normal((2, int(0.9 * other_rate)))).astype(np.float32),
         "short_wave": (0.3 * rng.standard_normal((2, 3000))).astype(np.float32),
         "windows": (0.3 * rng.standard_normal((3, window))).astype(np.float32), "rate": rate,
         "other_rate": other_rate}
    pixels, frames = _pixels_and_reference(rng, cfg.image_size, tiny_resize)
    x["images"] = pixels
    if kind == "l3net":
        inputs, outputs = str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")
        np.savez(inputs, **x)
        proc = subprocess.run([sys.executable, "-c", LOADER + MAIN, export_dir, inputs, outputs],
                              capture_output=True, text=True, cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": ""})
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = dict(np.load(outputs))
    else:
        namespace = {}
        exec(LOADER, namespace)
        got = namespace["call_all"](export_dir, x)

    model, _, _ = model_dir_lib.load_model(model_dir)
    image_model, audio_model = embedding_models(model)

    def keras_audio(wave: np.ndarray) -> np.ndarray:
        return np.stack([audio_model(ref.openl3_windows(w, window, hop, True), training=False).numpy() for w in wave])

    np.testing.assert_allclose(got["audio_native"], keras_audio(x["wave_native"]), atol=TOL)
    # OpenL3's count: 10,400 samples, 4,000-sample windows centred every 1,000: 1 + ceil(8400 / 1000) = 10.
    assert got["audio_native"].shape[1] == ref.openl3_count(x["wave_native"].shape[1], window, hop, True) == 10
    np.testing.assert_allclose(got["stamps_native"], np.arange(10) * 0.125, atol=1e-7)
    resampled = resample_lib.resample(tf.constant(x["wave_other"]), tf.constant(other_rate), rate).numpy()
    assert resampled.shape == (2, round(x["wave_other"].shape[1] * rate / other_rate))
    np.testing.assert_allclose(got["audio_other"], keras_audio(resampled), atol=TOL)
    # The default signature shares conv maps between overlapping windows: the same windows and
    # timestamps, the numbers of the Python API's shared path (l3net.embed.shared_stream).
    for name, wave in (("native", x["wave_native"]), ("other", resampled)):
        np.testing.assert_array_equal(got["shared_stamps_" + name], got["stamps_" + name])
        python_api = np.stack([api.get_audio_embedding(w, rate, model_dir, hop_size=0.125)[0] for w in wave])
        np.testing.assert_allclose(got["shared_" + name], python_api, atol=1e-4, rtol=1e-4)
        assert not np.allclose(got["shared_" + name], got["audio_" + name], atol=1e-3)
    assert got["one_window_embed_audio"].shape[1] == 1
    np.testing.assert_allclose(got["one_window_embed_audio"], got["one_window_embed_audio_exact"], atol=TOL)
    np.testing.assert_allclose(got["windows"], audio_model(x["windows"], training=False).numpy(), atol=TOL)
    np.testing.assert_allclose(got["image"], image_model(frames, training=False).numpy(), atol=TOL)
    padded = np.pad(x["short_wave"], ((0, 0), (0, window - x["short_wave"].shape[1])))
    want = model({"image": frames, "audio": padded}, training=False).numpy()[:, 1]
    np.testing.assert_allclose(got["avc"], want, atol=TOL)
    if kind == "avenet":
        np.testing.assert_allclose(np.linalg.norm(got["image"], axis=1), 1.0, atol=1e-5)


def test_embedding_an_export_dir_equals_the_model_dir(exported, tiny_config, tmp_path, monkeypatch):
    model_dir, export_dir = exported
    embedder = get_embedder(export_dir)
    assert isinstance(embedder, ExportedEmbedder)
    assert (embedder.sample_rate, embedder.window, embedder.audio_dim, embedder.image_dim, embedder.step) == \
        (tiny_config.sample_rate, tiny_config.num_audio_samples, 16, 16, 7)
    sound = mf.write_sound(str(tmp_path / "s.wav"), seconds=2.3, sample_rate=44100, channels=2)
    monkeypatch.setattr(api, "STREAM_BLOCK_SECONDS", 0.37)  # streamed in blocks that cut windows
    for center in (True, False):
        got = api.embed_audio_file(sound, model=export_dir, hop_size=0.13, center=center, batch_size=3)
        want = api.embed_audio_file(sound, model=model_dir, hop_size=0.13, center=center, batch_size=3)
        assert got[0].shape == want[0].shape and got[0].shape[0] > 3
        np.testing.assert_allclose(got[0], want[0], atol=TOL)
        np.testing.assert_array_equal(got[1], want[1])
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    np.testing.assert_allclose(api.get_image_embedding(images, model=export_dir),
                               api.get_image_embedding(images, model=model_dir), atol=TOL)
    # The pooled conv features (OpenL3's large embedding_size) through the export's pooled signatures.
    local = get_embedder(model_dir)
    assert (embedder.audio_pooled_dim, embedder.image_pooled_dim) == (local.audio_pooled_dim, local.image_pooled_dim)
    np.testing.assert_allclose(api.get_image_embedding(images, model=export_dir, embedding_size=local.image_pooled_dim),
                               api.get_image_embedding(images, model=model_dir, embedding_size=local.image_pooled_dim),
                               atol=TOL)
    got = api.embed_audio_file(sound, model=export_dir, hop_size=0.5, embedding_size=local.audio_pooled_dim)
    want = api.embed_audio_file(sound, model=model_dir, hop_size=0.5, embedding_size=local.audio_pooled_dim)
    assert got[0].shape == want[0].shape == (want[1].shape[0], local.audio_pooled_dim)
    np.testing.assert_allclose(got[0], want[0], atol=TOL)
    frames = rng.integers(0, 256, (7, 30, 40, 3), dtype=np.uint8)
    audio = (0.3 * rng.standard_normal(9000)).astype(np.float32)
    got = api.get_video_embedding(frames, 10.0, audio, 11025, model=export_dir, hop_size=0.25)
    want = api.get_video_embedding(frames, 10.0, audio, 11025, model=model_dir, hop_size=0.25)
    assert sorted(got) == sorted(want)
    for key in got:
        np.testing.assert_allclose(got[key], want[key], atol=TOL)


def test_embed_cli_on_an_export_dir(exported, run_cli, tmp_path, capsys):
    model_dir, export_dir = exported
    sound = mf.write_sound(str(tmp_path / "a.flac"), codec="flac", seconds=1.0, sample_rate=22050)
    out = tmp_path / "out"
    argv = ["l3net_embed", "audio", sound, "--hop", "0.25", "--output_dir", str(out)]
    assert run_cli(embed_cli, argv + ["--model", export_dir]) == 0
    with np.load(out / "a.npz") as data:
        want = api.embed_audio_file(sound, model=model_dir, hop_size=0.25)
        np.testing.assert_allclose(data["embedding"], want[0], atol=TOL)
        np.testing.assert_array_equal(data["timestamps"], want[1])
    # An export without image_embedding/ serves audio but refuses images up front, naming --model.
    partial = str(tmp_path / "partial")
    shutil.copytree(os.path.join(export_dir, "audio_embedding"), os.path.join(partial, "audio_embedding"))
    capsys.readouterr()
    assert run_cli(embed_cli, ["l3net_embed", "image", sound, "--model", partial]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l3net_embed: error: --model: ") and "image_embedding" in err[0]
    assert run_cli(embed_cli, argv + ["--model", partial]) == 0


def _scipy_fft_reference(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """scipy.signal.resample of the zero-padded signal, as l3net.serving.resample documents it."""
    g = math.gcd(rate_in, rate_out)
    step_in, step_out = rate_in // g, rate_out // g
    pad = -(-math.ceil(resample_lib.PAD_SECONDS * rate_in) // step_in) * step_in
    extra = (-(x.shape[0] + 2 * pad)) % step_in
    padded = np.pad(x.astype(np.float64), (pad, pad + extra))
    out = scipy.signal.resample(padded, padded.shape[0] // step_in * step_out)
    start = pad // step_in * step_out
    return out[start:start + (x.shape[0] * rate_out + rate_in // 2) // rate_in]


@pytest.mark.parametrize("rate_in,rate_out,n", [(44100, 16000, 44100), (8000, 16000, 7999), (96000, 48000, 96001),
                                                (22050, 48000, 12345), (48000, 44100, 4801)])
def test_in_graph_resampling_matches_scipy(rate_in, rate_out, n):
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate_in)).astype(np.float32)
    noise = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    got = resample_lib.resample(tf.constant(np.stack([tone, noise])), tf.constant(rate_in), rate_out).numpy()
    for row, x in zip(got, (tone, noise)):
        want = _scipy_fft_reference(x, rate_in, rate_out)
        assert row.shape == want.shape
        np.testing.assert_allclose(row, want, atol=1e-6)
    g = math.gcd(rate_in, rate_out)
    poly = scipy.signal.resample_poly(tone.astype(np.float64), rate_out // g, rate_in // g)
    edge = int(0.02 * rate_out)
    assert np.abs(got[0, edge:-edge] - poly[edge:got.shape[1] - edge]).max() < 2e-3


def test_equal_rates_pass_through():
    x = np.random.default_rng(0).standard_normal((1, 1000)).astype(np.float32)
    np.testing.assert_array_equal(resample_lib.resample(tf.constant(x), tf.constant(8000), 8000).numpy(), x)


def test_bad_model_dir_is_one_line_and_writes_nothing(run_cli, tmp_path, capsys):
    export_dir = tmp_path / "export"
    code = run_cli(export_cli, ["l3net_export", "--model_dir", str(tmp_path / "none"), "--export_dir", str(export_dir)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l3net_export: error: ")
    assert not export_dir.exists()
