"""`l3net_train --config=X --data_dir=D --model_dir=M [--flag=value ...]` (or --flagfile=FILE).

`--config=paper_l3` reads the shipped configs/paper_l3.flags wherever l3net is installed (the names
are those of configs/: paper_l3, paper_avenet, demo_cpu, ...); `--flagfile=FILE` reads any
flagfile. Flags after either override it.

Checks every flag and the data directory before anything is written, so a mistake costs one
clear line and exit status 2, not a half-made model directory. Then saves the resolved configs and
flags in the model directory (a re-run with the same directory resumes) and trains.

`--task` picks what is trained (`l3net.tasks`: avc, envelope); every task goes through the same
set-up below. The best checkpoint by validation is kept in `M/checkpoints/best/`; every tool
uses it by default (`--checkpoint=best|latest|<step>`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import List, NoReturn

from l3net.tensorflow_output import quiet_tensorflow

from l3net.train.cpu_settings import apply_training_cpu_settings

quiet_tensorflow()
# Before TensorFlow is imported: its BFC allocator and oneDNN kernels (see cpu_settings).
apply_training_cpu_settings()

from absl import flags  # noqa: E402

from l3net.command_line import fail, run_tool  # noqa: E402
from l3net.data import schema  # noqa: E402
from l3net.model_dir import ModelDir, ModelDirError  # noqa: E402
from l3net.tasks import get_task_spec  # noqa: E402
from l3net.tasks.base import SettingsError  # noqa: E402
from l3net.train import flags as train_flags  # noqa: E402

FLAGS = flags.FLAGS
TOOL = "l3net_train"
SHARED = train_flags.SHARED  # the shared flags' defaults here (defined in l3net.train.flags)
LEGACY_ENVELOPE_MODEL = "envelope"
# Expanded into --flagfile=<shipped file> before parsing (l3net.shipped_configs.expand_configs).
flags.DEFINE_string("config", None, "A shipped config by name, e.g. paper_l3, paper_avenet, demo_cpu (the files of "
                    "configs/, installed with l3net): the same as --flagfile=<that file>; later flags override it.")


def _fail(message: str) -> NoReturn:
    fail("l3net_train", message)


def _read_data_info():
    try:
        info = schema.read_dataset_info(FLAGS.data_dir)
        schema.shard_paths(FLAGS.data_dir, "train", info)
    except schema.DatasetError as e:
        _fail(f"--data_dir: {e}")
    return info


def _check_strategy(train_cfg, info) -> bool:
    """Checks the strategy flags (and builds TF_CONFIG from the launcher flags); True on the chief."""
    from l3net.data.worker_shards import too_few_shards_message
    from l3net.train.cluster import TF_CONFIG, ClusterError, build_tf_config, parse_tf_config

    launcher = FLAGS.worker_hosts or FLAGS.task_index is not None
    if train_cfg.strategy != "multi_worker":
        if launcher:
            _fail("--worker_hosts/--task_index: only with --strategy=multi_worker")
        return True
    try:
        if os.environ.get(TF_CONFIG):
            if launcher:
                print("l3net_train: note: TF_CONFIG is set; it wins over --worker_hosts/--task_index", file=sys.stderr)
        elif launcher:
            os.environ[TF_CONFIG] = build_tf_config(FLAGS.worker_hosts, FLAGS.task_index)
        cluster = parse_tf_config(os.environ.get(TF_CONFIG))
    except ClusterError as e:
        _fail(str(e))
    shards = len(info.shards.get("train", []))
    if shards < cluster.num_workers:
        _fail(f"--data_dir: {too_few_shards_message(shards, cluster.num_workers, FLAGS.data_dir)}")
    if FLAGS.batch_size % cluster.num_workers:
        _fail(f"--batch_size={FLAGS.batch_size}: the global batch must be a multiple of the {cluster.num_workers} "
              "workers (each trains on an equal part of it)")
    if train_cfg.time_budget_minutes > 0:
        _fail("--time_budget_minutes: not with --strategy=multi_worker (each worker's clock would decide on its own "
              "when to stop and which learning rate a step gets); set --time_budget_minutes=0 and use --train_steps")
    if FLAGS.task == "envelope" and FLAGS.cache_features:
        _fail("--cache_features: not with --strategy=multi_worker (the cached features are not sharded by file); "
              "drop it")
    return cluster.is_chief


def _accept_legacy_model_flag() -> None:
    """Flagfiles written before `--task` said `--model=envelope`; they keep working."""
    if FLAGS.model != LEGACY_ENVELOPE_MODEL:
        return
    if FLAGS["task"].present and FLAGS.task != "envelope":
        _fail(f"--model=envelope contradicts --task={FLAGS.task}; --model names the network "
              "(l3net, avenet, avolnet), --task what is trained")
    print("l3net_train: note: --model=envelope is now --task=envelope (--model names the network); "
          "running --task=envelope", file=sys.stderr)
    FLAGS.task = "envelope"
    FLAGS.model = FLAGS["model"].default


def _check_periodic_evaluators(train_cfg) -> None:
    if not train_cfg.periodic_eval:
        return
    from l3net.evaluation.evaluators import EvaluatorError, parse_periodic

    try:
        parse_periodic(train_cfg.periodic_eval, FLAGS.data_dir)
    except EvaluatorError as e:
        _fail(f"--periodic_eval: {e}")


def main(argv: List[str]) -> int:
    if len(argv) > 1:
        _fail(f"unexpected argument {argv[1]!r}; all settings are --flags")
    if not FLAGS.data_dir:
        _fail("--data_dir is required (the output_dir of `l3net_data convert`)")
    if not FLAGS.model_dir:
        _fail("--model_dir is required (where checkpoints go; re-use it to resume)")
    _accept_legacy_model_flag()
    info = _read_data_info()
    try:
        train_cfg = train_flags.train_config_from_flags()
        setup = get_task_spec(FLAGS.task).setup(train_flags.settings(), info)
    except SettingsError as e:
        _fail(str(e))
    chief = _check_strategy(train_cfg, info)
    _check_periodic_evaluators(train_cfg)
    model_dir = ModelDir(FLAGS.model_dir)
    try:
        model_dir.check_trainable(FLAGS.task, setup.config)
    except ModelDirError as e:
        _fail(str(e))
    newest = model_dir.latest_checkpoint()
    if newest:
        from l3net.train.weight_averaging import resume_mismatch

        mismatch = resume_mismatch(newest, train_cfg.ema_decay)
        if mismatch:
            _fail(f"--ema_decay: {mismatch}")
    for warning in setup.warnings:
        print(f"l3net_train: warning: {warning}", file=sys.stderr)

    # Heavy work (building networks, TensorFlow graphs) only once flags are valid.
    from l3net.train.distribution import StrategyError
    from l3net.train.trainer import TrainingError, train_task

    if chief:  # Other workers of a multi-worker job write nothing into the model directory.
        model_dir.write_run(FLAGS.task, setup.config, train_flags.resolved_flagfile(),
                            {"data_dir": os.path.abspath(FLAGS.data_dir), "model": setup.config.to_dict(),
                             "data": dataclasses.asdict(setup.data_config), "train": train_cfg.to_dict()})
    print(f"l3net_train: {setup.description} -> {FLAGS.model_dir}")
    task = setup.make_task(train_cfg, FLAGS.model_dir)
    try:
        result = train_task(task, train_cfg, FLAGS.data_dir, FLAGS.model_dir)
    except (StrategyError, schema.DatasetError) as e:
        _fail(str(e))
    except TrainingError as e:
        print(f"l3net_train: error: {e}", file=sys.stderr)
        return 1
    print(f"l3net_train: stopped by {result.stopped_by} at step {result.final_step} "
          f"(started at {result.start_step}) after {result.elapsed_s:.0f}s; "
          f"train loss {result.train_loss:.4f} {result.metric_name} {result.train_metric:.4f}; "
          f"val {result.metric_name} {result.val_metric:.4f}; {result.best_description}")
    return 130 if result.stopped_by == "interrupted" else 0


def run() -> None:
    """Console-script entry point."""
    run_tool(TOOL, main, __doc__, ["l3net.train.flags", __name__], shared=SHARED,
             expand_config=True)


if __name__ == "__main__":
    run()
