"""`l3net_train --flagfile=configs/X.flags --data_dir=D --model_dir=M [--flag=value ...]`.

Checks every flag and the data directory before anything is written, so a mistake costs one
clear line and exit status 2, not a half-made model directory. Then saves the resolved configs and
flags in the model directory (a re-run with the same directory resumes) and trains.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import List, NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's BFC allocator on the CPU re-uses batch buffers instead of page-faulting fresh ones:
# measured ~1.25x more input-pipeline examples/s at paper size (bench/input_pipeline.py).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from absl import flags, logging  # noqa: E402

from l3net import model_dir as model_dir_lib  # noqa: E402
from l3net.atomic_files import write_text_atomic  # noqa: E402
from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402
from l3net.train import flags as train_flags  # noqa: E402

FLAGS = flags.FLAGS


def _fail(message: str) -> NoReturn:
    fail("l3net_train", message)


def _saved_envelope_config(path: str):
    from l3net.envelope.config import EnvelopeConfig

    try:
        with open(path, encoding="utf-8") as f:
            return EnvelopeConfig.from_json(f.read())
    except (OSError, ValueError, TypeError) as e:
        _fail(f"{path}: unreadable envelope config ({e})")


def _check_model_dir(model_dir: str, model_cfg, config_name: str = model_dir_lib.MODEL_CONFIG_NAME) -> None:
    """A model dir holding a different architecture (or another task's) cannot be resumed into."""
    from l3net.envelope.config import CONFIG_NAME as ENVELOPE_CONFIG_NAME

    path = os.path.join(model_dir, config_name)
    other = ENVELOPE_CONFIG_NAME if config_name == model_dir_lib.MODEL_CONFIG_NAME else model_dir_lib.MODEL_CONFIG_NAME
    if os.path.isfile(os.path.join(model_dir, other)):
        _fail(f"--model_dir={model_dir} holds another task's model ({other}); use a new --model_dir")
    if os.path.isfile(path):
        try:
            if config_name == ENVELOPE_CONFIG_NAME:
                saved = _saved_envelope_config(path)
            else:
                saved = model_dir_lib.read_model_config(model_dir)
        except model_dir_lib.ModelDirError as e:
            _fail(str(e))
        if saved != model_cfg:
            _fail(f"--model_dir={model_dir} holds a different model ({path}); use a new --model_dir "
                  "or the flags it was trained with")
    elif os.path.exists(model_dir) and not os.path.isdir(model_dir):
        _fail(f"--model_dir={model_dir} is a file; choose a directory")
    elif os.path.isdir(model_dir) and os.listdir(model_dir):
        _fail(f"--model_dir={model_dir} exists and is not an l3net model directory; choose another")


def _read_data_info():
    try:
        info = schema.read_dataset_info(FLAGS.data_dir)
        schema.shard_paths(FLAGS.data_dir, "train", info)
    except schema.DatasetError as e:
        _fail(f"--data_dir: {e}")
    return info


def _check_strategy(train_cfg) -> None:
    if train_cfg.strategy == "multi_worker":
        try:
            json.loads(os.environ["TF_CONFIG"])
        except (KeyError, ValueError):
            _fail("--strategy=multi_worker: set TF_CONFIG (JSON with cluster and task) on every worker")


def _train_envelope() -> int:
    """`--model=envelope`: the same checks and model-dir contract, with the envelope task."""
    from l3net.envelope.config import CONFIG_NAME

    try:
        env_cfg = train_flags.envelope_config_from_flags()
        train_cfg = train_flags.train_config_from_flags()
    except train_flags.FlagError as e:
        _fail(str(e))
    info = _read_data_info()
    try:
        data_cfg = train_flags.envelope_data_config_from_flags(env_cfg, info.sample_rate)
    except train_flags.FlagError as e:
        _fail(str(e))
    _check_strategy(train_cfg)
    _check_model_dir(FLAGS.model_dir, env_cfg, CONFIG_NAME)
    cache_dir = None
    if FLAGS.cache_features:
        from l3net.envelope import feature_cache

        try:
            feature_cache.check_usable(env_cfg, data_cfg)
        except ValueError as e:
            _fail(f"--{e}")
        cache_dir = feature_cache.default_cache_dir(FLAGS.model_dir, FLAGS.feature_cache_dir)
    if info.counts.get("val", 0) < 1:
        print(f"l3net_train: warning: {FLAGS.data_dir} has no val video; training runs without validation",
              file=sys.stderr)

    from l3net.envelope.envelope_task import EnvelopeTask
    from l3net.train.distribution import StrategyError
    from l3net.train.trainer import TrainingError, train_task

    os.makedirs(FLAGS.model_dir, exist_ok=True)
    write_text_atomic(os.path.join(FLAGS.model_dir, CONFIG_NAME), env_cfg.to_json())
    write_text_atomic(os.path.join(FLAGS.model_dir, model_dir_lib.FLAGS_NAME), train_flags.resolved_flagfile())
    run_config = {"task": "envelope", "data_dir": os.path.abspath(FLAGS.data_dir), "model": env_cfg.to_dict(),
                  "data": dataclasses.asdict(data_cfg), "train": train_cfg.to_dict()}
    write_text_atomic(os.path.join(FLAGS.model_dir, model_dir_lib.RUN_CONFIG_NAME),
                      json.dumps(run_config, indent=2, sort_keys=True, default=list))
    print(f"l3net_train: envelope on the {env_cfg.vision.model} vision tower of {env_cfg.init_from} "
          f"({'fine-tuned' if env_cfg.finetune_vision else 'frozen'}), {FLAGS.data_dir} ({info.counts}) "
          f"-> {FLAGS.model_dir}")
    task = EnvelopeTask(env_cfg, data_cfg, train_cfg.eval_pairs, feature_cache_dir=cache_dir, verbose=True)
    return _report(lambda: train_task(task, train_cfg, FLAGS.data_dir, FLAGS.model_dir), StrategyError, TrainingError)


def _report(run_training, strategy_error, training_error) -> int:
    """Runs the training callable; one-line errors; the closing summary; the exit status."""
    try:
        result = run_training()
    except (strategy_error, schema.DatasetError) as e:
        _fail(str(e))
    except training_error as e:
        print(f"l3net_train: error: {e}", file=sys.stderr)
        return 1
    print(f"l3net_train: stopped by {result.stopped_by} at step {result.final_step} "
          f"(started at {result.start_step}) after {result.elapsed_s:.0f}s; "
          f"train loss {result.train_loss:.4f} {result.metric_name} {result.train_metric:.4f}; "
          f"val {result.metric_name} {result.val_metric:.4f}")
    return 130 if result.stopped_by == "interrupted" else 0


def main(argv: List[str]) -> int:
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        _fail(f"unexpected argument {argv[1]!r}; all settings are --flags")
    if not FLAGS.data_dir:
        _fail("--data_dir is required (the output_dir of `l3net_data convert`)")
    if not FLAGS.model_dir:
        _fail("--model_dir is required (where checkpoints go; re-use it to resume)")
    if FLAGS.model == train_flags.ENVELOPE:
        return _train_envelope()
    try:
        model_cfg = train_flags.model_config_from_flags()
        data_cfg = train_flags.data_config_from_flags(model_cfg)
        train_cfg = train_flags.train_config_from_flags()
    except train_flags.FlagError as e:
        _fail(str(e))
    info = _read_data_info()
    if info.counts.get("train", 0) < 2:
        _fail(f"--data_dir={FLAGS.data_dir}: the train split has {info.counts.get('train', 0)} video(s); AVC needs "
              "at least 2 (negatives pair a frame with another video's audio)")
    if info.sample_rate != model_cfg.sample_rate:
        _fail(f"--sample_rate={model_cfg.sample_rate} but {FLAGS.data_dir} was converted at "
              f"{info.sample_rate} Hz; pass --sample_rate={info.sample_rate} or re-convert with "
              f"`l3net_data convert --sample_rate {model_cfg.sample_rate}`")
    _check_strategy(train_cfg)
    _check_model_dir(FLAGS.model_dir, model_cfg)
    if info.counts.get("val", 0) < 2:
        print(f"l3net_train: warning: {FLAGS.data_dir} has {info.counts.get('val', 0)} val video(s); "
              "training runs without validation", file=sys.stderr)

    # Heavy import (TensorFlow) only once flags are valid.
    from l3net.train.distribution import StrategyError
    from l3net.train.trainer import TrainingError, train

    os.makedirs(FLAGS.model_dir, exist_ok=True)
    write_text_atomic(os.path.join(FLAGS.model_dir, model_dir_lib.MODEL_CONFIG_NAME), model_cfg.to_json())
    write_text_atomic(os.path.join(FLAGS.model_dir, model_dir_lib.FLAGS_NAME), train_flags.resolved_flagfile())
    run_config = {"data_dir": os.path.abspath(FLAGS.data_dir), "model": model_cfg.to_dict(),
                  "data": dataclasses.asdict(data_cfg), "train": train_cfg.to_dict()}
    write_text_atomic(os.path.join(FLAGS.model_dir, model_dir_lib.RUN_CONFIG_NAME),
                      json.dumps(run_config, indent=2, sort_keys=True, default=list))

    print(f"l3net_train: {model_cfg.model} on {FLAGS.data_dir} ({info.counts}) -> {FLAGS.model_dir}")
    return _report(lambda: train(model_cfg, data_cfg, train_cfg, FLAGS.data_dir, FLAGS.model_dir),
                   StrategyError, TrainingError)


def run() -> None:
    """Console-script entry point."""
    run_tool("l3net_train", main, __doc__, ["l3net.train.flags"])


if __name__ == "__main__":
    run()
