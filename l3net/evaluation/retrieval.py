"""Cross-modal and intra-modal retrieval by nearest neighbour, scored with nDCG@k (Objects that Sound).

Every video of a split contributes one image embedding and one audio embedding
(`retrieval_items`). A query of one modality ranks all videos' embeddings of the target modality
by Euclidean distance; relevance of a result is the number of labels it shares with the query
(1/0 for single-label data), gain 2^rel - 1. The query's own video is left out of intra-modal lists
(it would trivially rank first) but kept in cross-modal ones (finding the sound of the very video
you show is a correct answer). Chance is the expected nDCG@k of a uniformly random ranking of the
same lists (`ndcg.chance_ndcg_at_k`), so it reflects this data's label balance.

Embeddings are those the AVC model compares: AVE-Net's L2-normalised 128-d embeddings, or
L3-Net's 512-d tower outputs (which were never trained to share a space: cross-modal L3 is near
chance in the paper, too).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from l3net.evaluation.ndcg import chance_ndcg_at_k, ndcg_at_k

# direction -> (query modality, result modality)
DIRECTIONS: Dict[str, Tuple[str, str]] = {
    "im-im": ("image", "image"), "im-aud": ("image", "audio"),
    "aud-im": ("audio", "image"), "aud-aud": ("audio", "audio"),
}
# Objects that Sound, Table 2 (AudioSet-Instruments test set, nDCG@30).
PAPER_NDCG30: Dict[str, Dict[str, float]] = {
    "chance": {"im-im": 0.407, "im-aud": 0.407, "aud-im": 0.407, "aud-aud": 0.407},
    "L3": {"im-im": 0.567, "im-aud": 0.418, "aud-im": 0.385, "aud-aud": 0.653},
    "L3 + CCA": {"im-im": 0.578, "im-aud": 0.531, "aud-im": 0.560, "aud-aud": 0.649},
    "AVE-Net": {"im-im": 0.604, "im-aud": 0.561, "aud-im": 0.587, "aud-aud": 0.665},
}
# Queries scored at once: bounds the [chunk, N] distance matrix for large test sets.
QUERY_CHUNK = 1024


@dataclasses.dataclass
class RetrievalSet:
    """Embeddings of N videos: image, audio float32 [N, D]; labels and ids per video."""

    image: np.ndarray
    audio: np.ndarray
    labels: List[List[str]]
    video_ids: List[str]

    def embeddings(self, modality: str) -> np.ndarray:
        return self.image if modality == "image" else self.audio


def embed_videos(model: tf.keras.Model, batches: Iterable[Dict[str, tf.Tensor]]) -> RetrievalSet:
    """Runs the model's image and audio embedding networks over `retrieval_dataset` batches."""
    from l3net.models import embedding_models

    image_model, audio_model = embedding_models(model)

    @tf.function(reduce_retracing=True)
    def embed(image: tf.Tensor, audio: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        return (tf.cast(image_model(image, training=False), tf.float32),
                tf.cast(audio_model(audio, training=False), tf.float32))

    images, audios, labels, ids = [], [], [], []
    for batch in batches:
        v, a = embed(batch["image"], batch["audio"])
        images.append(v.numpy())
        audios.append(a.numpy())
        labels += [list(filter(None, s.decode("utf-8").split(";"))) for s in batch["labels"].numpy()]
        ids += [s.decode("utf-8") for s in batch["video_id"].numpy()]
    if not images:
        raise ValueError("embed_videos: no videos to embed")
    return RetrievalSet(np.concatenate(images), np.concatenate(audios), labels, ids)


def label_matrix(labels: Sequence[Sequence[str]]) -> Tuple[np.ndarray, List[str]]:
    """Multi-hot uint8 [N, C] and the sorted label names C."""
    names = sorted({name for video in labels for name in video})
    index = {name: i for i, name in enumerate(names)}
    hot = np.zeros((len(labels), len(names)), np.uint8)
    for row, video in enumerate(labels):
        for name in video:
            hot[row, index[name]] = 1
    return hot, names


def euclidean_distances(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[Q, D], [N, D] -> float64 [Q, N] Euclidean distances."""
    q = queries.astype(np.float64)
    c = candidates.astype(np.float64)
    squared = (q * q).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * q @ c.T
    return np.sqrt(np.maximum(squared, 0.0))


def _drop_diagonal(values: np.ndarray, first_row: int) -> np.ndarray:
    """[c, N] rows first_row.. of a square matrix -> [c, N - 1] without each row's own column."""
    c, n = values.shape
    keep = np.ones((c, n), dtype=bool)
    keep[np.arange(c), first_row + np.arange(c)] = False
    return values[keep].reshape(c, n - 1)


def direction_scores(queries: np.ndarray, candidates: np.ndarray, hot: np.ndarray, k: int,
                     exclude_self: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query (nDCG@k, chance nDCG@k, has a relevant candidate) of one direction.

    queries/candidates: [N, D] embeddings of the same N videos; hot: [N, C] multi-hot labels.
    """
    ndcg, chance, has_relevant = [], [], []
    for first in range(0, len(queries), QUERY_CHUNK):
        rows = slice(first, first + QUERY_CHUNK)
        relevance = hot[rows].astype(np.float64) @ hot.T.astype(np.float64)
        distances = euclidean_distances(queries[rows], candidates)
        if exclude_self:
            relevance = _drop_diagonal(relevance, first)
            distances = _drop_diagonal(distances, first)
        ndcg.append(ndcg_at_k(relevance, distances, k))
        chance.append(chance_ndcg_at_k(relevance, k))
        has_relevant.append(relevance.max(axis=1, initial=0.0) > 0)
    return np.concatenate(ndcg), np.concatenate(chance), np.concatenate(has_relevant)


def evaluate_retrieval(videos: RetrievalSet, k: int) -> Dict[str, object]:
    """nDCG@k and chance of the four directions, plus counts (JSON-ready).

    Cross-modal directions are None when the two embeddings differ in size (an L3-Net whose
    towers have different widths: its image and audio outputs share no space at all).

    Raises ValueError if fewer than 2 videos or no labels (relevance needs labels).
    """
    n = len(videos.video_ids)
    if n < 2:
        raise ValueError(f"retrieval needs at least 2 videos, got {n}")
    hot, names = label_matrix(videos.labels)
    if not names:
        raise ValueError("no video has a label; retrieval nDCG needs labels for relevance")
    ndcg, chance, without = {}, {}, {}
    comparable = videos.image.shape[1] == videos.audio.shape[1]
    for direction, (query, result) in DIRECTIONS.items():
        if query != result and not comparable:
            ndcg[direction] = chance[direction] = without[direction] = None
            continue
        scores, expected, has_relevant = direction_scores(
            videos.embeddings(query), videos.embeddings(result), hot, k, exclude_self=query == result)
        ndcg[direction] = float(scores.mean())
        chance[direction] = float(expected.mean())
        without[direction] = int((~has_relevant).sum())
    return {"k": k, "ndcg": ndcg, "chance": chance, "num_videos": n, "num_labels": len(names),
            "num_unlabelled_videos": int((hot.sum(1) == 0).sum()),
            "queries_without_relevant": without, "image_embedding_dim": int(videos.image.shape[1]),
            "audio_embedding_dim": int(videos.audio.shape[1])}


def top_results(videos: RetrievalSet, direction: str, query: int, count: int) -> np.ndarray:
    """Indices of the `count` nearest results of `query` in `direction` (own video excluded intra-modally)."""
    source, target = DIRECTIONS[direction]
    distances = euclidean_distances(videos.embeddings(source)[query:query + 1], videos.embeddings(target))[0]
    if source == target:
        distances[query] = np.inf
    return np.argsort(distances, kind="stable")[:count]
