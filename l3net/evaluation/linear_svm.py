"""The probe's linear SVM: LinearSVC's problem solved exactly by finite Newton steps on dense matrices.

The problem is scikit-learn's `LinearSVC(C=1)` (liblinear's L2-regularised squared-hinge primal):
for every class k (one-vs-rest; y_ik = +1 when window i is of class k, else -1)

    min over w_k [D], b_k:  1/2 (|w_k|^2 + b_k^2) + C sum_i max(0, 1 - y_ik (x_i . w_k + s b_k))^2

with the intercept regularised like the weight of a constant feature s (`intercept_scaling`, 1),
as LinearSVC does. Each problem is strictly convex with one minimiser, so a solver that reaches it
gives LinearSVC's classifier (`tests/test_linear_svm.py` checks the weights against scikit-learn's).

Why not LinearSVC itself: liblinear solves the K problems one after another with per-feature
loops on one core, and on near linearly separable features (the paper's 6,144-d features of a
few thousand windows) its solvers crawl: on random-init paper-size features of the real-audio
set (1,728 training windows, 12 classes) one fold took LinearSVC 84 s and this solver 4.5 s.

Method (Keerthi & DeCoste 2005, "a modified finite Newton method", in kernel form as in Chapelle
2007, "Training a support vector machine in the primal"): with w = X^T alpha (the minimiser lies
in the span of the windows), on the set A of windows inside the margin (y o < 1) the objective is
a quadratic whose minimiser is one Cholesky solve, (K_AA + I / 2C) beta = y_A with K = X X^T
(+ s^2) computed once per fit and shared by all classes (ridge regression of the +-1 targets on
A). The step towards it is the exact minimum of the piecewise-quadratic objective on that line
(breakpoints sorted, no matrix product). When a step leaves A unchanged, the minimiser is reached
exactly, which happens after a finite number of steps (12-35 on the sets measured). The systems
are only as large as the margin sets, which for near-separable high-dimensional features are a
fraction of the windows; where narrow features (under WIDE_DIM) are outnumbered several times by
the windows, or K would not fit in memory, the probe keeps LinearSVC (`suits`).

At zero weights every window is inside every class's margin, so the first step of all classes
shares one factorisation.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.linalg

MAX_WINDOWS = 20000  # K [n, n] float64: 3.2 GB at this size
MAX_WINDOWS_PER_DIM = 3  # beyond, and below WIDE_DIM: LinearSVC with parallel folds is as fast or faster
# From this width up the exact solver is used whatever the windows per dimension (up to MAX_WINDOWS):
# liblinear's time explodes from 384-d features on. 5-fold probes of the real-audio set
# (3,456 training windows per fold, 12 classes; 2026-12-07, AMD EPYC with AVX-512, 2 cores;
# `cross_validate` with each solver forced on the probe's cached features, as `bench/probe_folds.py
# --solvers` does): 192-d LinearSVC 8.9 s vs exact
# 27.0 s; 384-d 19.3-23.2 s vs 16.0-22.6 s; 768-d 343-539 s (in l3net_probe) vs 27.3-29.9 s; and on
# the rich world's ESC-50 layout (1,210 training windows per fold, 16 classes), 384-d random-init
# features: LinearSVC 69.4 s vs exact 5.1 s. The same fold accuracies throughout.
WIDE_DIM = 384
SUBSET_MIN_WINDOWS = 2000  # larger sets start from the solution on a subset (`_solve`)
SUBSET_STRIDE = 4


def suits(num_windows: int, dim: int) -> bool:
    """Whether the probe uses this solver (rather than LinearSVC) for training windows [n, D]."""
    return num_windows <= MAX_WINDOWS and (num_windows <= MAX_WINDOWS_PER_DIM * (dim + 1) or dim >= WIDE_DIM)


def line_step(slope: float, curvature: float, slack: np.ndarray, rate: np.ndarray, c: float) -> float:
    """The minimiser t >= 0 of phi(t) = slope t + curvature t^2 / 2 + c sum_i max(0, slack_i - t rate_i)^2.

    phi is the objective along a Newton direction p from w (slope = w.p, curvature = |p|^2 > 0,
    slack_i = 1 - y_i o_i, rate_i = y_i (x_i . p)); it is convex and piecewise quadratic, so its
    derivative is piecewise linear and increasing with breakpoints where a window crosses the margin.
    """
    active = (slack > 0) | ((slack == 0) & (rate < 0))
    leaving = active & (rate > 0)          # inside the margin now, leaves it at t = slack / rate
    entering = ~active & (rate < 0)        # outside now (slack <= 0), enters at t = slack / rate >= 0
    times = np.concatenate([slack[leaving] / rate[leaving], slack[entering] / rate[entering]])
    d_rs = np.concatenate([-(rate * slack)[leaving], (rate * slack)[entering]])
    d_rr = np.concatenate([-(rate * rate)[leaving], (rate * rate)[entering]])
    order = np.argsort(times, kind="stable")
    times, d_rs, d_rr = times[order], d_rs[order], d_rr[order]
    # Segment j runs from starts[j] to ends[j]; on it phi'(t) = a_j + b_j t with these sums.
    sum_rs = float(np.sum((rate * slack)[active])) + np.concatenate([[0.0], np.cumsum(d_rs)])
    sum_rr = float(np.sum((rate * rate)[active])) + np.concatenate([[0.0], np.cumsum(d_rr)])
    zero = (2.0 * c * sum_rs - slope) / (curvature + 2.0 * c * sum_rr)
    starts = np.concatenate([[0.0], times])
    ends = np.concatenate([times, [np.inf]])
    first = int(np.argmax(zero <= ends))   # phi' increases: its zero is in the first segment ending past it
    return float(max(zero[first], starts[first]))


class _Problem:
    """One fit's data: `solve(mask)` = Newton targets, `outputs(alpha)` = margins [n].

    x: [n, D + 1] float64 windows with the intercept's constant column; gram: K = x x^T [n, n]; c: C.
    """

    def __init__(self, x: np.ndarray, c: float, gram: Optional[np.ndarray] = None):
        self.x, self.c = x, c
        self.gram = x @ x.T if gram is None else gram   # a symmetric product: BLAS syrk

    def subset(self, idx: np.ndarray) -> "_Problem":
        """The problem on windows idx only, with C scaled by n / len(idx) so that the loss weighs as
        much against the regulariser as on all windows (its minimiser then approximates this one's)."""
        return _Problem(self.x[idx], self.c * len(self.x) / len(idx), self.gram[np.ix_(idx, idx)])

    def lift(self, alpha: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Coefficients [len(idx), K] of `subset(idx)` as this problem's [n, K] (the same weights)."""
        full = np.zeros((len(self.x), alpha.shape[1]))
        full[idx] = alpha
        return full

    def solve(self, mask: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Coefficients [n, m] (zero outside mask) minimising the quadratic on windows `mask` [n] for
        targets [n, m] (+-1)."""
        idx = np.flatnonzero(mask)
        alpha = np.zeros((len(mask), targets.shape[1]))
        if len(idx):
            system = self.gram[np.ix_(idx, idx)]
            system[np.diag_indices_from(system)] += 0.5 / self.c
            alpha[idx] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(system, lower=True, check_finite=False),
                                                targets[idx], check_finite=False)
        return alpha

    def outputs(self, alpha: np.ndarray) -> np.ndarray:
        """Margins o = X w = K alpha [n] (or [n, m] for [n, m] coefficients)."""
        return self.gram @ alpha

    def weights(self, alpha: np.ndarray) -> np.ndarray:
        """Primal weights X^T alpha [D + 1] (or [D + 1, m])."""
        return self.x.T @ alpha


def _newton(problem: _Problem, signs: np.ndarray, max_iter: int,
            coef: Optional[np.ndarray] = None) -> Tuple[np.ndarray, int]:
    """Finite Newton for all classes at once (signs [n, K] +-1) from coefficients `coef` [n, K] (None: zero).

    Returns (coefficients [n, K], steps of the slowest class). Classes advance in lockstep so that
    the margins of all their Newton targets come from one matrix product; each class stops when a
    step leaves its margin set unchanged (then the line's minimum was the quadratic's, t = 1 up to
    rounding, on a margin set it keeps: the optimum), or when its step is 0 (rounding floor).
    """
    c = problem.c
    n, classes = signs.shape
    if coef is None:
        # From zero weights every window is in every margin: one solve shared by all classes.
        targets = problem.solve(np.ones(n, bool), signs)
        coef, out = np.zeros_like(targets), np.zeros((n, classes))
    else:
        targets, out = None, problem.outputs(coef)
    running = np.arange(classes)
    for step in range(1, max_iter + 1):
        slack = 1.0 - signs[:, running] * out[:, running]
        masks = slack > 0
        if targets is None or step > 1:
            targets = np.stack([problem.solve(masks[:, j], signs[:, k:k + 1])[:, 0] for j, k in enumerate(running)],
                               axis=1)
        target_out = problem.outputs(targets)
        finished = []
        for j, k in enumerate(running):
            direction, d_out = targets[:, j] - coef[:, k], target_out[:, j] - out[:, k]
            curvature = float(d_out @ direction)   # |p|^2 = pi^T K pi
            t = 0.0 if curvature <= 0.0 else line_step(float(out[:, k] @ direction), curvature,   # w . p
                                                        slack[:, j], signs[:, k] * d_out, c)
            coef[:, k] += t * direction
            out[:, k] += t * d_out
            if t == 0.0 or np.array_equal(1.0 - signs[:, k] * out[:, k] > 0, masks[:, j]):
                finished.append(j)
        running = np.delete(running, finished)
        if not len(running):
            return coef, step
    return coef, max_iter


def _solve(problem: _Problem, signs: np.ndarray, max_iter: int) -> Tuple[np.ndarray, int]:
    """`_newton` started from the solution on every SUBSET_STRIDE-th window (recursively).

    Why: from zero weights the first step overshoots until only a handful of windows stay inside
    the margin, and the margin set then grows back by a few windows per step (tens of short steps
    on near-separable features), each factorising it. Starting from a subset's solution skips
    most of that growth at a quarter of the size: on a 2-class stand-in of ESC-50's shape (14,400
    windows x 6,144-d) the fit took 25 s instead of 46 s (Cholesky time 1.3 s instead of 20 s).
    """
    n = len(signs)
    if n < SUBSET_MIN_WINDOWS:
        return _newton(problem, signs, max_iter)
    idx = np.arange(0, n, SUBSET_STRIDE)
    coef, _ = _solve(problem.subset(idx), signs[idx], max_iter)
    return _newton(problem, signs, max_iter, problem.lift(coef, idx))


class OneVsRestLinearSVM:
    """One-vs-rest L2-regularised squared-hinge linear SVM (LinearSVC's problem); scikit-learn's interface.

    fit(x [n, D], y [n]) sets classes_ [K], coef_ [K, D], intercept_ [K] (float64) and n_iter_
    (Newton steps of the slowest class); decision_function(x) -> [n, K] margins (also for K = 2,
    where LinearSVC gives one column: here the two columns are mirror images). Everything runs in
    float64: the optimality test compares margins with 1 exactly.
    max_iter: Newton steps at most per class (the exact optimum ends it sooner: 12-35 steps measured).
    Memory: the [n, n] float64 Gram matrix (1.6 GB at n = 14,400).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 100, intercept_scaling: float = 1.0):
        self.C, self.max_iter, self.intercept_scaling = float(C), int(max_iter), float(intercept_scaling)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "OneVsRestLinearSVM":
        self.classes_, owner = np.unique(np.asarray(y), return_inverse=True)
        signs = np.where(owner[:, None] == np.arange(len(self.classes_)), 1.0, -1.0)
        x = np.concatenate([np.asarray(x, np.float64), np.full((len(x), 1), self.intercept_scaling)], axis=1)
        problem = _Problem(x, self.C)
        # Two classes are one problem (class 1 positive), as in LinearSVC; its scores are mirrored.
        coef, self.n_iter_ = _solve(problem, signs[:, 1:] if len(self.classes_) == 2 else signs, self.max_iter)
        weights = list(problem.weights(coef).T)
        if len(self.classes_) == 2:
            weights = [-weights[0], weights[0]]
        full = np.stack(weights)
        self.coef_ = full[:, :-1]
        self.intercept_ = self.intercept_scaling * full[:, -1]
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.coef_.T + self.intercept_

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(x).argmax(axis=1)]
