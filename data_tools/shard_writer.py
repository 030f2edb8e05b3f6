"""Planning and writing the sharded TFRecord dataset: splits, shards, process pool, resume.

Everything that decides where a video goes is computed before any decoding, from the video id
alone: the split (a manifest `split` cell, else a hash of the id), the shard (videos of a split
sorted by a hash of their id, dealt round-robin, so shards are balanced and mix classes even
when the manifest is sorted by class). Hence a re-run with the same arguments plans the same
shards, and a shard that exists under its final name is finished and skipped.

Layout of an output directory D:
  D/{split}-{i:05d}-of-{n:05d}.tfrecord   one `tf.train.Example` per converted video
  D/shard_failures/<shard name>.csv       per-shard failures (video_id,path,reason), written
                                          before the shard is renamed into place, so a finished
                                          shard always has its failures on disk (resume)
  D/failures.csv                          all failures, `path,reason` (merged at the end)
  D/conversion_plan.json                  options + plan fingerprint; a re-run that would plan
                                          differently is refused instead of mixing two datasets
  D/dataset.json                          `l3net.data.schema.DatasetInfo`

Decoding runs in a pool of spawned processes (no TensorFlow in them); records come back in plan
order and the parent serialises and writes them, with at most 2 x workers videos in flight so
memory stays bounded. A worker that dies (decoder crash, OOM kill) costs one video, reported as
`crashed`, not the run. With a time limit (`timeout_seconds`, `l3net_data convert
--timeout_seconds`), a video still decoding that long after it reached the head of the queue
(it is running by then: tasks start in order) is reported as `timeout`, its process killed and
the run goes on. Decoding processes die with the converter (Linux: PR_SET_PDEATHSIG), so a
kill -9 leaves none behind.

Faults (issue 16): a kill -9 at any moment leaves only finished shards under their final names
(written to a temporary name, renamed once their failures are on disk) and temporary files that
the next run removes; re-running the same command finishes the job with the same records. A
failed write (a full disk) is an OSError naming the file; finished shards stay valid.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import signal
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from data_tools.convert import ConvertOptions, Failure, convert_video
from data_tools.manifest import VideoSource
from l3net.atomic_files import atomic_path, write_text_atomic
from l3net.data.schema import (DATASET_INFO_NAME, FAILURES_NAME, SCHEMA_VERSION, SPLITS, DatasetInfo, VideoRecord,
                               write_dataset_info)

AUTO_VIDEOS_PER_SHARD = 64  # ~4 MB per 10 s video at paper settings (12 fps, 256 px, 48 kHz): ~250 MB shards
PLAN_NAME = "conversion_plan.json"
SHARD_FAILURES_DIR = "shard_failures"
WORKER_TASKS_BEFORE_RESTART = 256  # bounds slow leaks in long-lived decoder processes
_STALE_TEMP = re.compile(r"^\.((train|val|test)-\d{5}-of-\d{5}\..*\.tmp\.(tfrecord|csv)"
                         r"|(failures|dataset|conversion_plan)\.[A-Za-z0-9_]+\.tmp\.(csv|json))$")

ConvertFn = Callable[[VideoSource, ConvertOptions], Union[VideoRecord, Failure]]


class ConversionStateError(ValueError):
    """The output directory holds (part of) a different conversion; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """The videos of one shard file, in write order."""

    split: str
    index: int
    num_shards: int
    sources: Tuple[VideoSource, ...]

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.num_shards:05d}.tfrecord"

    @property
    def failures_name(self) -> str:
        return os.path.join(SHARD_FAILURES_DIR, self.name[:-len(".tfrecord")] + ".csv")


@dataclasses.dataclass
class ConversionSummary:
    """What `write_dataset` did; `info` is None when no video could be converted."""

    counts: Dict[str, int]
    failures: List[Failure]
    shards_written: int
    shards_skipped: int
    videos_decoded: int
    seconds: float
    info: Optional[DatasetInfo]

    @property
    def converted(self) -> int:
        return sum(self.counts.values())

    def failures_by_kind(self) -> Dict[str, int]:
        return dict(collections.Counter(f.kind for f in self.failures).most_common())


def assign_split(video_id: str, val_fraction: float, test_fraction: float) -> str:
    """Deterministic split of a video from its id: u = sha256(id) in [0, 1).

    test if u < test_fraction, val if u >= 1 - val_fraction, else train: raising either fraction
    only moves videos out of train, never between val and test.
    """
    u = int(hashlib.sha256(f"split:{video_id}".encode("utf-8")).hexdigest()[:15], 16) / 16.0 ** 15
    if u < test_fraction:
        return "test"
    if u >= 1.0 - val_fraction:
        return "val"
    return "train"


def resolve_splits(sources: Sequence[VideoSource], val_fraction: float, test_fraction: float) -> List[VideoSource]:
    """Sources with `split` set: kept where the manifest gave one, else `assign_split`."""
    return [s if s.split else
            dataclasses.replace(s, split=assign_split(s.split_key or s.video_id, val_fraction, test_fraction))
            for s in sources]


def plan_shards(sources: Sequence[VideoSource], num_shards: int = 0) -> List[ShardPlan]:
    """Shards per split (splits in train, val, test order; empty splits get none).

    num_shards: shards per split, capped by the split's video count; 0 = one shard per
    `AUTO_VIDEOS_PER_SHARD` videos.
    """
    plans: List[ShardPlan] = []
    for split in SPLITS:
        members = sorted((s for s in sources if s.split == split),
                         key=lambda s: (hashlib.sha256(s.video_id.encode("utf-8")).hexdigest(), s.video_id))
        if not members:
            continue
        n = num_shards if num_shards > 0 else math.ceil(len(members) / AUTO_VIDEOS_PER_SHARD)
        n = max(1, min(n, len(members)))
        plans.extend(ShardPlan(split, i, n, tuple(members[i::n])) for i in range(n))
    return plans


def write_dataset(sources: Sequence[VideoSource], output_dir: str, options: ConvertOptions, *,
                  num_shards: int = 0, workers: int = 1, val_fraction: float = 0.1,
                  test_fraction: float = 0.1, description: Optional[Dict[str, object]] = None,
                  log: Callable[[str], None] = print, convert: ConvertFn = convert_video,
                  timeout_seconds: float = 0.0) -> ConversionSummary:
    """Converts `sources` into `output_dir` (see module docstring), resuming finished shards.

    description: extra facts recorded in dataset.json (e.g. the manifest path).
    convert:     the per-video function (a module-level function, picklable for the pool).
    timeout_seconds: per-video time limit (0 = none); with a limit, decoding always runs in
                 worker processes (even with workers=1), which a hung decoder cannot block.

    Raises:
      ConversionStateError: `output_dir` holds a conversion planned with other arguments.
      OSError: a write failed (e.g. a full disk); its filename names the file.
    """
    started = time.time()
    plans = plan_shards(resolve_splits(sources, val_fraction, test_fraction), num_shards)
    _claim_output_dir(output_dir, options, plans)
    pending = [p for p in plans if not _is_finished(output_dir, p)]
    if len(pending) < len(plans):
        log(f"resuming: {len(plans) - len(pending)} of {len(plans)} shards already finished in {output_dir}")
    shard_failures: Dict[str, List[Failure]] = {}
    decoded = 0
    if pending:
        with _ordered_results([s for p in pending for s in p.sources], options, workers, convert,
                              timeout_seconds) as results:
            tf_io = _tf_io()
            for number, plan in enumerate(pending, start=1):
                failures = _write_shard(output_dir, plan, results, tf_io)
                shard_failures[plan.name] = failures
                decoded += len(plan.sources)
                log(f"[{number}/{len(pending)}] {plan.name}: {len(plan.sources) - len(failures)} videos"
                    + (f", {len(failures)} failed" if failures else ""))
    for plan in plans:
        if plan.name not in shard_failures:
            shard_failures[plan.name] = _read_shard_failures(output_dir, plan)
    return _finish(output_dir, options, plans, shard_failures, len(plans) - len(pending), decoded,
                   time.time() - started, val_fraction, test_fraction, num_shards, description or {})


def _finish(output_dir: str, options: ConvertOptions, plans: List[ShardPlan],
            shard_failures: Dict[str, List[Failure]], skipped: int, decoded: int, seconds: float,
            val_fraction: float, test_fraction: float, num_shards: int,
            description: Dict[str, object],
            write_text: Optional[Callable[[str, str], None]] = None) -> ConversionSummary:
    """Merges failures into failures.csv and writes dataset.json (if anything was converted).

    write_text(path, text): how a file is written atomically (the Beam runner's writes through
    tf.io.gfile, `data_tools.beam_convert`); None: local files (`l3net.atomic_files`).
    """
    failures = [f for p in plans for f in shard_failures[p.name]]
    failed_ids = {f.video_id for f in failures}
    counts = {split: 0 for split in SPLITS}
    labels = set()
    for plan in plans:
        for source in plan.sources:
            if source.video_id not in failed_ids:
                counts[plan.split] += 1
                labels.update(source.labels)
    if write_text is None:
        _write_failures_csv(os.path.join(output_dir, FAILURES_NAME), failures, with_ids=False)
    else:
        write_text(os.path.join(output_dir, FAILURES_NAME), failures_csv(failures, with_ids=False))
    info = None
    if sum(counts.values()):
        info = DatasetInfo(
            schema_version=SCHEMA_VERSION, sample_rate=options.sample_rate, fps=float(options.fps),
            short_side=options.short_side, labels=sorted(labels), counts=counts,
            shards={split: [p.name for p in plans if p.split == split] for split in SPLITS},
            extra={"num_failed": len(failures),
                   "failures": dict(collections.Counter(f.kind for f in failures).most_common()),
                   "failures_file": FAILURES_NAME,
                   "options": dataclasses.asdict(options),
                   "num_shards": num_shards, "val_fraction": val_fraction, "test_fraction": test_fraction,
                   "converter": "l3net_data convert", **description})
        if write_text is None:
            write_dataset_info(output_dir, info)
        else:
            write_text(os.path.join(output_dir, DATASET_INFO_NAME), info.to_json())
    return ConversionSummary(counts=counts, failures=failures, shards_written=len(plans) - skipped,
                             shards_skipped=skipped, videos_decoded=decoded, seconds=seconds, info=info)


def _write_shard(output_dir: str, plan: ShardPlan, results: Iterator[Union[VideoRecord, Failure]],
                 tf_io) -> List[Failure]:
    """Writes one shard from the next `len(plan.sources)` results; returns its failures."""
    from tensorflow import errors as tf_errors

    failures: List[Failure] = []
    path = os.path.join(output_dir, plan.name)
    with atomic_path(path) as tmp:
        try:
            with tf_io.TFRecordWriter(tmp) as writer:
                for source in plan.sources:
                    result = next(results)
                    if isinstance(result, Failure):
                        failures.append(result)
                    else:
                        writer.write(result.to_example_bytes())
        except tf_errors.OpError as e:  # TensorFlow's file system says ENOSPC etc. in words only.
            text = (e.message or str(e)).strip().splitlines()[0]
            code = errno.ENOSPC if "No space left on device" in text else errno.EIO
            raise OSError(code, os.strerror(code) if code == errno.ENOSPC else text, path) from None
        _write_failures_csv(os.path.join(output_dir, plan.failures_name), failures, with_ids=True)
    return failures


@contextlib.contextmanager
def _ordered_results(sources: Sequence[VideoSource], options: ConvertOptions, workers: int, convert: ConvertFn,
                     timeout_seconds: float = 0.0) -> Iterator[Iterator[Union[VideoRecord, Failure]]]:
    """Yields an iterator of `convert(source, options)` per source, in order, over `workers`
    processes (in this process for workers <= 1 without a time limit).

    With a pool the first videos are submitted on entry, so decoding overlaps whatever the
    caller does next (importing TensorFlow takes seconds); on exit the pool is shut down (its
    processes killed if the caller failed).
    """
    if workers <= 1 and timeout_seconds <= 0:
        yield (convert(source, options) for source in sources)
        return
    pool = _OrderedPool(max(1, workers), options, convert, sources, timeout_seconds)
    failed = True
    try:
        pool.fill()
        yield pool.results()
        failed = False
    finally:
        pool.close(kill=failed)


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the process gets SIGKILL when the converter dies (Linux), so a kill -9 of
    `l3net_data convert` leaves no decoding process waiting forever on the pool's queue."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # The parent died before prctl took effect.
        os._exit(1)


class _OrderedPool:
    """A spawned process pool with at most 2 x workers videos in flight, results in order.

    timeout_seconds > 0: the video at the head of the queue gets that long from the moment it got
    there (it is running by then: tasks start in submission order, and every earlier one is done),
    then it is reported as `timeout`, the pool's processes are killed, and the other unfinished
    videos in flight are submitted again to a fresh pool.
    """

    def __init__(self, workers: int, options: ConvertOptions, convert: ConvertFn, sources: Sequence[VideoSource],
                 timeout_seconds: float = 0.0):
        self.workers, self.options, self.convert = workers, options, convert
        self.timeout = timeout_seconds if timeout_seconds > 0 else None
        self.queue = iter(sources)
        self.in_flight: collections.deque = collections.deque()
        self.pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # The parent runs TensorFlow: never fork it.
        return concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context,
                                                      max_tasks_per_child=WORKER_TASKS_BEFORE_RESTART,
                                                      initializer=_die_with_parent, initargs=(os.getpid(),))

    def _timeout_failure(self, source: VideoSource) -> Failure:
        return Failure(source.video_id, source.source_path,
                       f"timeout: still decoding after {self.timeout:g} s (--timeout_seconds); the process was killed")

    def _kill_pool(self) -> None:
        """Kills the pool's processes (a hung decoder ignores everything else) and drops the pool."""
        for process in list((getattr(self.pool, "_processes", None) or {}).values()):
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):
                pass
        self.pool.shutdown(wait=False, cancel_futures=True)

    def fill(self) -> None:
        while len(self.in_flight) < 2 * self.workers:
            source = next(self.queue, None)
            if source is None:
                return
            try:
                future = self.pool.submit(self.convert, source, self.options)
            except BrokenProcessPool:
                future = None  # A video already in flight killed the pool; `results` recovers.
            self.in_flight.append((source, future))

    def results(self) -> Iterator[Union[VideoRecord, Failure]]:
        while self.in_flight:
            source, future = self.in_flight.popleft()
            try:
                if future is None:
                    raise BrokenProcessPool("submitted to a broken pool")
                result = future.result(timeout=self.timeout)
            except BrokenProcessPool:
                yield from self._recover(source)
            except concurrent.futures.TimeoutError:
                self._restart_after_timeout()
                yield self._timeout_failure(source)
            else:
                yield result
            self.fill()

    def _restart_after_timeout(self) -> None:
        """Kills the pool (the head video hangs in it); finished results in flight are kept, the
        others are submitted again, in order, to a fresh pool."""
        self._kill_pool()
        self.pool = self._new_pool()
        kept: collections.deque = collections.deque()
        for source, future in self.in_flight:
            finished = (future is not None and future.done() and not future.cancelled()
                        and future.exception() is None)
            kept.append((source, future if finished else self.pool.submit(self.convert, source, self.options)))
        self.in_flight = kept

    def close(self, kill: bool = False) -> None:
        if kill:  # The caller failed (or was interrupted): do not wait for videos nobody will write.
            self._kill_pool()
        else:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _recover(self, source: VideoSource) -> Iterator[Union[VideoRecord, Failure]]:
        """A worker died: its pool is unusable and every in-flight result is lost. Re-runs those
        videos one at a time in fresh pools, so only the culprit is reported as crashed."""
        retry = [source] + [s for s, _ in self.in_flight]
        self.in_flight.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        for video in retry:
            try:
                yield self.pool.submit(self.convert, video, self.options).result(timeout=self.timeout)
            except BrokenProcessPool:
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._new_pool()
                yield Failure(video.video_id, video.source_path, "crashed: the decoding process died on this file")
            except concurrent.futures.TimeoutError:
                self._kill_pool()
                self.pool = self._new_pool()
                yield self._timeout_failure(video)


def _claim_output_dir(output_dir: str, options: ConvertOptions, plans: Sequence[ShardPlan]) -> None:
    """Creates `output_dir`, refuses one planned differently, removes stale temp files."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConversionStateError(f"{output_dir}: --output_dir exists and is not a directory")
    try:
        os.makedirs(os.path.join(output_dir, SHARD_FAILURES_DIR), exist_ok=True)
    except OSError as e:
        raise ConversionStateError(f"{output_dir}: cannot create --output_dir ({e.strerror})") from None
    state = plan_state(options, plans)
    path = os.path.join(output_dir, PLAN_NAME)
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                previous = json.load(f).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            previous = None
        check_same_plan(output_dir, previous, state)
    write_text_atomic(path, json.dumps(state, indent=2, sort_keys=True))
    for folder in (output_dir, os.path.join(output_dir, SHARD_FAILURES_DIR)):
        for name in os.listdir(folder):
            if _STALE_TEMP.match(name):
                os.remove(os.path.join(folder, name))


def plan_state(options: ConvertOptions, plans: Sequence[ShardPlan]) -> Dict[str, object]:
    """What conversion_plan.json records: a fingerprint of the options and of every shard's videos."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(options), sort_keys=True).encode("utf-8"))
    for plan in plans:
        digest.update(plan.name.encode("utf-8"))
        for s in plan.sources:
            digest.update(json.dumps([s.video_id, s.source_path, s.labels, s.start_seconds, s.end_seconds]).encode())
    return {"fingerprint": digest.hexdigest(), "options": dataclasses.asdict(options),
            "shards": [p.name for p in plans]}


def check_same_plan(output_dir: str, previous_fingerprint: Optional[str], state: Dict[str, object]) -> None:
    """ConversionStateError unless the conversion already in `output_dir` was planned as `state`."""
    if previous_fingerprint != state["fingerprint"]:
        raise ConversionStateError(
            f"{output_dir}: holds a conversion made with other videos or options ({PLAN_NAME}); "
            "re-run with the same arguments to resume, or choose a new --output_dir")


def is_stale_temp(name: str) -> bool:
    """Whether `name` is a temporary file that a killed conversion left behind."""
    return bool(_STALE_TEMP.match(name))


def _is_finished(output_dir: str, plan: ShardPlan) -> bool:
    return (os.path.isfile(os.path.join(output_dir, plan.name))
            and os.path.isfile(os.path.join(output_dir, plan.failures_name)))


def failures_csv(failures: Iterable[Failure], *, with_ids: bool) -> str:
    """failures.csv (`path,reason`) or a shard's failures file (`video_id,path,reason`) as text."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video_id", "path", "reason"] if with_ids else ["path", "reason"])
    for f in failures:
        writer.writerow([f.video_id, f.source_path, f.reason] if with_ids else [f.source_path, f.reason])
    return text.getvalue()


def parse_shard_failures(text: str) -> List[Failure]:
    """The failures of a shard's failures file (`failures_csv(..., with_ids=True)`)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [Failure(video_id, path, reason) for video_id, path, reason in rows[1:]]


def _write_failures_csv(path: str, failures: Iterable[Failure], *, with_ids: bool) -> None:
    write_text_atomic(path, failures_csv(failures, with_ids=with_ids))


def _read_shard_failures(output_dir: str, plan: ShardPlan) -> List[Failure]:
    with open(os.path.join(output_dir, plan.failures_name), newline="", encoding="utf-8") as f:
        return parse_shard_failures(f.read())


def _tf_io():
    """`tf.io`, imported only when there is something to write (TF import takes seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.io
