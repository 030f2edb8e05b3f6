"""Baselines of the envelope report: what a network must beat to have learned sound from vision.

  constant:      the train split's mean target, every frame (Pearson r 0, no peaks): the
                 BCE floor of a model that ignores the frames.
  motion energy: mean absolute difference of a frame and the previous one (the frames the
                 network sees), scaled to [0, 1] per clip. Impacts come with fast motion, so this
                 is the obvious non-learned answer. Also reported shifted by the single lag in
                 [-max_lag, max_lag] frames that maximises its mean r on the evaluated split
                 itself, an optimistic choice that favours the baseline.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from l3net.data import schema
from l3net.envelope.envelope_dataset import parse_clip
from l3net.envelope.envelope_metrics import pearson, scale_unit


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """float [N, H, W, 3] -> float64 [N] in [0, 1]: mean |frame_i - frame_{i-1}|, frame 0 copies frame 1's."""
    frames = np.asarray(frames, np.float64)
    if frames.shape[0] < 2:
        return np.zeros(frames.shape[0])
    diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return scale_unit(np.concatenate([diffs[:1], diffs]))


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """y[i] = x[i - lag], edges repeated (lag > 0 delays the sequence)."""
    x = np.asarray(x)
    index = np.clip(np.arange(x.size) - lag, 0, max(x.size - 1, 0))
    return x[index]


def best_lag(motions: Sequence[np.ndarray], targets: Sequence[np.ndarray], max_lag: int) -> int:
    """The lag in [-max_lag, max_lag] with the highest mean Pearson r (ties: smallest |lag|)."""
    lags = sorted(range(-max_lag, max_lag + 1), key=abs)
    scores = [np.mean([pearson(shift(m, lag), t) for m, t in zip(motions, targets)]) for lag in lags]
    return int(lags[int(np.argmax(scores))])


def mean_target(data_dir: str, split: str, sample_rate: int, sigma_at_44k: float) -> float:
    """Mean per-frame target over every video of `split` (targets only; no frame is decoded)."""
    paths = schema.shard_paths(data_dir, split)
    records = tf.data.TFRecordDataset(paths).map(
        lambda s: parse_clip(s, sample_rate=sample_rate, sigma_at_44k=sigma_at_44k)["target"],
        num_parallel_calls=tf.data.AUTOTUNE)
    total, count = 0.0, 0
    for target in records:
        total += float(tf.reduce_sum(target))
        count += int(target.shape[0])
    return total / max(count, 1)
