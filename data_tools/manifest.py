"""Reading the lists of videos to convert: a CSV manifest, or AudioSet segment CSVs.

Both readers validate the whole input before anything is converted, so a typo on line 40 000
stops the run at once with `ManifestError` naming the file and line (the CLI prints it and exits
2) instead of surfacing hours later. They return `VideoSource`s: what `convert_video` needs to
turn one file into one record, independent of how the list was written.

Manifest CSV (UTF-8, header required): columns `path` (required), `labels`, `split`, `id`, in any
order. Relative paths are relative to the CSV's folder. `labels` are `;`-separated names. `split`
is train / val / test, or empty to let the converter assign one from the video id. The video id
is the `id` cell when given, else `sha1(path cell as written)[:16]`: stable across runs and
machines as long as the manifest text of the path does not change (moving the whole folder keeps
ids; rewriting relative paths as absolute ones changes them).

AudioSet: a segments CSV (`YTID, start_seconds, end_seconds, positive_labels`, '#' comment
lines, MIDs quoted and comma-separated), a class-index CSV (`index,mid,display_name`) to turn
MIDs into display names, and a folder of downloaded files. A file named `{YTID}.*` is taken to
be the full video (the segment is cut from it); a file named `{YTID}_{start}*` (start in seconds
or milliseconds, e.g. `abc_30.000.mp4`, `abc_30000_40000.mkv`) is taken to be the segment already
cut (converted from its beginning). Segments without a file are kept, pointing at
`{DIR}/{YTID}.*`, so they are reported as missing in failures.csv. Video id: `{YTID}_{start_ms}`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from l3net.data.schema import SPLITS

MANIFEST_COLUMNS = ("path", "labels", "split", "id")
LABEL_SEPARATOR = ";"
# Download leftovers that are never the finished video.
_PARTIAL_SUFFIXES = (".part", ".tmp", ".ytdl", ".temp")


class ManifestError(ValueError):
    """An unusable manifest; the message is one line naming the file (and line) and the fix."""


@dataclasses.dataclass(frozen=True)
class VideoSource:
    """One video to convert.

    video_id:      stable id stored in the record (see module docstring).
    source_path:   the path as the user wrote it (stored in the record and in failures.csv).
    file_path:     where to open it (absolute, or the `{YTID}.*` pattern of a missing download).
    labels:        label names, in manifest order.
    split:         'train' | 'val' | 'test', or None to be assigned from `video_id`.
    start_seconds: where the clip starts in the file (AudioSet segments cut from full videos).
    end_seconds:   where it ends in the file, or None for the end of the file.
    split_key:     what the train/val/test hash is taken of when no split is given; videos that
                   share it land in the same split (AudioSet: the YouTube id, so two segments
                   of one video never straddle train and test). Empty = the video id.
    """

    video_id: str
    source_path: str
    file_path: str
    labels: Tuple[str, ...] = ()
    split: Optional[str] = None
    start_seconds: float = 0.0
    end_seconds: Optional[float] = None
    split_key: str = ""


def path_video_id(path_cell: str) -> str:
    """Video id of a manifest row without an `id` cell: a hash of the path text as written."""
    return hashlib.sha1(path_cell.encode("utf-8")).hexdigest()[:16]


def read_manifest(csv_path: str) -> List[VideoSource]:
    """Parses a manifest CSV into sources (split None where the row leaves it to the converter).

    Raises:
      ManifestError: missing/unreadable file, bad header, bad row, duplicate video id.
    """
    rows = _csv_rows(csv_path, comment_prefix=None)
    first = next(rows, None)
    if first is None:
        raise ManifestError(f"{csv_path}: empty manifest; expected a header line `path,labels[,split]`")
    header_line, header = first
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    if "path" not in columns or unknown:
        what = f"unknown column '{unknown[0]}'" if unknown else "no `path` column"
        raise ManifestError(f"{csv_path}:{header_line}: {what}; the header must name columns from "
                            f"{', '.join(MANIFEST_COLUMNS)} (e.g. `path,labels,split`)")
    if len(set(columns)) != len(columns):
        raise ManifestError(f"{csv_path}:{header_line}: a column is named twice in the header")
    folder = os.path.dirname(os.path.abspath(csv_path))
    sources: List[VideoSource] = []
    seen: Dict[str, int] = {}
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            raise ManifestError(f"{csv_path}:{line}: {len(cells)} fields, the header has {len(columns)}; "
                                "quote cells that contain commas")
        row = dict(zip(columns, cells))
        path = row["path"].strip()
        if not path:
            raise ManifestError(f"{csv_path}:{line}: empty path")
        split = row.get("split", "").strip().lower() or None
        if split is not None and split not in SPLITS:
            raise ManifestError(f"{csv_path}:{line}: split '{row['split']}' is not one of {', '.join(SPLITS)} "
                                "(or leave it empty)")
        labels = tuple(x.strip() for x in row.get("labels", "").split(LABEL_SEPARATOR) if x.strip())
        video_id = row.get("id", "").strip() or path_video_id(path)
        if video_id in seen:
            raise ManifestError(f"{csv_path}:{line}: video id '{video_id}' already used on line "
                                f"{seen[video_id]} (same path or id twice)")
        seen[video_id] = line
        sources.append(VideoSource(video_id=video_id, source_path=path,
                                   file_path=os.path.join(folder, os.path.expanduser(path)),
                                   labels=labels, split=split))
    if not sources:
        raise ManifestError(f"{csv_path}: no videos listed below the header")
    return sources


def read_class_index(csv_path: str) -> Dict[str, str]:
    """AudioSet class index CSV (`index,mid,display_name`) -> {mid: display_name}."""
    rows = _csv_rows(csv_path, comment_prefix="#")
    first = next(rows, None)
    if first is None:
        raise ManifestError(f"{csv_path}: empty class index; expected `index,mid,display_name` rows")
    names: Dict[str, str] = {}
    line, cells = first
    if [c.strip().lower() for c in cells][:3] != ["index", "mid", "display_name"]:
        rows = _chain(first, rows)
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != 3 or not cells[1].strip() or not cells[2].strip():
            raise ManifestError(f"{csv_path}:{line}: expected `index,mid,display_name`, got {len(cells)} fields")
        names[cells[1].strip()] = cells[2].strip()
    if not names:
        raise ManifestError(f"{csv_path}: no classes listed")
    return names


def read_audioset_segments(segments_csv: str, class_index_csv: str, video_dir: str) -> List[VideoSource]:
    """AudioSet segments + class index + download folder -> sources (labels = display names).

    Raises:
      ManifestError: bad file, bad row, unknown MID, duplicate segment, missing video_dir.
    """
    names = read_class_index(class_index_csv)
    if not os.path.isdir(video_dir):
        raise ManifestError(f"{video_dir}: --video_dir is not a directory")
    segments: List[Tuple[int, str, float, float, Tuple[str, ...]]] = []
    for line, cells in _csv_rows(segments_csv, comment_prefix="#"):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != 4:
            raise ManifestError(f"{segments_csv}:{line}: expected `YTID, start_seconds, end_seconds, \"MID,...\"`, "
                                f"got {len(cells)} fields (are the MIDs quoted?)")
        ytid = cells[0].strip()
        if ytid.lower() == "ytid":
            continue
        try:
            start, end = float(cells[1]), float(cells[2])
        except ValueError:
            raise ManifestError(f"{segments_csv}:{line}: start/end seconds '{cells[1].strip()}', "
                                f"'{cells[2].strip()}' are not numbers") from None
        if not ytid or start < 0 or end <= start:
            raise ManifestError(f"{segments_csv}:{line}: need a YTID and 0 <= start_seconds < end_seconds")
        mids = [m.strip() for m in cells[3].split(",") if m.strip()]
        unknown = [m for m in mids if m not in names]
        if unknown:
            raise ManifestError(f"{segments_csv}:{line}: MID {unknown[0]} is not in {class_index_csv}")
        segments.append((line, ytid, start, end, tuple(names[m] for m in mids)))
    if not segments:
        raise ManifestError(f"{segments_csv}: no segments listed")
    files = _index_downloads(video_dir, {s[1] for s in segments})
    sources: List[VideoSource] = []
    seen: Dict[str, int] = {}
    for line, ytid, start, end, labels in segments:
        video_id = f"{ytid}_{int(round(start * 1000))}"
        if video_id in seen:
            raise ManifestError(f"{segments_csv}:{line}: segment {ytid} at {start:g} s already listed on line "
                                f"{seen[video_id]}")
        seen[video_id] = line
        cut, full = _pick_download(files.get(ytid, []), start)
        if cut is not None:
            file_path, clip_start, clip_end = cut, 0.0, end - start
        else:
            file_path = full if full is not None else os.path.join(video_dir, f"{ytid}.*")
            clip_start, clip_end = start, end
        sources.append(VideoSource(video_id=video_id, source_path=os.path.relpath(file_path, video_dir),
                                   file_path=os.path.abspath(file_path), labels=labels,
                                   start_seconds=clip_start, end_seconds=clip_end, split_key=ytid))
    return sources


def _index_downloads(video_dir: str, ytids: set) -> Dict[str, List[Tuple[str, Optional[float]]]]:
    """{ytid: [(path, number after `{ytid}_` or None for `{ytid}.*`)]} for files in `video_dir`."""
    found: Dict[str, List[Tuple[str, Optional[float]]]] = {}
    for entry in sorted(os.scandir(video_dir), key=lambda e: e.name):
        name = entry.name
        if name.startswith(".") or name.lower().endswith(_PARTIAL_SUFFIXES) or not entry.is_file():
            continue
        head = name.split(".", 1)[0]
        if "." in name and head in ytids:
            found.setdefault(head, []).append((entry.path, None))
            continue
        for match in re.finditer("_", name):
            prefix = name[:match.start()]
            number = re.match(r"\d+(\.\d+)?", name[match.end():])
            if prefix in ytids and number:
                found.setdefault(prefix, []).append((entry.path, float(number.group(0))))
    return found


def _pick_download(candidates: Sequence[Tuple[str, Optional[float]]],
                   start: float) -> Tuple[Optional[str], Optional[str]]:
    """(already-cut file for this start, full-video file); either may be None."""
    cut = full = None
    for path, number in candidates:
        if number is None:
            full = full or path
        elif cut is None and (abs(number - start) < 1e-6 or abs(number - start * 1000) < 1e-3):
            cut = path
    return cut, full


def _csv_rows(csv_path: str, comment_prefix: Optional[str]) -> Iterator[Tuple[int, List[str]]]:
    """(line number, cells) of each CSV record; file problems become ManifestError."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, skipinitialspace=True)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise ManifestError(f"{csv_path}:{reader.line_num}: malformed CSV ({e})") from None
                except UnicodeDecodeError:
                    raise ManifestError(f"{csv_path}:{_first_non_utf8_line(csv_path)}: not UTF-8 text; "
                                        "save the file as UTF-8") from None
                if comment_prefix and cells and cells[0].lstrip().startswith(comment_prefix):
                    continue
                yield reader.line_num, cells
    except FileNotFoundError:
        raise ManifestError(f"{csv_path}: no such file") from None
    except IsADirectoryError:
        raise ManifestError(f"{csv_path}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise ManifestError(f"{csv_path}: permission denied") from None


def _first_non_utf8_line(path: str) -> int:
    """1-based number of the first line that is not valid UTF-8 (text is decoded in chunks)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _chain(first: Tuple[int, List[str]], rest: Iterator[Tuple[int, List[str]]]) -> Iterator[Tuple[int, List[str]]]:
    yield first
    yield from rest
