"""Shared window computation (l3net.serving.shared_plan / shared_audio, l3net.embed.shared_stream).

Checked against independent references: a brute-force search over grid origins for the plan,
the exact tower's conv map for the shared map's interior, per-window embeddings for the window
count and timestamps, and one whole-clip segment for the segmented stream.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import media_fixtures as mf
from l3net import model_dir as model_dir_lib
from l3net.embed import api
from l3net.embed import cli as embed_cli
from l3net.embed import shared_stream
from l3net.embed.audio_windows import iter_windows
from l3net.embed.embedder import get_embedder
from l3net.models import audio_conv_feature_model
from l3net.models.config import ModelConfig
from l3net.serving import shared_plan
from l3net.serving.shared_audio import SharedAudioNetwork
from l3net.serving.windows import LAYOUTS, left_pad

PAPER = ModelConfig()
DEMO = ModelConfig(audio_widths=(8, 16, 32, 64), frontend="mel32", sample_rate=16000)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def test_geometry_of_the_paper_and_demo_towers():
    paper = shared_plan.shared_geometry(PAPER)
    # 48 kHz linear: 480-sample frames every 240, 199 frames -> 24 columns of 8 frames = 1,920 samples.
    assert (paper.frame_window, paper.frame_hop, paper.frames_per_column, paper.columns) == (480, 240, 8, 24)
    assert paper.stride == 1920 and paper.margin == 5
    demo = shared_plan.shared_geometry(DEMO)
    assert (demo.frame_hop, demo.columns, demo.stride) == (81, 24, 648)
    # A segment of K columns holds exactly 8K frames.
    assert 1 + (paper.segment_samples(30) - paper.frame_window) // paper.frame_hop == 8 * 30


@pytest.mark.parametrize("cfg", [PAPER, DEMO], ids=["paper", "demo"])
@pytest.mark.parametrize("hop_seconds", [0.1, 0.25, 0.5, 0.04, 0.013])
def test_slices_move_least_possible_and_at_most_half_a_stride(cfg, hop_seconds):
    geometry = shared_plan.shared_geometry(cfg)
    hop = int(round(hop_seconds * cfg.sample_rate))
    stride = geometry.stride
    for layout in LAYOUTS:
        pad = left_pad(cfg.num_audio_samples, layout)
        origin = shared_plan.grid_origin(geometry, pad, shared_plan.hop_gcd(hop, geometry))
        period = stride // math.gcd(hop, stride)
        shifts = np.array([shared_plan.window_shift(geometry, i, hop, pad, origin) for i in range(3 * period)])
        assert np.abs(shifts).max() <= stride / 2
        # No other origin does better (brute force over every origin in one stride).
        starts = np.arange(3 * period) * hop - pad
        best = min(np.abs((starts - o + stride // 2) % stride - stride // 2).max() for o in range(stride))
        assert np.abs(shifts).max() == best


def test_a_hop_on_the_grid_does_not_move_windows():
    geometry = shared_plan.shared_geometry(PAPER)
    hop = 2 * geometry.stride
    origin = shared_plan.grid_origin(geometry, 24000, shared_plan.hop_gcd(hop, geometry))
    assert all(shared_plan.window_shift(geometry, i, hop, 24000, origin) == 0 for i in range(50))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tiny_config):
    model, cfg, _ = model_dir_lib.load_model(tiny_model_dir)
    return model, cfg, SharedAudioNetwork(model, cfg)


def test_shared_map_equals_the_exact_map_away_from_window_edges(tiny):
    """Where neither zero padding nor a slice move applies, the shared map is the exact one."""
    model, cfg, net = tiny
    g = net.geometry
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(6 * cfg.num_audio_samples)).astype(np.float32)
    columns = 3 * g.columns + 2 * g.margin
    segment = audio[:g.segment_samples(columns)]
    shared_map = net.feature_map(segment[None]).numpy()[0]
    assert shared_map.shape[1] == columns
    exact = audio_conv_feature_model(model)
    # The exact window's last mel frames reach past its end into zero padding (pad_end): those
    # frames, and the columns the convs spread them to, differ too.
    padded_frames = -(-(g.frame_window - g.frame_hop) // g.frame_hop)
    inner = slice(g.margin, g.columns - g.margin - -(-padded_frames // g.frames_per_column))
    assert inner.stop - inner.start > g.columns // 3
    for col in (g.margin, g.margin + 7, 2 * g.columns):
        start = col * g.stride  # a window starting on the grid: no move
        window = audio[start:start + cfg.num_audio_samples][None]
        exact_map = exact(window, training=False).numpy()[0]
        np.testing.assert_allclose(shared_map[:, col + inner.start:col + inner.stop], exact_map[:, inner],
                                   rtol=1e-4, atol=1e-4)
        # ...and it differs at the window's edges, where the exact window saw zero padding.
        assert not np.allclose(shared_map[:, col:col + 1], exact_map[:, :1], atol=1e-3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_segments_cover_the_exact_windows_and_do_not_change_them(tiny, layout):
    """Any grouping and any block cuts give the windows of one whole-clip segment."""
    _, cfg, net = tiny
    g, window, hop = net.geometry, cfg.num_audio_samples, int(0.07 * cfg.sample_rate)
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal(int(3.3 * cfg.sample_rate))).astype(np.float32)

    def run(blocks, group):
        segments = list(shared_stream.iter_segments(blocks, g, window, hop, layout, group))
        # Each run's offsets cut exactly the windows of l3net.serving.windows from its segment.
        cut = np.concatenate([np.stack([seg[o:o + window] for o in offsets]) for seg, _, offsets in segments])
        np.testing.assert_array_equal(cut, np.stack(list(iter_windows([audio], window, hop, layout=layout))))
        return np.concatenate([net.embed(seg[None], cols).numpy()[0] for seg, cols, _ in segments]), len(segments)

    whole, count = run([audio], 10 ** 6)
    assert count == 1
    from l3net.serving.windows import num_windows

    assert whole.shape[0] == num_windows(audio.size, window, hop, layout)
    cuts = [audio[:333], audio[333:5000], audio[5000:5001], audio[5001:]]
    parts, count = run(cuts, 5)
    assert count == -(-whole.shape[0] // 5)
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_api_shared_keeps_windows_and_timestamps_and_stays_close(tiny_model_dir, tiny_config, center):
    rng = np.random.default_rng(2)
    t = np.arange(int(2.7 * tiny_config.sample_rate)) / tiny_config.sample_rate
    audio = (0.4 * np.sin(2 * np.pi * 300 * t * (1 + 0.3 * np.sin(3 * t))) +
             0.05 * rng.standard_normal(t.size)).astype(np.float32)
    for embedding_size in (None, get_embedder(tiny_model_dir).audio_pooled_dim):
        shared, ts_shared = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir, center=center,
                                                    embedding_size=embedding_size)
        exact, ts_exact = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir, center=center,
                                                  embedding_size=embedding_size, exact=True)
        assert shared.shape == exact.shape
        np.testing.assert_array_equal(ts_shared, ts_exact)
        cosine = _cosine(shared, exact)
        assert np.median(cosine) > 0.95, np.median(cosine)
        assert not np.allclose(shared, exact, atol=1e-4)


@pytest.mark.parametrize("seconds", [0.0001, 0.05, 0.2])
def test_a_clip_of_one_window_is_computed_exactly(tiny_model_dir, tiny_config, seconds):
    """One window: a segment would cost more than the window, so it is the exact window (bit for bit)."""
    audio = (0.3 * np.random.default_rng(4).standard_normal(max(1, int(seconds * tiny_config.sample_rate))))
    shared, _ = api.get_audio_embedding(audio.astype(np.float32), tiny_config.sample_rate, tiny_model_dir)
    exact, _ = api.get_audio_embedding(audio.astype(np.float32), tiny_config.sample_rate, tiny_model_dir, exact=True)
    assert shared.shape[0] == 1
    np.testing.assert_array_equal(shared, exact)


def test_no_overlap_means_exact_windows(tiny_model_dir, tiny_config):
    """hop >= window: nothing to share, the exact path runs (identical numbers)."""
    audio = (0.3 * np.random.default_rng(3).standard_normal(3 * tiny_config.num_audio_samples)).astype(np.float32)
    hop = tiny_config.audio_seconds
    shared, _ = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir, hop_size=hop)
    exact, _ = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir, hop_size=hop, exact=True)
    np.testing.assert_array_equal(shared, exact)


def test_cli_exact_flag(run_cli, tiny_model_dir, tiny_config, tmp_path):
    sound = mf.write_sound(str(tmp_path / "tone.wav"), seconds=1.7, sample_rate=tiny_config.sample_rate)
    outputs = {}
    for flag in ("--exact", "--noexact"):
        out = tmp_path / flag.strip("-")
        assert run_cli(embed_cli, ["l3net_embed", "audio", sound, "--model", tiny_model_dir, "--output_dir",
                                   str(out), flag]) == 0
        with np.load(out / "tone.npz") as f:
            outputs[flag] = f["embedding"]
    want, _ = api.embed_audio_file(sound, model=tiny_model_dir, exact=True)
    np.testing.assert_array_equal(outputs["--exact"], want)
    got, _ = api.embed_audio_file(sound, model=tiny_model_dir)
    np.testing.assert_array_equal(outputs["--noexact"], got)
    assert outputs["--exact"].shape == outputs["--noexact"].shape


def test_bfloat16_embedder_is_close_to_float32_and_refused_for_exports(tiny_model_dir, tiny_config, tmp_path,
                                                                        run_cli):
    import keras

    from l3net.embed.embedder import Embedder
    from l3net.model_dir import ModelDirError
    from l3net.serving.export import export_model

    audio = (0.3 * np.random.default_rng(5).standard_normal(2 * tiny_config.sample_rate)).astype(np.float32)
    bf16 = get_embedder(tiny_model_dir, bfloat16=True)
    assert isinstance(bf16, Embedder) and bf16.bfloat16 and bf16 is not get_embedder(tiny_model_dir)
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is restored
    low, _ = api.get_audio_embedding(audio, tiny_config.sample_rate, bf16)
    full, _ = api.get_audio_embedding(audio, tiny_config.sample_rate, tiny_model_dir)
    assert not np.array_equal(low, full)
    assert np.median(_cosine(low, full)) > 0.99
    export_dir = str(tmp_path / "export")
    export_model(tiny_model_dir, export_dir)
    with pytest.raises(ModelDirError, match="float32"):
        get_embedder(export_dir, bfloat16=True)
    sound = mf.write_sound(str(tmp_path / "tone.wav"), seconds=1.0, sample_rate=tiny_config.sample_rate)
    assert run_cli(embed_cli, ["l3net_embed", "audio", sound, "--model", export_dir, "--bfloat16"]) == 2


def test_avenet_head_batchnorm_on_the_shared_path(tmp_path, tiny_config):
    """AVE-Net with --head_batchnorm: the shared path applies the head, BatchNorm included.

    Reference: the window's max over its slice of the shared map, through the head's layers in
    the builder's order (fc, BN, ReLU, fc, L2 norm). The BatchNorm's moving statistics are far
    from identity, so a shared head that skipped it would differ.
    """
    import dataclasses

    import keras

    from l3net.models import build_model

    cfg = dataclasses.replace(tiny_config, model="avenet", embedding_width=12, head_batchnorm=True)
    keras.utils.set_random_seed(5)
    model = build_model(cfg)
    bn = model.get_layer("audio_fc1_bn")
    bn.moving_mean.assign(np.linspace(-1.0, 1.0, 12).astype(np.float32))
    bn.moving_variance.assign(np.full(12, 25.0, np.float32))
    net = SharedAudioNetwork(model, cfg)
    g = net.geometry
    audio = (0.3 * np.random.default_rng(6).standard_normal(4 * cfg.num_audio_samples)).astype(np.float32)
    segment = audio[None, :g.segment_samples(2 * g.columns + 2 * g.margin)]
    starts = np.array([0, 3, g.columns], np.int32)
    shared = net.embed(segment, starts).numpy()[0]
    fmap = net.feature_map(segment).numpy()[0].max(axis=0)  # [K, C]
    pooled = np.stack([fmap[c:c + g.columns].max(axis=0) for c in starts])
    x = head_input = keras.Input((pooled.shape[1],))
    for name in ("audio_fc1_dense", "audio_fc1_bn", "audio_fc1", "audio_fc2", "audio_embedding"):
        x = model.get_layer(name)(x)
    reference = keras.Model(head_input, x)(pooled, training=False).numpy()
    assert shared.shape == (3, 12)
    np.testing.assert_allclose(shared, reference, rtol=1e-5, atol=1e-5)
