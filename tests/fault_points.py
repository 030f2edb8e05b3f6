"""What the fault-injection tests (tests/test_faults_*.py) share: the kill-point prelude of their
wrapper scripts, and a size-limited disk.

A wrapper runs a command in a child process with some of its functions replaced; a replaced
function calls `reached(name)` and, at the configured call, `die()`: a SIGKILL of the process at
an exact point of its work (`L3NET_TEST_FAULT=<name>:<nth call>`), instead of a timing guess.
"""

import os
import subprocess
import textwrap

import pytest

KILL_POINTS = textwrap.dedent("""
    import os, signal, sys

    phase, _, nth = os.environ["L3NET_TEST_FAULT"].partition(":")
    nth, calls = int(nth or 0), [0]

    def reached(name):
        if name != phase:
            return False
        calls[0] += 1
        return calls[0] >= nth

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def mount_tmpfs(path: str, size_kb: int) -> None:
    """Mounts a tmpfs of `size_kb` KiB at `path` (a real full disk); skips the test where mount is not allowed."""
    os.makedirs(path, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", path],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({e}); the injected ENOSPC tests cover this")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "the injected ENOSPC tests cover this")
