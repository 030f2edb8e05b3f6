"""The demo's clock: how many minutes `l3net_demo` may give to training so that it ends on time.

`make demo` promises a finished run in 20 minutes on 2 CPU cores (installation included). Every
stage but training does a fixed amount of work whose duration depends on the machine: generation
and conversion took 22 s + 18 s on a fast 2-core machine (2026-11-28) and 39 s + 34 s on a slower
one of the same pool (2026-12-06). Training is the one stage that can give time back, so the
demo hands it what is left of its deadline after the stages already run and an allowance for the
stages still to come, never more than the training flagfile's own `--time_budget_minutes`.

The allowances are the durations measured on the slower machine (2026-12-06, AMD EPYC, 2 cores,
`l3net_demo` alone), rounded up: on a faster machine they leave a little time unused rather
than overrun.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

from l3net.shipped_configs import ConfigError, expand_configs

# Seconds of each stage after training on 2 cores, rounded up: measured in a clean-clone `make demo`
# (run B) and again with the probe's parallel folds (run D, both 2026-12-06).
AFTER_TRAINING_SECONDS: Dict[str, float] = {
    "evaluate": 20.0,     # l3net_eval avc on the held-out videos (B 17 s, D 15 s)
    "probe": 60.0,        # synthetic ESC-50 layout + trained and random-init probes (B 65 s, D 55 s)
    "retrieval": 15.0,    # l3net_retrieval (B 14 s, D 13 s)
    # rendering the recordings + two probes: 240 clips took B 69 s, D 57 s; 480 clips since 2026-12-07
    # (31 s -> 55 s on the faster machine kind, run F -> run G: x1.8, ~125 s on the slower one, estimated)
    "real_audio": 130.0,
}
# The bfloat16 recipe (README run H: 384-d features, rich world; only on CPUs with bfloat16
# instructions, so far the faster kind) fits the same allowances: evaluate 11 s, ESC-50 stage 39 s,
# retrieval 10 s, real-audio stage 95 s.
# l3net_train's start-up and wrap-up outside its own budget (TensorFlow import, model build, the
# first traced step, the last checkpoint): B 15 s (945-s stage, 930-s budget), D 12.5 s.
TRAIN_OVERHEAD_SECONDS = 20.0
# Below this the demo would not learn anything worth evaluating; it trains this long and is late.
MIN_TRAIN_MINUTES = 2.0


def flagfile_time_budget(path: str) -> Optional[float]:
    """The `--time_budget_minutes` a training flagfile sets, following the flagfiles and `--config=`s
    it includes as l3net_train does (the last one wins); None if it sets none (0 = no limit).
    Raises ConfigError for an included config that does not resolve."""
    value = None
    for arg in expand_configs(["l3net_train", f"--flagfile={path}"], "l3net_demo")[1:]:
        for prefix in ("--time_budget_minutes=", "-time_budget_minutes="):
            if arg.startswith(prefix):
                try:
                    value = float(arg[len(prefix):])
                except ValueError:
                    raise ConfigError(f"{path}: {arg}: not a number of minutes") from None
    return value


def training_minutes(deadline_minutes: float, elapsed_seconds: float, stages_after: Iterable[str],
                     flagfile_minutes: Optional[float]) -> Optional[float]:
    """Minutes of training that keep the demo within `deadline_minutes` (None: no limit to impose).

    Args:
      deadline_minutes: the demo's whole run (0 = no deadline: the flagfile's budget stands).
      elapsed_seconds: time the demo has already spent (generation, conversion).
      stages_after: names in AFTER_TRAINING_SECONDS of the stages that will run after training.
      flagfile_minutes: the training flagfile's own budget (None or 0: none).
    Returns the smaller of the flagfile's budget and what the deadline leaves (at least
    MIN_TRAIN_MINUTES), rounded down to 0.1 min; None when neither limits training.
    """
    flagfile_limit = flagfile_minutes if flagfile_minutes else None
    if deadline_minutes <= 0:
        return flagfile_limit
    reserve = TRAIN_OVERHEAD_SECONDS + sum(AFTER_TRAINING_SECONDS[stage] for stage in stages_after)
    left = (deadline_minutes * 60.0 - elapsed_seconds - reserve) / 60.0
    left = max(MIN_TRAIN_MINUTES, int(left * 10) / 10)
    return left if flagfile_limit is None else min(flagfile_limit, left)
