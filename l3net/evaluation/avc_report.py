"""`l3net_eval avc` as a library function: a model directory's AVC accuracy on a split, as a report.

Frames are resized exactly as in training (`ModelDir.resize_short_side`), the pair set is the
fixed, deterministic one of `l3net.data.avc_dataset(training=False)`, and the report (overall,
positives, negatives, per label) is written as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Dict, Optional, Union

from l3net.atomic_files import write_text_atomic
from l3net.data import records, schema
from l3net.model_dir import ModelDir


def check_split(split: str) -> None:
    if split not in schema.SPLITS:
        raise ValueError(f"--split={split}: use one of {', '.join(schema.SPLITS)}")


def run_avc_evaluation(model_dir: str, data_dir: str, output_json: Optional[str] = None, *, split: str = "test",
                       checkpoint: Union[str, int, None] = "best", pairs_per_video: int = 4, num_pairs: int = 0,
                       batch_size: int = 64, seed: int = 0, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """AVC accuracy of `model_dir` (at `checkpoint`) on `split` of `data_dir`.

    Writes the report to `output_json` (default `<model_dir>/eval_avc_<split>.json`) and returns it.
    Raises ModelDirError, DatasetError or ValueError (one-line messages) before anything is written;
    a damaged shard is a DatasetError naming it and the byte offset (`l3net.data.records`).
    """
    check_split(split)
    if batch_size < 1 or pairs_per_video < 1 or num_pairs < 0:
        raise ValueError("--batch_size and --pairs_per_video must be >= 1, --num_pairs >= 0")
    directory = ModelDir(model_dir)
    cfg = directory.model_config()
    info = schema.read_dataset_info(data_dir)
    schema.shard_paths(data_dir, split, info)
    directory.check_sample_rate(info.sample_rate, data_dir, cfg.sample_rate)
    directory.require_checkpoint(checkpoint)

    from l3net.data import avc_dataset
    from l3net.data.config import DataConfig
    from l3net.evaluation.avc import evaluate_avc

    model, cfg, step = directory.load_model(checkpoint)
    data_cfg = DataConfig.for_model(cfg, batch_size=batch_size, pairs_per_video=pairs_per_video, augment=False,
                                    resize_short_side=directory.resize_short_side(cfg))
    dataset = avc_dataset(data_dir, split, data_cfg, training=False, seed=seed, with_metadata=True,
                          num_pairs=num_pairs or None)
    with records.naming_damaged_shards(schema.shard_paths(data_dir, split, info)):
        result = evaluate_avc(model, dataset)
    report = {"task": "avc", "model_dir": os.path.abspath(model_dir), "model": cfg.model,
              "checkpoint": directory.checkpoint_path(checkpoint)[1], "checkpoint_step": step,
              "data_dir": os.path.abspath(data_dir), "split": split, "seed": seed, "pairs_per_video": pairs_per_video,
              "chance": 0.5,
              # NaN (no labels, no such pairs) is written as null: strict JSON for users' scripts.
              **{k: None if isinstance(v, float) and v != v else v for k, v in dataclasses.asdict(result).items()}}
    log(f"AVC accuracy on {split} ({result.num_pairs} pairs, step {step}): {result.accuracy:.4f} "
        f"(positives {result.positive_accuracy:.4f}, negatives {result.negative_accuracy:.4f}; chance 0.5)")
    if result.shared_label_negative_share == result.shared_label_negative_share:  # not NaN: labelled data
        log(f"  negatives sharing a label with the frame's video: {100 * result.shared_label_negative_share:.1f} % "
            f"of negatives, accuracy {result.shared_label_negative_accuracy:.4f} (other negatives "
            f"{result.other_negative_accuracy:.4f}): semantic matches labelled 'no' cap AVC accuracy")
    for name, row in result.per_label.items():
        log(f"  {name:<24s} {row['accuracy']:.4f}  ({row['num_pairs']} pairs)")
    out = output_json or os.path.join(model_dir, f"eval_avc_{split}.json")
    write_text_atomic(out, json.dumps(report, indent=2, sort_keys=True))
    log(f"wrote {out}")
    return report
