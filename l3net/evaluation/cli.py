"""`l3net_eval TASK --model_dir M --data_dir D [...]`: evaluate a trained model.

Tasks:
  avc   AVC accuracy on a fixed, deterministic pair set of a split (overall, positives,
        negatives, per label). Prints a table and writes JSON to
        `--output_json` (default `<model_dir>/eval_avc_<split>.json`).
  envelope  sound envelope from frames (`l3net_train --model=envelope`) on every video of a
        split: per-clip Pearson r, peak precision / recall / F1 and timing error, the seed's
        good / not-so-good / bad grades, against a constant and a motion-energy baseline.
        Writes `envelope.json` and PNG / GIF figures to `--output_dir` (default
        `<model_dir>/eval_envelope_<split>/`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import List, NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

from l3net import model_dir as model_dir_lib  # noqa: E402
from l3net.atomic_files import write_text_atomic  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402

TASKS = ("avc", "envelope")
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model directory written by `l3net_train`.")
flags.DEFINE_string("data_dir", None, "Converted dataset (output_dir of `l3net_data convert`).")
flags.DEFINE_string("split", "test", "Split to evaluate: train | val | test.")
flags.DEFINE_integer("pairs_per_video", 4, "Fixed pairs drawn per video (alternating positive/negative).")
flags.DEFINE_integer("num_pairs", 0, "Cap on the number of pairs (0 = all).")
flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.")
flags.DEFINE_integer("seed", 0, "Seed of the fixed pair set.")
flags.DEFINE_string("output_json", None, "Where to write the result (default in the model dir).")
flags.DEFINE_string("output_dir", None, "envelope: where envelope.json and the figures go "
                    "(default <model_dir>/eval_envelope_<split>).")
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


def evaluate_envelope_command() -> dict:
    """Runs the `envelope` task from the flags; returns the JSON-ready report."""
    from l3net.envelope.envelope_metrics import PeakParams
    from l3net.envelope.evaluation import EnvelopeModelError, format_report, read_envelope_config

    if FLAGS.split not in schema.SPLITS:
        _fail(f"--split={FLAGS.split}: use one of {', '.join(schema.SPLITS)}")
    if FLAGS.batch_size < 1 or FLAGS.peak_distance < 1 or FLAGS.peak_tolerance < 0 or FLAGS.motion_max_lag < 0:
        _fail("--batch_size and --peak_distance must be >= 1, --peak_tolerance and --motion_max_lag >= 0")
    if FLAGS.num_figures < 0 or FLAGS.num_gifs < 0:
        _fail("--num_figures and --num_gifs must be >= 0")
    try:
        read_envelope_config(FLAGS.model_dir)
        info = schema.read_dataset_info(FLAGS.data_dir)
        schema.shard_paths(FLAGS.data_dir, FLAGS.split, info)
        schema.shard_paths(FLAGS.data_dir, "train", info)
    except (EnvelopeModelError, schema.DatasetError) as e:
        _fail(str(e))
    from l3net.data.config import DataConfig
    from l3net.envelope import baselines
    from l3net.envelope.envelope_dataset import envelope_dataset
    from l3net.envelope.evaluation import evaluate_envelope, load_envelope_model

    try:
        model, cfg, step = load_envelope_model(FLAGS.model_dir)
    except EnvelopeModelError as e:
        _fail(str(e))
    trained = model_dir_lib.read_run_config(FLAGS.model_dir).get("data", {})
    data_cfg = dataclasses.replace(
        DataConfig.for_model(cfg.vision, batch_size=FLAGS.batch_size, augment=False,
                             **({"resize_short_side": int(trained["resize_short_side"])}
                                if "resize_short_side" in trained else {})),
        sample_rate=int(info.sample_rate))
    dataset = envelope_dataset(FLAGS.data_dir, FLAGS.split, data_cfg, sequence_frames=cfg.sequence_frames,
                               training=False, sigma_at_44k=cfg.sigma_at_44k)
    constant = baselines.mean_target(FLAGS.data_dir, "train", int(info.sample_rate), cfg.sigma_at_44k)
    out_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"eval_envelope_{FLAGS.split}")
    peaks = PeakParams(height=FLAGS.peak_height, prominence=FLAGS.peak_prominence, distance=FLAGS.peak_distance,
                       tolerance=FLAGS.peak_tolerance)
    os.makedirs(out_dir, exist_ok=True)
    result = evaluate_envelope(model, dataset, constant=constant, peaks=peaks, max_lag=FLAGS.motion_max_lag,
                               output_dir=out_dir, num_figures=FLAGS.num_figures, num_gifs=FLAGS.num_gifs,
                               fps=float(info.fps))
    report = {"task": "envelope", "model_dir": os.path.abspath(FLAGS.model_dir), "checkpoint_step": step,
              "init_from": cfg.init_from, "finetune_vision": cfg.finetune_vision,
              "data_dir": os.path.abspath(FLAGS.data_dir), "split": FLAGS.split, "fps": float(info.fps),
              **result}
    print(f"envelope on {FLAGS.split} ({report['methods']['network']['num_clips']} clips, step {step}):")
    print(format_report(report))
    out = os.path.join(out_dir, "envelope.json")
    write_text_atomic(out, json.dumps(report, indent=2, sort_keys=True))
    print(f"wrote {out} and {len(result['figures'])} figures")
    return report


def main(argv: List[str]) -> int:
    logging.set_verbosity(logging.WARNING)
    if len(argv) != 2 or argv[1] not in TASKS:
        _fail(f"usage: l3net_eval {{{'|'.join(TASKS)}}} --model_dir M --data_dir D [--split test]")
    if not FLAGS.model_dir or not FLAGS.data_dir:
        _fail("--model_dir and --data_dir are required")
    if argv[1] == "envelope":
        evaluate_envelope_command()
    else:
        evaluate_avc_command()
    return 0


def run() -> None:
    """Console-script entry point."""
    run_tool("l3net_eval", main, __doc__, [__name__])


if __name__ == "__main__":
    run()
