"""`l3net_data convert --runner=...`: the same conversion as the local pool, as an Apache Beam pipeline.

For datasets that outgrow one machine (AudioSet: 2M videos), decoding runs on any Beam runner
(DirectRunner here; Dataflow, Flink, Spark with their pipeline options). What is converted and
where it goes is exactly the local pool's (`data_tools.shard_writer`): the same plan (split and
shard of every video decided from its id before decoding), the same per-video function
(`data_tools.convert.convert_video`), the same shard files with records in plan order (so the
same bytes), the same per-shard failure files, failures.csv and dataset.json, and the same resume
rule (a shard under its final name with its failures file is finished and not planned again).

Pipeline: (shard, position, video) for every video of an unfinished shard -> Reshuffle (spread
over workers) -> convert -> records (main output) and failures (side output), each keyed by
shard -> CoGroupByKey -> one writer per shard: failures file, then the TFRecord file under a
temporary name renamed into place. The launcher then merges the failures into failures.csv and
writes dataset.json.

Output paths go through `tf.io.gfile`: the output directory may be on any file system
TensorFlow has (gs://, s3:// with tensorflow-io's plugins, hdfs://, ram://). Videos are read by
PyAV in the workers, so their paths (and so the manifest's folder) must be readable there as
local or mounted paths. Differences from the local pool: no per-video `--timeout_seconds` (a hung
decoder holds its bundle until the runner's own limits act), and a decoder crash kills the
worker, so the runner retries the bundle and then fails the job rather than reporting the video
as `crashed`.

Needs Apache Beam (`pip install l3net[beam]`); the base install does not.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
import uuid
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from data_tools.convert import ConvertOptions, Failure, convert_video
from data_tools.manifest import VideoSource
from data_tools.shard_writer import (PLAN_NAME, SHARD_FAILURES_DIR, ConversionStateError, ConversionSummary,
                                     ShardPlan, _finish, check_same_plan, failures_csv, is_stale_temp,
                                     parse_shard_failures, plan_shards, plan_state, resolve_splits)

RECORDS, FAILURES = "records", "failures"


class BeamUnavailableError(ImportError):
    """Apache Beam is not installed; the message says how to install it."""


def pipeline_arguments(runner: Optional[str], beam_options: str, workers: int) -> List[str]:
    """Beam pipeline arguments from `--runner`, `--beam_options` and `--workers`.

    DirectRunner runs `workers` processes (multi_processing mode); `--beam_options` is split like
    a shell command line and comes last, so its `--runner=...` (and anything else) wins.
    """
    args: List[str] = []
    if runner:
        args.append(f"--runner={runner}")
    extra = shlex.split(beam_options or "")
    chosen = runner
    for arg in extra:
        if arg.startswith("--runner="):
            chosen = arg.split("=", 1)[1]
    if (chosen or "DirectRunner") == "DirectRunner":
        args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={max(1, workers)}"]
    return args + ["--default_sdk_harness_log_level=WARNING"] + extra


def _gfile():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.io.gfile


def _temp_name(path: str) -> str:
    """A temporary name next to `path` that a resumed run recognises and removes (`is_stale_temp`)."""
    folder, name = os.path.split(path)
    base, ext = os.path.splitext(name)
    return os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp{ext}")


def write_text_gfile(path: str, text: str) -> None:
    """Writes `text` to `path` on any TensorFlow file system: a temporary name, then a rename."""
    gfile = _gfile()
    tmp = _temp_name(path)
    try:
        with gfile.GFile(tmp, "w") as f:
            f.write(text)
        gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        if gfile.exists(tmp):
            gfile.remove(tmp)
        raise


def _claim_output_dir(output_dir: str, options: ConvertOptions, plans: Sequence[ShardPlan]) -> None:
    """As `shard_writer._claim_output_dir`, through tf.io.gfile."""
    gfile = _gfile()
    if gfile.exists(output_dir) and not gfile.isdir(output_dir):
        raise ConversionStateError(f"{output_dir}: --output_dir exists and is not a directory")
    gfile.makedirs(os.path.join(output_dir, SHARD_FAILURES_DIR))
    state = plan_state(options, plans)
    path = os.path.join(output_dir, PLAN_NAME)
    if gfile.exists(path):
        try:
            with gfile.GFile(path) as f:
                previous = json.loads(f.read()).get("fingerprint")
        except (ValueError, AttributeError):
            previous = None
        check_same_plan(output_dir, previous, state)
    write_text_gfile(path, json.dumps(state, indent=2, sort_keys=True))
    for folder in (output_dir, os.path.join(output_dir, SHARD_FAILURES_DIR)):
        for name in gfile.listdir(folder):
            if is_stale_temp(name.rstrip("/")):
                gfile.remove(os.path.join(folder, name))


def _is_finished(output_dir: str, plan: ShardPlan) -> bool:
    gfile = _gfile()
    return gfile.exists(os.path.join(output_dir, plan.name)) and gfile.exists(
        os.path.join(output_dir, plan.failures_name))


def _read_failures(output_dir: str, plan: ShardPlan) -> List[Failure]:
    with _gfile().GFile(os.path.join(output_dir, plan.failures_name)) as f:
        return parse_shard_failures(f.read())


class _Convert:
    """(shard, position, source) -> (shard, (position, record bytes)), or a tagged failure.

    A plain callable (picklable) so Beam ships it to the workers; `convert_video` is the local
    pool's function.
    """

    def __init__(self, options: ConvertOptions, convert: Callable = convert_video) -> None:
        self.options, self.convert = options, convert

    def __call__(self, item: Tuple[str, int, VideoSource]) -> Iterator:
        from apache_beam import pvalue

        shard, position, source = item
        result = self.convert(source, self.options)
        if isinstance(result, Failure):
            yield pvalue.TaggedOutput(FAILURES, (shard, (position, result)))
        else:
            yield shard, (position, result.to_example_bytes())


class _WriteShard:
    """(shard, {records, failures}) -> the shard's failures file, then its TFRecord file (temp name, rename)."""

    def __init__(self, output_dir: str, plans: Dict[str, ShardPlan]) -> None:
        self.output_dir, self.plans = output_dir, plans

    def __call__(self, keyed: Tuple[str, Dict[str, Iterable]]) -> Iterator[str]:
        import tensorflow as tf

        shard, grouped = keyed
        plan = self.plans[shard]
        records = sorted(grouped[RECORDS], key=lambda pair: pair[0])
        failures = [f for _, f in sorted(grouped[FAILURES], key=lambda pair: pair[0])]
        if len(records) + len(failures) != len(plan.sources):
            raise RuntimeError(f"{shard}: {len(records)} records + {len(failures)} failures for "
                               f"{len(plan.sources)} videos")
        write_text_gfile(os.path.join(self.output_dir, plan.failures_name), failures_csv(failures, with_ids=True))
        path = os.path.join(self.output_dir, plan.name)
        tmp = _temp_name(path)
        try:
            with tf.io.TFRecordWriter(tmp) as writer:
                for _, data in records:
                    writer.write(data)
            tf.io.gfile.rename(tmp, path, overwrite=True)
        except BaseException:
            if tf.io.gfile.exists(tmp):
                tf.io.gfile.remove(tmp)
            raise
        yield shard


def write_dataset_beam(sources: Sequence[VideoSource], output_dir: str, options: ConvertOptions,
                       pipeline_args: Sequence[str], *, num_shards: int = 0, val_fraction: float = 0.1,
                       test_fraction: float = 0.1, description: Optional[Dict[str, object]] = None,
                       log: Callable[[str], None] = print, convert: Callable = convert_video) -> ConversionSummary:
    """Converts `sources` into `output_dir` on a Beam runner; the result is `shard_writer.write_dataset`'s.

    pipeline_args: Beam pipeline options (`pipeline_arguments`). Raises BeamUnavailableError
    without Apache Beam, ConversionStateError for an output directory of another conversion.
    """
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        raise BeamUnavailableError("--runner/--beam_options need Apache Beam: pip install 'l3net[beam]' "
                                   "(or apache-beam), or drop them to convert with the local process pool") from None
    # Beam's INFO lines and its workers' forwarded warnings would bury the summary.
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    started = time.time()
    if "://" not in output_dir:  # Workers may run elsewhere (another working directory).
        output_dir = os.path.abspath(output_dir)
    plans = plan_shards(resolve_splits(sources, val_fraction, test_fraction), num_shards)
    _claim_output_dir(output_dir, options, plans)
    pending = [p for p in plans if not _is_finished(output_dir, p)]
    if len(pending) < len(plans):
        log(f"resuming: {len(plans) - len(pending)} of {len(plans)} shards already finished in {output_dir}")
    if pending:
        items = [(plan.name, i, source) for plan in pending for i, source in enumerate(plan.sources)]
        with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as pipeline:
            converted = (pipeline
                         | "Videos" >> beam.Create(items)
                         | "Spread" >> beam.Reshuffle()
                         | "Convert" >> beam.FlatMap(_Convert(options, convert)).with_outputs(FAILURES, main=RECORDS))
            _ = ({RECORDS: converted[RECORDS], FAILURES: converted[FAILURES]}
                 | "ByShard" >> beam.CoGroupByKey()
                 | "WriteShards" >> beam.FlatMap(_WriteShard(output_dir, {p.name: p for p in pending})))
        log(f"{len(pending)} shards written by the Beam pipeline")
    shard_failures = {plan.name: _read_failures(output_dir, plan) for plan in plans}
    decoded = sum(len(p.sources) for p in pending)
    return _finish(output_dir, options, plans, shard_failures, len(plans) - len(pending), decoded,
                   time.time() - started, val_fraction, test_fraction, num_shards,
                   description or {}, write_text=write_text_gfile)
