"""Training tasks, registered by name: `l3net_train --task=<name>`.

Adding a task = one new module that defines a `TaskSpec` subclass named `SPEC` (see
`l3net.tasks.base`) + one line in `TASK_MODULES`. Task modules are imported only when their task
is asked for, so a command that never trains does not pay for them.

  avc       audio-visual correspondence (L3-Net, AVE-Net, AVOL-Net; `--model` picks the network)
  envelope  the sound-from-vision task: a clip's audio envelope predicted from its frames by the
            vision tower of a trained AVC model
"""

from __future__ import annotations

import importlib
from typing import Tuple

TASK_MODULES = {
    "avc": "l3net.tasks.avc",
    "envelope": "l3net.tasks.envelope",
}
TASK_NAMES: Tuple[str, ...] = tuple(TASK_MODULES)


def get_task_spec(name: str):
    """The registered `TaskSpec` of task `name`; KeyError naming the known tasks otherwise."""
    if name not in TASK_MODULES:
        raise KeyError(f"unknown task '{name}'; known: {', '.join(TASK_NAMES)}")
    return importlib.import_module(TASK_MODULES[name]).SPEC
