"""l3net_retrieval: which frame and window each video contributes, nDCG per direction against
scikit-learn on brute-force distances, the written files and the command line's errors.

The frame/window choice is checked against the decoded content (record_fixtures encodes video,
frame and sample index in the pixels and samples), not against the pipeline's own metadata.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import ndcg_score

import record_fixtures as rf
from l3net.data.config import DataConfig
from l3net.evaluation import retrieval
from l3net.evaluation.retrieval_items import retrieval_dataset
from l3net.evaluation.retrieval_report import run_retrieval
from l3net.models.config import ModelConfig

FPS = 10.0
RATE = 8000
BIN = os.path.dirname(sys.executable)
LABELS = (["a"], ["b"], ["a", "b"], ["c"], ["a"], ["b"], ["c"], ["a", "c"], ["b"], ["a"])
# (num_frames, audio seconds): the middle frame sits early, late, mid; audio shorter than 1 s; no frames.
SHAPES = ((20, 2.0), (5, 2.0), (30, 2.0), (21, 1.0), (12, 3.1), (0, 2.0), (9, 0.4), (25, 2.5), (14, 2.0), (7, 2.0))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("records"))
    records = [rf.fake_video(v, split="test", num_frames=n, fps=FPS, sample_rate=RATE, audio_seconds=s,
                             labels=LABELS[v]) for v, (n, s) in enumerate(SHAPES)]
    rf.write_dataset(path, records, sample_rate=RATE, fps=FPS, short_side=40)
    return path


@pytest.fixture(scope="module")
def avenet_dir(tmp_path_factory, tiny_config, write_tiny_model_dir) -> str:
    """An untrained tiny AVE-Net model dir (conftest's tiny config) at this module's sample rate."""
    assert tiny_config.sample_rate == RATE
    cfg = dataclasses.replace(tiny_config, model="avenet")
    return write_tiny_model_dir(str(tmp_path_factory.mktemp("avenet")), cfg)


def _expected_start(frame: int, num_samples: int, window_seconds: float) -> int:
    """The frame-grid step nearest to (frame time - half a window), kept inside the audio."""
    step = int(np.round(frame - FPS * window_seconds / 2))
    start = int(round(step * RATE / FPS))
    return int(np.clip(start, 0, max(num_samples - int(window_seconds * RATE), 0)))


def test_middle_frame_and_centred_grid_window(data_dir):
    config = DataConfig.for_model(ModelConfig(image_size=32, sample_rate=RATE), resize_short_side=36,
                                  batch_size=4, augment=False)
    items = [dict(zip(batch, values)) for batch in retrieval_dataset(data_dir, "test", config)
             for values in zip(*(v.numpy() for v in batch.values()))]
    seen = set()
    for item in items:
        video = int(item["video_id"].decode()[3:])
        seen.add(video)
        frames, seconds = SHAPES[video]
        num_samples = max(int(round(seconds * RATE)), RATE)  # fake_video stores at least 1 s
        middle = (frames - 1) // 2
        assert rf.frame_provenance(item["image"]) == (video % rf.MAX_VIDEOS, middle)
        assert rf.audio_provenance(item["audio"]) == (video, _expected_start(middle, num_samples, 1.0))
        assert item["labels"].decode().split(";") == LABELS[video]
        assert item["image"].shape == (32, 32, 3) and item["audio"].shape == (RATE,)
    assert seen == {v for v, (n, _) in enumerate(SHAPES) if n > 0}  # the frameless video is skipped


def _sklearn_ndcg(query, candidates, labels, k, exclude_self):
    hot, _ = retrieval.label_matrix(labels)
    relevance = hot @ hot.T
    distances = cdist(query, candidates)
    scores = []
    for i in range(len(query)):
        keep = np.arange(len(candidates)) != i if exclude_self else np.ones(len(candidates), bool)
        gains = (2.0 ** relevance[i, keep] - 1)[None]
        scores.append(ndcg_score(gains, -distances[i, keep][None], k=k))
    return float(np.mean(scores))


def test_directions_match_sklearn_on_brute_force_distances(monkeypatch):
    rng = np.random.default_rng(0)
    n, dim = 40, 6
    labels = [list(rng.choice(["a", "b", "c", "d"], size=rng.integers(1, 3), replace=False)) for _ in range(n)]
    videos = retrieval.RetrievalSet(rng.standard_normal((n, dim)).astype(np.float32),
                                    rng.standard_normal((n, dim)).astype(np.float32), labels,
                                    [f"v{i}" for i in range(n)])
    monkeypatch.setattr(retrieval, "QUERY_CHUNK", 7)  # several chunks, the diagonal crossing them
    report = retrieval.evaluate_retrieval(videos, k=10)
    for direction, (source, target) in retrieval.DIRECTIONS.items():
        want = _sklearn_ndcg(videos.embeddings(source), videos.embeddings(target), labels, 10, source == target)
        assert report["ndcg"][direction] == pytest.approx(want, rel=1e-9)
        assert 0 < report["chance"][direction] < 1
    assert report["num_videos"] == n and report["k"] == 10
    # A perfect embedding (one point per label set) ranks far above chance.
    perfect = dataclasses.replace(videos, image=retrieval.label_matrix(labels)[0].astype(np.float32) * 5,
                                  audio=retrieval.label_matrix(labels)[0].astype(np.float32) * 5)
    best = retrieval.evaluate_retrieval(perfect, k=10)
    assert all(best["ndcg"][d] > best["chance"][d] + 0.2 for d in retrieval.DIRECTIONS)


def test_l3_towers_of_different_widths_have_no_cross_modal_scores():
    rng = np.random.default_rng(1)
    videos = retrieval.RetrievalSet(rng.standard_normal((6, 8)), rng.standard_normal((6, 4)),
                                    [["a"], ["b"]] * 3, [str(i) for i in range(6)])
    report = retrieval.evaluate_retrieval(videos, k=5)
    assert report["ndcg"]["im-aud"] is None and report["ndcg"]["aud-im"] is None
    assert report["ndcg"]["im-im"] is not None and report["ndcg"]["aud-aud"] is not None


def test_run_retrieval_writes_json_embeddings_and_grids(data_dir, avenet_dir, tiny_config, tmp_path):
    model_dir = avenet_dir
    out = str(tmp_path / "out")
    report = run_retrieval(model_dir, data_dir, out, k=30, batch_size=4, num_queries_shown=2, log=lambda _: None)
    names = sorted(os.listdir(out))
    assert names == sorted(["retrieval.json", "embeddings.npz"] +
                           [f"retrieval_{d}.png" for d in retrieval.DIRECTIONS])
    with open(os.path.join(out, "retrieval.json")) as f:
        saved = json.load(f)
    assert set(saved["ndcg"]) == set(retrieval.DIRECTIONS) and saved["k"] == 30
    assert saved["num_videos"] == 9 and saved["ndcg"] == report["ndcg"]
    with np.load(os.path.join(out, "embeddings.npz")) as npz:
        assert npz["image_embeddings"].shape == (9, tiny_config.embedding_width)
        np.testing.assert_allclose(np.linalg.norm(npz["audio_embeddings"], axis=1), 1.0, atol=1e-5)
        names = list(npz["label_names"])
        ids = list(npz["video_ids"])
        for row, vid in zip(npz["labels"], ids):
            assert sorted(n for n, h in zip(names, row) if h) == sorted(LABELS[int(vid[3:])])
        # The stored embeddings are the ones the report was computed from.
        videos = retrieval.RetrievalSet(npz["image_embeddings"], npz["audio_embeddings"],
                                        [LABELS[int(v[3:])] for v in ids], ids)
    assert retrieval.evaluate_retrieval(videos, 30)["ndcg"] == pytest.approx(report["ndcg"])


def test_cli_errors_are_one_line_and_write_nothing(avenet_dir, tmp_path):
    model_dir = avenet_dir
    out = tmp_path / "out"
    run = subprocess.run([os.path.join(BIN, "l3net_retrieval"), "--model_dir", model_dir, "--data_dir",
                          str(tmp_path / "missing"), "--output_dir", str(out)],
                         capture_output=True, text=True, timeout=300)
    errors = [line for line in run.stderr.splitlines() if line.startswith("l3net_retrieval: error:")]
    assert run.returncode == 2 and len(errors) == 1 and "missing" in errors[0]
    assert "Traceback" not in run.stderr and not out.exists()
