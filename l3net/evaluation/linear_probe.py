"""The probe classifier: z-score with training-fold statistics, fit on windows, score clips, cross-validate.

L3-Net's protocol (ICCV 2017, sec. 4.2): features of every 1 s window of a training clip are
training examples carrying the clip's label; the features are z-scored with statistics of the
training folds only (test folds never leak into the normalisation); a one-vs-all linear SVM is
trained; a test clip's score per class is the mean of its windows' scores, and its prediction the
best class. Accuracy is averaged over the benchmark's 5 folds.

Classifiers (scikit-learn, fixed seeds):
  linear_svm  LinearSVC (one-vs-rest, squared hinge, C = 1), the paper's choice;
  logreg      multinomial LogisticRegression (L-BFGS), scores are log-probabilities;
  mlp         one hidden layer of 512 ReLU units (the HEAR-style "shallow" probe), early stopping,
              scores are log-probabilities.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np

CLASSIFIERS = ("linear_svm", "logreg", "mlp")
STD_FLOOR = 1e-6  # units constant over the training windows (dead ReLUs) are centred, not scaled
PROBABILITY_FLOOR = 1e-12


def make_classifier(name: str, seed: int):
    """A fresh, seeded scikit-learn classifier for `name` (one of CLASSIFIERS)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC

    if name == "linear_svm":
        return LinearSVC(C=1.0, dual="auto", max_iter=2000, random_state=seed)
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
    confusion = np.zeros((num_classes, num_classes), np.int64)
    predictions = np.full(num_clips, -1, np.int64)
    accuracies = []
    for train_clips, test_clips in folds:
        train_w = np.isin(clip_index, train_clips)
        test_w = np.isin(clip_index, test_clips)
        mean, std = zscore_stats(features[train_w])
        x_train = (features[train_w].astype(np.float32) - mean) / std
        x_test = (features[test_w].astype(np.float32) - mean) / std
        model = make_classifier(classifier, seed)
        with warnings.catch_warnings():
            # A capped solver that did not fully converge still gives a usable probe; the
            # accuracy is what is reported.
            warnings.simplefilter("ignore")
            model.fit(x_train, targets[clip_index[train_w]])
        window_scores = np.full((int(test_w.sum()), num_classes), -np.inf)
        window_scores[:, model.classes_] = _scores(model, x_test)
        per_clip = clip_scores(np.where(np.isfinite(window_scores), window_scores, -1e9),
                               clip_index[test_w], num_clips)[test_clips]
        predicted = per_clip.argmax(axis=1)
        predictions[test_clips] = predicted
        np.add.at(confusion, (targets[test_clips], predicted), 1)
        accuracies.append(float(np.mean(predicted == targets[test_clips])))
    return ProbeResult(accuracies, confusion, predictions)
