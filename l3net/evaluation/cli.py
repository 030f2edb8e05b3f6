"""`l3net_eval TASK --model_dir M --data_dir D [...]`: evaluate a trained model.

Tasks:
  avc   AVC accuracy on a fixed, deterministic pair set of a split (overall, positives,
        negatives, per label). Prints a table and writes JSON to
        `--output_json` (default `<model_dir>/eval_avc_<split>.json`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import List, NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from l3net import model_dir as model_dir_lib  # noqa: E402
from l3net.atomic_files import write_text_atomic  # noqa: E402
from l3net.command_line import fail, flags_parser  # noqa: E402
from l3net.data import schema  # noqa: E402

TASKS = ("avc",)
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model directory written by `l3net_train`.")
flags.DEFINE_string("data_dir", None, "Converted dataset (output_dir of `l3net_data convert`).")
flags.DEFINE_string("split", "test", "Split to evaluate: train | val | test.")
flags.DEFINE_integer("pairs_per_video", 4, "Fixed pairs drawn per video (alternating positive/negative).")
flags.DEFINE_integer("num_pairs", 0, "Cap on the number of pairs (0 = all).")
flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.")
flags.DEFINE_integer("seed", 0, "Seed of the fixed pair set.")
flags.DEFINE_string("output_json", None, "Where to write the result (default in the model dir).")


def _fail(message: str) -> NoReturn:
    fail("l3net_eval", message)


def evaluate_avc_command() -> dict:
    """Runs the `avc` task from the flags; returns the JSON-ready report."""
    from l3net.data import avc_dataset
    from l3net.data.config import DataConfig
    from l3net.evaluation.avc import evaluate_avc

    if FLAGS.split not in schema.SPLITS:
        _fail(f"--split={FLAGS.split}: use one of {', '.join(schema.SPLITS)}")
    if FLAGS.batch_size < 1 or FLAGS.pairs_per_video < 1 or FLAGS.num_pairs < 0:
        _fail("--batch_size and --pairs_per_video must be >= 1, --num_pairs >= 0")
    try:
        cfg = model_dir_lib.read_model_config(FLAGS.model_dir)
        info = schema.read_dataset_info(FLAGS.data_dir)
        schema.shard_paths(FLAGS.data_dir, FLAGS.split, info)
    except (model_dir_lib.ModelDirError, schema.DatasetError) as e:
        _fail(str(e))
    if info.sample_rate != cfg.sample_rate:
        _fail(f"{FLAGS.data_dir} holds {info.sample_rate} Hz audio but the model expects "
              f"{cfg.sample_rate} Hz; convert with `l3net_data convert --sample_rate {cfg.sample_rate}`")
    try:
        model, cfg, step = model_dir_lib.load_model(FLAGS.model_dir)
    except model_dir_lib.ModelDirError as e:
        _fail(str(e))
    # Frames are resized exactly as in training (the crop sees objects at the trained scale).
    trained = model_dir_lib.read_run_config(FLAGS.model_dir).get("data", {})
    overrides = {}
    if "resize_short_side" in trained:
        overrides["resize_short_side"] = int(trained["resize_short_side"])
    data_cfg = DataConfig.for_model(cfg, batch_size=FLAGS.batch_size, pairs_per_video=FLAGS.pairs_per_video,
                                    augment=False, **overrides)
    try:
        dataset = avc_dataset(FLAGS.data_dir, FLAGS.split, data_cfg, training=False, seed=FLAGS.seed,
                              with_metadata=True, num_pairs=FLAGS.num_pairs or None)
    except schema.DatasetError as e:
        _fail(str(e))
    result = evaluate_avc(model, dataset)
    report = {"task": "avc", "model_dir": os.path.abspath(FLAGS.model_dir), "model": cfg.model,
              "checkpoint_step": step, "data_dir": os.path.abspath(FLAGS.data_dir), "split": FLAGS.split,
              "seed": FLAGS.seed, "pairs_per_video": FLAGS.pairs_per_video, "chance": 0.5,
              **dataclasses.asdict(result)}
    print(f"AVC accuracy on {FLAGS.split} ({result.num_pairs} pairs, step {step}): {result.accuracy:.4f} "
          f"(positives {result.positive_accuracy:.4f}, negatives {result.negative_accuracy:.4f}; chance 0.5)")
    for name, row in result.per_label.items():
        print(f"  {name:<24s} {row['accuracy']:.4f}  ({row['num_pairs']} pairs)")
    out = FLAGS.output_json or os.path.join(FLAGS.model_dir, f"eval_avc_{FLAGS.split}.json")
    write_text_atomic(out, json.dumps(report, indent=2, sort_keys=True))
    print(f"wrote {out}")
    return report


def main(argv: List[str]) -> int:
    logging.set_verbosity(logging.WARNING)
    if len(argv) != 2 or argv[1] not in TASKS:
        _fail(f"usage: l3net_eval {{{'|'.join(TASKS)}}} --model_dir M --data_dir D [--split test]")
    if not FLAGS.model_dir or not FLAGS.data_dir:
        _fail("--model_dir and --data_dir are required")
    evaluate_avc_command()
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main, flags_parser=flags_parser("l3net_eval"))


if __name__ == "__main__":
    run()
