"""The model directory: what `l3net_train` leaves behind and every later tool reads.

Layout of `<model_dir>/`:
  model_config.json    ModelConfig of the network (rebuilds the exact architecture)
  run_config.json      model, data and train configs plus the data dir: the whole run
  flags.txt            the resolved flags in flagfile syntax (`l3net_train --flagfile=...`)
  checkpoints/         tf.train checkpoints: model, optimizer, step
  summaries/{train,val}/  TensorBoard event files
  history.csv          step,split,loss,accuracy,elapsed_s per logged/validated step
  training_curves.png  loss and AVC accuracy, train vs val

Evaluation, export and probes only need `load_model`, which rebuilds the network from
`model_config.json` and restores the newest checkpoint, so a checkpoint is never paired with a
different front end or architecture.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Tuple

MODEL_CONFIG_NAME = "model_config.json"
RUN_CONFIG_NAME = "run_config.json"
FLAGS_NAME = "flags.txt"
CHECKPOINT_SUBDIR = "checkpoints"
SUMMARY_SUBDIR = "summaries"
HISTORY_NAME = "history.csv"
CURVES_NAME = "training_curves.png"


class ModelDirError(ValueError):
    """A model directory that cannot be used; the message names the path and what to do."""


def checkpoint_dir(model_dir: str) -> str:
    return os.path.join(model_dir, CHECKPOINT_SUBDIR)


def read_model_config(model_dir: str):
    """The ModelConfig saved in `model_dir`, or ModelDirError naming the missing/bad file."""
    from l3net.models.config import ModelConfig

    path = os.path.join(model_dir, MODEL_CONFIG_NAME)
    if not os.path.isdir(model_dir):
        raise ModelDirError(f"{model_dir}: no such model directory; pass the --model_dir of `l3net_train`")
    if not os.path.isfile(path):
        raise ModelDirError(f"{path}: missing; {model_dir} was not written by `l3net_train`")
    try:
        with open(path, encoding="utf-8") as f:
            return ModelConfig.from_json(f.read())
    except (OSError, ValueError, TypeError) as e:
        raise ModelDirError(f"{path}: unreadable model config ({e})") from None


def latest_checkpoint(model_dir: str) -> Optional[str]:
    """Path prefix of the newest checkpoint in `model_dir`, or None."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(checkpoint_dir(model_dir))


def load_model(model_dir: str, *, require_checkpoint: bool = True) -> Tuple["object", "object", int]:
    """Rebuilds the model of `model_dir` and restores its newest checkpoint.

    Returns:
      (keras.Model, ModelConfig, step): the restored model in inference mode, its config, and the
      training step of the checkpoint (0 if there is none and require_checkpoint is False).
    Raises:
      ModelDirError: if the directory, its config or (when required) a checkpoint is missing.
    """
    from l3net.models import build_model

    cfg = read_model_config(model_dir)
    model = build_model(cfg)
    return model, cfg, restore_checkpoint(model, model_dir, require=require_checkpoint)


def restore_checkpoint(model: "object", model_dir: str, *, config_name: str = MODEL_CONFIG_NAME,
                       require: bool = True) -> int:
    """Restores the newest checkpoint of `model_dir` into `model` (built from `config_name`).

    Returns the checkpoint's training step (0 if there is none and `require` is False).
    Raises ModelDirError if a required checkpoint is missing or does not fit the model.
    """
    import tensorflow as tf

    path = latest_checkpoint(model_dir)
    if path is None:
        if require:
            raise ModelDirError(f"{checkpoint_dir(model_dir)}: no checkpoint; train first with `l3net_train`")
        return 0
    step = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=model, step=step).restore(path)
    try:
        # Every model variable must come from the checkpoint (the optimizer may be left out):
        # a silently missing one would be evaluated at its random initial value.
        status.assert_existing_objects_matched().expect_partial()
    except AssertionError as e:
        raise ModelDirError(f"{path}: does not match {config_name} ({str(e).splitlines()[0]})") from None
    return int(step.numpy())


def read_run_config(model_dir: str) -> Dict[str, Any]:
    """The run's configs ({'model', 'data', 'train', 'data_dir'}), or {} if the file is absent."""
    path = os.path.join(model_dir, RUN_CONFIG_NAME)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ModelDirError(f"{path}: unreadable run config ({e})") from None
