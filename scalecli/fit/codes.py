"""Every diagnostic code `fit` can emit, with its severity and when it fires.

The codes are stable strings that users grep for, so they are listed once here: the
diagnostics reference (docs/reference/diagnostics.md) is generated from this table, and
tests/test_docs.py fails when a module emits a code that is not in it, or when a code here
is emitted by nothing.
"""

from __future__ import annotations

# code -> (severity, when it fires and what it means). "info or warning" where the rule
# chooses by how bad it is.
CODES: dict[str, tuple[str, str]] = {
    "non_monotone": (
        "warning",
        "A larger size has a higher best `val_loss` than a smaller one, beyond the seed noise "
        "where seeds measure it. Check each size's lr and seeds before trusting the exponent.",
    ),
    "multi_epoch": (
        "info or warning",
        "The budget repeats the training tokens: `info` up to 4 epochs, `warning` beyond "
        "(Muennighoff et al. 2023). `sweep --dry-run` and the start of a sweep say it too.",
    ),
    "data_limited": (
        "info",
        "The largest sizes saw fewer tokens per parameter than the compute optimum (measured "
        "by a compute-optimal fit when there is one, else Chinchilla's ~20): b describes this "
        "budget, not the model-size law.",
    ),
    "lr_edge": (
        "info or warning",
        "A size's best lr is the smallest or largest of its grid (or of the lr search's "
        "probes): the optimum may lie outside it. A larger lr that diverged brackets it "
        "(said as `info`); one that failed does not.",
    ),
    "poor_fit": (
        "warning",
        "R² below 0.95 in log space, or a significant bend in the residuals (a quadratic term "
        "in log x): the law does not describe the points.",
    ),
    "within_noise": (
        "warning",
        "Neighbouring sizes differ by less than 1.96 sd sqrt(1/n_a + 1/n_b) (their means of "
        "n_a and n_b seeds, sd the pooled seed sd); in an isoFLOP design, a budget's parabola "
        "has a curvature within 1.96 standard errors from the seed noise.",
    ),
    "seed_outlier": (
        "warning",
        "One seed is far from the others of its configuration (robust z-score); names the "
        "run. Look at its curve.csv, then rerun it or leave it out with --where.",
    ),
    "far_extrapolation": (
        "warning",
        "A `--predict` value more than 10x beyond the largest size (or C = 6ND) fitted.",
    ),
    "unstable_fit": (
        "warning",
        "An interval has an open end, or leaving one size out moves b (one isoFLOP budget out "
        "moves a) by more than its 95% interval's half-width.",
    ),
    "mixed_schedules": (
        "warning",
        "The rows mix lr schedules (cosine and wsd), which end at different losses for the "
        "same run length: fit one at a time with --where schedule=wsd.",
    ),
    "isoflop_rejected": (
        "info or warning",
        "isoFLOP budgets left out of a and b, each with its reason (`too_few_points`, "
        "`not_convex`, `minimum_outside`, `one_sided`); `info` while 3 or more are accepted, "
        "else `warning`.",
    ),
    "approaches_disagree": (
        "warning",
        "Two compute-optimal approaches' 95% intervals of a (N_opt ~ C^a) do not overlap.",
    ),
    "prediction_miss": (
        "warning",
        "A validation run (role=validation) fell outside a form's 95% prediction interval; "
        "names the form, the run and by how much. Do not extrapolate with that form alone.",
    ),
    "mixed_tokenizers": (
        "info or warning",
        "The fitted rows name more than one tokenizer (an evaluation-only sweep of models "
        "trained elsewhere): loss per token is not comparable across tokenizers, so every "
        "form fits `val_bpb` (`info`); `warning` when --y forces a per-token column or a "
        "row has no `val_bpb`.",
    ),
    "skipped": (
        "info",
        "A rule whose inputs are missing (say, a CSV outside a sweep folder has no data.json); "
        "the message names the rule and why.",
    ),
}

# Why an isoFLOP budget is rejected (fit.json's budgets[].reason).
ISOFLOP_REASONS: dict[str, str] = {
    "too_few_points": "fewer than 5 sizes in the budget",
    "not_convex": "its parabola in ln N opens downward",
    "minimum_outside": "the parabola's vertex lies outside the sampled sizes",
    "one_sided": "fewer than 2 sizes lie on either side of the vertex",
}
