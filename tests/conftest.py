"""Shared fixtures and helpers of the test suite, and the `slow` marker.

Helper modules in this directory (`media_fixtures`, `record_fixtures`, `one_weight_task`) are imported by their
plain names (`import media_fixtures as mf`, `import record_fixtures as rf`): this file puts
tests/ on sys.path, so that works under any pytest import mode and from any working directory.
Test files never import from one another; what several of them share lives here as fixtures.

Slow tests (more than ~10 s each on a 2-core CPU, or the first user of an expensive module
fixture) are marked `@pytest.mark.slow`. `make test` runs everything; for a quick run:

    .venv/bin/python -m pytest -q -m "not slow" tests
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One TensorFlow kernel library for the whole session, in this process and in every command a test
# starts: importing l3net.train.main (l3net_train) asks for oneDNN in os.environ, which would
# otherwise reach only the subprocesses started after it, and tests that compare a subprocess's
# numbers with this process's would then differ in the last bits depending on test order.
# tests/test_train_cpu_settings.py checks the oneDNN request itself in fresh interpreters.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from l3net.models.config import ModelConfig

# The tiny L3-Net several modules embed with: 8 kHz, 0.5 s windows, 16-d towers, a mel front end.
TINY_RATE = 8000
TINY = ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                   sample_rate=TINY_RATE, audio_seconds=0.5, batchnorm_momentum=0.8)
# resize_short_side recorded in the tiny model dir's run_config.json (frames are resized to it
# before the centre crop of image_size).
TINY_RESIZE = 36
TINY_STEP = 7


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes more than ~10 s on a 2-core CPU (deselect with -m 'not slow')")


def _write_tiny_model_dir(path: str, cfg: ModelConfig = TINY, seed: int = 0,
                          resize_short_side: int = TINY_RESIZE) -> str:
    """A model dir as `l3net_train` leaves it (config, run config, one checkpoint at step 7), random weights."""
    import keras

    from l3net.model_dir import ModelDir
    from l3net.models import build_model

    keras.utils.set_random_seed(seed)
    ModelDir(path).write_for_inference(cfg, build_model(cfg), step=TINY_STEP,
                                       run_config={"data": {"resize_short_side": resize_short_side}})
    return path


def _run_cli(module, argv: Sequence[str], tool: Optional[str] = None) -> int:
    """Exit status of an absl command module's main(argv), run in-process as its console script would.

    Like `l3net.command_line.run_tool`: the command's own defaults of the shared flags
    (`module.SHARED`, see l3net.cli_flags) are applied first; afterwards flags are unparsed and
    those defaults restored, so in-process runs do not leak into one another.
    """
    from absl import flags

    from l3net.command_line import flags_parser

    shared = getattr(module, "SHARED", None) or {}
    previous = {name: flags.FLAGS[name].default for name in shared}
    if shared:
        from l3net import cli_flags

        cli_flags.apply(shared)
    try:
        return module.main(flags_parser(tool or module.TOOL)(list(argv)))
    except SystemExit as e:
        return e.code
    finally:
        flags.FLAGS.unparse_flags()
        for name, default in previous.items():
            flags.FLAGS.set_default(name, default)


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    """ModelConfig of the tiny L3-Net (sample_rate 8000, 0.5 s windows, 16-d embeddings)."""
    return TINY


@pytest.fixture(scope="session")
def tiny_resize() -> int:
    """resize_short_side stored in the tiny model dir's run_config.json."""
    return TINY_RESIZE


@pytest.fixture(scope="session")
def write_tiny_model_dir() -> Callable[..., str]:
    """write_tiny_model_dir(path, cfg=TINY, seed=0, resize_short_side=36) -> path: a new model dir at `path`."""
    return _write_tiny_model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """One tiny L3-Net model dir (seed 0, checkpoint step 7) shared read-only by the whole session."""
    return _write_tiny_model_dir(str(tmp_path_factory.mktemp("tiny_model")))


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., int]:
    """run_cli(module, argv[, tool]) -> exit status of an l3net command's main(), in-process
    (argv[0] is the program name; `tool` names the command for a module without TOOL)."""
    return _run_cli
