"""Ctrl-C / SIGTERM as a request to stop after the current step, not as an exception.

Why: Python raises KeyboardInterrupt at whatever bytecode runs when the signal arrives; if that is
a finaliser (`__del__` of a TensorFlow tensor or iterator, which the training loop frees every
step), the exception is printed as "ignored" and lost, and the run trains on (seen: a test's
SIGINT was swallowed and the run went on for minutes). A handler that only records the signal
cannot be lost; the loop checks it between steps, saves a checkpoint and stops. A second Ctrl-C
raises KeyboardInterrupt as usual. SIGTERM (a cluster's pre-emption notice) gets the same
treatment.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict, Optional


class StopSignals:
    """Context manager: `.requested` becomes the signal number once SIGINT or SIGTERM arrives."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: Optional[int] = None
        self._previous: Dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # A second Ctrl-C interrupts now.

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Handlers can only be set there.
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
