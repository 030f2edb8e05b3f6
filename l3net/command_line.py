"""How l3net's absl-based commands report user mistakes: one line on stderr, exit status 2.

absl's own handling of a bad flag prints a usage dump and exits 1; users script against our
commands, so a mistake must be one line naming the flag or path, with a fixed exit status.
"""

from __future__ import annotations

import sys
from typing import Callable, List, NoReturn

from absl import flags

USAGE_EXIT = 2


def fail(tool: str, message: str) -> NoReturn:
    """Prints `<tool>: error: <message>` and exits with status 2."""
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def flags_parser(tool: str) -> Callable[[List[str]], List[str]]:
    """An `app.run(flags_parser=...)` that turns absl flag errors into `fail`."""

    def parse(argv: List[str]) -> List[str]:
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            fail(tool, str(e).splitlines()[0])

    return parse
