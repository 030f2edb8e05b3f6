"""l3net_probe: benchmark layouts and their errors, windows and pooled features, the cross-validated
classifier, the feature cache, the random-init baseline and the command line.

References are independent of the code under test: windows are cut by hand, features come from the
Keras conv model max-pooled in numpy, and the classifier is rebuilt from scikit-learn's own
StandardScaler + LinearSVC per fold.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import media_fixtures as mf
from l3net.evaluation import linear_probe, linear_svm, probe, probe_features, sound_datasets

BIN = os.path.dirname(sys.executable)
CLASSES = (("low", 300.0), ("mid", 1100.0), ("high", 2600.0))
# (codec, rate, channels) per fold: every clip of a fold is written this way.
FORMATS = (("pcm_s16le", 44100, 1), ("pcm_s24le", 22050, 2), ("pcm_u8", 8000, 1), ("pcm_s32le", 48000, 2),
           ("pcm_f32le", 16000, 1))


def write_esc50(root: str, *, seconds: float = 1.2, short_clip: bool = True) -> str:
    """A 3-class ESC-50 layout: one tone clip per class and fold, each fold in a different WAV format."""
    os.makedirs(os.path.join(root, "audio"), exist_ok=True)
    os.makedirs(os.path.join(root, "meta"), exist_ok=True)
    rows = []
    for fold in range(1, 6):
        codec, rate, channels = FORMATS[fold - 1]
        for target, (name, hz) in enumerate(CLASSES):
            filename = f"{fold}-{100 + target}-A-{target}.wav"
            length = 0.3 if (short_clip and fold == 1 and target == 0) else seconds
            mf.write_sound(os.path.join(root, "audio", filename), codec=codec, seconds=length, sample_rate=rate,
                           channels=channels, tone_hz=hz * (1 + 0.03 * fold))
            rows.append([filename, fold, target, name, "False", 100 + target, "A"])
    with open(os.path.join(root, "meta", "esc50.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def esc50(tmp_path_factory) -> str:
    return write_esc50(str(tmp_path_factory.mktemp("esc50")))


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> str:
    """conftest's tiny L3-Net (8 kHz, 0.5 s windows), untrained."""
    return tiny_model_dir


@pytest.fixture(scope="module")
def probe_model(model_dir):
    return probe.load_probe_model(model_dir)


# --- layouts ---------------------------------------------------------------------------------------

def test_esc50_reader(esc50):
    data = sound_datasets.read_esc50(esc50)
    assert len(data.paths) == 15 and data.class_names == ["low", "mid", "high"]
    assert len(data.folds) == 5
    for fold, (train, test) in enumerate(data.folds, start=1):
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(15))
        assert all(os.path.basename(data.paths[i]).startswith(f"{fold}-") for i in test)
    np.testing.assert_array_equal(data.targets, [int(p[-5]) for p in data.paths])


def _copy_esc50(src: str, dst: str) -> str:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rewrite_meta(root: str, edit) -> None:
    path = os.path.join(root, "meta", "esc50.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(edit(rows))


def test_esc50_layout_errors_name_the_file(esc50, tmp_path):
    with pytest.raises(sound_datasets.SoundDatasetError, match="meta/esc50.csv: missing"):
        sound_datasets.read_esc50(str(tmp_path))
    listed_missing = _copy_esc50(esc50, str(tmp_path / "a"))
    os.remove(os.path.join(listed_missing, "audio", "3-101-A-1.wav"))
    with pytest.raises(sound_datasets.SoundDatasetError, match=r"3-101-A-1\.wav: listed in .*esc50\.csv but missing"):
        sound_datasets.read_esc50(listed_missing)
    four_folds = _copy_esc50(esc50, str(tmp_path / "b"))
    _rewrite_meta(four_folds, lambda rows: [rows[0]] + [r[:1] + (["4"] if r[1] == "5" else r[1:2]) + r[2:]
                                                         for r in rows[1:]])
    with pytest.raises(sound_datasets.SoundDatasetError, match="fold column has 4 folds"):
        sound_datasets.read_esc50(four_folds)
    no_column = _copy_esc50(esc50, str(tmp_path / "c"))
    _rewrite_meta(no_column, lambda rows: [[c for i, c in enumerate(r) if i != 1] for r in rows])
    with pytest.raises(sound_datasets.SoundDatasetError, match="no column fold"):
        sound_datasets.read_esc50(no_column)


def test_dcase_reader_with_fold_lists_and_by_clip_number(tmp_path):
    root = tmp_path / "dcase"
    (root / "audio").mkdir(parents=True)
    scenes = ("bus", "park")
    for scene in scenes:
        for number in range(1, 6):
            mf.write_sound(str(root / "audio" / f"{scene}{number:02d}.wav"), seconds=0.6, sample_rate=8000)
    by_number = sound_datasets.read_dcase2013(str(root))
    assert by_number.class_names == ["bus", "park"] and len(by_number.paths) == 10
    for k, (train, test) in enumerate(by_number.folds, start=1):
        assert sorted(os.path.basename(by_number.paths[i]) for i in test) == [f"bus{k:02d}.wav", f"park{k:02d}.wav"]
        assert len(train) == 8
    setup = root / "evaluation_setup"
    setup.mkdir()
    for k in range(1, 6):  # a different split: clip 6 - k is tested in fold k
        test = [f"{s}{6 - k:02d}.wav" for s in scenes]
        train = [f"{s}{n:02d}.wav" for s in scenes for n in range(1, 6) if n != 6 - k]
        (setup / f"fold{k}_test.txt").write_text("".join(f"audio/{n}\t{n[:-6]}\n" for n in test))
        (setup / f"fold{k}_train.txt").write_text("".join(f"{n}\t{n[:-6]}\n" for n in train))
    listed = sound_datasets.read_dcase2013(str(root))
    for k, (_, test) in enumerate(listed.folds, start=1):
        want = [f"bus{6 - k:02d}.wav", f"park{6 - k:02d}.wav"]
        assert sorted(os.path.basename(listed.paths[i]) for i in test) == want
    os.remove(setup / "fold3_train.txt")
    with pytest.raises(sound_datasets.SoundDatasetError, match="fold3_train.txt: missing"):
        sound_datasets.read_dcase2013(str(root))


# --- features --------------------------------------------------------------------------------------

def test_pool_grid_follows_the_paper():
    assert probe_features.pool_grid(32, 24) == (4, 3)  # paper: conv4_2 [32, 24, 512] -> 6144-d
    assert probe_features.pool_grid(4, 24) == (1, 3)
    assert probe_features.pool_grid(9, 5) == (2, 1)
    # Audio maps keep OpenL3's four frequency bands of >= 4 rows (mel128's [16, 24]: 4 x 3, not 2 x 3).
    assert probe_features.pool_grid(16, 24, audio=True) == (4, 3)
    assert probe_features.pool_grid(16, 24) == (2, 3)
    assert probe_features.pool_grid(12, 24, audio=True) == (3, 3)
    assert probe_features.pool_grid(32, 24, audio=True) == (4, 3)
    assert probe_features.pool_grid(4, 24, audio=True) == (1, 3)
    assert probe_features.pool_grid(9, 5, audio=True) == (2, 1)


def _reference_features(probe_model, audio: np.ndarray, window: int, hop: int, layer: str = "") -> np.ndarray:
    """Windows cut by hand, the Keras conv map (or the tower's layer `layer`, read directly), max-pooled
    over the grid cells in numpy."""
    import keras

    from l3net.models import audio_conv_feature_model

    if len(audio) < window:
        windows = np.pad(audio, (0, window - len(audio)))[None]
    else:
        windows = np.stack([audio[s:s + window] for s in range(0, len(audio) - window + 1, hop)])
    if layer:
        tower = probe_model.model.get_layer("audio_tower")
        conv = keras.Model(tower.inputs, tower.get_layer(layer).output)
    else:
        conv = audio_conv_feature_model(probe_model.model)
    fmap = conv(windows, training=False).numpy()
    _, h, w, _ = fmap.shape
    rows, cols = probe_features.pool_grid(h, w, audio=True)
    cells = [fmap[:, r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols].max(axis=(1, 2))
             for r in range(rows) for c in range(cols)]
    return np.concatenate(cells, axis=-1)


def test_features_of_every_window_of_any_file(esc50, probe_model, tiny_config):
    from l3net.audio_files import read_audio

    data = sound_datasets.read_esc50(esc50)
    rate, window, hop = tiny_config.sample_rate, tiny_config.num_audio_samples, 1000
    fn, dim, grid = probe_features.window_features(probe_model.model, tiny_config, window, hop, exact=True)
    features, clip_index = probe_features.extract_features(data.paths, fn, sample_rate=rate, batch_size=4)
    assert features.dtype == np.float16 and features.shape[1] == dim
    for i, path in enumerate(data.paths):
        audio = read_audio(path, rate)
        want = _reference_features(probe_model, audio, window, hop)
        np.testing.assert_allclose(features[clip_index == i], want, rtol=2e-3, atol=2e-3)
    counts = np.bincount(clip_index)
    assert counts.min() == 1  # the 0.3 s clip: one zero-padded window
    assert counts.max() == 1 + (int(1.2 * rate) - window) // hop


def test_features_of_an_earlier_layer(esc50, probe_model, tiny_config):
    from l3net.audio_files import read_audio
    from l3net.models import audio_map_layers

    # The tiny tower (2 blocks): both convs of each block and the map pooled between them; the
    # global pool after the last block is not a map.
    assert audio_map_layers(probe_model.model) == ["audio_conv1_1", "audio_conv1_2", "audio_pool1",
                                                   "audio_conv2_1", "audio_conv2_2"]
    data = sound_datasets.read_esc50(esc50)
    rate, window, hop = tiny_config.sample_rate, tiny_config.num_audio_samples, 1000
    default = probe_features.window_features(probe_model.model, tiny_config, window, hop)
    for layer in ("audio_conv1_2", "audio_pool1"):
        # exact=False too: an earlier map is always computed per window (the shared path is the last block's)
        fn, dim, grid = probe_features.window_features(probe_model.model, tiny_config, window, hop, exact=False,
                                                       layer=layer)
        assert grid == (4, 13 if layer == "audio_conv1_2" else 7) and dim == 4 * grid[1] * 8 != default[1]
        features, clip_index = probe_features.extract_features(data.paths[:4], fn, sample_rate=rate, batch_size=4)
        for i, path in enumerate(data.paths[:4]):
            want = _reference_features(probe_model, read_audio(path, rate), window, hop, layer)
            np.testing.assert_allclose(features[clip_index == i], want, rtol=2e-3, atol=2e-3)
    with pytest.raises(ValueError, match="audio_conv1_1, audio_conv1_2, audio_pool1"):
        probe_features.pooled_feature_fn(probe_model.model, "audio_pool2")


def test_shared_features_have_the_exact_windows_and_stay_close(esc50, probe_model, tiny_config):
    data = sound_datasets.read_esc50(esc50)
    rate, window, hop = tiny_config.sample_rate, tiny_config.num_audio_samples, 1000
    exact_fn, dim, _ = probe_features.window_features(probe_model.model, tiny_config, window, hop, exact=True)
    shared_fn, shared_dim, _ = probe_features.window_features(probe_model.model, tiny_config, window, hop,
                                                              exact=False)
    exact, exact_index = probe_features.extract_features(data.paths, exact_fn, sample_rate=rate, batch_size=4)
    shared, shared_index = probe_features.extract_features(data.paths, shared_fn, sample_rate=rate, batch_size=4)
    assert shared_dim == dim
    np.testing.assert_array_equal(shared_index, exact_index)
    a, b = exact.astype(np.float32), shared.astype(np.float32)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    assert np.median(cosine) > 0.9
    assert not np.array_equal(a, b)  # really the shared path, not the exact one again


def test_cache_hits_and_invalidates(esc50, probe_model, tiny_config, tmp_path):
    rate = tiny_config.sample_rate
    data = sound_datasets.read_esc50(esc50)
    fn, _, _ = probe_features.window_features(probe_model.model, tiny_config, 4000, 2000)
    calls = []

    def compute():
        calls.append(1)
        return probe_features.extract_features(data.paths[:3], fn, sample_rate=rate)

    def key(hop=2000):
        return probe_features.cache_key(probe_model.identity, data.paths[:3], sample_rate=rate, window=4000, hop=hop)

    path = str(tmp_path / "cache.npz")
    first = probe_features.extract_or_load(path, key(), compute)
    second = probe_features.extract_or_load(path, key(), compute)
    assert (first[2], second[2], len(calls)) == (False, True, 1)
    np.testing.assert_array_equal(first[0], second[0])
    before = key()
    assert key(hop=1000) != before
    assert probe_features.cache_key(probe_model.identity, data.paths[:3], sample_rate=rate, window=4000, hop=2000,
                                    exact=False) != before
    assert probe_features.cache_key(probe_model.identity, data.paths[:3], sample_rate=rate, window=4000, hop=2000,
                                    layer="audio_pool1") != before
    stat = os.stat(data.paths[0])
    os.utime(data.paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file "changed"
    assert key() != before
    third = probe_features.extract_or_load(path, key(), compute)
    assert third[2] is False and len(calls) == 2
    assert [n for n in os.listdir(tmp_path)] == ["cache.npz"]


def test_bfloat16_probe_is_close_to_float32_cached_apart_and_leaves_the_policy(esc50, model_dir, probe_model,
                                                                               tmp_path):
    """--bfloat16: the tower computes in bfloat16 (features close to float32's, not equal), its features
    have their own cache entry, the report says so, and later models are float32 again."""
    import keras

    out = str(tmp_path / "out")
    full = probe.run_probe("esc50", esc50, probe_model, out, hop_s=0.25, exact=False, log=lambda line: None)
    low = probe.run_probe_evaluation("esc50", model_dir, esc50, out, hop_s=0.25, exact=False, bfloat16=True,
                                     log=lambda line: None)
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert (full["bfloat16"], low["bfloat16"]) == (False, True) and not low["feature_cache_hit"]
    assert low["feature_cache"] != full["feature_cache"] and "(bfloat16)" in low["model_description"]
    a = np.load(full["feature_cache"])["features"].astype(np.float32)
    b = np.load(low["feature_cache"])["features"].astype(np.float32)
    assert a.shape == b.shape and not np.array_equal(a, b)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    assert np.median(cosine) > 0.99
    assert abs(low["mean_accuracy"] - full["mean_accuracy"]) <= 0.15


# --- classifier --------------------------------------------------------------------------------------

def _sklearn_reference(features, clip_index, targets, folds):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    accuracies = []
    for train, test in folds:
        tr, te = np.isin(clip_index, train), np.isin(clip_index, test)
        scaler = StandardScaler().fit(features[tr])
        svm = LinearSVC(C=1.0, dual="auto", max_iter=2000, random_state=0)
        svm.fit(scaler.transform(features[tr]), targets[clip_index[tr]])
        scores = svm.decision_function(scaler.transform(features[te]))
        owners = clip_index[te]
        predicted = [scores[owners == c].mean(axis=0).argmax() for c in test]
        accuracies.append(np.mean(np.asarray(predicted) == targets[test]))
    return accuracies


@pytest.mark.parametrize("dim", [12, 64])   # linear_svm through LinearSVC, and through the exact solver
def test_cross_validation_matches_sklearn_pipeline(dim):
    rng = np.random.default_rng(0)
    clips, classes = 60, 4
    targets = np.arange(clips) % classes
    centres = rng.standard_normal((classes, dim)) * 0.8
    windows = rng.integers(1, 5, clips)
    clip_index = np.repeat(np.arange(clips), windows).astype(np.int32)
    features = centres[targets[clip_index]] + rng.standard_normal((len(clip_index), dim))
    features[:, 0] *= 100.0  # scales differ: z-scoring matters
    folds = [(np.flatnonzero(np.arange(clips) % 5 != f), np.flatnonzero(np.arange(clips) % 5 == f)) for f in range(5)]
    # Test folds far off the training distribution: statistics from them would change the result.
    reference = _sklearn_reference(features, clip_index, targets, folds)
    assert linear_svm.suits(int(np.isin(clip_index, folds[0][0]).sum()), dim) == (dim == 64)
    for name in ("linear_svm", "liblinear_svm"):   # the exact solver and LinearSVC itself: the same problem
        result = linear_probe.cross_validate(features, clip_index, targets, folds, name)
        np.testing.assert_allclose(result.fold_accuracies, reference)
        assert result.confusion.sum() == clips
        assert np.trace(result.confusion) == pytest.approx(result.mean_accuracy * clips)
    for name in ("logreg", "mlp"):
        other = linear_probe.cross_validate(features, clip_index, targets, folds, name)
        assert other.mean_accuracy > 1.5 / classes


def test_parallel_folds_give_the_sequential_result(monkeypatch):
    rng = np.random.default_rng(1)
    clips, classes, dim = 80, 4, 16
    targets = np.arange(clips) % classes
    clip_index = np.repeat(np.arange(clips), 3).astype(np.int32)
    centres = rng.standard_normal((classes, dim))
    features = centres[targets[clip_index]] + 1.5 * rng.standard_normal((len(clip_index), dim))
    folds = [(np.flatnonzero(np.arange(clips) % 5 != f), np.flatnonzero(np.arange(clips) % 5 == f)) for f in range(5)]
    monkeypatch.setattr(linear_probe.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert linear_probe.fold_workers("liblinear_svm", clip_index, folds, dim) == 3  # 192 windows >= 16 dims: primal
    parallel = linear_probe.cross_validate(features, clip_index, targets, folds, "liblinear_svm")
    monkeypatch.setattr(linear_probe, "fold_workers", lambda *args: 1)
    sequential = linear_probe.cross_validate(features, clip_index, targets, folds, "liblinear_svm")
    assert parallel.fold_accuracies == sequential.fold_accuracies
    np.testing.assert_array_equal(parallel.predictions, sequential.predictions)
    np.testing.assert_array_equal(parallel.confusion, sequential.confusion)
    assert 0.3 < parallel.mean_accuracy < 1.0  # a real, imperfect classification


def test_folds_run_one_at_a_time_where_threads_would_change_the_result(monkeypatch):
    monkeypatch.setattr(linear_probe.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    clip_index = np.repeat(np.arange(10), 2)
    folds = [(np.arange(5), np.arange(5, 10)), (np.arange(5, 10), np.arange(5))]
    assert linear_probe.fold_workers("liblinear_svm", clip_index, folds, 10) == 2   # 10 windows, 10 dims: primal
    assert linear_probe.fold_workers("liblinear_svm", clip_index, folds, 11) == 1   # dual: shared random generator
    assert linear_probe.fold_workers("logreg", clip_index, folds, 4) == 1
    assert linear_probe.fold_workers("linear_svm", clip_index, folds, 2) == 2   # 10 windows, 2 dims: LinearSVC
    assert linear_probe.fold_workers("linear_svm", clip_index, folds, 10) == 1  # exact solver: all cores itself
    assert not linear_probe.svm_uses_dual(10, 10) and linear_probe.svm_uses_dual(10, 11)
    assert linear_probe.make_classifier("liblinear_svm", 0, 10, 11).dual is True


def test_zscore_uses_only_training_statistics():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    mean, std = linear_probe.zscore_stats(train)
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(std, [1.0, 1.0])  # constant unit: std floored to 1


# --- random init ---------------------------------------------------------------------------------------

def test_random_init_is_seeded(model_dir):
    import keras

    a = probe.load_probe_model("random", model_config=model_dir, seed=3)
    b = probe.load_probe_model("random", model_config=os.path.join(model_dir, "model_config.json"), seed=3)
    c = probe.load_probe_model("random", model_config=model_dir, seed=4)
    wa, wb, wc = (keras.ops.convert_to_numpy(m.model.trainable_weights[0]) for m in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)
    assert a.identity != c.identity
    with pytest.raises(probe.ProbeError, match="needs --model_config"):
        probe.load_probe_model("random")


# --- end to end ----------------------------------------------------------------------------------------

def test_run_probe_writes_report_and_figure(esc50, probe_model, tmp_path):
    out = str(tmp_path / "out")
    lines = []
    report = probe.run_probe("esc50", esc50, probe_model, out, hop_s=0.25, log=lines.append)
    assert sorted(os.listdir(out)) == ["confusion_matrix.png", "feature_cache", "probe.json"]
    with open(os.path.join(out, "probe.json")) as f:
        saved = json.load(f)
    assert saved["fold_accuracies"] == report["fold_accuracies"] and len(saved["fold_accuracies"]) == 5
    assert np.asarray(saved["confusion"]).sum() == 15
    # 14 clips of 1.2 s: 1 + (9600 - 4000) // 2000 = 3 windows each; the 0.3 s clip: 1 padded window.
    assert saved["num_windows"] == 14 * 3 + 1
    # The paper's numbers travel with the report (trained above random init, as in the paper) and
    # are the ones the printed report shows next to ours.
    paper = saved["paper_accuracy"]
    assert 0.5 < paper["L3-Net random init"] < paper["L3-Net"] < 1.0
    paper_line = "paper: " + "  ".join(f"{name} {100 * acc:.1f} %" for name, acc in paper.items())
    assert any(entry.rstrip().endswith(paper_line) for entry in lines)
    # Tones an octave apart are separable even by the untrained tiny network.
    assert report["mean_accuracy"] > 0.6
    again = probe.run_probe("esc50", esc50, probe_model, out, hop_s=0.25, classifier="logreg", log=lines.append)
    assert again["feature_cache_hit"] is True
    table = probe.format_comparison({"trained": report, "random init": again})
    assert "random init" in table and f"{100 * again['mean_accuracy']:.1f} %" in table
    assert len(table.splitlines()) == 1 + 5 + 1 + 1  # header, folds, mean, paper
    assert table.splitlines()[-1].strip() == paper_line
    with pytest.raises(probe.ProbeError, match="--window=1.0"):
        probe.run_probe("esc50", esc50, probe_model, out, window_s=1.0, log=lines.append)
    assert report["layer"] == "audio_conv2_2" and any("-d audio_conv2_2 features of" in line for line in lines)
    # Naming the last conv block is the default: the same features, from the same cache.
    named = probe.run_probe("esc50", esc50, probe_model, out, hop_s=0.25, layer="audio_conv2_2", log=lines.append)
    assert named["feature_cache_hit"] and named["fold_accuracies"] == report["fold_accuracies"]
    earlier = probe.run_probe("esc50", esc50, probe_model, str(tmp_path / "pool1"), hop_s=0.25, layer="audio_pool1",
                              log=lines.append)
    assert earlier["layer"] == "audio_pool1" and not earlier["feature_cache_hit"]
    assert earlier["feature_dim"] == 4 * 7 * 8 and earlier["pool_grid"] == [4, 7]
    with pytest.raises(probe.ProbeError, match="--layer=audio_conv9_2: .* use one of audio_conv1_1, "):
        probe.run_probe("esc50", esc50, probe_model, out, layer="audio_conv9_2", log=lines.append)
    with pytest.raises(probe.ProbeError, match="--layer=audio_pool1 with --noexact"):
        probe.run_probe("esc50", esc50, probe_model, out, layer="audio_pool1", exact=False, log=lines.append)


def _cli(*args):
    return subprocess.run([os.path.join(BIN, "l3net_probe"), *args], capture_output=True, text=True, timeout=300)


def _errors(stderr: str):
    """Our error lines (TensorFlow's C++ start-up logging also goes to stderr), and no traceback."""
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("l3net_probe: error:")]


def test_cli_bad_inputs_fail_in_one_line_and_write_nothing(esc50, model_dir, tmp_path):
    broken = _copy_esc50(esc50, str(tmp_path / "broken"))
    with open(os.path.join(broken, "audio", "4-102-A-2.wav"), "wb") as f:
        f.write(b"RIFF not really a wave file")
    out = tmp_path / "out"
    run = _cli("esc50", "--data_dir", broken, "--model_dir", model_dir, "--output_dir", str(out))
    assert run.returncode == 2
    errors = _errors(run.stderr)
    assert len(errors) == 1 and "4-102-A-2.wav" in errors[0]
    assert not (out / "probe.json").exists() and not (out / "confusion_matrix.png").exists()
    run = _cli("esc50", "--data_dir", str(tmp_path / "nothing"), "--model_dir", model_dir)
    errors = _errors(run.stderr)
    assert run.returncode == 2 and len(errors) == 1 and "nothing" in errors[0]
    run = _cli("esc50", "--data_dir", esc50, "--model_dir", model_dir, "--output_dir", str(out), "--layer", "conv3")
    errors = _errors(run.stderr)
    assert run.returncode == 2 and len(errors) == 1 and "--layer=conv3" in errors[0] and "audio_pool1" in errors[0]
    assert not out.exists() or not os.listdir(out)
