"""TensorFlow's output in l3net's commands: quiet by default, all of it with `-v`.

Why: users script against our commands and read their output; TensorFlow's start-up lines
(oneDNN banner, "failed call to cuInit") drown it. Every command module calls
`quiet_tensorflow()` before anything can import TensorFlow, and `l3net.command_line.run_tool`
configures Python logging before `main`:
  * TensorFlow's C++ log: TF_CPP_MIN_LOG_LEVEL=3 (unless set in the environment). The lines
    TensorFlow writes while it loads, before its logging is initialised (the oneDNN banner,
    "Could not find cuda drivers", "All log messages before absl::InitializeLog()..."), ignore
    that variable; they are held back during `import tensorflow` and those below the level are
    dropped. Anything else written then (a crash, a real error) is passed on.
  * TensorFlow's Python logger and Python warnings: warnings and errors only, each as one line
    `<tool>: warning: ...`.
  * A GPU asked for (`--strategy=mirrored`, `--mixed_precision`, CUDA_VISIBLE_DEVICES) but not
    found by TensorFlow: one warning line, instead of the C++ lines that said so.
`--verbosity=N` / `-v N` (absl's flag; a bare `-v` means 0, INFO) brings TensorFlow's own output
back: TF_CPP_MIN_LOG_LEVEL=0, no filtering, TensorFlow's Python log at INFO. The choice is passed
to child commands (l3net_demo's stages) through L3NET_VERBOSITY.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging as py_logging
import os
import re
import sys
import tempfile
import warnings
from typing import Callable, List, Optional, Sequence

from absl import flags

VERBOSITY_ENV = "L3NET_VERBOSITY"
_VERBOSITY_NAMES = ("-v", "--v", "-verbosity", "--verbosity")


def _int_or_none(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None


def normalize_verbosity_args(argv: Sequence[str]) -> List[str]:
    """argv with a bare `-v`/`--verbosity` (no value after it) written as `--verbosity=0`."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if i > 0 and arg in _VERBOSITY_NAMES and (i + 1 == len(out) or _int_or_none(out[i + 1]) is None):
            out[i] = "--verbosity=0"
    return out


def requested_verbosity(argv: Optional[Sequence[str]] = None) -> Optional[int]:
    """The --verbosity/-v value of the command line (absl's flag), else L3NET_VERBOSITY, else None."""
    args = normalize_verbosity_args(sys.argv if argv is None else argv)
    for i, arg in enumerate(args[1:], 1):
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in _VERBOSITY_NAMES:
            level = _int_or_none(value) if eq else (_int_or_none(args[i + 1]) if i + 1 < len(args) else None)
            if level is not None:
                return level
    return _int_or_none(os.environ.get(VERBOSITY_ENV, ""))


def is_verbose(argv: Optional[Sequence[str]] = None) -> bool:
    level = requested_verbosity(argv)
    return level is not None and level >= 0


# absl's C++ log lines ("I0000 00:00:1795859514.804421    5813 port.cc:153] ...") and the notice
# absl prints before its logging is initialised.
_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]]+\] ")
_PRE_INIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def is_tensorflow_noise(line: str, min_level: int) -> bool:
    """Whether a line TensorFlow wrote while loading is below TF_CPP_MIN_LOG_LEVEL `min_level`."""
    line = line.rstrip("\r\n")
    if line == _PRE_INIT_NOTICE:
        return min_level >= 1
    match = _LOG_LINE.match(line)
    return bool(match) and _SEVERITY[match.group(1)] < min(min_level, 3)


class _TensorFlowImport(importlib.abc.MetaPathFinder):
    """Wraps the first `import tensorflow`: filters its load-time stderr, then runs callbacks."""

    def __init__(self) -> None:
        self.filter_level: Optional[int] = None
        self.callbacks: List[Callable[[], None]] = []

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _FilteringLoader(spec.loader, self)
        return spec


class _FilteringLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, hook: _TensorFlowImport) -> None:
        self.inner, self.hook = inner, hook

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self.inner
        if self.hook.filter_level is None:
            self.inner.exec_module(module)
        else:
            _exec_filtered(self.inner, module, self.hook.filter_level)
        for callback in self.hook.callbacks:
            callback()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _exec_filtered(loader: importlib.abc.Loader, module, min_level: int) -> None:
    """loader.exec_module(module) with file descriptor 2 held back; what is not noise is passed on."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        loader.exec_module(module)
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            loader.exec_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode("utf-8", "replace").splitlines(True)
                    if not is_tensorflow_noise(line, min_level)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


_HOOK: Optional[_TensorFlowImport] = None


def _tensorflow_hook() -> Optional[_TensorFlowImport]:
    """The pending hook on `import tensorflow` (created on first use); None once TensorFlow is loaded."""
    global _HOOK
    if "tensorflow" in sys.modules:
        return None
    if _HOOK is None or _HOOK not in sys.meta_path:
        _HOOK = _TensorFlowImport()
        sys.meta_path.insert(0, _HOOK)
    return _HOOK


def after_tensorflow_import(callback: Callable[[], None]) -> None:
    """Runs `callback` once TensorFlow is imported (now, if it already is)."""
    hook = _tensorflow_hook()
    if hook is None:
        callback()
    else:
        hook.callbacks.append(callback)


def quiet_tensorflow(argv: Optional[Sequence[str]] = None) -> None:
    """Sets TensorFlow's C++ logging for a command; call before anything imports TensorFlow.

    Quiet (default): TF_CPP_MIN_LOG_LEVEL=3 unless the environment sets it, and TensorFlow's
    load-time lines below that level dropped. Verbose (`-v`/`--verbosity` >= 0 on the command
    line, or L3NET_VERBOSITY): TF_CPP_MIN_LOG_LEVEL=0 and nothing dropped.
    """
    level = requested_verbosity(argv)
    if level is not None and level >= 0:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ[VERBOSITY_ENV] = str(level)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    min_level = _int_or_none(os.environ["TF_CPP_MIN_LOG_LEVEL"]) or 0
    hook = _tensorflow_hook()
    if hook is not None and min_level > 0:
        hook.filter_level = min_level


class _OneLineHandler(py_logging.Handler):
    """`<tool>: warning: <first line>` for each record."""

    def __init__(self, tool: str) -> None:
        super().__init__(py_logging.WARNING)
        self.tool = tool

    def emit(self, record: py_logging.LogRecord) -> None:
        try:
            kind = "error" if record.levelno >= py_logging.ERROR else "warning"
            text = record.getMessage().strip().splitlines()
            sys.stderr.write(f"{self.tool}: {kind}: {text[0] if text else record.levelname}\n")
            sys.stderr.flush()
        except Exception:  # logging must never raise
            self.handleError(record)


def one_line_warning(tool: str) -> Callable:
    """A `warnings.showwarning` that prints `<tool>: warning: <Category>: <first line>`."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message).strip().splitlines()
        (file or sys.stderr).write(f"{tool}: warning: {category.__name__}: {text[0] if text else ''}\n")

    return show


def configure_python_logging(tool: str, verbose: bool) -> None:
    """TensorFlow's Python logger and Python warnings: one line each when quiet, TensorFlow's own
    (INFO) when verbose."""
    from absl import logging as absl_logging

    tf_logger = py_logging.getLogger("tensorflow")
    if verbose:
        tf_logger.setLevel(py_logging.DEBUG if (requested_verbosity() or 0) > 0 else py_logging.INFO)
        return
    absl_logging.set_verbosity(absl_logging.WARNING)
    tf_logger.setLevel(py_logging.WARNING)
    tf_logger.handlers[:] = [_OneLineHandler(tool)]
    tf_logger.propagate = False
    warnings.showwarning = one_line_warning(tool)


def _gpu_request() -> Optional[str]:
    """What on the command line or in the environment asks for a GPU, or None."""
    values = flags.FLAGS
    if "strategy" in values and values["strategy"].present and values.strategy == "mirrored":
        return "--strategy=mirrored"
    if "mixed_precision" in values and values["mixed_precision"].present and values.mixed_precision:
        return "--mixed_precision"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible and visible != "-1":
        return f"CUDA_VISIBLE_DEVICES={visible}"
    return None


def warn_if_gpu_missing(tool: str, request: Optional[str] = None) -> None:
    """Once TensorFlow is loaded: one warning line if a GPU was asked for but none is visible."""
    request = request or _gpu_request()
    if not request:
        return

    def check() -> None:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            print(f"{tool}: warning: {request} asks for a GPU but TensorFlow finds none; running on the CPU "
                  "(-v 0 shows TensorFlow's reason)", file=sys.stderr, flush=True)

    after_tensorflow_import(check)
