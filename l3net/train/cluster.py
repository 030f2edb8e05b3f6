"""The multi-worker cluster of `--strategy=multi_worker`: TF_CONFIG, read or built from flags.

TensorFlow's `MultiWorkerMirroredStrategy` learns the cluster from the TF_CONFIG environment
variable (JSON: `{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker",
"index": i}}`). `l3net_train --worker_hosts=h1:p,h2:p --task_index=i` builds that value, so a
user starts the same command on every machine with only the index changed; a TF_CONFIG already
in the environment (set by a cluster manager: Kubernetes, Slurm scripts, Vertex AI) wins.

The chief is the task that writes the model directory: type `chief`, or worker 0 in a cluster
without a chief (TensorFlow's rule). No TensorFlow import here: `l3net_train` checks all of this
before any heavy work.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Mapping, Optional, Sequence

TF_CONFIG = "TF_CONFIG"
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
# Tasks that train (hold replicas); an "evaluator" or "ps" task in TF_CONFIG does not.
_TRAINING_TYPES = ("chief", "worker")


class ClusterError(ValueError):
    """TF_CONFIG or the launcher flags cannot describe a cluster; the message names which and why."""


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster.

    num_workers: training tasks (chief + workers); task_type / task_index: this process's task;
    has_chief: the cluster has a `chief` job (else worker 0 is the chief).
    """

    num_workers: int
    task_type: str
    task_index: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0
                                             and not self.has_chief)


def build_tf_config(worker_hosts: Sequence[str], task_index: int) -> str:
    """TF_CONFIG JSON for worker `task_index` of `worker_hosts` ("host:port" each; worker 0 is the chief).

    Raises ClusterError naming the flag (`--worker_hosts`, `--task_index`) on a bad value.
    """
    hosts = [h.strip() for h in worker_hosts if h.strip()]
    if not hosts:
        raise ClusterError("--worker_hosts: give every worker's host:port, comma-separated, the same on every worker")
    for host in hosts:
        if not _HOST_PORT.match(host) or not 0 < int(host.rsplit(":", 1)[1]) < 65536:
            raise ClusterError(f"--worker_hosts: {host!r} is not host:port (e.g. 10.0.0.2:12345)")
    if len(set(hosts)) != len(hosts):
        raise ClusterError("--worker_hosts: a host:port is listed twice; each worker needs its own")
    if task_index is None or not 0 <= task_index < len(hosts):
        raise ClusterError(f"--task_index: give this worker's position in --worker_hosts, 0 to {len(hosts) - 1} "
                           "(0 is the chief, which writes the model directory)")
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": task_index}})


def parse_tf_config(raw: Optional[str]) -> ClusterTask:
    """The ClusterTask described by a TF_CONFIG value; ClusterError (naming TF_CONFIG) if it cannot be used."""
    if not raw:
        raise ClusterError("--strategy=multi_worker: give --worker_hosts=h1:port,h2:port --task_index=i, or set "
                           "TF_CONFIG (JSON with cluster and task) on every worker")
    try:
        config = json.loads(raw)
    except ValueError:
        raise ClusterError("TF_CONFIG: not valid JSON") from None
    if not isinstance(config, Mapping):
        raise ClusterError("TF_CONFIG: must be a JSON object with \"cluster\" and \"task\"")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, Mapping) or not isinstance(task, Mapping):
        raise ClusterError("TF_CONFIG: needs \"cluster\" (job name -> list of host:port) and \"task\" "
                           "({\"type\": ..., \"index\": ...})")
    jobs = {name: hosts for name, hosts in cluster.items() if name in _TRAINING_TYPES}
    if not jobs or not all(isinstance(h, list) and h for h in jobs.values()):
        raise ClusterError("TF_CONFIG: \"cluster\" lists no \"worker\" or \"chief\" hosts")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in jobs or not isinstance(index, int) or not 0 <= index < len(jobs[task_type]):
        raise ClusterError(f"TF_CONFIG: task {task_type!r} index {index!r} is not in the cluster "
                           f"({', '.join(f'{k}: {len(v)}' for k, v in jobs.items())})")
    return ClusterTask(num_workers=sum(len(h) for h in jobs.values()), task_type=task_type, task_index=index,
                       has_chief="chief" in jobs)
