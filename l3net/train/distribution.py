"""Choice of `tf.distribute` strategy for `--strategy`, and how each worker gets its input.

default:      one device (the first GPU if any, else the CPU) - the CPU demo and tests.
mirrored:     synchronous data parallel over all local GPUs (the paper used 16 GPUs x 16 pairs).
multi_worker: the same across machines (`MultiWorkerMirroredStrategy`); the cluster comes from
              the TF_CONFIG environment variable (`l3net.train.cluster`; `l3net_train
              --worker_hosts --task_index` sets it).

Input across workers is sharded by file: each worker builds its own pipeline over every
`num_workers`-th train shard (`l3net.data.worker_shards`) and draws batches of global batch /
replicas, so no video is read twice per pass and no worker reads data it throws away.
"""

from __future__ import annotations

import os
from typing import Callable

import tensorflow as tf

from l3net.data import worker_shards
from l3net.train.cluster import ClusterError, parse_tf_config


class StrategyError(ValueError):
    """A strategy that cannot be set up here; the message names the flag or variable."""


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy for `name`; StrategyError on a bad name or TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        try:
            parse_tf_config(os.environ.get("TF_CONFIG"))
        except ClusterError as e:
            raise StrategyError(str(e)) from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyError(f"--strategy={name}: use default, mirrored or multi_worker")


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Training processes of the job (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(job, [])) for job in ("chief", "worker")))


def task_id(strategy: tf.distribute.Strategy) -> int:
    """This worker's index in its job (0 without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None else 0


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries and plots."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def distributed_input(strategy: tf.distribute.Strategy, make_dataset: Callable[[int], tf.data.Dataset],
                      global_batch: int):
    """The distributed train input: `make_dataset(worker)` yields batches of `global_batch` examples.

    One worker: `make_dataset(0)` as it is, split over the local replicas. Several workers: worker
    i builds `make_dataset(i)` over its own train shards (by file, `worker_shards`) and re-batches
    it to the per-replica batch (global_batch / replicas in the whole job), so a step still
    trains on `global_batch` examples in total. DatasetError if the split has fewer shards than
    workers; ValueError if global_batch is not a multiple of the replica count.
    """
    workers = num_workers(strategy)
    if workers <= 1:
        return strategy.experimental_distribute_dataset(make_dataset(0))

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(global_batch)
        with worker_shards.reading_worker_shards(context.input_pipeline_id, context.num_input_pipelines):
            dataset = make_dataset(context.input_pipeline_id)
        return dataset.rebatch(per_replica, drop_remainder=True)

    return strategy.distribute_datasets_from_function(per_worker)


def statistics_sync(strategy: tf.distribute.Strategy, variables) -> Callable[[], None]:
    """A function that sets each of `variables` to its mean over all replicas (a no-op with one replica).

    Why: BatchNorm's moving mean and variance (Keras 3: non-trainable, aggregation "none") are
    updated by each replica from its own part of the batch, so after a few steps every worker
    holds different statistics while its trainable weights are identical (all-reduced
    gradients). Averaging them before each validation and checkpoint makes every worker validate
    the same model and gives the chief's checkpoint statistics of the whole global batch (exact
    for the means; the variances miss the spread between the replicas' means, which is small
    when replicas see batches of the same distribution).
    """
    floats = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    if strategy.num_replicas_in_sync <= 1 or not floats:
        return lambda: None

    def replica_fn():
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in floats])

    @tf.function
    def sync() -> None:
        means = strategy.run(replica_fn)
        for variable, mean in zip(floats, means):  # Cross-replica assign: every local copy.
            variable.assign(strategy.experimental_local_results(mean)[0])

    return sync
