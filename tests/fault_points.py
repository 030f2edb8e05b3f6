"""The shared start of the fault-injection wrapper scripts (tests/test_faults_*.py).

A wrapper runs a command in a child process with some of its functions replaced; a replaced
function calls `reached(name)` and, at the configured call, `die()`: a SIGKILL of the process at
an exact point of its work (`L3NET_TEST_FAULT=<name>:<nth call>`), instead of a timing guess.
"""

import textwrap

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
