"""`l3net_export --model_dir M --export_dir X [--checkpoint best|latest|<step>]`: SavedModels of a trained model.

See l3net.serving.export; the checkpoint defaults to the best by validation (latest if none).
"""

from __future__ import annotations

import os
from typing import List

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.model_dir import ModelDir, ModelDirError  # noqa: E402

TOOL = "l3net_export"
FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    model_dir=(None, "Model directory written by `l3net_train`."),
    checkpoint=("best", "Which checkpoint: best|latest|<step> (best = best validation; falls back to latest)."),
)
flags.DEFINE_string("export_dir", None, "Where to write audio_embedding/, image_embedding/ and avc/.")


def main(argv: List[str]) -> int:
    if len(argv) > 1:
        fail(TOOL, f"unexpected argument {argv[1]!r}; usage: {TOOL} --model_dir M --export_dir X")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        fail(TOOL, "--model_dir and --export_dir are required")
    if os.path.exists(FLAGS.export_dir) and not os.path.isdir(FLAGS.export_dir):
        fail(TOOL, f"--export_dir={FLAGS.export_dir}: exists and is not a directory")
    try:
        directory = ModelDir(FLAGS.model_dir)
        directory.model_config()
        directory.require_checkpoint(FLAGS.checkpoint)
        from l3net.serving.export import export_model

        written = export_model(FLAGS.model_dir, FLAGS.export_dir, FLAGS.checkpoint)
    except ModelDirError as e:
        fail(TOOL, str(e))
    for use, path in written.items():
        print(f"wrote {path}")
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
