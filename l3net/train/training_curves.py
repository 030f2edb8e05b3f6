"""The run's history as a CSV and the training-curve PNG drawn from it.

History rows are appended as the run goes (one per logging or validation step) so a resumed run
extends the same curves; the PNG is redrawn from the whole CSV at the end of every run. The
fourth column is the task's metric and is named after it (`accuracy` for AVC, `correlation` for
the envelope task).
"""

from __future__ import annotations

import csv
import io
import os
from typing import Dict, List, Optional, Tuple

from l3net.atomic_files import atomic_path

HISTORY_FIELDS = ("step", "split", "loss", "accuracy", "elapsed_s")
METRIC_COLUMN = 3


def append_history(path: str, step: int, split: str, loss: float, accuracy: float, elapsed_s: float,
                   metric_name: str = "accuracy") -> None:
    """Appends one row (writing the header if the file is new). A row is one short line, flushed.

    `accuracy` is the task's metric, `metric_name` its column name in the header.
    """
    new = not os.path.exists(path)
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            header = list(HISTORY_FIELDS)
            header[METRIC_COLUMN] = metric_name
            writer.writerow(header)
        writer.writerow([step, split, f"{loss:.6f}", f"{accuracy:.6f}", f"{elapsed_s:.1f}"])


def _complete_row(row: List[str]) -> bool:
    """A row as `append_history` writes it (not one cut short by a full disk or a crash)."""
    if len(row) != len(HISTORY_FIELDS) or not row[0].isdigit():
        return False
    try:
        [float(row[i]) for i in (2, 3, 4)]
    except ValueError:
        return False
    return True


def truncate_history(path: str, last_step: int) -> None:
    """Drops rows after `last_step` (logged by a killed run after its last checkpoint) and rows cut
    short (a write that failed half-way, e.g. on a full disk), atomically."""
    if not os.path.exists(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    rows = list(csv.reader(io.StringIO(text)))
    kept = [row for row in rows[1:] if _complete_row(row) and int(row[0]) <= last_step]
    if len(kept) == len(rows) - 1 and text.endswith("\n"):
        return
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(rows[0] if rows else HISTORY_FIELDS)
            writer.writerows(kept)


def read_history(path: str) -> Dict[str, Dict[str, List[float]]]:
    """{split: {'step': [...], 'loss': [...], 'accuracy': [...]}} from a history CSV.

    'accuracy' holds the metric column whatever its name. Rows that are incomplete (a run killed
    while writing) are skipped.
    """
    out: Dict[str, Dict[str, List[float]]] = {}
    if not os.path.exists(path):
        return out
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        metric = reader.fieldnames[METRIC_COLUMN] if reader.fieldnames and len(reader.fieldnames) > 3 else "accuracy"
        for row in reader:
            try:
                step, loss, acc = int(row["step"]), float(row["loss"]), float(row[metric])
            except (TypeError, ValueError, KeyError):
                continue
            series = out.setdefault(row["split"], {"step": [], "loss": [], "accuracy": []})
            series["step"].append(step)
            series["loss"].append(loss)
            series["accuracy"].append(acc)
    return out


def plot_training_curves(history_path: str, png_path: str, title: str = "", *, task_label: str = "AVC",
                         loss_label: str = "cross-entropy", metric_label: str = "accuracy",
                         metric_ylim: Optional[Tuple[float, float]] = (0.4, 1.0),
                         chance: Optional[float] = 0.5) -> bool:
    """Draws loss and the task's metric (train vs val) against step; returns False if no history.

    Defaults are the AVC task's (accuracy in [0.4, 1], chance 0.5); `chance` None draws no line.
    """
    history = read_history(history_path)
    if not history:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"train": dict(color="tab:blue", alpha=0.8), "val": dict(color="tab:orange", marker="o")}
    for split, series in sorted(history.items()):
        style = styles.get(split, {})
        ax_loss.plot(series["step"], series["loss"], label=split, **style)
        ax_acc.plot(series["step"], series["accuracy"], label=split, **style)
    ax_loss.set(xlabel="step", ylabel=loss_label, title=f"{task_label} loss")
    ax_acc.set(xlabel="step", ylabel=metric_label, title=f"{task_label} {metric_label}")
    if metric_ylim is not None:
        ax_acc.set_ylim(*metric_ylim)
    if chance is not None:
        ax_acc.axhline(chance, color="gray", linestyle=":", label="chance")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return True
