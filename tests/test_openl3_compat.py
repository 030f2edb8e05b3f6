"""OpenL3 compatibility where the README claims it: windows, timestamps, sizes, names, arguments.

The references are OpenL3's rules restated in tests/openl3_reference.py (pad, frame, count),
checked on many clip lengths, including clips shorter than a window, for both values of
`center`. The model is conftest's tiny L3-Net (8 kHz, 0.5 s = 4,000-sample windows, 16-d).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import media_fixtures as mf
import openl3_reference as ref
from l3net.audio_files import AudioFileError
from l3net.embed import api
from l3net.embed import cli as embed_cli
from l3net.embed.audio_windows import iter_windows
from l3net.embed.embedder import choose_pooled, get_embedder
from l3net.serving import windows

TOL = 1e-5


# --- windows and timestamps ---------------------------------------------------------------------------

@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("window,hop", [(4000, 800), (4000, 400), (4001, 1600), (1000, 1000), (1000, 2500),
                                        (48000, 4800), (7, 3)])
def test_window_count_is_openl3s_on_many_lengths(window, hop, center):
    layout = windows.layout_for(center)
    lengths = sorted(set(list(range(1, 3 * window, max(1, window // 97))) + [1, window // 2, window // 2 + 1,
                                                                             window - 1, window, window + 1]))
    for n in lengths:
        want = ref.openl3_count(n, window, hop, center)
        assert windows.num_windows(n, window, hop, layout) == want, (n, window, hop, center)
    # The frames themselves, for a few lengths (all of them for small windows).
    rng = np.random.default_rng(window + hop)
    for n in (lengths if window < 100 else [1, window // 3, window - 1, window, window + 1, 2 * window + 7]):
        audio = rng.standard_normal(n).astype(np.float32)
        got = np.stack(list(iter_windows([audio], window, hop, layout=layout)))
        np.testing.assert_array_equal(got, ref.openl3_windows(audio, window, hop, center))


def test_ten_seconds_at_a_tenth_of_a_second():
    # The example: OpenL3 gives 96 windows for 10 s at hop 0.1 s with center=True (1 s windows).
    rate = 48000
    hop = windows.hop_samples(0.1, rate)
    assert windows.num_windows(10 * rate, rate, hop, "center") == 96
    assert windows.num_windows(10 * rate, rate, hop, "start") == 91
    np.testing.assert_array_equal(windows.timestamps(96, 0.1), np.arange(96) * 0.1)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_hop_in_samples_is_openl3s_without_float_error(rate):
    for hop_s in (0.01, 0.025, 0.05, 0.1, 0.13, 0.25, 0.29, 0.333, 0.5, 0.7, 1.0, 1.1):
        assert windows.hop_samples(hop_s, rate) == ref.openl3_hop(hop_s, rate), (hop_s, rate)
    assert windows.hop_samples(0.29, 48000) == 13920  # 0.29 * 48000 is 13919.999999999998 in float64
    assert windows.hop_samples(1e-9, rate) == 1


@pytest.mark.parametrize("center", [True, False])
def test_api_counts_and_timestamps_on_many_lengths(tiny_model_dir, tiny_config, center):
    rate, window = tiny_config.sample_rate, tiny_config.num_audio_samples
    rng = np.random.default_rng(7)
    for seconds in (0.01, 0.2, 0.49, 0.5, 0.51, 0.73, 1.0, 1.37, 2.05):
        n = int(round(seconds * rate))
        audio = (0.1 * rng.standard_normal(n)).astype(np.float32)
        for hop_s in (0.1, 0.25, 0.3):
            emb, ts = api.get_audio_embedding(audio, rate, tiny_model_dir, hop_size=hop_s, center=center)
            count = ref.openl3_count(n, window, ref.openl3_hop(hop_s, rate), center)
            assert emb.shape == (count, 16) and emb.dtype == np.float32
            np.testing.assert_array_equal(ts, np.arange(count) * hop_s)  # OpenL3: arange(n) * hop_size


def test_saved_model_windows_follow_the_same_rule():
    import tensorflow as tf

    for n in (1, 999, 2000, 2001, 4000, 9999):
        wave = tf.zeros([2, n])
        got = windows.frame_windows(wave, 4000, tf.constant(1000)).shape[1]
        assert got == ref.openl3_count(n, 4000, 1000, True), n
    assert int(windows.hop_samples_tensor(tf.constant(0.7, tf.float32), 8000)) == 5600  # float32 0.7 < 0.7
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty audio"):
        windows.frame_windows(tf.zeros([1, 0]), 4000, tf.constant(1000))


def test_empty_audio_is_a_clear_error(tiny_model_dir, tmp_path):
    for empty in (np.zeros(0, np.float32), np.zeros((0, 2), np.float32)):
        with pytest.raises(ValueError, match="empty audio"):
            api.get_audio_embedding(empty, 8000, tiny_model_dir)
    with pytest.raises(ValueError, match="empty audio"):
        api.get_audio_embedding([np.ones(100, np.float32), np.zeros(0, np.float32)], 8000, tiny_model_dir)
    path = mf.write_bytes(str(tmp_path / "empty.wav"), b"")
    with pytest.raises(AudioFileError, match="empty"):
        api.process_audio_file(path, model=tiny_model_dir)
    with pytest.raises(ValueError, match="no pretrained weights"):
        api.get_audio_embedding(np.ones(100, np.float32), 8000)


# --- embedding sizes ------------------------------------------------------------------------------------

def test_pooled_audio_features_are_the_probes(tiny_model_dir, tiny_config):
    """embedding_size=<pooled size> gives exactly the L3 paper's pooled features l3net_probe computes."""
    from l3net import model_dir as model_dir_lib
    from l3net.evaluation.probe_features import pooled_feature_fn

    embedder = get_embedder(tiny_model_dir)
    model, _, _ = model_dir_lib.load_model(tiny_model_dir)
    fn, size, grid = pooled_feature_fn(model)
    assert embedder.audio_pooled_dim == size and size != embedder.audio_dim
    audio = (0.3 * np.random.default_rng(3).standard_normal(11000)).astype(np.float32)
    emb, _ = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir, embedding_size=size,
                                     hop_size=0.25, exact=True)
    frames = ref.openl3_windows(audio, tiny_config.num_audio_samples, 2000, True)
    np.testing.assert_allclose(emb, fn(frames).numpy(), atol=TOL)


def test_pooled_image_features_max_pool_the_last_conv_map(tiny_model_dir, tiny_config, tiny_resize):
    import tensorflow as tf

    from l3net import model_dir as model_dir_lib
    from l3net.models import vision_conv_feature_model
    from l3net.serving.images import prepare_images

    embedder = get_embedder(tiny_model_dir)
    model, _, _ = model_dir_lib.load_model(tiny_model_dir)
    conv = vision_conv_feature_model(model)
    images = np.random.default_rng(5).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    fmap = conv(prepare_images(tf.constant(images), tiny_config.image_size, tiny_resize), training=False).numpy()
    height, width, channels = fmap.shape[1:]
    # The paper's 8 x 8 cells: ceil(h / 8) x ceil(w / 8) near-equal cells, each max-pooled, row-major.
    rows, cols = -(-height // 8), -(-width // 8)
    cells = [fmap[:, r * height // rows:(r + 1) * height // rows, c * width // cols:(c + 1) * width // cols].max((1, 2))
             for r in range(rows) for c in range(cols)]
    want = np.concatenate(cells, axis=-1)
    assert embedder.image_pooled_dim == rows * cols * channels
    got = api.get_image_embedding(images, model=tiny_model_dir, embedding_size=embedder.image_pooled_dim)
    np.testing.assert_allclose(got, want, atol=TOL)


def test_paper_size_pooled_features_are_openl3s_6144_and_8192():
    from l3net.models import audio_conv_feature_model, build_model, vision_conv_feature_model
    from l3net.models.config import ModelConfig
    from l3net.serving.pooled import pooled_size

    model = build_model(ModelConfig())  # the paper's L3-Net: 224 px, 48 kHz linear spectrogram
    assert tuple(audio_conv_feature_model(model).output.shape[1:]) == (32, 24, 512)
    assert pooled_size(audio_conv_feature_model(model).output.shape, audio=True) == 6144
    assert tuple(vision_conv_feature_model(model).output.shape[1:]) == (28, 28, 512)
    assert pooled_size(vision_conv_feature_model(model).output.shape) == 8192


@pytest.mark.parametrize("frontend, conv_map", [("linear", (32, 24, 512)), ("mel256", (32, 24, 512)),
                                                ("mel128", (16, 24, 512))])
def test_pooled_audio_features_are_openl3s_6144_with_every_front_end(frontend, conv_map):
    """OpenL3 pools its audio map to 4 x 3 x 512 = 6144 with each front end: (8, 8) cells on the
    [32, 24] maps of linear and mel256, (4, 8) cells on mel128's [16, 24]."""
    from l3net.models import audio_conv_feature_model, build_model
    from l3net.models.config import ModelConfig
    from l3net.serving.pooled import pool_grid, pooled_size

    model = build_model(ModelConfig(frontend=frontend))
    shape = audio_conv_feature_model(model).output.shape
    assert tuple(shape[1:]) == conv_map
    assert pool_grid(*conv_map[:2], audio=True) == (4, 3)
    assert pooled_size(shape, audio=True) == 4 * 3 * 512 == 6144


def test_embedding_size_choices(tiny_model_dir):
    embedder = get_embedder(tiny_model_dir)
    assert choose_pooled(embedder, "audio", None) is False
    assert choose_pooled(embedder, "audio", embedder.audio_dim) is False
    assert choose_pooled(embedder, "audio", embedder.audio_pooled_dim) is True
    with pytest.raises(ValueError, match=rf"embedding_size=6144: .* is 16 \(its embedding\) or "
                                         rf"{embedder.audio_pooled_dim} \(pooled"):
        api.get_audio_embedding(np.ones(9000, np.float32), 8000, tiny_model_dir, embedding_size=6144)


# --- image shapes -----------------------------------------------------------------------------------------

def test_image_shapes_are_openl3s(tiny_model_dir):
    rng = np.random.default_rng(6)
    one = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert api.get_image_embedding(one, model=tiny_model_dir).shape == (1, 16)
    assert api.get_image_embedding(np.stack([one, one, one]), model=tiny_model_dir).shape == (3, 16)
    listed = api.get_image_embedding([one, np.stack([one, one])], model=tiny_model_dir)
    assert [e.shape for e in listed] == [(1, 16), (2, 16)]
    emb, ts = api.get_image_embedding(np.stack([one] * 4), frame_rate=2, model=tiny_model_dir)
    assert emb.shape == (4, 16)
    np.testing.assert_array_equal(ts, [0, 0.5, 1.0, 1.5])
    with pytest.raises(ValueError, match="uint8"):
        api.get_image_embedding(one.astype(np.float32), model=tiny_model_dir)


# --- files: names, lists, overwrite --------------------------------------------------------------------------

def test_output_names_are_openl3s(tmp_path):
    assert api.get_output_path("/a/b/clip.wav", ".npz") == "/a/b/clip.npz"
    assert api.get_output_path("/a/b/clip.wav", "emb.npz") == "/a/b/clip_emb.npz"
    assert api.get_output_path("/a/b/clip.wav", ".npz", output_dir="/o") == "/o/clip.npz"
    assert api.output_path("/a/clip.flac") == "/a/clip.npz"
    assert api.output_path("/a/clip.flac", "/o", "x") == "/o/clip_x.npz"
    assert api.video_output_paths("/a/v.mp4") == ("/a/v_audio.npz", "/a/v_image.npz")
    assert api.video_output_paths("/a/v.mp4", "/o", "x") == ("/o/v_audio_x.npz", "/o/v_image_x.npz")


def test_process_audio_file_takes_lists_suffix_and_skips_existing(tiny_model_dir, tmp_path):
    paths = [mf.write_sound(str(tmp_path / f"{name}.wav"), seconds=0.6, sample_rate=8000) for name in ("a", "b")]
    out_dir = tmp_path / "out"
    outs = api.process_audio_file(paths, output_dir=str(out_dir), suffix="l3", model=tiny_model_dir, hop_size=0.25)
    assert outs == [str(out_dir / "a_l3.npz"), str(out_dir / "b_l3.npz")]
    with np.load(outs[0]) as data:
        assert sorted(data.files) == ["embedding", "timestamps"]
        # 0.6 s = 4,800 samples: 1 + ceil((4800 + 2000 - 4000) / 2000) = 3 windows.
        assert data["embedding"].shape == (3, 16)
        np.testing.assert_array_equal(data["timestamps"], [0, 0.25, 0.5])
    # overwrite=False (OpenL3's default): an existing output is kept and its input not read again.
    stamp = os.stat(outs[0]).st_mtime_ns
    time.sleep(0.01)
    np.savez(outs[1], embedding=np.zeros(1))
    assert api.process_audio_file(paths, output_dir=str(out_dir), suffix="l3", model=tiny_model_dir) == outs
    assert os.stat(outs[0]).st_mtime_ns == stamp
    with np.load(outs[1]) as data:
        assert data["embedding"].shape == (1,)
    assert api.process_audio_file(paths[1], output_dir=str(out_dir), suffix="l3", model=tiny_model_dir,
                                  hop_size=0.25, overwrite=True) == outs[1]
    with np.load(outs[1]) as data:
        assert data["embedding"].shape == (3, 16)


def test_process_image_and_video_files(tiny_model_dir, tmp_path):
    import matplotlib.image

    image = str(tmp_path / "im.png")
    matplotlib.image.imsave(image, np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    [out] = api.process_image_file([image], model=tiny_model_dir)
    assert out == str(tmp_path / "im.npz")
    with np.load(out) as data:
        assert data["embedding"].shape == (1, 16)  # OpenL3 writes [1, D] for one image
    video = mf.write_video(str(tmp_path / "clip.mp4"), seconds=1.0, fps=10, sample_rate=16000)
    audio_out, image_out = api.process_video_file(video, suffix="x", model=tiny_model_dir, hop_size=0.5)
    assert (audio_out, image_out) == (str(tmp_path / "clip_audio_x.npz"), str(tmp_path / "clip_image_x.npz"))
    with np.load(image_out) as data:
        assert data["embedding"].shape == (2, 16)
        np.testing.assert_array_equal(data["timestamps"], [0, 0.5])
    # Only the missing modality is recomputed without overwrite.
    os.remove(image_out)
    stamp = os.stat(audio_out).st_mtime_ns
    api.process_video_file([video], suffix="x", model=tiny_model_dir, audio_hop_size=0.5)
    assert os.path.exists(image_out) and os.stat(audio_out).st_mtime_ns == stamp


def test_cli_takes_directories_and_overwrite(tiny_model_dir, run_cli, tmp_path, capsys):
    root = tmp_path / "sounds"
    (root / "sub").mkdir(parents=True)
    a = mf.write_sound(str(root / "a.wav"), seconds=0.6, sample_rate=8000)
    b = mf.write_sound(str(root / "sub" / "b.flac"), codec="flac", seconds=0.6, sample_rate=8000)
    mf.write_bytes(str(root / "notes.txt"), b"not audio")
    out = tmp_path / "emb"
    argv = ["l3net_embed", "audio", str(root), "--model", tiny_model_dir, "--output_dir", str(out), "--hop", "0.25"]
    assert run_cli(embed_cli, argv) == 0
    assert sorted(os.listdir(out)) == ["a.npz", "b.npz"]
    assert "2 of 2 files embedded" in capsys.readouterr().out
    stamp = os.stat(out / "a.npz").st_mtime_ns
    assert run_cli(embed_cli, argv) == 0
    assert "0 of 2 files embedded" in capsys.readouterr().out and os.stat(out / "a.npz").st_mtime_ns == stamp
    time.sleep(0.01)
    assert run_cli(embed_cli, argv + ["--overwrite", "--suffix", "s"]) == 0
    assert sorted(os.listdir(out)) == ["a.npz", "a_s.npz", "b.npz", "b_s.npz"]
    assert run_cli(embed_cli, argv[:2] + [a, b] + argv[3:] + ["--overwrite"]) == 0
    assert os.stat(out / "a.npz").st_mtime_ns != stamp
    capsys.readouterr()
    assert run_cli(embed_cli, ["l3net_embed", "audio", str(tmp_path / "none"), "--model", tiny_model_dir]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(embed_cli, ["l3net_embed", "image", str(tmp_path / "empty"), "--model", tiny_model_dir]) == 2
    assert "no image files in" in capsys.readouterr().err
    assert run_cli(embed_cli, argv + ["--audio_embedding_size", "6144"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l3net_embed: error: --audio_embedding_size=6144: ")
    pooled = get_embedder(tiny_model_dir).audio_pooled_dim
    assert run_cli(embed_cli, argv + ["--audio_embedding_size", str(pooled), "--suffix", "big"]) == 0
    with np.load(out / "a_big.npz") as data:
        assert data["embedding"].shape == (3, pooled)
