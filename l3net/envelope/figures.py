"""Pictures of predicted vs true envelopes, like the sound-from-video experiment's: frames above, curves below.

PNG: a strip of evenly spaced frames over the clip, and the true, predicted and motion-energy
envelopes against the frame index with detected peaks marked. GIF: the clip playing, with a
cursor moving along the same curves.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from l3net.atomic_files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(ax, true: np.ndarray, pred: np.ndarray, motion: Optional[np.ndarray], true_peaks, pred_peaks) -> None:
    x = np.arange(len(true))
    ax.plot(x, true, color="black", label="true envelope")
    ax.plot(x, pred, color="tab:red", label="predicted")
    if motion is not None:
        ax.plot(x, motion, color="tab:gray", alpha=0.6, linestyle="--", label="motion energy")
    ax.plot(true_peaks, np.asarray(true)[true_peaks], "kv", markersize=6)
    ax.plot(pred_peaks, np.asarray(pred)[pred_peaks], "r^", markersize=6)
    ax.set(xlabel="frame", ylabel="envelope", ylim=(-0.05, 1.05), xlim=(0, max(len(true) - 1, 1)))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7)


def save_clip_png(path: str, frames: np.ndarray, true: np.ndarray, pred: np.ndarray, *,
                  motion: Optional[np.ndarray] = None, true_peaks=(), pred_peaks=(), title: str = "",
                  strip: int = 8) -> None:
    """frames float [N, S, S, 3] in [0, 1]; true, pred, motion [N]. Writes `path` atomically."""
    plt = _pyplot()
    n = len(frames)
    picks = np.unique(np.linspace(0, n - 1, min(strip, n)).round().astype(int))
    fig = plt.figure(figsize=(10, 4.2))
    grid = fig.add_gridspec(2, len(picks), height_ratios=[1, 2])
    for k, i in enumerate(picks):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(np.clip(frames[i], 0, 1))
        ax.set_title(f"{i}", fontsize=8)
        ax.axis("off")
    _curves(fig.add_subplot(grid[1, :]), true, pred, motion, list(true_peaks), list(pred_peaks))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def save_clip_gif(path: str, frames: np.ndarray, true: np.ndarray, pred: np.ndarray, *, fps: float,
                  title: str = "") -> None:
    """The clip playing beside its curves, a cursor at the current frame. Writes `path` atomically."""
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, (ax_img, ax_env) = plt.subplots(1, 2, figsize=(7, 3), gridspec_kw={"width_ratios": [1, 2]})
    image = ax_img.imshow(np.clip(frames[0], 0, 1))
    ax_img.axis("off")
    _curves(ax_env, true, pred, None, [], [])
    cursor = ax_env.axvline(0, color="tab:blue")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()

    def draw(i: int):
        image.set_data(np.clip(frames[i], 0, 1))
        cursor.set_xdata([i, i])
        return image, cursor

    animation = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    with atomic_path(path) as tmp:
        animation.save(tmp, writer=PillowWriter(fps=max(1, int(round(fps)))))
    plt.close(fig)
