"""The flagfiles shipped with l3net (`configs/*.flags`) and `--config=NAME`.

The flagfiles of `configs/` are package data (installed as l3net/configs/; in a
checkout they are the repository's configs/). `--config=NAME` (for commands that take it) stands
for `--flagfile=<the shipped NAME.flags>`, also inside flagfiles, so later flags override it; a
`--flagfile=configs/NAME.flags` that does not exist where the command runs (an installed package,
another working directory) uses the shipped file of that name, with a note.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence

from absl import flags

CONFIG_FLAG = "config"
CONFIG_SUFFIX = ".flags"


def configs_dir() -> str:
    """Folder of the shipped flagfiles: l3net/configs/ when installed, the checkout's configs/ otherwise."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "configs")
    return packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(here), "configs")


def config_names() -> List[str]:
    """Names of the shipped configs (file names without .flags), sorted."""
    folder = configs_dir()
    if not os.path.isdir(folder):
        return []
    return sorted(name[:-len(CONFIG_SUFFIX)] for name in os.listdir(folder) if name.endswith(CONFIG_SUFFIX))


class ConfigError(ValueError):
    """A config name or flagfile that cannot be resolved; the message names it and the choices."""


def config_path(name: str) -> str:
    """Path of the shipped config `name` ("paper_l3" or "paper_l3.flags"); ConfigError if none."""
    base = name[:-len(CONFIG_SUFFIX)] if name.endswith(CONFIG_SUFFIX) else name
    path = os.path.join(configs_dir(), base + CONFIG_SUFFIX)
    if os.sep in base or "/" in base or not os.path.isfile(path):
        raise ConfigError(f"--config={name}: no shipped config of that name (shipped: "
                          f"{', '.join(config_names()) or 'none'}); pass a file with --flagfile")
    return path


def resolve_flagfile(path_or_name: str, tool: Optional[str] = None) -> str:
    """A flagfile path as given if it exists; else the shipped config it names.

    "configs/paper_l3.flags" (the README's form) and "paper_l3" both resolve to the shipped file
    when no such file is here; a note says so for a path. ConfigError if neither exists.
    """
    if os.path.isfile(path_or_name):
        return path_or_name
    base = os.path.basename(path_or_name)
    is_name = base == path_or_name and not base.endswith(CONFIG_SUFFIX)
    folder = os.path.basename(os.path.dirname(os.path.normpath(path_or_name)))
    if is_name or (base.endswith(CONFIG_SUFFIX) and folder in ("configs", "")):
        try:
            shipped = config_path(base)
        except ConfigError:
            shipped = None
        if shipped:
            if not is_name and tool:
                print(f"{tool}: note: {path_or_name} is not here; using the shipped {shipped}", file=sys.stderr)
            return shipped
    raise ConfigError(f"{path_or_name}: no such flagfile (shipped configs, for --config: "
                      f"{', '.join(config_names()) or 'none'})")


def _split_flag(arg: str, name: str) -> Optional[str]:
    for prefix in (f"--{name}=", f"-{name}="):
        if arg.startswith(prefix):
            return arg[len(prefix):]
    return None


def expand_configs(argv: Sequence[str], tool: str) -> List[str]:
    """argv with every `--config=NAME` (on the command line or in a flagfile) and every flagfile
    expanded in place, in order; ConfigError for a name or flagfile that does not resolve."""
    args = list(argv)
    for _ in range(100):  # configs inside flagfiles inside configs...; absl guards flagfile cycles
        out: List[str] = args[:1]
        i = 1
        while i < len(args):
            arg = args[i]
            if arg == "--":
                out.extend(args[i:])
                break
            name = _split_flag(arg, CONFIG_FLAG)
            if name is None and arg in (f"--{CONFIG_FLAG}", f"-{CONFIG_FLAG}") and i + 1 < len(args):
                name, i = args[i + 1], i + 1
            flagfile = _split_flag(arg, "flagfile")
            if name is not None:
                out.append(f"--flagfile={config_path(name)}")
            elif flagfile is not None and not os.path.isfile(flagfile):
                out.append(f"--flagfile={resolve_flagfile(flagfile, tool)}")
            else:
                out.append(arg)
            i += 1
        args = out[:1] + flags.FLAGS.read_flags_from_files(out[1:], force_gnu=False)
        if not any(_split_flag(a, CONFIG_FLAG) is not None or a in (f"--{CONFIG_FLAG}", f"-{CONFIG_FLAG}")
                   for a in args[1:]):
            return args
    raise ConfigError("--config: configs include each other in a cycle")
