"""Sound-classification benchmarks the probes run on: ESC-50 and DCASE 2013 SCD folder layouts.

Both readers turn a folder into the same `SoundDataset` (clip paths, integer targets, class names,
five (train, test) splits) and check everything a run needs *before* any audio is decoded, so a
bad folder fails in a second with one line naming the file, never after minutes of features.

ESC-50 (public release and `l3net_data synthetic_esc50`):
  E/meta/esc50.csv   columns filename, fold, target, category (esc10, src_file, take unused)
  E/audio/<filename>
  Folds come from the `fold` column, which must hold exactly 5 distinct values; fold f tests on
  its clips and trains on the other four (the protocol of the ESC-50 paper and of L3-Net).

DCASE 2013 SCD (scene classification, 10 scenes x 10 clips x 30 s):
  D/audio/<scene><NN>.wav  (the public development set unpacks them as `scenes_stereo/`, also read)
  D/evaluation_setup/fold{1..5}_{train,test}.txt   lines `<filename><TAB><scene>` (the layout of
      `l3net_data synthetic_dcase2013`); the filename may carry a leading `audio/`.
  Without `evaluation_setup/`, the 5 folds are the public set's clip-number rule: clip NN is
  tested in fold ((NN - 1) mod 5) + 1, so every fold tests 2 clips of each scene.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

NUM_FOLDS = 5
ESC50_COLUMNS = ("filename", "fold", "target", "category")
DCASE_AUDIO_DIRS = ("audio", "scenes_stereo")
_DCASE_CLIP = re.compile(r"^([a-z]+?)(\d+)\.wav$", re.IGNORECASE)


class SoundDatasetError(ValueError):
    """A benchmark folder that cannot be used; the message names the file and what is wrong."""


@dataclasses.dataclass
class SoundDataset:
    """A clip-level classification benchmark with fixed cross-validation splits.

    paths: absolute clip paths [N] (the order features are stored in); targets: int [N] indices
    into class_names; folds: NUM_FOLDS (train indices, test indices) pairs over the clips;
    index_files: the files that define labels and folds (reported, and part of the cache key).
    """

    name: str
    root: str
    paths: List[str]
    targets: np.ndarray
    class_names: List[str]
    folds: List[Tuple[np.ndarray, np.ndarray]]
    index_files: List[str]


def _check_root(root: str, layout: str) -> None:
    if not os.path.isdir(root):
        raise SoundDatasetError(f"{root}: no such directory; pass the folder holding the {layout}")


def _check_clips(paths: Sequence[str], index_file: str) -> None:
    for path in paths:
        if not os.path.isfile(path):
            raise SoundDatasetError(f"{path}: listed in {index_file} but missing")


def read_esc50(root: str) -> SoundDataset:
    """Reads the ESC-50 layout under `root` (see module docstring). Raises SoundDatasetError."""
    _check_root(root, "ESC-50 layout (meta/esc50.csv, audio/)")
    meta = os.path.join(root, "meta", "esc50.csv")
    if not os.path.isfile(meta):
        raise SoundDatasetError(f"{meta}: missing; expected the ESC-50 layout (meta/esc50.csv, audio/*.wav)")
    try:
        with open(meta, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ESC50_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SoundDatasetError(f"{meta}: no column {', '.join(missing)} (needs {', '.join(ESC50_COLUMNS)})")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SoundDatasetError(f"{meta}: unreadable ({e})") from None
    if not rows:
        raise SoundDatasetError(f"{meta}: no clips listed")
    folds, targets, categories = [], [], {}
    for line, row in enumerate(rows, start=2):
        try:
            fold, target = int(row["fold"]), int(row["target"])
        except (TypeError, ValueError):
            raise SoundDatasetError(f"{meta}: line {line}: fold and target must be integers, got "
                                    f"{row['fold']!r}, {row['target']!r}") from None
        if categories.setdefault(target, row["category"]) != row["category"]:
            raise SoundDatasetError(f"{meta}: line {line}: target {target} is both {categories[target]!r} "
                                    f"and {row['category']!r}")
        folds.append(fold)
        targets.append(target)
    fold_values = sorted(set(folds))
    if len(fold_values) != NUM_FOLDS:
        raise SoundDatasetError(f"{meta}: the fold column has {len(fold_values)} folds "
                                f"({', '.join(map(str, fold_values))}); ESC-50 cross-validation needs {NUM_FOLDS}")
    paths = [os.path.abspath(os.path.join(root, "audio", row["filename"])) for row in rows]
    _check_clips(paths, meta)
    # Targets are renumbered densely (a subset such as ESC-10 keeps its original target ids).
    ordered = sorted(categories)
    dense = {target: i for i, target in enumerate(ordered)}
    fold_array = np.asarray(folds)
    splits = [(np.flatnonzero(fold_array != f), np.flatnonzero(fold_array == f)) for f in fold_values]
    return SoundDataset("esc50", os.path.abspath(root), paths, np.asarray([dense[t] for t in targets]),
                        [categories[t] for t in ordered], splits, [os.path.abspath(meta)])


def _dcase_audio_dir(root: str) -> str:
    for name in DCASE_AUDIO_DIRS:
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    raise SoundDatasetError(f"{root}: no {' or '.join(d + '/' for d in DCASE_AUDIO_DIRS)} folder; expected the "
                            "DCASE 2013 SCD layout (audio/<scene><NN>.wav, evaluation_setup/fold<K>_*.txt)")


def _read_fold_list(path: str, audio_dir: str) -> List[Tuple[str, str]]:
    """[(absolute clip path, scene)] of one fold list."""
    if not os.path.isfile(path):
        raise SoundDatasetError(f"{path}: missing; DCASE 2013 needs fold1..fold{NUM_FOLDS} train and test lists")
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\r\n") for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise SoundDatasetError(f"{path}: unreadable ({e})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise SoundDatasetError(f"{path}: line {number}: expected '<filename><TAB><scene>', got {line!r}")
        name = os.path.basename(parts[0].strip())
        out.append((os.path.abspath(os.path.join(audio_dir, name)), parts[1].strip()))
    if not out:
        raise SoundDatasetError(f"{path}: lists no clips")
    return out


def read_dcase2013(root: str) -> SoundDataset:
    """Reads the DCASE 2013 SCD layout under `root` (see module docstring). Raises SoundDatasetError."""
    _check_root(root, "DCASE 2013 SCD layout (audio/, evaluation_setup/)")
    audio_dir = _dcase_audio_dir(root)
    setup = os.path.join(root, "evaluation_setup")
    labels: Dict[str, str] = {}
    fold_sets: List[Tuple[List[str], List[str]]] = []
    index_files: List[str] = []
    if os.path.isdir(setup):
        present = sorted(n for n in os.listdir(setup) if re.match(r"^fold\d+_(train|test)\.txt$", n))
        numbers = sorted({int(re.match(r"^fold(\d+)_", n).group(1)) for n in present})
        if numbers and numbers != list(range(1, NUM_FOLDS + 1)):
            raise SoundDatasetError(f"{setup}: fold lists for folds {', '.join(map(str, numbers))}; "
                                    f"DCASE 2013 cross-validation needs folds 1..{NUM_FOLDS}")
        for k in range(1, NUM_FOLDS + 1):
            lists = []
            for part in ("train", "test"):
                path = os.path.join(setup, f"fold{k}_{part}.txt")
                entries = _read_fold_list(path, audio_dir)
                index_files.append(os.path.abspath(path))
                for clip, scene in entries:
                    if labels.setdefault(clip, scene) != scene:
                        raise SoundDatasetError(f"{path}: {os.path.basename(clip)} is labelled {scene!r} here "
                                                f"and {labels[clip]!r} in another list")
                _check_clips([clip for clip, _ in entries], path)
                lists.append([clip for clip, _ in entries])
            fold_sets.append((lists[0], lists[1]))
    else:
        clips = sorted(n for n in os.listdir(audio_dir) if _DCASE_CLIP.match(n))
        if not clips:
            raise SoundDatasetError(f"{audio_dir}: no <scene><NN>.wav clips and no {setup}/ fold lists")
        folds: Dict[int, List[str]] = {k: [] for k in range(1, NUM_FOLDS + 1)}
        for name in clips:
            scene, number = _DCASE_CLIP.match(name).groups()
            clip = os.path.abspath(os.path.join(audio_dir, name))
            labels[clip] = scene.lower()
            folds[(int(number) - 1) % NUM_FOLDS + 1].append(clip)
        empty = [k for k, members in folds.items() if not members]
        if empty:
            raise SoundDatasetError(f"{audio_dir}: {len(clips)} clips leave fold {empty[0]} without a test clip; "
                                    f"DCASE 2013 cross-validation needs {NUM_FOLDS} folds")
        all_clips = sorted(labels)
        fold_sets = [([c for c in all_clips if c not in set(folds[k])], folds[k]) for k in folds]
    paths = sorted(labels)
    index = {path: i for i, path in enumerate(paths)}
    class_names = sorted(set(labels.values()))
    targets = np.asarray([class_names.index(labels[p]) for p in paths])
    splits = [(np.asarray([index[c] for c in train]), np.asarray([index[c] for c in test]))
              for train, test in fold_sets]
    return SoundDataset("dcase2013", os.path.abspath(root), paths, targets, class_names, splits,
                        index_files or [os.path.abspath(audio_dir)])


READERS = {"esc50": read_esc50, "dcase2013": read_dcase2013}
