"""Learning-rate schedule: cosine reaches its end at whichever run limit comes first."""

import math

import pytest

from l3net.train.lr_schedule import learning_rate_at, run_progress


def test_progress_takes_the_tighter_limit():
    assert run_progress(500, 1000, elapsed_s=0.0, budget_s=0.0) == 0.5
    assert run_progress(100, 1000, elapsed_s=30.0, budget_s=60.0) == 0.5  # time is tighter
    assert run_progress(900, 1000, elapsed_s=30.0, budget_s=60.0) == 0.9  # steps are tighter
    assert run_progress(2000, 1000, elapsed_s=0.0, budget_s=0.0) == 1.0


def test_constant_is_the_base_rate():
    for p in (0.0, 0.3, 1.0):
        assert learning_rate_at(1e-4, "constant", p, step=10_000, warmup_steps=0) == 1e-4


def test_cosine_matches_closed_form_and_ends_at_final_fraction():
    for p in (0.0, 0.25, 0.5, 0.9):
        want = 2e-3 * 0.5 * (1 + math.cos(math.pi * p))
        assert learning_rate_at(2e-3, "cosine", p, step=10_000, warmup_steps=0) == pytest.approx(want)
    assert learning_rate_at(2e-3, "cosine", 1.0, step=10_000, warmup_steps=0) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate_at(2e-3, "cosine", 1.0, 10_000, 0, final_fraction=0.1) == pytest.approx(2e-4)


def test_warmup_ramps_linearly_then_stops():
    rates = [learning_rate_at(1.0, "constant", 0.0, step=s, warmup_steps=4) for s in range(6)]
    assert rates == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate_at(1.0, "step", 0.0, 0, 0)
