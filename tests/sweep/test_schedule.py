"""The cosine schedule at its boundaries, on numbers worked out by hand (the WSD schedule's
are in test_wsd.py): warmup to the peak, the floor exactly at the last step, half way
between at the middle of the decay."""

from __future__ import annotations

import itertools

import pytest

from scalecli.sweep.schedule import cooldown_start, cosine_lr, wsd_lr, wsd_warmup_steps

PEAK, FLOOR_FRAC = 2e-3, 0.1
FLOOR = PEAK * FLOOR_FRAC


def test_cosine_warms_up_linearly_to_the_peak() -> None:
    # 101 steps, warmup 0.1 -> round(10.1) = 10 steps: lr = peak * (step + 1) / 10.
    lrs = [cosine_lr(s, 101, PEAK, 0.1, FLOOR_FRAC) for s in range(101)]
    assert lrs[:10] == pytest.approx([PEAK * k / 10 for k in range(1, 11)], rel=1e-12)
    assert lrs[10] == pytest.approx(PEAK, rel=1e-12)  # the decay's first step is the peak


def test_cosine_decays_to_the_floor_exactly_at_the_last_step() -> None:
    # Decay over steps 10..100: 90 intervals, so step 55 is half way (cos = 0).
    lrs = [cosine_lr(s, 101, PEAK, 0.1, FLOOR_FRAC) for s in range(101)]
    assert lrs[-1] == pytest.approx(FLOOR, rel=1e-12)
    assert lrs[55] == pytest.approx(FLOOR + 0.5 * (PEAK - FLOOR), rel=1e-12)
    # Step 40 is a third of the way: cos(pi / 3) = 0.5, so three quarters of the way down.
    assert lrs[40] == pytest.approx(FLOOR + 0.75 * (PEAK - FLOOR), rel=1e-12)
    assert all(a > b for a, b in itertools.pairwise(lrs[10:]))


def test_cosine_without_warmup_and_on_tiny_runs() -> None:
    assert cosine_lr(0, 50, PEAK, 0.0, FLOOR_FRAC) == pytest.approx(PEAK, rel=1e-12)
    # Warmup 0.5 of 3 steps rounds to 2: steps 0 and 1 warm up, step 2 is both the decay's
    # first and last step, so it is the floor.
    assert [cosine_lr(s, 3, PEAK, 0.5, FLOOR_FRAC) for s in range(3)] == pytest.approx(
        [PEAK / 2, PEAK, FLOOR], rel=1e-12)
    assert cosine_lr(0, 1, PEAK, 0.0, FLOOR_FRAC) == pytest.approx(FLOOR, rel=1e-12)
    # One step of warmup (round(1.02)), then a decay of one interval: peak, then floor.
    assert [cosine_lr(s, 3, PEAK, 0.34, FLOOR_FRAC) for s in range(3)] == pytest.approx(
        [PEAK, PEAK, FLOOR], rel=1e-12)
    # A floor of 0 ends at 0.
    assert cosine_lr(9, 10, PEAK, 0.2, 0.0) == pytest.approx(0.0, abs=1e-18)


def test_wsd_warmup_is_the_fraction_of_the_shortest_branch() -> None:
    assert wsd_warmup_steps(0.2, 12) == 2
    assert wsd_warmup_steps(0.1, 100) == 10
    assert wsd_warmup_steps(0.0, 100) == 0


def test_wsd_cooldown_starts_at_the_fraction_of_the_run() -> None:
    assert cooldown_start(100, 10, 0.2) == 80
    assert cooldown_start(48, 2, 0.25) == 36
    assert cooldown_start(10, 0, 0.15) == 8  # round(1.5) = 2 steps of cooldown


def test_wsd_stays_at_the_floor_past_the_last_step() -> None:
    # The cooldown's progress is capped at 1: a step past the run (an evaluation's lr,
    # a resumed run's last point) is the floor, never below it.
    for shape in ("linear", "sqrt"):
        for step in (99, 100, 120):
            assert wsd_lr(step, 100, PEAK, 10, 0.2, shape, FLOOR_FRAC) == pytest.approx(
                FLOOR, rel=1e-12)
