"""`l3net_embed audio|image|video FILES... --model X [--hop 0.1 --batch_size 32 --output_dir O]`.

X is an `l3net_export --export_dir` (its SavedModels are used) or an `l3net_train --model_dir`.
Writes one .npz per input (l3net.embed.api describes the arrays), atomically. A file that cannot
be read is reported on stderr with its reason and skipped; the others go on, and the exit status
is 1 if any failed (2 for a usage error: bad flag, unusable model directory).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Dict, List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

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
)
flags.DEFINE_bool("center", True, "Centre audio window i on i * hop (else start it there).")
flags.DEFINE_string("suffix", "", "Appended to each output's file stem (<stem><suffix>.npz).")

USAGE = f"usage: {TOOL} {{{'|'.join(KINDS)}}} FILES... --model X [--hop 0.1 --batch_size 32 --output_dir O]"


class _Progress:
    """`[i/n] name` per file: redrawn in place on a terminal, one line per file otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()

    def update(self, done: int, name: str, failed: int) -> None:
        width = 24
        bar = "#" * (width * done // self.total) + "." * (width - width * done // self.total)
        line = f"[{bar}] {done}/{self.total} files, {failed} failed, {time.monotonic() - self.t0:.0f}s  {name}"
        end = "\n" if not self.tty or done == self.total else ""
        sys.stderr.write(("\r\033[K" if self.tty else "") + line + end)
        sys.stderr.flush()


def _processor(kind: str) -> Callable[[str, str], str]:
    from l3net.embed import api

    from l3net.embed.embedder import get_embedder

    common = {"model": get_embedder(FLAGS.model, FLAGS.checkpoint), "output_dir": FLAGS.output_dir,
              "suffix": FLAGS.suffix}
    timed = {"hop_size": FLAGS.hop, "center": FLAGS.center, "batch_size": FLAGS.batch_size}
    if kind == "audio":
        return lambda path: api.process_audio_file(path, **common, **timed)
    if kind == "video":
        return lambda path: api.process_video_file(path, **common, **timed)
    return lambda path: api.process_image_file(path, **common)


def embed_files(kind: str, paths: List[str]) -> int:
    """Processes every file; returns the number that failed."""
    from l3net.audio_files import AudioFileError
    from l3net.embed.api import output_path

    process = _processor(kind)
    owners: Dict[str, str] = {}
    progress = _Progress(len(paths))
    failed = 0
    for done, path in enumerate(paths, 1):
        out = output_path(path, FLAGS.output_dir, FLAGS.suffix)
        try:
            if out in owners:
                raise ValueError(f"{path}: output {out} is already written for {owners[out]}; "
                                 "use separate --output_dir runs or rename")
            owners[out] = path
            process(path)
        except (AudioFileError, ValueError, OSError) as e:
            failed += 1
            sys.stderr.write(("\n" if progress.tty else "") + f"{TOOL}: failed: {str(e).splitlines()[0]}\n")
        progress.update(done, os.path.basename(path), failed)
    return failed


def main(argv: List[str]) -> int:
    logging.set_verbosity(logging.WARNING)
    if len(argv) < 3 or argv[1] not in KINDS:
        fail(TOOL, USAGE)
    if not FLAGS.model:
        fail(TOOL, f"--model is required; {USAGE}")
    if not FLAGS.hop > 0:
        fail(TOOL, f"--hop={FLAGS.hop}: must be > 0")
    if FLAGS.batch_size < 1:
        fail(TOOL, f"--batch_size={FLAGS.batch_size}: must be >= 1")
    if FLAGS.output_dir and os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        fail(TOOL, f"--output_dir={FLAGS.output_dir}: exists and is not a directory")
    from l3net.embed.embedder import get_embedder
    from l3net.model_dir import ModelDirError

    try:
        get_embedder(FLAGS.model, FLAGS.checkpoint).require(argv[1])
    except ModelDirError as e:
        fail(TOOL, f"--model: {e}")
    paths = argv[2:]
    failed = embed_files(argv[1], paths)
    print(f"{len(paths) - failed} of {len(paths)} files embedded"
          + (f" into {FLAGS.output_dir}" if FLAGS.output_dir else "") + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
