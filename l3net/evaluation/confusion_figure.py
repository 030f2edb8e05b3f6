"""The probe's confusion matrix as a PNG: which sound classes the frozen features mix up.

Rows are true classes, columns predicted ones, counts summed over the 5 test folds; each row is
coloured by its share of the class's clips so classes of any size read alike. Counts are written
in the cells while they stay legible (up to 20 classes; ESC-50's 50 are colour only).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from l3net.atomic_files import atomic_path

MAX_ANNOTATED_CLASSES = 20


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: str, title: str) -> None:
    """Writes the [C, C] confusion matrix (row = true class) to `path` (PNG) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(confusion, np.float64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    n = len(class_names)
    side = min(4.0 + 0.28 * n, 18.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    fontsize = 8 if n <= MAX_ANNOTATED_CLASSES else 6
    ax.set_xticklabels(class_names, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(class_names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
