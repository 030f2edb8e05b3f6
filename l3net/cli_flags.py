"""Flags that several l3net commands share, each defined once.

absl keeps one registry of flags per process, so two command modules that each define
`--model_dir` cannot be imported together (`DuplicateFlagError`): that would block an umbrella
command and in-process tests. Every flag used by more than one command is therefore defined
here, once, with its type; a command declares which of them it uses and with which default and
help text (`uses(...)`), and `l3net.command_line.run_tool` applies that declaration when the
command starts. So `l3net_eval --help` still says "Evaluation batch size (default 64)" and
`l3net_train --help` "Global batch size (default 256)", while both read `FLAGS.batch_size`.

A flag whose meaning is specific to one command stays in that command's module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Tuple

from absl import flags

FLAGS = flags.FLAGS

# name -> absl DEFINE function. Defaults are set per command by `uses`.
_DEFINITIONS = {
    "model_dir": flags.DEFINE_string,
    "data_dir": flags.DEFINE_string,
    "output_dir": flags.DEFINE_string,
    "model": flags.DEFINE_string,
    "split": flags.DEFINE_string,
    "seed": flags.DEFINE_integer,
    "batch_size": flags.DEFINE_integer,
    "pairs_per_video": flags.DEFINE_integer,
    "hop": flags.DEFINE_float,
    "workers": flags.DEFINE_integer,
    "fps": flags.DEFINE_float,
    "sample_rate": flags.DEFINE_integer,
    "short_side": flags.DEFINE_integer,
    "max_seconds": flags.DEFINE_float,
    "num_videos": flags.DEFINE_integer,
    "clutter": flags.DEFINE_float,
    "world": flags.DEFINE_string,
    "checkpoint": flags.DEFINE_string,
    "exact": flags.DEFINE_bool,
    "bfloat16": flags.DEFINE_bool,
}
SHARED_FLAGS: Tuple[str, ...] = tuple(_DEFINITIONS)

for _name, _define in _DEFINITIONS.items():
    _define(_name, None, "Shared l3net flag; each command sets its meaning and default.")


@dataclasses.dataclass(frozen=True)
class SharedFlag:
    """How one command uses a shared flag: its default and its help text there."""

    default: Any
    help: str


def uses(**declared: Tuple[Any, str]) -> Dict[str, SharedFlag]:
    """The shared flags a command uses: `uses(batch_size=(64, "Evaluation batch size."))`.

    Raises KeyError at import time for a name that is not a shared flag (a typo would otherwise
    surface only when the command runs).
    """
    unknown = sorted(set(declared) - set(_DEFINITIONS))
    if unknown:
        raise KeyError(f"not shared flags: {', '.join(unknown)}; define them in the command's module")
    return {name: SharedFlag(default, text) for name, (default, text) in declared.items()}


def apply(declared: Mapping[str, SharedFlag]) -> None:
    """Sets the defaults and help texts of `declared` (before the command line is parsed)."""
    for name, use in declared.items():
        FLAGS.set_default(name, use.default)
        FLAGS[name].help = use.help
