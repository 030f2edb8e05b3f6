"""The probe's classifier stage alone: the 5 folds one at a time vs in parallel threads.

Reads the window features a finished `l3net_probe esc50` cached (<output_dir>/feature_cache/*.npz)
and the dataset's folds, then times `linear_probe.cross_validate` twice: with the folds forced one
at a time, and as the probe runs them (`fold_workers`: one thread per core where liblinear's
primal solver runs). Prints seconds, accuracies (identical when the threads are used) and workers.

With --solvers it instead times `linear_svm` through each of its two solvers, as the probe would
run each (folds in parallel threads where it allows): the exact solver (`linear_svm.py`) and
LinearSVC; `linear_svm.suits` picks between them by the measured shapes (its WIDE_DIM).

  .venv/bin/python bench/probe_folds.py --probe_dir runs/demo/model_.../probe_esc50 --data_dir runs/demo/esc50_seed0
  .venv/bin/python bench/probe_folds.py --probe_dir P --data_dir D --solvers
"""

from __future__ import annotations

import argparse
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe_dir", required=True, help="output_dir of an `l3net_probe esc50` run")
    parser.add_argument("--data_dir", required=True, help="its ESC-50-layout --data_dir")
    parser.add_argument("--classifier", default="linear_svm")
    parser.add_argument("--solvers", action="store_true",
                        help="time linear_svm's exact solver against LinearSVC instead")
    args = parser.parse_args()

    from l3net.evaluation import linear_probe, linear_svm
    from l3net.evaluation.sound_datasets import read_esc50

    caches = sorted(glob.glob(os.path.join(args.probe_dir, "feature_cache", "*.npz")))
    if not caches:
        raise SystemExit(f"bench/probe_folds.py: no feature_cache/*.npz in {args.probe_dir}; run l3net_probe first")
    cached = np.load(caches[-1])
    features, clip_index = cached["features"], cached["clip_index"]
    dataset = read_esc50(args.data_dir)
    if args.solvers:
        compare_solvers(linear_probe, linear_svm, features, clip_index, dataset)
        return
    parallel_workers = linear_probe.fold_workers(args.classifier, clip_index, dataset.folds, features.shape[1])
    results = {}
    for label, one_at_a_time in (("one at a time", True), ("as the probe runs them", False)):
        original = linear_probe.fold_workers
        if one_at_a_time:
            linear_probe.fold_workers = lambda *a: 1
        try:
            start = time.perf_counter()
            result = linear_probe.cross_validate(features, clip_index, dataset.targets, dataset.folds,
                                                 args.classifier)
            seconds = time.perf_counter() - start
        finally:
            linear_probe.fold_workers = original
        results[label] = result
        workers = 1 if one_at_a_time else parallel_workers
        print(f"{args.classifier} on {features.shape[0]} windows x {features.shape[1]}, folds {label} "
              f"({workers} thread{'s' if workers > 1 else ''}): {seconds:.2f} s, "
              f"accuracy {100 * result.mean_accuracy:.2f} %", flush=True)
    a, b = results.values()
    print("predictions identical" if np.array_equal(a.predictions, b.predictions) else "predictions DIFFER")


def compare_solvers(linear_probe, linear_svm, features, clip_index, dataset) -> None:
    """Times cross_validate(linear_svm) with `suits` forced to the exact solver, then to LinearSVC."""
    original = linear_svm.suits
    results = {}
    for label, forced in (("exact solver", True), ("LinearSVC", False)):
        linear_svm.suits = lambda num_windows, dim, forced=forced: forced
        try:
            start = time.perf_counter()
            results[label] = linear_probe.cross_validate(features, clip_index, dataset.targets, dataset.folds,
                                                         "linear_svm")
            seconds = time.perf_counter() - start
        finally:
            linear_svm.suits = original
        print(f"linear_svm by the {label} on {features.shape[0]} windows x {features.shape[1]}: {seconds:.2f} s, "
              f"accuracy {100 * results[label].mean_accuracy:.2f} %", flush=True)
    a, b = results.values()
    print("predictions identical" if np.array_equal(a.predictions, b.predictions) else "predictions DIFFER")
    train_windows = [int(np.isin(clip_index, train).sum()) for train, _ in dataset.folds]
    print(f"the probe uses: {'the exact solver' if original(max(train_windows), features.shape[1]) else 'LinearSVC'}")


if __name__ == "__main__":
    main()
