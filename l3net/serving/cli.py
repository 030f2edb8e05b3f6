"""`l3net_export --model_dir M --export_dir X`: SavedModels of a trained model (see l3net.serving.export)."""

from __future__ import annotations

import os
from typing import List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

from l3net import model_dir as model_dir_lib  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402

TOOL = "l3net_export"
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model directory written by `l3net_train`.")
flags.DEFINE_string("export_dir", None, "Where to write audio_embedding/, image_embedding/ and avc/.")


def main(argv: List[str]) -> int:
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        fail(TOOL, f"unexpected argument {argv[1]!r}; usage: {TOOL} --model_dir M --export_dir X")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        fail(TOOL, "--model_dir and --export_dir are required")
    if os.path.exists(FLAGS.export_dir) and not os.path.isdir(FLAGS.export_dir):
        fail(TOOL, f"--export_dir={FLAGS.export_dir}: exists and is not a directory")
    try:
        model_dir_lib.read_model_config(FLAGS.model_dir)
        if model_dir_lib.latest_checkpoint(FLAGS.model_dir) is None:
            raise model_dir_lib.ModelDirError(
                f"{model_dir_lib.checkpoint_dir(FLAGS.model_dir)}: no checkpoint; train first with `l3net_train`")
        from l3net.serving.export import export_model

        written = export_model(FLAGS.model_dir, FLAGS.export_dir)
    except model_dir_lib.ModelDirError as e:
        fail(TOOL, str(e))
    for use, path in written.items():
        print(f"wrote {path}")
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__])


if __name__ == "__main__":
    run()
