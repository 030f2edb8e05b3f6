"""A one-line progress bar for the training loop that also behaves in logs and CI.

The trainer draws it at every logging step. On a terminal the line is redrawn in place; when
stdout is not a terminal (CI, `tee`, nohup) each drawing is a plain line, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, Optional, TextIO


class ProgressBar:
    """Shows step / total, a bar, rate, ETA and the latest metrics."""

    def __init__(self, total: int, start: int = 0, stream: Optional[TextIO] = None, width: int = 24,
                 budget_s: float = 0.0) -> None:
        """total: the step the run stops at; budget_s: wall-time budget (0 = none), caps the ETA."""
        self.total = max(1, total)
        self.budget_s = budget_s
        self.start = start
        self.stream = stream or sys.stdout
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = time.monotonic()

    def update(self, step: int, metrics: Dict[str, float], final: bool = False) -> None:
        """Draws the bar at `step`; `final` ends the line on a terminal."""
        now = time.monotonic()
        done = step - self.start
        rate = done / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        if self.budget_s > 0:
            eta = min(eta, max(0.0, self.budget_s - (now - self._t0)))
        filled = int(self.width * min(step, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        text = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        eta_text = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        line = f"step {step:>7d}/{self.total} [{bar}] {rate:6.2f} it/s eta {eta_text} {text}"
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
