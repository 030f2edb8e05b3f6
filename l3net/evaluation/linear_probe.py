"""The probe classifier: z-score with training-fold statistics, fit on windows, score clips, cross-validate.

L3-Net's protocol (ICCV 2017, sec. 4.2): features of every 1 s window of a training clip are
training examples carrying the clip's label; the features are z-scored with statistics of the
training folds only (test folds never leak into the normalisation); a one-vs-all linear SVM is
trained; a test clip's score per class is the mean of its windows' scores, and its prediction the
best class. Accuracy is averaged over the benchmark's 5 folds.

Classifiers (fixed seeds):
  linear_svm     one-vs-rest linear SVM, squared hinge, C = 1: the paper's choice, scikit-learn's
                 LinearSVC problem. Solved exactly by `linear_svm.OneVsRestLinearSVM` (finite Newton
                 on the windows' Gram matrix) where it suits the shape (`linear_svm.suits`: at most
                 20,000 training windows, and either at most 3 x (D + 1) of them or D >= 512, e.g.
                 the paper's 6,144-d features, or 768-d ones, of a few thousand windows: seconds
                 where liblinear takes minutes), else by LinearSVC as
                 `liblinear_svm`. Both reach the same minimiser (same predictions, tested);
  liblinear_svm  the same problem through scikit-learn's LinearSVC (liblinear): the reference.
                 liblinear's primal (trust-region Newton) solver when there are at least as many
                 training windows as feature dimensions, its dual coordinate descent otherwise
                 (scikit-learn's "auto" rule, made explicit here because the folds' parallelism
                 depends on it, see below);
  logreg         multinomial LogisticRegression (L-BFGS), scores are log-probabilities;
  mlp            one hidden layer of 512 ReLU units (the HEAR-style "shallow" probe), early
                 stopping, scores are log-probabilities.

The folds of liblinear's primal solver are fitted in parallel threads (one per CPU core):
liblinear runs on one core and releases the GIL, and its primal solver draws no random numbers,
so the result is the same as fitting the folds one after another. Its dual solver shuffles with a
process-wide random generator that concurrent fits would share, so dual fits, and the other
classifiers (whose matrix products already use every core), run one fold at a time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np

from l3net.evaluation import linear_svm

CLASSIFIERS = ("linear_svm", "liblinear_svm", "logreg", "mlp")
STD_FLOOR = 1e-6  # units constant over the training windows (dead ReLUs) are centred, not scaled
PROBABILITY_FLOOR = 1e-12


def svm_uses_dual(num_windows: int, dim: int) -> bool:
    """Whether `liblinear_svm` solves the dual (fewer training windows than feature dimensions)."""
    return num_windows < dim


def make_classifier(name: str, seed: int, num_windows: int, dim: int):
    """A fresh, seeded classifier with scikit-learn's interface for `name` (one of CLASSIFIERS).

    num_windows, dim: size of the training set [num_windows, dim], which picks LinearSVC's solver.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC

    if name == "linear_svm" and linear_svm.suits(num_windows, dim):
        return linear_svm.OneVsRestLinearSVM(C=1.0)
    if name in ("linear_svm", "liblinear_svm"):
        return LinearSVC(C=1.0, dual=svm_uses_dual(num_windows, dim), max_iter=2000, random_state=seed)
    if name == "logreg":
        return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(512,), early_stopping=True, max_iter=200, random_state=seed)
    raise ValueError(f"classifier {name!r}: use one of {', '.join(CLASSIFIERS)}")


def zscore_stats(train: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, std) float32 [D] of training windows [W, D]; std floored at STD_FLOOR (then set to 1)."""
    x = train.astype(np.float32)
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x.std(axis=0, dtype=np.float64).astype(np.float32)
    return mean, np.where(std < STD_FLOOR, 1.0, std).astype(np.float32)


def _scores(classifier, x: np.ndarray) -> np.ndarray:
    """[W, C] per-window class scores: SVM margins, or log-probabilities of probabilistic models."""
    if hasattr(classifier, "decision_function") and not hasattr(classifier, "predict_proba"):
        scores = classifier.decision_function(x)
    else:  # floored: a window certain "not class c" must not veto c for the whole clip
        scores = np.log(np.maximum(classifier.predict_proba(x), PROBABILITY_FLOOR))
    scores = np.asarray(scores, np.float64)
    if scores.ndim == 1:  # a binary sklearn problem returns one margin
        scores = np.stack([-scores, scores], axis=1)
    return scores


def clip_scores(window_scores: np.ndarray, clip_index: np.ndarray, num_clips: int) -> np.ndarray:
    """Mean of window scores [W, C] per clip -> [num_clips, C] (clips without windows stay 0)."""
    sums = np.zeros((num_clips, window_scores.shape[1]))
    np.add.at(sums, clip_index, window_scores)
    counts = np.bincount(clip_index, minlength=num_clips)[:, None]
    return sums / np.maximum(counts, 1)


@dataclasses.dataclass
class ProbeResult:
    """Cross-validated accuracy of a probe.

    fold_accuracies: [folds] clip accuracy per test fold; confusion: int [C, C] summed over the
    test folds (row = true class, column = predicted); predictions: int [N] predicted class of
    every clip (from the fold that tested it; -1 if no fold tested it).
    """

    fold_accuracies: List[float]
    confusion: np.ndarray
    predictions: np.ndarray

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.fold_accuracies))

    @property
    def std_accuracy(self) -> float:
        return float(np.std(self.fold_accuracies))

    def to_dict(self) -> Dict[str, object]:
        return {"fold_accuracies": self.fold_accuracies, "mean_accuracy": self.mean_accuracy,
                "std_accuracy": self.std_accuracy, "confusion": self.confusion.tolist()}


def cross_validate(features: np.ndarray, clip_index: np.ndarray, targets: np.ndarray,
                   folds: Sequence[Tuple[np.ndarray, np.ndarray]], classifier: str, seed: int = 0) -> ProbeResult:
    """Trains and tests one probe per (train clips, test clips) split.

    Args:
      features: [W, D] window features (any float dtype); clip_index: int [W] owning clip of each
        window; targets: int [N] class of each clip (0..C-1); folds: (train, test) clip indices.
      classifier: one of CLASSIFIERS; seed: its random state.
    """
    targets = np.asarray(targets)
    num_clips, num_classes = len(targets), int(targets.max()) + 1
    dim = features.shape[1]

    def fit_and_test(fold: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Predicted class [len(test clips)] of the fold's test clips."""
        train_clips, test_clips = fold
        train_w = np.isin(clip_index, train_clips)
        test_w = np.isin(clip_index, test_clips)
        mean, std = zscore_stats(features[train_w])
        x_train = (features[train_w].astype(np.float32) - mean) / std
        x_test = (features[test_w].astype(np.float32) - mean) / std
        model = make_classifier(classifier, seed, len(x_train), dim)
        model.fit(x_train, targets[clip_index[train_w]])
        window_scores = np.full((int(test_w.sum()), num_classes), -np.inf)
        window_scores[:, model.classes_] = _scores(model, x_test)
        per_clip = clip_scores(np.where(np.isfinite(window_scores), window_scores, -1e9),
                               clip_index[test_w], num_clips)[test_clips]
        return per_clip.argmax(axis=1)

    workers = fold_workers(classifier, clip_index, folds, dim)
    with warnings.catch_warnings():
        # A capped solver that did not fully converge still gives a usable probe; the accuracy is
        # what is reported. (Set here, not in the threads: warning filters are process-wide.)
        warnings.simplefilter("ignore")
        if workers > 1:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                predicted_per_fold = list(pool.map(fit_and_test, folds))
        else:
            predicted_per_fold = [fit_and_test(fold) for fold in folds]

    confusion = np.zeros((num_classes, num_classes), np.int64)
    predictions = np.full(num_clips, -1, np.int64)
    accuracies = []
    for (_, test_clips), predicted in zip(folds, predicted_per_fold):
        predictions[test_clips] = predicted
        np.add.at(confusion, (targets[test_clips], predicted), 1)
        accuracies.append(float(np.mean(predicted == targets[test_clips])))
    return ProbeResult(accuracies, confusion, predictions)


def fold_workers(classifier: str, clip_index: np.ndarray, folds: Sequence[Tuple[np.ndarray, np.ndarray]],
                 dim: int) -> int:
    """Threads that fit folds at once: one per core for liblinear's primal solver, else 1 (module doc)."""
    if classifier not in ("linear_svm", "liblinear_svm") or len(folds) < 2:
        return 1
    sizes = [int(np.isin(clip_index, train).sum()) for train, _ in folds]
    if classifier == "linear_svm" and any(linear_svm.suits(n, dim) for n in sizes):
        return 1   # the exact solver's matrix products use every core
    if any(svm_uses_dual(n, dim) for n in sizes):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(folds), cores))
