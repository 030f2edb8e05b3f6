"""The probe's linear SVM (l3net.evaluation.linear_svm) against scikit-learn's LinearSVC and the optimality conditions.

LinearSVC (liblinear) is the independent reference: both minimise the same strictly convex
objective per class, so with liblinear run to a tight tolerance they must give the same weights.
"""

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from l3net.evaluation import linear_svm


def _blobs(n: int, dim: int, classes: int, seed: int, spread: float = 1.5, dtype=np.float64):
    """Overlapping classes (the optimum has many windows inside the margin, as real features do)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, dim)) * 0.6
    x = centres[labels] + spread * rng.standard_normal((n, dim))
    x[:, 0] *= 4.0  # unequal scales: a badly conditioned problem
    return x.astype(dtype), labels


def _objective(coef: np.ndarray, intercept: np.ndarray, x: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Per-class 1/2 (|w|^2 + b^2) + sum max(0, 1 - y (x.w + b))^2 in float64 (C = 1, intercept_scaling 1)."""
    z = x.astype(np.float64) @ coef.T + intercept
    return 0.5 * ((coef ** 2).sum(axis=1) + intercept ** 2) + (np.maximum(0.0, 1.0 - signs * z) ** 2).sum(axis=0)


def _liblinear(x: np.ndarray, labels: np.ndarray) -> LinearSVC:
    """liblinear's primal solver (its trust-region Newton reaches a tight tolerance; the dual crawls there)."""
    return LinearSVC(C=1.0, dual=False, tol=1e-12, max_iter=200000).fit(x, labels)


@pytest.mark.parametrize("n,dim,classes", [(400, 15, 4), (300, 60, 3), (150, 400, 5), (2100, 40, 3)])
def test_weights_equal_liblinear(n, dim, classes):
    """Windows > dims (a rank-deficient Gram matrix), dims > windows (separable), and a set large
    enough to start from a subset's solution: liblinear's minimiser."""
    x, labels = _blobs(n, dim, classes, seed=n)
    ours = linear_svm.OneVsRestLinearSVM().fit(x, labels)
    ref = _liblinear(x, labels)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    signs = np.where(labels[:, None] == ref.classes_[None, :], 1.0, -1.0)
    mine, theirs = _objective(ours.coef_, ours.intercept_, x, signs), _objective(ref.coef_, ref.intercept_, x, signs)
    assert np.all(mine <= theirs * (1 + 1e-9)), (mine, theirs)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-5 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.decision_function(x), ref.decision_function(x), rtol=0, atol=1e-4)


def test_gradient_vanishes_at_the_solution():
    x, labels = _blobs(300, 10, 3, seed=1)
    model = linear_svm.OneVsRestLinearSVM().fit(x, labels)
    signs = np.where(labels[:, None] == model.classes_[None, :], 1.0, -1.0)
    z = x @ model.coef_.T + model.intercept_
    residual = 2.0 * np.where(signs * z < 1.0, z - signs, 0.0)      # d loss / d z, C = 1
    grad_w = model.coef_ + residual.T @ x
    grad_b = model.intercept_ + residual.sum(axis=0)
    at_zero = np.abs(2.0 * (-signs).T @ x).max()
    assert np.abs(grad_w).max() < 1e-9 * at_zero
    assert np.abs(grad_b).max() < 1e-9 * at_zero


def test_float32_features_give_liblinear_predictions():
    """The probe's setting: float32 features; products in float32, solves in float64."""
    x, labels = _blobs(1500, 64, 12, seed=2, dtype=np.float32)
    ours = linear_svm.OneVsRestLinearSVM().fit(x, labels)
    ref = _liblinear(x, labels)
    signs = np.where(labels[:, None] == ref.classes_[None, :], 1.0, -1.0)
    mine, theirs = _objective(ours.coef_, ours.intercept_, x, signs), _objective(ref.coef_, ref.intercept_, x, signs)
    assert np.all(mine <= theirs * (1 + 1e-6)), (mine, theirs)
    assert np.mean(ours.predict(x) == ref.predict(x)) > 0.998


def test_two_classes_and_string_labels():
    x, numbers = _blobs(200, 6, 2, seed=3)
    labels = np.array(["dog", "rain"])[numbers]
    model = linear_svm.OneVsRestLinearSVM().fit(x, labels)
    ref = _liblinear(x, labels)
    scores = model.decision_function(x)
    assert scores.shape == (200, 2)
    np.testing.assert_allclose(scores[:, 0], -scores[:, 1], atol=1e-9)  # one problem, mirrored scores
    np.testing.assert_allclose(scores[:, 1], ref.decision_function(x), atol=1e-5)
    np.testing.assert_array_equal(model.predict(x), ref.predict(x))


def test_which_shapes_it_suits():
    assert linear_svm.suits(1728, 6144)          # paper-size features of the real-audio set
    assert linear_svm.suits(14400, 6144)         # ESC-50 size: n <= 3 (D + 1)
    assert not linear_svm.suits(3456, 192)       # demo-size features: LinearSVC
    assert linear_svm.suits(3456, 384)           # as fast either way on real audio, 14x faster on the rich layout
    assert not linear_svm.suits(3456, 383)
    assert linear_svm.suits(3456, 768)           # liblinear crawls from here: 12-18x slower
    assert not linear_svm.suits(30000, 20000)    # the Gram matrix would not fit


@pytest.mark.parametrize("seed", range(4))
def test_line_step_is_the_minimum_of_the_line(seed):
    """line_step against a dense grid of phi(t) = a t + b t^2 / 2 + c sum max(0, s - t r)^2."""
    rng = np.random.default_rng(seed)
    slack, rate = rng.standard_normal(50), rng.standard_normal(50)
    slope, curvature, c = -abs(rng.standard_normal()) * 5, abs(rng.standard_normal()) + 0.1, 1.0
    t = linear_svm.line_step(slope, curvature, slack, rate, c)
    grid = np.linspace(0.0, 10.0, 200001)
    hinge = np.maximum(0.0, slack[None] - grid[:, None] * rate[None])
    phi = slope * grid + 0.5 * curvature * grid ** 2 + c * (hinge ** 2).sum(1)
    assert t >= 0.0
    assert abs(t - grid[np.argmin(phi)]) < 1e-3
