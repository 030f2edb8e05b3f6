"""`l3net_localize --model_dir M (--data_dir D | --video FILE) --output_dir O [--evaluate]`.

Where is the sound coming from? For chosen frames and the 1 s of audio centred on each, a trained
AVOL-Net's per-cell map is upsampled to the frame and drawn as a heat-map overlay PNG
(O/heatmaps/). With --video, every frame of the file is overlaid and written as O/<name>_overlay.mp4
with the file's audio (mono, at the model's sample rate). With --evaluate (converted synthetic
data), the pointing game and mean IoU are scored against the annotated boxes of the sounding
objects, next to a "predict the centre" baseline.

Scoring of --evaluate (also written into localization.json under evaluation.scoring): frames that
show a sounding object are scored (hit = the map's maximum lies inside a sounding object's box);
frames whose only sounding source is off-screen are not scored for pointing/IoU but counted under
not_scored; videos with an off-screen sound or silent distractors stay in `all` and are also
reported as their own subsets.

The work is `l3net.localization.localize.run_localization` (the `localization` evaluator of
`l3net.evaluation.evaluators`); this command is its flags. `--checkpoint=best|latest|<step>`
picks the weights (default: the best by validation).

Outputs are written only after every frame has been computed: a bad flag, model or dataset exits
with one line (status 2) and writes nothing.
"""

from __future__ import annotations

from typing import List, NoReturn

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402
from l3net.localization.localize import HEATMAP_DIR, REPORT_NAME, LocalizationError, LocalizeOptions  # noqa: E402
from l3net.model_dir import ModelDirError  # noqa: E402

TOOL = "l3net_localize"
FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    model_dir=(None, "Model directory of an AVOL-Net trained by `l3net_train --model=avolnet`."),
    data_dir=(None, "Converted dataset (output_dir of `l3net_data convert`)."),
    output_dir=(None, f"Where {REPORT_NAME}, {HEATMAP_DIR}/*.png and the overlay video go."),
    split=("test", "Split of --data_dir: train | val | test."),
    short_side=(0, "Short side of the whole frame fed to the network, rounded to whole cells (0 = the training "
                   "--resize_short_side)."),
    batch_size=(32, "Frames per forward pass."),
    fps=(12.0, "--video: frames per second decoded and written."),
    max_seconds=(30.0, "--video: seconds decoded from the start (0 = all)."),
    checkpoint=("best", "Which checkpoint: best|latest|<step> (best = best validation; falls back to latest)."),
)
flags.DEFINE_string("video", None, "A video file to localise instead of --data_dir (MP4 with audio).")
flags.DEFINE_integer("frames_per_video", 4, "Evenly spread frames per video (--data_dir), each with the 1 s "
                     "of audio centred on it.")
flags.DEFINE_integer("max_videos", 0, "Use at most this many videos of the split (0 = all).")
flags.DEFINE_integer("max_images", 40, "Overlay PNGs written at most (--data_dir; --video writes "
                     "--frames_per_video of them).")
flags.DEFINE_boolean("evaluate", False,
                     "Score the maps against annotated boxes: pointing game (the map's maximum lies in a "
                     "sounding object's box) and mean IoU at --iou_threshold, next to a predict-the-centre "
                     "baseline. Frames whose sounding source is off-screen only are not scored but counted "
                     "(not_scored); videos with off-screen sound or silent distractors are scored and also "
                     "reported as subsets.")
flags.DEFINE_string("annotations", None, "annotations.jsonl of `l3net_data synthetic`, matched to records by "
                    "source path (default: next to the manifest the dataset was converted from).")
flags.DEFINE_float("iou_threshold", 0.5, "Threshold on the min-max normalised heat-map for IoU.")
flags.DEFINE_integer("draw_short_side", 240, "--video: short side of the decoded frames the overlays are drawn on.")


def _fail(message: str) -> NoReturn:
    fail(TOOL, message)


def main(argv: List[str]) -> int:
    if len(argv) > 1:
        _fail(f"unexpected argument {argv[1]!r}; every option is a --flag")
    from l3net.localization.localize import run_localization

    options = LocalizeOptions(
        split=FLAGS.split, frames_per_video=FLAGS.frames_per_video, max_videos=FLAGS.max_videos,
        max_images=FLAGS.max_images, evaluate=FLAGS.evaluate, annotations=FLAGS.annotations,
        iou_threshold=FLAGS.iou_threshold, short_side=FLAGS.short_side, batch_size=FLAGS.batch_size, fps=FLAGS.fps,
        draw_short_side=FLAGS.draw_short_side, max_seconds=FLAGS.max_seconds)
    try:
        run_localization(FLAGS.model_dir, FLAGS.output_dir, data_dir=FLAGS.data_dir, video=FLAGS.video,
                         options=options, checkpoint=FLAGS.checkpoint)
    except (LocalizationError, ModelDirError, schema.DatasetError) as e:
        _fail(str(e))
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
