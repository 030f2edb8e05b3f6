"""nDCG@k of distance rankings, and its expected value under a uniformly random ranking (chance).

Objects that Sound (ECCV 2018) scores retrieval with
  DCG@k = sum_{i=1..k} (2^rel_i - 1) / log2(i + 1),   nDCG@k = DCG@k / ideal DCG@k,
ranking every candidate by its distance to the query (smallest first). Candidates at exactly the
same distance have no defined order; like `sklearn.metrics.ndcg_score` (ignore_ties=False), each
tied group contributes its *average* gain at every position it spans, so the score does not depend
on how a sort happens to break ties. A query with no relevant candidate scores 0 (sklearn's
convention too); callers report how many there were.

Everything is vectorised over queries: [Q, N] relevance and distance arrays, no Python loop per
query, so a few thousand queries x a few thousand candidates take well under a second.
"""

from __future__ import annotations

import numpy as np


def gains(relevance: np.ndarray) -> np.ndarray:
    """Graded relevance -> the paper's gain 2^rel - 1 (1/0 relevance gives 1/0 gains)."""
    return np.exp2(np.asarray(relevance, np.float64)) - 1.0


def discounts(n: int, k: int) -> np.ndarray:
    """[n] position discounts 1 / log2(i + 1) for i = 1..n, zero past position k."""
    positions = np.arange(1, n + 1, dtype=np.float64)
    out = 1.0 / np.log2(positions + 1.0)
    out[k:] = 0.0
    return out


def _tie_averaged_dcg(gain: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """[Q] DCG@k of ranking each row's candidates by ascending distance, ties gain-averaged.

    Tied groups are found on the sorted rows (a new group starts wherever the sorted distance
    changes or a new row begins); one bincount per quantity then gives each group's mean gain and
    summed discount, without a loop over queries.
    """
    q, n = gain.shape
    order = np.argsort(distances, axis=1, kind="stable")
    sorted_d = np.take_along_axis(distances, order, axis=1)
    sorted_g = np.take_along_axis(gain, order, axis=1)
    starts = np.ones((q, n), dtype=bool)
    starts[:, 1:] = sorted_d[:, 1:] != sorted_d[:, :-1]
    group = np.cumsum(starts.ravel()) - 1  # global group id of every (row, position)
    num_groups = int(group[-1]) + 1
    size = np.bincount(group, minlength=num_groups)
    mean_gain = np.bincount(group, weights=sorted_g.ravel(), minlength=num_groups) / size
    disc = np.bincount(group, weights=np.broadcast_to(discounts(n, k), (q, n)).ravel(), minlength=num_groups)
    row_of_group = np.repeat(np.arange(q), starts.sum(axis=1))
    return np.bincount(row_of_group, weights=mean_gain * disc, minlength=q)


def ideal_dcg(gain: np.ndarray, k: int) -> np.ndarray:
    """[Q] DCG@k of the best possible order (gains sorted descending)."""
    best = -np.sort(-gain, axis=1)
    return best @ discounts(gain.shape[1], k)


def ndcg_at_k(relevance: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """Per-query nDCG@k of rankings by ascending distance.

    Args:
      relevance: [Q, N] graded relevance (>= 0) of each candidate to each query.
      distances: [Q, N] distance of each candidate to each query; smaller ranks first.
      k: cut-off (>= 1); k > N is the same as k = N.

    Returns:
      float64 [Q] in [0, 1]; 0 for queries without any relevant candidate.
    """
    relevance = np.asarray(relevance, np.float64)
    distances = np.asarray(distances, np.float64)
    if relevance.shape != distances.shape or relevance.ndim != 2:
        raise ValueError(f"relevance {relevance.shape} and distances {distances.shape} must both be [Q, N]")
    if k < 1:
        raise ValueError(f"k={k}: must be >= 1")
    if relevance.size == 0:
        return np.zeros(relevance.shape[0])
    g = gains(relevance)
    ideal = ideal_dcg(g, k)
    dcg = _tie_averaged_dcg(g, distances, k)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def chance_ndcg_at_k(relevance: np.ndarray, k: int) -> np.ndarray:
    """Per-query expected nDCG@k when the N candidates are ranked in a uniformly random order.

    Exact, not sampled: every position holds each candidate with probability 1/N, so its
    expected gain is the mean gain of the row and E[DCG@k] = mean gain * sum_{i<=k} 1/log2(i+1);
    the ideal DCG does not depend on the order. Returns float64 [Q] (0 where nothing is relevant).
    """
    relevance = np.asarray(relevance, np.float64)
    if relevance.ndim != 2:
        raise ValueError(f"relevance {relevance.shape} must be [Q, N]")
    if relevance.shape[1] == 0:
        return np.zeros(relevance.shape[0])
    g = gains(relevance)
    ideal = ideal_dcg(g, k)
    expected = g.mean(axis=1) * discounts(g.shape[1], k).sum()
    return np.divide(expected, ideal, out=np.zeros_like(expected), where=ideal > 0)
