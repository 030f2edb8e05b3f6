"""Which train shards this worker reads, when several workers train one model.

Input is sharded by file: with W workers, worker i reads shards i, i + W, i + 2W, ... of the
split, each worker its own, so a pass over the data reads every video once in the whole job
(the alternative, every worker reading everything and keeping every W-th example, reads the
data W times). That needs at least W shards, and balanced shards (the converter deals videos
round-robin, so shard sizes differ by at most one video).

The trainer sets the worker's place while it builds that worker's input pipeline
(`reading_worker_shards`); the pipelines call `select` on their shard lists. Outside such a
block (one worker, tools, tests) every shard is read.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, List, Optional, Sequence, Tuple

from l3net.data.schema import DatasetError

_state = threading.local()


@contextlib.contextmanager
def reading_worker_shards(index: int, count: int) -> Iterator[None]:
    """Pipelines built in this block (this thread) read the shards of worker `index` of `count`."""
    if not 0 <= index < count:
        raise ValueError(f"worker index {index} not in [0, {count})")
    previous: Optional[Tuple[int, int]] = getattr(_state, "worker", None)
    _state.worker = (index, count)
    try:
        yield
    finally:
        _state.worker = previous


def select(paths: Sequence[str]) -> List[str]:
    """This worker's shards of `paths` (all of them outside `reading_worker_shards`).

    Raises DatasetError (one line: how many shards, how many workers, what to do) when there are
    fewer shards than workers.
    """
    worker = getattr(_state, "worker", None)
    if worker is None:
        return list(paths)
    index, count = worker
    if len(paths) < count:
        raise DatasetError(too_few_shards_message(len(paths), count, paths[0] if paths else "the split"))
    return list(paths[index::count])


def too_few_shards_message(num_shards: int, num_workers: int, where: str) -> str:
    """The one-line error for a split with fewer shards than workers."""
    return (f"{where}: the train split has {num_shards} shard{'s' if num_shards != 1 else ''} but {num_workers} "
            f"workers train; each worker reads whole shards, so re-convert with `l3net_data convert --num_shards "
            f"{num_workers}` (or more; into a new --output_dir) or train on at most {num_shards} workers")
