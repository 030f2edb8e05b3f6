"""Reading converted shards so that a damaged one is named, not reported as a 40-line traceback.

A TFRecord file frames each record as [length u64][crc32c(length)][data][crc32c(data)].
TensorFlow's reader checks both checksums, but its error (`DataLossError: truncated record at
280158`, `corrupted record at 12`) does not say which file, and it cannot resynchronise inside
a file after a damaged record: the rest of that file is unreadable.

`read_shards` reads each shard with its own TFRecordDataset, with errors ignored, and counts
the bytes it yielded (16 + length per record). At the end of a shard, a count short of the file
size means the reading stopped at a damaged record: byte `count`, record `n + 1`. Then:

  strict (the default): the read fails. The error that reaches the caller (a TensorFlow
      OpError from the iterator) carries a token; `damage_in(error)` turns it back into a
      `DamagedShardError` naming the file, the byte offset, the record number and what is wrong
      (truncated: the file ends inside the record; corrupted: a checksum does not match).
  skip (`skipping_damaged_records(True)` around building the dataset; `l3net_train
      --skip_corrupt_records`): the rest of the shard is skipped, one warning names it (once per
      shard and offset), and `damage_events()` counts how often it happened (the trainer logs it).

Records before the damage are used in both modes. The check costs one scan step per record (a
video) and one file size per shard; the Python report runs only when a shard is damaged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
import sys
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from l3net.data.schema import DatasetError

# Bytes around each record's data: length (8) + its checksum (4) + the data's checksum (4).
FRAMING_BYTES = 16
_HEADER_BYTES = 12
_TOKEN = re.compile(r"\[l3net damaged shard #(\d+)\]")


class DamagedShardError(DatasetError):
    """A shard that cannot be read to its end; the message names it and says what to do."""

    def __init__(self, path: str, offset: int, record: int, size: int, kind: str, detail: str) -> None:
        self.path, self.offset, self.record, self.size = path, offset, record, size
        self.kind, self.detail = kind, detail
        super().__init__(f"{path}: {kind} record at byte {offset} (record {record}; {detail})")

    def advice(self, *, skip_flag: Optional[str] = None) -> str:
        """The message plus what to do: re-convert the shard (and, for training, the skip flag)."""
        text = f"{self}; re-convert it (delete it and re-run the same `l3net_data convert` command)"
        if skip_flag:
            text += f", or re-run with {skip_flag} to use the records before the damage and skip the rest"
        return text


@dataclasses.dataclass
class _Policy:
    skip: bool = False
    warn: Optional[Callable[[str], None]] = None


_lock = threading.Lock()
_policy = _Policy()
_reports: Dict[int, DamagedShardError] = {}
_warned: set = set()
_tokens = itertools.count(1)
_events = 0


@contextlib.contextmanager
def skipping_damaged_records(skip: bool, warn: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Datasets built inside skip (True) or fail on (False) damaged shards; `warn(message)` reports
    each skipped shard once (default: a line on stderr)."""
    global _policy
    previous = _policy
    _policy = _Policy(skip, warn)
    try:
        yield
    finally:
        _policy = previous


def skipping() -> bool:
    """Whether datasets built now skip damaged shards."""
    return _policy.skip


def damage_events() -> int:
    """How many times, in this process, a shard's reading stopped at a damaged record and the rest
    of it was skipped (each pass over a damaged shard counts)."""
    return _events


def damage_in(error: BaseException) -> Optional[DamagedShardError]:
    """The DamagedShardError that `error` (an OpError raised while iterating) carries, else None."""
    if isinstance(error, DamagedShardError):
        return error
    match = _TOKEN.search(str(getattr(error, "message", "") or error))
    if not match:
        return None
    with _lock:
        return _reports.get(int(match.group(1)))


def describe_read_error(error: BaseException, paths: Sequence[str]) -> Optional[DamagedShardError]:
    """The damaged shard behind `error`, raised while reading `paths`; None if it is not about damage.

    Errors of `read_shards` / `read_shard` carry the answer; a plain DataLossError (a reader that
    does not use them) is traced back by `find_damage(paths)`, preferring the damage at the byte
    offset the error names.
    """
    damage = damage_in(error)
    if damage is not None:
        return damage
    import tensorflow as tf

    if isinstance(error, tf.errors.DataLossError):
        hint = re.search(r"(?:truncated|corrupted) record at (\d+)", str(getattr(error, "message", "") or error))
        try:
            return find_damage(paths, near=int(hint.group(1)) if hint else None)
        except DatasetError:  # A shard is missing now: the caller reports the original error.
            return None
    return None


def find_damage(paths: Sequence[str], near: Optional[int] = None,
                full_read_limit: int = 16 << 30) -> Optional[DamagedShardError]:
    """A damaged record among `paths` (the one at byte `near` or its data, if several), else None.

    Walks each file's record headers first (12 bytes a record: finds truncation and damaged length
    fields without reading the data), then, if the files hold at most `full_read_limit` bytes,
    reads them whole (data checksums).
    """
    import tensorflow as tf

    found: List[DamagedShardError] = []

    def matches(damage: DamagedShardError) -> bool:
        return near is None or near in (damage.offset, damage.offset + _HEADER_BYTES)

    for path in paths:
        size = shard_sizes([path])[0]
        offset, index = 0, 0
        with tf.io.gfile.GFile(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                header = f.read(_HEADER_BYTES)
                length = int.from_bytes(header[:8], "little")
                if (len(header) < _HEADER_BYTES or masked_crc32c(header[:8]) != int.from_bytes(header[8:12], "little")
                        or offset + FRAMING_BYTES + length > size):
                    found.append(diagnose(path, offset, index + 1, size))
                    break
                offset += FRAMING_BYTES + length
                index += 1
        if found and matches(found[-1]):
            return found[-1]
    if sum(shard_sizes(paths)) <= full_read_limit:
        walked = {d.path for d in found}
        for path in paths:
            if path in walked:
                continue
            offset, index = 0, 0
            try:
                for record in tf.data.TFRecordDataset(path):
                    offset += FRAMING_BYTES + int(tf.strings.length(record))
                    index += 1
            except tf.errors.DataLossError:
                found.append(diagnose(path, offset, index + 1, shard_sizes([path])[0]))
                if matches(found[-1]):
                    return found[-1]
    return found[0] if found else None


@contextlib.contextmanager
def naming_damaged_shards(paths: Sequence[str], advice: bool = True) -> Iterator[None]:
    """Turns a read error of `paths` inside the block into DatasetError naming the damaged shard
    (with what to do, if `advice`); other errors pass unchanged."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        damage = describe_read_error(e, paths)
        if damage is None:
            raise
        raise DatasetError(damage.advice() if advice else str(damage)) from None


def shard_sizes(paths: Sequence[str]) -> List[int]:
    """Sizes in bytes (any filesystem TensorFlow reads); DatasetError naming an unreadable shard."""
    import tensorflow as tf

    sizes = []
    for path in paths:
        try:
            sizes.append(int(tf.io.gfile.stat(path).length))
        except tf.errors.OpError as e:
            raise DatasetError(f"{path}: cannot read the shard ({_first_line(e)})") from None
    return sizes


def read_shards(paths: Sequence[str], *, skip: Optional[bool] = None):
    """Serialized records of `paths`, one file after the other (strict or skip: module doc)."""
    import tensorflow as tf

    skip = skipping() if skip is None else skip
    files = tf.data.Dataset.from_tensor_slices((list(paths), shard_sizes(paths)))
    return files.flat_map(lambda path, size: read_shard(path, size, skip=skip))


def read_shard(path, size, *, skip: Optional[bool] = None):
    """Serialized records of one shard (`path`, `size` may be tensors: an interleave function)."""
    import tensorflow as tf

    skip = skipping() if skip is None else skip
    warn = _policy.warn
    size = tf.cast(size, tf.int64)
    records = tf.data.TFRecordDataset(path).ignore_errors()
    items = records.map(lambda r: (r, tf.constant(False))).concatenate(
        tf.data.Dataset.from_tensors((tf.constant(b""), tf.constant(True))))

    def count(state, item):
        consumed, index = state
        record, is_end = item
        length = tf.cast(tf.strings.length(record), tf.int64) + FRAMING_BYTES
        advance = tf.where(is_end, tf.constant(0, tf.int64), length)
        step = tf.where(is_end, tf.constant(0, tf.int64), tf.constant(1, tf.int64))
        return (consumed + advance, index + step), (record, is_end, consumed, index)

    counted = items.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), count)

    def keep(record, is_end, consumed, index):
        damaged = tf.logical_and(is_end, tf.not_equal(consumed, size))

        def report():
            return tf.py_function(lambda p, c, i, s: _report(p, c, i, s, skip, warn), [path, consumed, index, size],
                                  tf.bool)

        reported = tf.cond(damaged, report, lambda: tf.constant(True))
        return tf.logical_and(tf.logical_not(is_end), reported)

    return counted.filter(keep).map(lambda record, is_end, consumed, index: record)


def _report(path, consumed, index, size, skip: bool, warn: Optional[Callable[[str], None]]):
    """Runs (in Python) when a shard ended early: diagnoses it, then fails or counts and warns."""
    global _events
    path = path.numpy().decode("utf-8", "surrogateescape")
    damage = diagnose(path, int(consumed.numpy()), int(index.numpy()) + 1, int(size.numpy()))
    with _lock:
        token = next(_tokens)
        _reports[token] = damage
        if skip:
            _events += 1
            first = (path, damage.offset) not in _warned
            _warned.add((path, damage.offset))
    if not skip:
        raise RuntimeError(f"{damage} [l3net damaged shard #{token}]")
    if first:
        message = f"{damage}; skipping the rest of this shard"
        (warn or _stderr_warning)(message)
    return True


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def diagnose(path: str, offset: int, record: int, size: int) -> DamagedShardError:
    """What is wrong with the record at byte `offset` of `path` (the `record`-th)."""
    import tensorflow as tf

    try:
        actual = int(tf.io.gfile.stat(path).length)
        with tf.io.gfile.GFile(path, "rb") as f:
            f.seek(offset)
            header = f.read(_HEADER_BYTES)
    except (OSError, tf.errors.OpError) as e:
        return DamagedShardError(path, offset, record, size, "unreadable", _first_line(e))
    if actual != size:
        return DamagedShardError(path, offset, record, actual, "unreadable",
                                 f"the file changed size while it was read: {size} -> {actual} bytes")
    if len(header) < _HEADER_BYTES:
        return DamagedShardError(path, offset, record, size, "truncated",
                                 f"the file ends {size - offset} bytes into the record's header: it was cut short")
    length = int.from_bytes(header[:8], "little")
    if masked_crc32c(header[:8]) != int.from_bytes(header[8:12], "little"):
        return DamagedShardError(path, offset, record, size, "corrupted",
                                 "the record's length field fails its checksum: the bytes were altered")
    end = offset + FRAMING_BYTES + length
    if end > size:
        return DamagedShardError(path, offset, record, size, "truncated",
                                 f"the record needs {end} bytes, the file has {size}: it was cut short")
    return DamagedShardError(path, offset, record, size, "corrupted",
                             f"the record's {length} data bytes fail their checksum: the bytes were altered")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", "") or getattr(error, "strerror", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# CRC-32C (Castagnoli), as TFRecord uses it, for the 8-byte length field only.
def _crc_table() -> List[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
