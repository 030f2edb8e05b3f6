"""A one-line progress bar for the training loop that also behaves in logs and CI.

On a terminal the line is redrawn in place; when stdout is not a terminal (CI, `tee`, nohup) a
plain line is printed every `every` steps instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, Optional, TextIO


class ProgressBar:
    """Shows step / total, a bar, rate, ETA and the latest metrics."""

    def __init__(self, total: int, start: int = 0, every: int = 50, stream: Optional[TextIO] = None,
                 width: int = 24) -> None:
        self.total = max(1, total)
        self.start = start
        self.every = max(1, every)
        self.stream = stream or sys.stdout
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = time.monotonic()
        self._last_draw = 0.0

    def update(self, step: int, metrics: Dict[str, float], force: bool = False) -> None:
        now = time.monotonic()
        if self.interactive:
            if not force and now - self._last_draw < 0.2 and step < self.total:
                return
        elif not force and step % self.every != 0:
            return
        self._last_draw = now
        done = step - self.start
        rate = done / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        filled = int(self.width * min(step, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        text = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        eta_text = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        line = f"step {step:>7d}/{self.total} [{bar}] {rate:6.2f} it/s eta {eta_text} {text}"
        if self.interactive:
            self.stream.write("\r" + line)
            if step >= self.total or force:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
