"""nDCG@k against scikit-learn's `ndcg_score`, and the exact chance level against random permutations.

sklearn's DCG uses the relevance itself as the gain; ours uses the paper's 2^rel - 1, so sklearn
is given y_true = 2^rel - 1 (identical for 1/0 relevance). sklearn ranks by descending score; we
rank by ascending distance, so it gets -distance. Ties: both average the gains of a tied group.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from l3net.evaluation.ndcg import chance_ndcg_at_k, ndcg_at_k


def _sklearn_rows(relevance, distances, k):
    gains = np.exp2(relevance) - 1.0
    return np.array([ndcg_score(gains[i:i + 1], -distances[i:i + 1], k=k) for i in range(len(relevance))])


@pytest.mark.parametrize("case", range(60))
def test_matches_sklearn_with_ties_and_graded_relevance(case):
    rng = np.random.default_rng(case)
    q, n = int(rng.integers(1, 6)), int(rng.integers(2, 40))
    k = int(rng.integers(1, 45))
    relevance = rng.integers(0, 4, (q, n)).astype(float)
    if case % 3 == 0:
        distances = rng.integers(0, 4, (q, n)).astype(float)  # many ties
    else:
        distances = rng.random((q, n))
    np.testing.assert_allclose(ndcg_at_k(relevance, distances, k), _sklearn_rows(relevance, distances, k),
                               rtol=1e-10, atol=1e-12)


def test_binary_relevance_matches_sklearn():
    rng = np.random.default_rng(7)
    relevance = (rng.random((8, 50)) < 0.2).astype(float)
    relevance[:, 0] = 1.0  # every query has a relevant item
    distances = rng.random((8, 50))
    np.testing.assert_allclose(ndcg_at_k(relevance, distances, 30), _sklearn_rows(relevance, distances, 30))


def test_known_values():
    # Perfect order -> 1; reversed order of one relevant item among 3 at k=3 -> 1/log2(4) = 0.5.
    assert ndcg_at_k([[1, 0, 0]], [[0.1, 0.2, 0.3]], 3)[0] == pytest.approx(1.0)
    assert ndcg_at_k([[1, 0, 0]], [[0.3, 0.2, 0.1]], 3)[0] == pytest.approx(0.5)
    assert ndcg_at_k([[1, 0, 0]], [[0.3, 0.2, 0.1]], 2)[0] == pytest.approx(0.0)
    # All tied: the relevant gain is spread over the 3 positions.
    expected = (1 + 1 / np.log2(3) + 0.5) / 3
    assert ndcg_at_k([[1, 0, 0]], [[1.0, 1.0, 1.0]], 3)[0] == pytest.approx(expected)
    # Nothing relevant -> 0 (sklearn's convention).
    assert ndcg_at_k([[0, 0, 0]], [[0.1, 0.2, 0.3]], 3)[0] == 0.0


def test_chance_is_the_mean_over_random_rankings():
    rng = np.random.default_rng(3)
    relevance = rng.integers(0, 3, (3, 25)).astype(float)
    k = 10
    permutations = np.stack([ndcg_at_k(relevance, rng.random(relevance.shape), k) for _ in range(4000)])
    sampled = permutations.mean(axis=0)
    stderr = permutations.std(axis=0) / np.sqrt(len(permutations))
    np.testing.assert_array_less(np.abs(chance_ndcg_at_k(relevance, k) - sampled), 5 * stderr + 1e-9)


def test_chance_with_k_beyond_n_and_everything_relevant():
    assert chance_ndcg_at_k(np.ones((2, 5)), 30) == pytest.approx([1.0, 1.0])
    assert chance_ndcg_at_k(np.zeros((1, 5)), 30)[0] == 0.0


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        ndcg_at_k(np.ones((2, 3)), np.ones((2, 4)), 3)
    with pytest.raises(ValueError):
        ndcg_at_k(np.ones((2, 3)), np.ones((2, 3)), 0)
