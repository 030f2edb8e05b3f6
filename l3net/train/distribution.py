"""Choice of `tf.distribute` strategy for `--strategy`.

default:      one device (the first GPU if any, else the CPU) - the CPU demo and tests.
mirrored:     synchronous data parallel over all local GPUs (the paper used 16 GPUs x 16 pairs).
multi_worker: the same across machines; the cluster comes from the TF_CONFIG environment
              variable, as for any TensorFlow multi-worker job.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


class StrategyError(ValueError):
    """A strategy that cannot be set up here; the message names the flag or variable."""


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy for `name`; StrategyError on a bad name or TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise StrategyError("--strategy=multi_worker: set TF_CONFIG (cluster and task) on every worker")
        try:
            json.loads(raw)
        except ValueError:
            raise StrategyError("TF_CONFIG: not valid JSON") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyError(f"--strategy={name}: use default, mirrored or multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries and plots."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())
