"""Per-file failures of a batch of files: every file is tried, the failures are reported at the end.

Why: a list of 1,000 files with 10 unreadable ones must give 990 outputs and a list of 10
reasons, not stop at the first bad file (whose position decides how much work is done).
`l3net_embed` reports each failure as it happens and again at the end (one line each); the
Python API's file functions (`process_audio_file` & co., given a list) raise one
`FilesFailedError` after the last file, which holds the reasons and the outputs that were
written. A single path still raises its own error, as OpenL3 does.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, List, Sequence, Tuple

# What a file can cause: unreadable or hostile media (AudioFileError and MediaFileError are
# ValueErrors), a refused array, or an output that cannot be written.
FILE_ERRORS = (ValueError, OSError)


def one_line(error: BaseException) -> str:
    """The error's first line; "<path>: <reason>" for the media errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class FilesFailedError(ValueError):
    """Some files of a list failed; the others were processed.

    failures: [(path, one-line reason)] in input order; outputs: what the function would have
    returned (the outputs of failed files are not written); total: files in the list.
    """

    def __init__(self, failures: Sequence[Tuple[str, str]], total: int, outputs: List[Any]):
        self.failures = list(failures)
        self.total = total
        self.outputs = outputs
        listed = "; ".join(reason if reason.startswith(path) else f"{path}: {reason}" for path, reason in failures)
        super().__init__(f"{len(failures)} of {total} files failed (the others were written): {listed}")



class Failures:
    """The failures of one call over `total` paths: with `many` (a list was given) each file's
    error is recorded and the loop goes on; for a single path it propagates unchanged."""

    def __init__(self, many: bool, total: int):
        self.many = many
        self.total = total
        self.failures: List[Tuple[str, str]] = []

    @contextlib.contextmanager
    def guard(self, path: str) -> Iterator[None]:
        """Runs the body for `path`; a FILE_ERRORS error ends the body and is recorded (with `many`)."""
        try:
            yield
        except FILE_ERRORS as e:
            if not self.many:
                raise
            self.failures.append((path, one_line(e)))

    def check(self, outputs: List[Any]) -> None:
        """Raises FilesFailedError if any file failed."""
        if self.failures:
            raise FilesFailedError(self.failures, self.total, outputs)
