"""`l3net_train` asks TensorFlow for its BFC allocator and oneDNN kernels (l3net/train/cpu_settings.py).

Each case runs in a fresh interpreter: the variables only matter before TensorFlow is imported.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from l3net.train import cpu_settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = sorted(cpu_settings.TRAINING_ENVIRONMENT)


def _python(code: str, **env_changes) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _report(module: str) -> str:
    return f"import os, {module}; print(*[os.environ.get(n) for n in {NAMES!r}])"


def test_the_training_command_sets_both_before_tensorflow():
    unset = dict.fromkeys(NAMES)
    assert _python(_report("l3net.train.main"), **unset) == "true 1"


def test_the_environment_keeps_its_choice():
    assert _python(_report("l3net.train.main"), TF_ENABLE_ONEDNN_OPTS="0", TF_CPU_ALLOCATOR_USE_BFC="false") \
        == "false 0"


def test_the_embedding_api_keeps_tensorflows_default():
    """Only training asks for oneDNN: paper-size shared embedding is far slower under it (cpu_settings)."""
    unset = dict.fromkeys(NAMES)
    assert _python(_report("l3net.embed.api"), **unset) == "None None"


@pytest.mark.slow
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN builds: x86")
def test_tensorflow_in_the_training_command_runs_onednn():
    """TensorFlow's own report (a private function; skipped if a release drops it)."""
    code = ("import l3net.train.main, tensorflow\n"
            "try:\n    from tensorflow.python.util import _pywrap_util_port as port\n"
            "except ImportError:\n    print('missing')\nelse:\n    print(port.IsMklEnabled())")
    result = _python(code, TF_ENABLE_ONEDNN_OPTS=None)
    if result == "missing":
        pytest.skip("this TensorFlow has no IsMklEnabled")
    assert result == "True"
