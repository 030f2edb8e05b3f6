"""How l3net's absl-based commands start: `--help`, one-line errors, shared-flag defaults.

absl's own handling of a bad flag prints a usage dump and exits 1; users script against our
commands, so a mistake must be one line naming the flag or path, with a fixed exit status.
absl's --help prints the docstring of `__main__` and the flags *defined in* `__main__`; a console
script's `__main__` is a generated wrapper, so both would be empty: `run_tool` makes the command
module's docstring and flags those of the running program.

TensorFlow's output is quieted by `l3net.tensorflow_output`, shipped configs are found by
`l3net.shipped_configs`; this module starts a command with both.
"""

from __future__ import annotations

import sys
from typing import Callable, List, Mapping, NoReturn, Optional, Sequence

from absl import app, flags

from l3net import cli_flags
from l3net.shipped_configs import ConfigError, expand_configs
from l3net.tensorflow_output import (configure_python_logging, is_verbose, normalize_verbosity_args,
                                     quiet_tensorflow, warn_if_gpu_missing)

USAGE_EXIT = 2
_HELP_FLAGS = ("help", "helpfull", "helpshort", "helpxml", "?")


def fail(tool: str, message: str) -> NoReturn:
    """Prints `<tool>: error: <message>` and exits with status 2."""
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def flags_parser(tool: str, expand_config: bool = False) -> Callable[[List[str]], List[str]]:
    """An `app.run(flags_parser=...)` that turns absl flag errors into `fail`.

    A bare `-v` means `--verbosity=0`; with `expand_config`, `--config=NAME` and missing
    `--flagfile=configs/NAME.flags` resolve to the shipped configs (module doc). `--help` and
    `--helpfull` exit 0 (absl's exit 1 would tell scripts something failed).
    """

    def parse(argv: List[str]) -> List[str]:
        argv = normalize_verbosity_args(argv)
        try:
            if expand_config:
                argv = expand_configs(argv, tool)
            return flags.FLAGS(argv)
        except ConfigError as e:
            fail(tool, str(e))
        except flags.Error as e:
            fail(tool, str(e).splitlines()[0])
        except SystemExit as e:  # absl exits 1 after printing --help; asking for help is no error
            if e.code == 1 and any(a.split("=")[0].lstrip("-") in _HELP_FLAGS for a in argv[1:]):
                sys.exit(0)
            raise

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
             shared: Optional[Mapping[str, cli_flags.SharedFlag]] = None, expand_config: bool = False) -> None:
    """Console-script entry: the command's defaults of the shared flags (`cli_flags.uses`), `--help`
    from the command's module, flag errors as `fail`, quiet logging (module doc), then `main`."""
    quiet_tensorflow()  # in case the module did not (it must, if it imports TensorFlow itself)
    cli_flags.apply(shared or {})
    show_module_help(flag_modules, docstring, tuple(shared or ()))

    def start(argv: List[str]) -> int:
        configure_python_logging(tool, is_verbose())
        warn_if_gpu_missing(tool)
        try:
            return main(argv)
        except BrokenPipeError:
            stop_on_closed_pipe()

    app.run(start, flags_parser=flags_parser(tool, expand_config))


# Exit status of a command whose reader went away: what a shell reports for a process killed by SIGPIPE.
CLOSED_PIPE_STATUS = 128 + 13


def stop_on_closed_pipe() -> NoReturn:
    """Ends the command quietly when its output's reader has closed the pipe (`l3net_eval ... | head`).

    Why: Python turns the closed pipe into a BrokenPipeError (a traceback, for what is no mistake of
    the user's); Unix tools just stop. stdout is pointed at /dev/null first, so the interpreter's
    final flush does not raise again. Files a command writes are unaffected (they are renamed into
    place when complete, or not at all).
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(CLOSED_PIPE_STATUS)
