"""Manifest and AudioSet CSV parsing: sources, ids, splits, and one-line errors naming the line."""

import os

import pytest

from data_tools.manifest import (ManifestError, path_video_id, read_audioset_segments, read_class_index,
                                 read_manifest)
from data_tools.shard_writer import resolve_splits

CLASS_INDEX = """index,mid,display_name
0,/m/09x0r,"Speech"
1,/m/05zppz,"Male speech, man speaking"
2,/m/04rlf,"Music"
3,/m/0342h,"Guitar"
"""

SEGMENTS = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=4, num_segs=4, num_unique_labels=4, num_positive_labels=6
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/05zppz"
-0RWZT-miFs, 420.000, 430.000, "/m/04rlf"
abc_def-123, 2.500, 12.500, "/m/0342h,/m/04rlf"
zzzzzzzzzzz, 0.000, 10.000, "/m/04rlf"
"""


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_manifest_rows_paths_labels_splits_ids(tmp_path):
    os.makedirs(tmp_path / "sub")
    csv_path = _write(tmp_path / "sub" / "videos.csv",
                      "path,labels,split\n"
                      "clips/a video.mp4,dog;bark ; ,train\n"
                      "\"clips/b,é.mkv\",,\n"
                      "/abs/c.mp4,cat,TEST\n")
    a, b, c = read_manifest(csv_path)
    assert a.file_path == os.path.join(str(tmp_path / "sub"), "clips/a video.mp4")
    assert a.source_path == "clips/a video.mp4"
    assert a.labels == ("dog", "bark") and a.split == "train"
    assert b.source_path == "clips/b,é.mkv" and b.labels == () and b.split is None
    assert c.file_path == "/abs/c.mp4" and c.split == "test"
    # Ids: a hash of the path text as written, stable across calls and distinct per path.
    assert a.video_id == path_video_id("clips/a video.mp4") == read_manifest(csv_path)[0].video_id
    assert len({a.video_id, b.video_id, c.video_id}) == 3


def test_manifest_explicit_id_column_and_any_column_order(tmp_path):
    csv_path = _write(tmp_path / "m.csv", "labels,id,path\nx,vid-1,a.mp4\ny,,b.mp4\n")
    a, b = read_manifest(csv_path)
    assert a.video_id == "vid-1" and a.labels == ("x",)
    assert b.video_id == path_video_id("b.mp4")


@pytest.mark.parametrize("text,line,words", [
    ("path,labels,split\na.mp4,x,train\nb.mp4,y,holdout\n", 3, "split 'holdout'"),
    ("path,labels\na.mp4,x\nb.mp4,y,extra\n", 3, "3 fields"),
    ("path,lables\na.mp4,x\n", 1, "unknown column 'lables'"),
    ("labels\nx\n", 1, "no `path` column"),
    ("path,labels\na.mp4,x\n,y\n", 3, "empty path"),
    ("path,labels\na.mp4,x\n\nb.mp4,y\na.mp4,z\n", 5, "already used on line 2"),
    ("path,id\na.mp4,v1\nb.mp4,v1\n", 3, "'v1' already used"),
])
def test_manifest_errors_name_file_and_line(tmp_path, text, line, words):
    csv_path = _write(tmp_path / "m.csv", text)
    with pytest.raises(ManifestError) as e:
        read_manifest(csv_path)
    message = str(e.value)
    assert message.startswith(f"{csv_path}:{line}:") and words in message and "\n" not in message


def test_manifest_file_level_errors(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        read_manifest(str(tmp_path / "nope.csv"))
    with pytest.raises(ManifestError, match="empty manifest"):
        read_manifest(_write(tmp_path / "empty.csv", ""))
    with pytest.raises(ManifestError, match="no videos listed"):
        read_manifest(_write(tmp_path / "header.csv", "path,labels\n"))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("path,labels\na.mp4,x\nvidéo.mp4,y\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"latin1.csv:3: not UTF-8"):
        read_manifest(str(bad))


def test_class_index_keeps_quoted_commas(tmp_path):
    names = read_class_index(_write(tmp_path / "idx.csv", CLASS_INDEX))
    assert names == {"/m/09x0r": "Speech", "/m/05zppz": "Male speech, man speaking",
                     "/m/04rlf": "Music", "/m/0342h": "Guitar"}


def test_audioset_segments_quoted_mids_and_file_lookup(tmp_path):
    index = _write(tmp_path / "idx.csv", CLASS_INDEX)
    segments = _write(tmp_path / "seg.csv", SEGMENTS)
    videos = tmp_path / "videos"
    os.makedirs(videos)
    for name in ["--PJHxphWEs.mp4",                # full video: segment is cut from it
                 "-0RWZT-miFs_420000_430000.mkv",  # already cut (start in ms)
                 "-0RWZT-miFs.webm.part",          # unfinished download, ignored
                 "abc_def-123_2.500.mp4",          # already cut (start in s), id with '_'
                 "abc_def-123_7.000.mp4"]:         # another segment of the same video: not this one
        (videos / name).write_bytes(b"x")
    a, b, c, d = read_audioset_segments(segments, index, str(videos))
    assert a.labels == ("Speech", "Male speech, man speaking")
    assert (a.video_id, a.start_seconds, a.end_seconds) == ("--PJHxphWEs_30000", 30.0, 40.0)
    assert a.file_path == str(videos / "--PJHxphWEs.mp4") and a.source_path == "--PJHxphWEs.mp4"
    assert b.file_path == str(videos / "-0RWZT-miFs_420000_430000.mkv")
    assert (b.start_seconds, b.end_seconds) == (0.0, 10.0)
    assert c.labels == ("Guitar", "Music") and c.file_path == str(videos / "abc_def-123_2.500.mp4")
    assert (c.start_seconds, c.end_seconds) == (0.0, 10.0)
    # No download: kept, pointing at the pattern, so the converter reports it as missing.
    assert d.source_path == "zzzzzzzzzzz.*" and not os.path.exists(d.file_path)
    assert all(s.split is None for s in (a, b, c, d))


@pytest.mark.parametrize("row,words", [
    ('xyz, 1.0, 11.0, "/m/nope"\n', "MID /m/nope is not in"),
    ("xyz, 1.0, 11.0, /m/04rlf,/m/0342h\n", "5 fields"),
    ('xyz, ten, 11.0, "/m/04rlf"\n', "not numbers"),
    ('xyz, 12.0, 11.0, "/m/04rlf"\n', "start_seconds < end_seconds"),
    ('--PJHxphWEs, 30.000, 40.000, "/m/04rlf"\n', "already listed on line 4"),
])
def test_audioset_errors_name_line(tmp_path, row, words):
    index = _write(tmp_path / "idx.csv", CLASS_INDEX)
    segments = _write(tmp_path / "seg.csv", SEGMENTS + row)
    os.makedirs(tmp_path / "v")
    with pytest.raises(ManifestError) as e:
        read_audioset_segments(segments, index, str(tmp_path / "v"))
    assert str(e.value).startswith(f"{segments}:8:") and words in str(e.value)


def test_audioset_missing_video_dir(tmp_path):
    index = _write(tmp_path / "idx.csv", CLASS_INDEX)
    segments = _write(tmp_path / "seg.csv", SEGMENTS)
    with pytest.raises(ManifestError, match="--video_dir is not a directory"):
        read_audioset_segments(segments, index, str(tmp_path / "nope"))


def test_audioset_segments_of_one_video_share_a_split(tmp_path):
    index = _write(tmp_path / "idx.csv", CLASS_INDEX)
    rows = "".join(f'sameVideo01, {10 * k}.0, {10 * k + 10}.0, "/m/04rlf"\n' for k in range(40))
    segments = _write(tmp_path / "seg.csv", "# YTID, start_seconds, end_seconds, positive_labels\n" + rows)
    os.makedirs(tmp_path / "v")
    sources = read_audioset_segments(segments, index, str(tmp_path / "v"))
    assert len({s.video_id for s in sources}) == 40
    assert len({s.split for s in resolve_splits(sources, 0.3, 0.3)}) == 1
