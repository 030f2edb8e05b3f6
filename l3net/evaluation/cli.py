"""`l3net_eval TASK --model_dir M --data_dir D [...]`: evaluate a trained model.

Each task is an evaluator of `l3net.evaluation.evaluators` (a library function); this command
is its flags. `--checkpoint=best|latest|<step>` picks the weights (default: the best by validation).

Tasks:
  avc   AVC accuracy on a fixed, deterministic pair set of a split (overall, positives,
        negatives, per label). Prints a table and writes JSON to
        `--output_json` (default `<model_dir>/eval_avc_<split>.json`).
  envelope  sound envelope from frames (`l3net_train --task=envelope`) on every video of a
        split: per-clip Pearson r, peak precision / recall / F1 and timing error, the
        good / not-so-good / bad grades of the hand-scored sound-from-video experiment,
        against a constant and a motion-energy baseline.
        Writes `envelope.json` and PNG / GIF figures to `--output_dir` (default
        `<model_dir>/eval_envelope_<split>/`).
"""

from __future__ import annotations

import os
from typing import List, NoReturn

from l3net.tensorflow_output import quiet_tensorflow

quiet_tensorflow()

from absl import flags  # noqa: E402

from l3net import cli_flags  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402
from l3net.model_dir import CHECKPOINT_CHOICES, ModelDirError  # noqa: E402

TASKS = ("avc", "envelope")
FLAGS = flags.FLAGS
SHARED = cli_flags.uses(
    model_dir=(None, "Model directory written by `l3net_train`."),
    data_dir=(None, "Converted dataset (output_dir of `l3net_data convert`)."),
    split=("test", "Split to evaluate: train | val | test."),
    pairs_per_video=(4, "Fixed pairs drawn per video (alternating positive/negative)."),
    batch_size=(64, "Evaluation batch size."),
    seed=(0, "Seed of the fixed pair set."),
    output_dir=(None, "envelope: where envelope.json and the figures go (default <model_dir>/eval_envelope_<split>)."),
    checkpoint=("best", f"Which checkpoint: {CHECKPOINT_CHOICES} (best = best validation; falls back to latest)."),
)
flags.DEFINE_integer("num_pairs", 0, "Cap on the number of pairs (0 = all).")
flags.DEFINE_string("output_json", None, "Where to write the result (default in the model dir).")
flags.DEFINE_float("peak_height", 0.3, "envelope: peaks must reach this height (sequence scaled to [0, 1]).")
flags.DEFINE_float("peak_prominence", 0.1, "envelope: minimum peak prominence (sequence scaled to [0, 1]).")
flags.DEFINE_integer("peak_distance", 2, "envelope: minimum frames between two peaks.")
flags.DEFINE_integer("peak_tolerance", 1, "envelope: a predicted peak matches a true one within +- this many frames.")
flags.DEFINE_integer("motion_max_lag", 2, "envelope: motion-energy baseline also shifted by its best lag in "
                     "[-L, L] frames (chosen on the evaluated split: favours the baseline).")
flags.DEFINE_integer("num_figures", 6, "envelope: PNG figures of the first clips.")
flags.DEFINE_integer("num_gifs", 3, "envelope: GIF animations of the first clips.")


def _fail(message: str) -> NoReturn:
    fail("l3net_eval", message)


def evaluate_avc_command() -> dict:
    """Runs the `avc` evaluator from the flags; returns its report."""
    from l3net.evaluation.avc_report import run_avc_evaluation

    return run_avc_evaluation(FLAGS.model_dir, FLAGS.data_dir, FLAGS.output_json, split=FLAGS.split,
                              checkpoint=FLAGS.checkpoint, pairs_per_video=FLAGS.pairs_per_video,
                              num_pairs=FLAGS.num_pairs, batch_size=FLAGS.batch_size, seed=FLAGS.seed)


def evaluate_envelope_command() -> dict:
    """Runs the `envelope` evaluator from the flags; returns its report."""
    from l3net.envelope.envelope_metrics import PeakParams
    from l3net.envelope.evaluation import run_envelope_evaluation

    peaks = PeakParams(height=FLAGS.peak_height, prominence=FLAGS.peak_prominence, distance=FLAGS.peak_distance,
                       tolerance=FLAGS.peak_tolerance)
    return run_envelope_evaluation(FLAGS.model_dir, FLAGS.data_dir, FLAGS.output_dir, split=FLAGS.split,
                                   checkpoint=FLAGS.checkpoint, batch_size=FLAGS.batch_size, peaks=peaks,
                                   motion_max_lag=FLAGS.motion_max_lag, num_figures=FLAGS.num_figures,
                                   num_gifs=FLAGS.num_gifs)


def _shards(data_dir: str) -> List[str]:
    """Every shard of `data_dir` ([] if it is not a converted dataset: the evaluator says why)."""
    try:
        info = schema.read_dataset_info(data_dir)
    except schema.DatasetError:
        return []
    return [os.path.join(data_dir, name) for split in schema.SPLITS for name in info.shards.get(split, [])]


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[1] not in TASKS:
        _fail(f"usage: l3net_eval {{{'|'.join(TASKS)}}} --model_dir M --data_dir D [--split test]")
    if not FLAGS.model_dir or not FLAGS.data_dir:
        _fail("--model_dir and --data_dir are required")
    try:
        if argv[1] == "envelope":
            from l3net.data import records

            # The envelope reader is a plain TFRecordDataset: a damaged shard is traced back by its headers.
            with records.naming_damaged_shards(_shards(FLAGS.data_dir)):
                evaluate_envelope_command()
        else:
            evaluate_avc_command()
    except (ModelDirError, schema.DatasetError, ValueError) as e:
        _fail(str(e).splitlines()[0])
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool("l3net_eval", main, __doc__, [__name__], shared=SHARED)


if __name__ == "__main__":
    run()
