"""How l3net's absl-based commands start: `--help`, and user mistakes as one line, exit status 2.

absl's own handling of a bad flag prints a usage dump and exits 1; users script against our
commands, so a mistake must be one line naming the flag or path, with a fixed exit status.
absl's --help prints the docstring of `__main__` and the flags *defined in* `__main__`; a console
script's `__main__` is a generated wrapper, so both would be empty: `run_tool` makes the command
module's docstring and flags those of the running program.
"""

from __future__ import annotations

import sys
from typing import Callable, List, Mapping, NoReturn, Optional, Sequence

from absl import app, flags

from l3net import cli_flags

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


def show_module_help(flag_modules: Sequence[str], docstring: str, shared: Sequence[str] = ()) -> None:
    """Makes `--help` print `docstring`, the flags defined in `flag_modules` and the `shared` flags
    the command uses (call before `app.run`)."""
    sys.modules["__main__"].__doc__ = docstring
    by_module = flags.FLAGS.flags_by_module_dict()
    for module in flag_modules:
        for flag in by_module.get(module, []):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    for name in shared:
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def run_tool(tool: str, main: Callable[[List[str]], int], docstring: str, flag_modules: Sequence[str],
             shared: Optional[Mapping[str, cli_flags.SharedFlag]] = None) -> None:
    """Console-script entry: the command's defaults of the shared flags (`cli_flags.uses`), `--help`
    from the command's module, flag errors as `fail`, then `main`."""
    cli_flags.apply(shared or {})
    show_module_help(flag_modules, docstring, tuple(shared or ()))
    app.run(main, flags_parser=flags_parser(tool))

