"""`l3net_embed audio|image|video INPUTS... --model X [--hop 0.1 --batch_size 32 --output_dir O]`.

X is an `l3net_export --export_dir` (its SavedModels are used) or an `l3net_train --model_dir`.
INPUTS are files or directories; a directory is searched recursively for media files of the
kind (audio: sound and video files, whose sound is embedded; image: image files; video: video
files), by extension. Outputs are named as OpenL3 names them (l3net.embed.api): `<stem>.npz`, or
`<stem>_<suffix>.npz` with --suffix; a video gives `<stem>_audio.npz` and `<stem>_image.npz`.
Each is written atomically; an existing output is kept and its input skipped unless
--overwrite. --audio_embedding_size / --image_embedding_size pick the pooled conv features
(6144 / 8192 at paper size) instead of the model's embedding. A file that cannot be read (or
that fails in any other way) is reported on stderr as "<file>: <reason>" and skipped; the
others go on, the failures are listed again at the end, and the exit status is 1 if any failed
(2 for a usage error: bad flag, unusable model directory, no input found). Hostile inputs and
what each gives: README "Hostile inputs", tests/test_hostile_inputs.py.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Dict, List, Tuple

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402

TOOL = "l3net_embed"
KINDS = ("audio", "image", "video")
FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    model=(None, "Export directory of `l3net_export` (--export_dir) or model directory of `l3net_train` "
                 "(--model_dir)."),
    hop=(0.1, "Seconds between audio windows and between video frames."),
    batch_size=(32, "Windows or images per forward pass."),
    output_dir=(None, "Where the .npz files go (default: next to each input)."),
    checkpoint=("best", "With a model directory: which checkpoint, best|latest|<step> (best = best validation; "
                        "falls back to latest)."),
    exact=(False, "Compute every audio window through the whole network (slower; the embeddings of l3net before "
                 "shared window maps). Default: overlapping windows share their conv maps (README \"Shared "
                 "window computation\")."),
    bfloat16=(False, "With a model directory: compute in bfloat16 (1.7x faster at paper size on CPUs with "
                     "AVX512-BF16 or AMX, embeddings within cosine 0.9994 of float32; slower elsewhere)."),
)
flags.DEFINE_bool("center", True, "OpenL3's center=True: centre audio window i on i * hop and pad the end so "
                  "every sample is in a window (else window i starts at i * hop).")
flags.DEFINE_string("suffix", "", "Output names <stem>_<suffix>.npz (OpenL3's); video: <stem>_audio_<suffix>.npz "
                    "and <stem>_image_<suffix>.npz.")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs (default: skip inputs whose outputs exist).")
flags.DEFINE_integer("audio_embedding_size", 0, "0 = the model's audio embedding; its pooled conv features by "
                     "their size (6144 at paper size, OpenL3's default) or the embedding's size.")
flags.DEFINE_integer("image_embedding_size", 0, "0 = the model's image embedding; its pooled conv features by "
                     "their size (8192 at paper size, OpenL3's default) or the embedding's size.")

USAGE = f"usage: {TOOL} {{{'|'.join(KINDS)}}} FILES_OR_DIRS... --model X [--hop 0.1 --batch_size 32 --output_dir O]"

# Extensions a directory is searched for, per kind (files named on the command line are always taken).
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".aifc",
                    ".wma", ".mka", ".au", ".snd", ".caf", ".w64", ".ac3", ".amr")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
                    ".ogv", ".ts", ".mts", ".m2ts")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jp2")
EXTENSIONS = {"audio": AUDIO_EXTENSIONS + VIDEO_EXTENSIONS, "image": IMAGE_EXTENSIONS, "video": VIDEO_EXTENSIONS}


def find_inputs(kind: str, inputs: List[str]) -> Tuple[List[str], List[str]]:
    """(files, missing): the files named, and the media files of `kind` under the directories named
    (recursively, sorted, hidden entries skipped); `missing` lists inputs that do not exist."""
    files: List[str] = []
    missing: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = []
            for folder, subdirs, names in os.walk(item):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                found += [os.path.join(folder, n) for n in names
                          if not n.startswith(".") and n.lower().endswith(EXTENSIONS[kind])]
            files += sorted(found)
        elif os.path.exists(item):
            files.append(item)
        else:
            missing.append(item)
    return files, missing


class _Progress:
    """`[i/n] name` per file: redrawn in place on a terminal, one line per file otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()

    def update(self, done: int, name: str, failed: int, skipped: int) -> None:
        width = 24
        bar = "#" * (width * done // self.total) + "." * (width - width * done // self.total)
        line = (f"[{bar}] {done}/{self.total} files, {failed} failed, {skipped} skipped, "
                f"{time.monotonic() - self.t0:.0f}s  {name}")
        end = "\n" if not self.tty or done == self.total else ""
        sys.stderr.write(("\r\033[K" if self.tty else "") + line + end)
        sys.stderr.flush()


def _size(value: int):
    return value or None


def _processor(kind: str) -> Callable[[str], object]:
    from l3net.embed import api
    from l3net.embed.embedder import get_embedder

    common = {"model": get_embedder(FLAGS.model, FLAGS.checkpoint, FLAGS.bfloat16), "output_dir": FLAGS.output_dir,
              "suffix": FLAGS.suffix or None, "overwrite": FLAGS.overwrite}
    timed = {"hop_size": FLAGS.hop, "center": FLAGS.center, "batch_size": FLAGS.batch_size, "exact": FLAGS.exact}
    audio_size, image_size = _size(FLAGS.audio_embedding_size), _size(FLAGS.image_embedding_size)
    if kind == "audio":
        return lambda path: api.process_audio_file(path, **common, **timed, embedding_size=audio_size)
    if kind == "video":
        return lambda path: api.process_video_file(path, **common, **timed, audio_embedding_size=audio_size,
                                                   image_embedding_size=image_size)
    return lambda path: api.process_image_file(path, **common, batch_size=FLAGS.batch_size,
                                               embedding_size=image_size)


def outputs_of(kind: str, path: str) -> Tuple[str, ...]:
    from l3net.embed.api import output_path, video_output_paths

    if kind == "video":
        return video_output_paths(path, FLAGS.output_dir, FLAGS.suffix or None)
    return (output_path(path, FLAGS.output_dir, FLAGS.suffix or None),)


def _reason(path: str, error: Exception) -> str:
    """One line naming the input: "<path>: <reason>" (unexpected errors with their type)."""
    from l3net.embed.failures import FILE_ERRORS, one_line

    text = one_line(error) if isinstance(error, FILE_ERRORS) else f"error: {type(error).__name__}: {one_line(error)}"
    return text if text.startswith(f"{path}: ") else f"{path}: {text}"


def embed_files(kind: str, paths: List[str]) -> Tuple[List[str], int]:
    """Processes every file, whatever fails; returns (failures, one line each, skipped)."""
    process = _processor(kind)
    owners: Dict[str, str] = {}
    progress = _Progress(len(paths))
    failures: List[str] = []
    skipped = 0
    for done, path in enumerate(paths, 1):
        outs = outputs_of(kind, path)
        try:
            clash = [out for out in outs if out in owners]
            if clash:
                raise ValueError(f"{path}: output {clash[0]} is already written for {owners[clash[0]]}; "
                                 "use separate --output_dir runs or rename")
            owners.update({out: path for out in outs})
            if not FLAGS.overwrite and all(os.path.exists(out) for out in outs):
                skipped += 1
            else:
                process(path)
        except Exception as e:  # One bad file (or a decoder bug on it) must not stop a 1,000-file run.
            failures.append(_reason(path, e))
            sys.stderr.write(("\n" if progress.tty else "") + f"{TOOL}: failed: {failures[-1]}\n")
        progress.update(done, os.path.basename(path), len(failures), skipped)
    return failures, skipped


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[1] not in KINDS:
        fail(TOOL, USAGE)
    kind = argv[1]
    if not FLAGS.model:
        fail(TOOL, f"--model is required; {USAGE}")
    if not FLAGS.hop > 0:
        fail(TOOL, f"--hop={FLAGS.hop}: must be > 0")
    if FLAGS.batch_size < 1:
        fail(TOOL, f"--batch_size={FLAGS.batch_size}: must be >= 1")
    if FLAGS.output_dir and os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        fail(TOOL, f"--output_dir={FLAGS.output_dir}: exists and is not a directory")
    paths, missing = find_inputs(kind, argv[2:])
    if missing:
        fail(TOOL, f"{missing[0]}: no such file or directory")
    if not paths:
        fail(TOOL, f"no {kind} files in {', '.join(argv[2:])} (searched for {', '.join(EXTENSIONS[kind])})")
    from l3net.embed.embedder import AUDIO_KIND, IMAGE_KIND, choose_pooled, get_embedder
    from l3net.model_dir import ModelDirError

    sizes = {AUDIO_KIND: _size(FLAGS.audio_embedding_size), IMAGE_KIND: _size(FLAGS.image_embedding_size)}
    uses = {"audio": (AUDIO_KIND,), "image": (IMAGE_KIND,), "video": (AUDIO_KIND, IMAGE_KIND)}[kind]
    try:
        embedder = get_embedder(FLAGS.model, FLAGS.checkpoint, FLAGS.bfloat16)
        embedder.require(kind)
        for use in uses:
            try:
                pooled = choose_pooled(embedder, use, sizes[use])
            except ValueError as e:
                fail(TOOL, f"--{use}_{e}")
            if pooled:
                embedder.require(use, pooled=True)
    except ModelDirError as e:
        fail(TOOL, f"--model: {e}")
    failures, skipped = embed_files(kind, paths)
    failed = len(failures)
    done = len(paths) - failed - skipped
    print(f"{done} of {len(paths)} files embedded" + (f" into {FLAGS.output_dir}" if FLAGS.output_dir else "")
          + (f"; {skipped} skipped (outputs exist; --overwrite replaces them)" if skipped else "")
          + (f"; {failed} failed" if failed else ""))
    if failed:  # Again at the end: in a long run the lines above have scrolled away.
        sys.stderr.write(f"{TOOL}: {failed} of {len(paths)} files failed:\n"
                         + "".join(f"{TOOL}:   {reason}\n" for reason in failures))
    return 1 if failed else 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
