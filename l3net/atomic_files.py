"""Write-then-rename helpers: an output file either exists complete or not at all.

Every artefact a user may script against (dataset.json, failures.csv, configs, JSON reports,
PNGs, .npz embeddings) goes through these, so an interrupted run never leaves half a file under
the final name. A failed write (a full disk) removes the temporary file and raises an OSError
whose filename is the final path. A kill -9 can leave a temporary `.<name>.<random>.tmp<ext>`
next to it; the programs that own a directory remove theirs when they start again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path in the same directory; renames it to `path` on success.

    On an exception the temporary file is removed and `path` is left untouched. The temp name
    keeps the final extension so writers that infer the format from it (matplotlib, numpy) work.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions.
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            # A failed write (a full disk) says which file it was writing.
            raise type(e)(e.errno, e.strerror or os.strerror(e.errno), path) from None
        raise


def write_text_atomic(path: str, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
