"""Learning-rate schedules over a run whose end is a step count or a wall-time budget.

Why not a `keras.optimizers.schedules` object: a CPU demo ends on a time budget, so the number
of steps it will reach is unknown in advance. The schedule here is a function of the run's
*progress* in [0, 1] = the larger of `step / train_steps` and `elapsed / time_budget`, evaluated
on the host each step and assigned to the optimizer's learning-rate variable, so the rate is
fully annealed when the run ends whichever limit ends it. Runs without a time budget (the paper
configs) are purely step-based and therefore exactly reproducible.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")


def run_progress(step: int, train_steps: int, elapsed_s: float, budget_s: float) -> float:
    """Fraction of the run done, in [0, 1]: the tighter of the step and time limits."""
    progress = step / max(train_steps, 1)
    if budget_s > 0:
        progress = max(progress, elapsed_s / budget_s)
    return min(max(progress, 0.0), 1.0)


def learning_rate_at(base_lr: float, schedule: str, progress: float, step: int, warmup_steps: int,
                     final_fraction: float = 0.0) -> float:
    """The learning rate for a step.

    constant: `base_lr` (the paper's setting). cosine: half a cosine from `base_lr` at progress 0
    down to `base_lr * final_fraction` at progress 1. Both ramp linearly from 0 over the first
    `warmup_steps` steps when warmup_steps > 0.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule={schedule}: must be one of {', '.join(SCHEDULES)}")
    lr = base_lr
    if schedule == "cosine":
        lr = base_lr * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress)))
    if warmup_steps > 0 and step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr
