"""l3net.embed: windows and timestamps, streaming = in-memory, files of any format, the CLI.

References are independent of the code under test: windows are cut by hand in numpy from the
documented convention (OpenL3's, tests/openl3_reference.py) and pushed through the Keras embedding
model directly. One test runs the
installed `l3net_embed` command in a subprocess (exit status, stderr); the other CLI checks call
its main() in-process (`run_cli`), as a fresh interpreter costs seconds of TF import.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import media_fixtures as mf
import openl3_reference as ref
from l3net import model_dir as model_dir_lib
from l3net.audio_files import AudioFileError, read_audio, resample_audio
from l3net.embed import api
from l3net.embed import cli as embed_cli
from l3net.embed.audio_windows import iter_windows
from l3net.embed.embedder import get_embedder
from l3net.models import embedding_models

TOL = 1e-5
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> str:
    """conftest's tiny L3-Net (tiny_config: 8 kHz, 0.5 s windows, 16-d embeddings)."""
    return tiny_model_dir


@pytest.fixture(scope="module")
def keras_audio(model_dir):
    model, _, _ = model_dir_lib.load_model(model_dir)
    return embedding_models(model)[1]


def _reference(audio: np.ndarray, window: int, hop: int, layout: str) -> np.ndarray:
    if layout in ("center", "start"):
        return ref.openl3_windows(audio, window, hop, layout == "center")
    if layout == "inside":
        return ref.inside_windows(audio, window, hop)
    return ref.center_full_windows(audio, window, hop)


@pytest.mark.parametrize("layout", ["center", "start", "inside", "center_full"])
@pytest.mark.parametrize("window,hop", [(10, 3), (9, 4), (8, 20), (5, 5)])
def test_streamed_windows_equal_the_convention_for_any_blocking(window, hop, layout):
    rng = np.random.default_rng(window * 100 + hop)
    for n in (1, 4, 17, 40):
        audio = rng.standard_normal(n).astype(np.float32)
        want = _reference(audio, window, hop, layout)
        cuts = np.sort(rng.integers(0, n + 1, size=4))
        blocks = [b for b in np.split(audio, cuts) if b.shape[0]]
        got = np.array(list(iter_windows(blocks, window, hop, layout=layout))).reshape(-1, window)
        np.testing.assert_array_equal(got, want)
    assert list(iter_windows([np.zeros(0, np.float32)], window, hop, layout=layout)) == []


def test_center_false_without_a_layout_keeps_the_windows_inside_the_clip():
    # l3net.evaluation.probe_features calls iter_windows(..., center=False): the L3 paper's clip protocol.
    audio = np.arange(17, dtype=np.float32)
    got = np.stack(list(iter_windows([audio], 10, 3, center=False)))
    np.testing.assert_array_equal(got, ref.inside_windows(audio, 10, 3))


@pytest.mark.parametrize("center", [True, False])
def test_audio_embedding_timestamps_and_hop(model_dir, keras_audio, tiny_config, center):
    rate = tiny_config.sample_rate
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal(int(1.37 * rate))).astype(np.float32)
    emb, ts = api.get_audio_embedding(audio, rate, model=model_dir, hop_size=0.1, center=center, batch_size=5,
                                      exact=True)
    hop = int(0.1 * rate)
    windows = ref.openl3_windows(audio, tiny_config.num_audio_samples, hop, center)
    assert emb.shape == (windows.shape[0], 16) and ts.shape == (windows.shape[0],)
    # 10,960 samples, 4,000-sample windows, hop 800: 1 + ceil((10960 + 2000 - 4000) / 800) = 13 centred,
    # 1 + ceil((10960 - 4000) / 800) = 10 from the start (the last one zero-padded), as OpenL3.
    assert emb.shape[0] == (13 if center else 10)
    np.testing.assert_array_equal(ts, np.arange(emb.shape[0]) * 0.1)
    np.testing.assert_allclose(emb, keras_audio(windows, training=False).numpy(), atol=TOL)


def test_short_clip_gives_one_padded_window(model_dir, keras_audio, tiny_config, tmp_path):
    rate = tiny_config.sample_rate
    path = mf.write_sound(str(tmp_path / "short.wav"), seconds=0.05, sample_rate=rate)
    emb, ts = api.embed_audio_file(path, model=model_dir, hop_size=0.1, exact=True)
    assert emb.shape == (1, 16) and ts.tolist() == [0.0]
    audio = read_audio(path, rate)
    want = keras_audio(ref.openl3_windows(audio, tiny_config.num_audio_samples, int(0.1 * rate), True),
                       training=False).numpy()
    np.testing.assert_allclose(emb, want, atol=TOL)


def test_streaming_equals_in_memory(model_dir, tiny_config, tmp_path, monkeypatch):
    rate = tiny_config.sample_rate
    path = mf.write_sound(str(tmp_path / "long.wav"), seconds=3.3, sample_rate=44100, channels=2)
    whole = api.get_audio_embedding(read_audio(path, rate), rate, model=model_dir, hop_size=0.13)
    monkeypatch.setattr(api, "STREAM_BLOCK_SECONDS", 0.37)  # blocks cut through windows
    streamed = api.embed_audio_file(path, model=model_dir, hop_size=0.13, batch_size=4)
    np.testing.assert_allclose(streamed[0], whole[0], rtol=1e-5, atol=TOL)  # batches of 4 vs 32: float noise
    np.testing.assert_array_equal(streamed[1], whole[1])


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 1), (44100, 2)])
def test_files_at_any_rate_and_channel_count(model_dir, tmp_path, rate, channels):
    path = mf.write_sound(str(tmp_path / f"s{rate}.wav"), codec="pcm_f32le", seconds=1.0, sample_rate=rate,
                          channels=channels)
    out = api.process_audio_file(path, model=model_dir, output_dir=str(tmp_path / "out"), hop_size=0.25)
    assert out == str(tmp_path / "out" / f"s{rate}.npz")
    with np.load(out) as data:
        assert data["embedding"].shape == (4, 16)
        np.testing.assert_allclose(data["timestamps"], [0, 0.25, 0.5, 0.75])
        # The array API on the same (float32, so exact) samples, channels last, agrees with the file.
        tone = mf.tone(1.0, rate, 440.0, 0.5, channels).T
        emb, _ = api.get_audio_embedding(tone, rate, model=model_dir, hop_size=0.25)
        np.testing.assert_allclose(emb, data["embedding"], rtol=1e-3, atol=1e-3)
    assert sorted(os.listdir(tmp_path / "out")) == [f"s{rate}.npz"]


def test_corrupt_file_is_a_clear_error(model_dir, tmp_path):
    bad = mf.write_bytes(str(tmp_path / "bad.flac"), b"fLaC" + b"\x00" * 300)
    with pytest.raises(AudioFileError) as info:
        api.process_audio_file(bad, model=model_dir, output_dir=str(tmp_path / "out"))
    assert str(info.value).startswith(bad + ": ") and "\n" not in str(info.value)
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_images_and_video(model_dir, tmp_path):
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)]
    listed = api.get_image_embedding(images, model=model_dir)  # a list in, a list of [1, D] out (OpenL3)
    single = [api.get_image_embedding(im, model=model_dir) for im in images]
    assert [e.shape for e in listed] == [(1, 16), (1, 16)] and [e.shape for e in single] == [(1, 16), (1, 16)]
    np.testing.assert_allclose(np.concatenate(listed), np.concatenate(single), atol=TOL)
    grey = api.get_image_embedding(images[0][:, :, 0], model=model_dir)
    np.testing.assert_allclose(grey, api.get_image_embedding(np.repeat(images[0][:, :, :1], 3, 2), model=model_dir),
                               atol=TOL)
    video = mf.write_video(str(tmp_path / "v.mp4"), seconds=1.0, fps=10, sample_rate=44100)
    audio_out, image_out = api.process_video_file(video, model=model_dir, hop_size=0.25, output_dir=str(tmp_path))
    assert (audio_out, image_out) == (str(tmp_path / "v_audio.npz"), str(tmp_path / "v_image.npz"))
    with np.load(image_out) as data:
        assert sorted(data.files) == ["embedding", "timestamps"]
        np.testing.assert_allclose(data["timestamps"], [0, 0.25, 0.5, 0.75])
        assert data["embedding"].shape == (4, 16)
        first = mf.video_frame(0.0, 1.0, 64, 48)  # frame 0 through the codec is close to the pattern
        assert np.abs(data["embedding"][0] - api.get_image_embedding(first, model=model_dir)[0]).max() < 0.1
    with np.load(audio_out) as data:
        assert sorted(data.files) == ["embedding", "timestamps"]
        # 1 s (AAC may add a few ms) at 8 kHz, 0.5 s windows centred every 0.25 s: 1 + ceil(6000 / 2000) = 4.
        assert data["embedding"].shape[1] == 16 and data["embedding"].shape[0] in (4, 5)


def test_embedder_is_built_once(model_dir):
    assert get_embedder(model_dir) is get_embedder(os.path.join(model_dir, "."))


def test_cli_formats_failures_and_exit_status(model_dir, tmp_path):
    files = [mf.write_sound(str(tmp_path / "a.flac"), codec="flac", sample_rate=44100, channels=2),
             mf.write_sound(str(tmp_path / "b.ogg"), codec="vorbis", sample_rate=44100, channels=2),
             mf.write_sound(str(tmp_path / "c.mp3"), codec="libmp3lame", sample_rate=44100),
             mf.write_bytes(str(tmp_path / "corrupt.wav"), b"RIFF0000WAVEjunk" * 10),
             mf.write_sound(str(tmp_path / "d.wav"), codec="pcm_s32le", sample_rate=96000, channels=2)]
    out_dir = tmp_path / "emb"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it; a user doesn't
    proc = subprocess.run([os.path.join(BIN, "l3net_embed"), "audio", *files, "--model", model_dir,
                           "--output_dir", str(out_dir), "--hop", "0.5"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"failed: {files[3]}: " in proc.stderr
    # Quiet: l3net's own lines only (no TensorFlow start-up noise).
    noise = [line for line in proc.stderr.splitlines() if not line.startswith(("l3net_embed: ", "["))]
    assert noise == [], proc.stderr
    assert sorted(os.listdir(out_dir)) == ["a.npz", "b.npz", "c.npz", "d.npz"]
    for name in ("a", "b", "c", "d"):
        with np.load(out_dir / f"{name}.npz") as data:
            # 1 s of sound at 8 kHz, 0.5 s windows centred every 0.5 s: 1 + ceil((8000 + 2000 - 4000) / 4000) = 3
            # (lossy codecs pad a few ms, still 3).
            assert data["embedding"].shape == (3, 16)
            np.testing.assert_allclose(data["timestamps"], [0, 0.5, 1.0])


def test_cli_names_its_own_flag_for_a_bad_model(run_cli, tmp_path, capsys):
    sound = mf.write_sound(str(tmp_path / "a.wav"))
    for bad in (tmp_path / "none", tmp_path):  # missing; a directory that is neither export nor model dir
        capsys.readouterr()
        assert run_cli(embed_cli, ["l3net_embed", "audio", sound, "--model", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"l3net_embed: error: --model: {bad}: ")
        assert "l3net_export --export_dir" in err[0] and "l3net_train --model_dir" in err[0]
    assert not os.path.exists(tmp_path / "a.npz")
    assert run_cli(embed_cli, ["l3net_embed", "audio", sound]) == 2
    assert run_cli(embed_cli, ["l3net_embed", "audio", sound, "--model", str(tmp_path), "--hop", "0"]) == 2


def test_video_arrays(model_dir, keras_audio, tiny_config):
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (7, 30, 40, 3), dtype=np.uint8)  # 0.7 s at 10 fps
    audio = (0.3 * rng.standard_normal((9000, 2))).astype(np.float32)
    got = api.get_video_embedding(frames, 10.0, audio, 11025, model=model_dir, hop_size=0.25, batch_size=2,
                                  exact=True)
    # t = 0, 0.25, 0.5 show frames 0, 2 and 5 (t = 0.75 is past the end).
    np.testing.assert_allclose(got["image_timestamps"], [0, 0.25, 0.5])
    np.testing.assert_allclose(got["image_embedding"], api.get_image_embedding(frames[[0, 2, 5]], model=model_dir),
                               atol=TOL)  # a batch [N, H, W, 3] -> [N, D]
    mono = resample_audio(audio, 11025, tiny_config.sample_rate)  # tests/test_audio_files.py checks it against scipy
    windows = ref.openl3_windows(mono, tiny_config.num_audio_samples, int(0.25 * tiny_config.sample_rate), True)
    np.testing.assert_allclose(got["audio_embedding"], keras_audio(windows, training=False).numpy(), atol=TOL)
    np.testing.assert_allclose(got["audio_timestamps"], 0.25 * np.arange(windows.shape[0]))
    silent = api.get_video_embedding(frames[:1], 4.0, model=model_dir, hop_size=0.1)
    assert silent["image_embedding"].shape == (3, 16) and silent["audio_embedding"].shape == (0, 16)
    with pytest.raises(ValueError):
        api.get_video_embedding(frames[..., 0], 10.0, model=model_dir)
