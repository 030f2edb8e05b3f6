"""Validation curves of several training runs side by side: a table and one PNG.

For each model directory: every validation (step, val accuracy, val loss) from its history.csv,
the best step, the final step, the drop from best to final, and the gap between train-split and
val-split accuracy at the end (the memorisation signature). Used for the README's
before/after curves of the demo recipe.

  .venv/bin/python bench/compare_runs.py runs/exp/base_n240_seed1 runs/exp/aug_n240_seed1 \
      --labels "demo recipe" "+ augmentation" --png curves.png
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from l3net.model_dir import ModelDir  # noqa: E402
from l3net.train.training_curves import read_history  # noqa: E402


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dirs", nargs="+")
    parser.add_argument("--labels", nargs="*", help="one label per model dir (default: its name)")
    parser.add_argument("--png", help="where to draw val accuracy and loss against step")
    parser.add_argument("--title", default="validation curves")
    args = parser.parse_args(argv)
    labels = args.labels or [os.path.basename(os.path.normpath(d)) for d in args.model_dirs]
    if len(labels) != len(args.model_dirs):
        parser.error("--labels: give one label per model dir")
    runs = []
    print(f"{'run':<28s} {'best step':>9s} {'best val':>8s} {'final step':>10s} {'final val':>9s} {'drop':>6s} "
          f"{'final train':>11s}")
    for label, path in zip(labels, args.model_dirs):
        history = read_history(ModelDir(path).history_path)
        val, train = history.get("val", {}), history.get("train", {})
        if not val.get("step"):
            print(f"{label:<28s} no validation in {path}")
            continue
        best = max(range(len(val["step"])), key=lambda i: (val["accuracy"][i], -val["loss"][i]))
        drop = val["accuracy"][best] - val["accuracy"][-1]
        train_final = train["accuracy"][-1] if train.get("accuracy") else float("nan")
        print(f"{label:<28s} {val['step'][best]:9d} {val['accuracy'][best]:8.4f} {val['step'][-1]:10d} "
              f"{val['accuracy'][-1]:9.4f} {drop:6.3f} {train_final:11.4f}")
        runs.append((label, val))
    if args.png and runs:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
        for label, val in runs:
            ax_acc.plot(val["step"], val["accuracy"], marker="o", markersize=3, label=label)
            ax_loss.plot(val["step"], val["loss"], marker="o", markersize=3, label=label)
        ax_acc.set(xlabel="step", ylabel="val AVC accuracy", ylim=(0.45, 1.0))
        ax_loss.set(xlabel="step", ylabel="val cross-entropy")
        for ax in (ax_acc, ax_loss):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(args.title)
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
