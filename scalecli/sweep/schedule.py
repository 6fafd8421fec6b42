"""Learning-rate schedules: cosine (the default) and warmup-stable-decay (WSD).

Both warm up linearly to the peak. Cosine then decays to `min_lr_frac * peak`, reached
exactly at the run's last step. WSD holds the peak, then cools down over the run's last
`cooldown_frac` of steps to the same floor (Hägele et al. 2024, "Scaling Laws and
Compute-Optimal Training Beyond Fixed Training Durations").

WSD's point: before the cooldown starts, the lr does not depend on the run's length.
So runs of several lengths that share warmup, peak and seed are the same run up to the
shortest one's cooldown start; each can branch off a shared stable phase (`branches`).
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd")
COOLDOWN_SHAPES = ("linear", "sqrt")


def cosine_lr(step: int, steps: int, peak: float, warmup_frac: float,
              min_lr_frac: float) -> float:
    """Linear warmup, then cosine decay to min_lr_frac * peak reached exactly at the last step.

    A schedule longer than the run would leave the lr high at the end and bias the loss
    upwards; Chinchilla (Hoffmann et al. 2022, Fig. A1) showed that this biases the fit.
    """
    warmup = round(warmup_frac * steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_steps = steps - 1 - warmup
    progress = (step - warmup) / decay_steps if decay_steps > 0 else 1.0
    floor = min_lr_frac * peak
    return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (peak - floor)


def cooldown_start(steps: int, warmup_steps: int, cooldown_frac: float) -> int:
    """The first step of a WSD run's cooldown: (1 - cooldown_frac) x its steps.

    Never before warmup ends (rounding at warmup_frac + cooldown_frac = 1 could put it
    one step early), and at least one step of cooldown, so every run ends at the floor.
    """
    start = steps - round(cooldown_frac * steps)
    return max(warmup_steps, min(start, steps - 1), 0)


def wsd_lr(step: int, steps: int, peak: float, warmup_steps: int, cooldown_frac: float,
           shape: str, min_lr_frac: float) -> float:
    """Warmup over `warmup_steps`, the peak until the cooldown, then down to the floor.

    The cooldown's k-th step (k = 1..n) has progress k / n, so its first step is already
    below the peak and its last is exactly the floor. `sqrt` is Hägele et al.'s (1 - sqrt)
    form: the lr falls fast at first and the loss keeps dropping to the end.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    start = cooldown_start(steps, warmup_steps, cooldown_frac)
    if step < start:
        return peak
    progress = min(1.0, (step - start + 1) / (steps - start))
    fall = math.sqrt(progress) if shape == "sqrt" else progress
    floor = min_lr_frac * peak
    return peak - (peak - floor) * fall


def wsd_warmup_steps(warmup_frac: float, shortest_steps: int) -> int:
    """A WSD family's warmup: warmup_frac of its shortest branch's steps, the same for every
    branch (they share the stable phase), so even the shortest one warms up fully."""
    return round(warmup_frac * shortest_steps)
