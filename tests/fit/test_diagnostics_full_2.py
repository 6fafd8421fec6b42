"""Diagnostics worked out by hand, each text whole: multi_epoch on rows with and without a
batch_tokens column and at exactly 4 epochs; data_limited with no sizes, with params of 0,
1 and in millions, and against a measured optimum of exactly 1 token per parameter;
lr_edge over every size and with several runs lost past its best lr on either side;
far_extrapolation on a --d column other than tokens, without one, and with no FLOPs."""

from __future__ import annotations

from scalecli.fit import diagnostics as dg
from tests.fit.test_diagnostics import HEADER, LADDER, evidence, ladder, row
from tests.fit.test_diagnostics_full_1 import FOR_ONE_PASS, INFO_WORTH, WARNING_WORTH
from tests.fit.test_diagnostics_texts import converged, one

HOFFMANN = ("the compute-optimal ~20 of Hoffmann et al. (2022), as this fit measured no "
            "optimum of its own (fit --form compute measures one)")
LAW_AT_BUDGET = ": the exponent describes what size buys at this budget, not the model-size law."
GUESS = ("; nothing checks a law beyond 10x, so treat it as a guess and add larger sizes.")
EDGE_HEAD = "The best learning rate is at the edge of the grid for: "
EXTEND = ". The optimum may lie outside it, so that loss is too high; extend the grid."


# -------------------------------------------------------------------------- multi_epoch


def test_multi_epoch_counts_rows_without_batch_tokens_but_not_blank_ones() -> None:
    # Rows with no batch_tokens column (a hand-written CSV) trained on this data; a blank
    # cell marks a sweep's checkpoint, trained elsewhere: its 8e6 tokens are not a budget.
    checkpoints = [{**r, "batch_tokens": ""} for r in ladder(tokens=8e6)]
    ev = evidence([*ladder(), *checkpoints], data_summary={"train_tokens": 1_000_000})
    assert one(dg.multi_epoch(ev)) == (
        "multi_epoch", "info", "The budget of 2,000,000 tokens is 2.00 epochs of the "
        f"1,000,000 training tokens; {INFO_WORTH}. {FOR_ONE_PASS}")
    trained = [{**r, "batch_tokens": "4096"} for r in ladder(tokens=8e6)]
    ev = evidence([*ladder(), *trained], data_summary={"train_tokens": 1_000_000})
    assert one(dg.multi_epoch(ev)) == (
        "multi_epoch", "warning", "The budget of 8,000,000 tokens is 8.00 epochs of the "
        f"1,000,000 training tokens; {WARNING_WORTH}. {FOR_ONE_PASS}")


def test_multi_epoch_at_exactly_four_epochs_is_a_note_and_past_it_a_warning() -> None:
    at_four = evidence(ladder(tokens=8e6), data_summary={"train_tokens": 2_000_000})
    assert one(dg.multi_epoch(at_four)) == (
        "multi_epoch", "info", "The budget of 8,000,000 tokens is 4.00 epochs of the "
        f"2,000,000 training tokens; {INFO_WORTH}. {FOR_ONE_PASS}")
    # 8e6 / 1,999,999 = 4.000002 epochs: past 4, though it prints as 4.00
    past = evidence(ladder(tokens=8e6), data_summary={"train_tokens": 1_999_999})
    assert one(dg.multi_epoch(past)) == (
        "multi_epoch", "warning", "The budget of 8,000,000 tokens is 4.00 epochs of the "
        f"1,999,999 training tokens; {WARNING_WORTH}. {FOR_ONE_PASS}")


# ------------------------------------------------------------- data_limited and its optimum


def test_data_limited_says_nothing_without_a_size() -> None:
    assert dg.data_limited(evidence([])) == []
    blank = [{**r, "val_loss": "", "val_ppl": ""} for r in ladder()]  # no loss: no size
    assert dg.data_limited(evidence(blank)) == []


def test_data_limited_reads_params_in_any_unit_but_not_a_zero() -> None:
    # params and tokens in millions: the ratio is the same 2e6 / 823e3 = 2.43
    millions = [row(m, n / 1e6, loss, tokens=2.0, params=(n + 30e3) / 1e6)
                for m, n, loss in LADDER]
    assert one(dg.data_limited(evidence(millions))) == (
        "data_limited", "info", f"The largest size (s5) saw 2.4 tokens per parameter, below "
        f"{HOFFMANN}{LAW_AT_BUDGET}")
    # one parameter: 10 tokens per parameter; zero parameters: no ratio to give
    assert one(dg.data_limited(evidence([row("m", 1.0, 3.9, tokens=10.0, params=1.0)]))) == (
        "data_limited", "info", f"The largest size (m) saw 10.0 tokens per parameter, below "
        f"{HOFFMANN}{LAW_AT_BUDGET}")
    assert dg.data_limited(evidence([row("m", 1.0, 3.9, tokens=10.0, params=0.0)])) == []


def isoflop_optimum(value: float, flops: float | None) -> dict:
    return {"isoflop": {"converged": True, "derived": {"tokens_per_param": {
        "value": value, "flops": flops}}}}


def test_a_measured_optimum_of_one_token_per_parameter_is_used_and_zero_is_not() -> None:
    # s5 (params 823e3) at 5e5 tokens: 0.608 tokens per parameter, below a measured 1.0
    assert dg.optimal_tokens_per_param(isoflop_optimum(1.0, None)) == (
        1.0, "the compute-optimal 1.0 that this fit measured (isoflop)")
    for flops in (None, 0.0):  # no C to name (0 is no budget)
        assert one(dg.data_limited(evidence(ladder(tokens=5e5),
                                            fits=isoflop_optimum(1.0, flops)))) == (
            "data_limited", "info", "The largest size (s5) saw 0.6 tokens per parameter, "
            f"below the compute-optimal 1.0 that this fit measured (isoflop){LAW_AT_BUDGET}")
    for value in (0.0, -3.0):  # no optimum: Hoffmann's 20
        assert dg.optimal_tokens_per_param(isoflop_optimum(value, 1e19)) == (20.0, HOFFMANN)
        assert one(dg.data_limited(evidence(ladder(tokens=5e5),
                                            fits=isoflop_optimum(value, 1e19))))[2] == (
            f"The largest size (s5) saw 0.6 tokens per parameter, below {HOFFMANN}"
            f"{LAW_AT_BUDGET}")


# ------------------------------------------------------------------------------ lr_edge


def lost(model: str, n: float, lr: float, status: str, error: str = "") -> dict[str, str]:
    """A run that did not end ok: only the rows before the status filter hold it."""
    return {**row(model, n, 9.0, lr=lr), "val_loss": "", "val_ppl": "", "status": status,
            "error": error}


def tried(rows: list[dict[str, str]], unfinished: list[dict[str, str]]) -> dg.Evidence:
    return dg.Evidence(rows=rows, header=[*HEADER, "error"], x_col="params_non_embedding",
                       y_col="val_ppl", fits={}, predict=None, data_summary=None,
                       tried=[*rows, *unfinished])


def grid(model: str, losses: dict[float, float]) -> list[dict[str, str]]:
    n = {m: n for m, n, _ in LADDER}[model]
    return [row(model, n, loss, lr=lr) for lr, loss in losses.items()]


def test_lr_edge_looks_at_every_size_whatever_the_ones_before_it_said() -> None:
    rows = [*grid("s1", {1e-2: 4.30, 3e-2: 4.25}),  # its edge, but 2 lrs are no grid
            *grid("s2", {1e-3: 4.20, 3e-3: 4.10, 1e-2: 4.15}),  # best inside
            *grid("s3", {3e-3: 4.10, 1e-2: 4.05, 3e-2: 4.00}),  # best the largest
            *grid("s4", {1e-3: 3.90, 3e-3: 3.95, 1e-2: 4.00}),  # best the smallest
            *grid("s5", {1e-2: 3.90})]
    assert one(dg.lr_edge(evidence(rows))) == (
        "lr_edge", "warning", f"{EDGE_HEAD}s3 at lr 0.03 (the largest of 3 tried); s4 at lr "
        f"0.001 (the smallest of 3 tried){EXTEND}")


def test_lr_edge_lists_every_failed_run_below_the_smallest_lr_that_trained() -> None:
    # s1 trained at 3e-3 (best), 1e-2 and 3e-2; below 3e-3 two runs failed, above 3e-2 one
    # diverged: only those below lie past the best, listed from the smallest lr up.
    rows = grid("s1", {3e-3: 4.30, 1e-2: 4.35, 3e-2: 4.40})
    below = [lost("s1", 21.7e3, 1e-3, "failed", "CUDA out of memory"),
             lost("s1", 21.7e3, 3e-4, "failed"), lost("s1", 21.7e3, 1e-1, "diverged")]
    assert one(dg.lr_edge(tried(rows, below))) == (
        "lr_edge", "warning", f"{EDGE_HEAD}s1 at lr 0.003 (the smallest that trained of 6 "
        "tried; past it 0.0003 failed, 0.001 failed (CUDA out of memory), which measured "
        f"nothing){EXTEND}")


def test_lr_edge_lists_every_diverged_run_above_the_largest_lr_that_trained() -> None:
    rows = grid("s1", {1e-3: 4.50, 3e-3: 4.40, 1e-2: 4.30})
    above = [lost("s1", 21.7e3, 1e-1, "diverged", "loss is nan"),
             lost("s1", 21.7e3, 3e-2, "diverged"), lost("s1", 21.7e3, 1e-4, "failed")]
    assert one(dg.lr_edge(tried(rows, above))) == (
        "lr_edge", "info", "s1: lr 0.01 is the largest that trained of 6 tried; past it 0.03 "
        "diverged, 0.1 diverged (loss is nan): the optimum is bracketed by divergence.")


# -------------------------------------------------------------------- far_extrapolation


def test_a_law_in_n_compares_every_far_prediction_with_the_largest_size_only() -> None:
    # s5 is 793e3: 2e7 and 1e14 lie past 10x (7.93e6); 1e14 / 793e3 = 126103405. A law in
    # N alone has no FLOPs: 1e14 is not compared with C = 6ND (9.516e12).
    for form in ("power", "saturating"):
        far = dg.far_extrapolation(evidence(ladder(), fits={form: converged({})},
                                            predict=[1e6, 2e7, 1e14]))
        assert one(far) == (
            "far_extrapolation", "warning", "--predict 2e+07, 1e+14 reaches 126103405x the "
            f"largest params_non_embedding fitted (793000){GUESS}")
    # a form this version does not know (another version's fit.json): no axis to compare on
    assert dg.far_extrapolation(evidence(ladder(), fits={"gone": converged({})},
                                         predict=[1e14])) == []


def chinchilla(**keys) -> dict:
    return {"chinchilla": {"converged": True, "params": {}, "x": "params", **keys}}


def test_chinchilla_predictions_are_compared_with_6nd_on_its_own_d_column() -> None:
    # fit --d tokens_seen: D = 4e6 for every run (tokens says 2e6), N = params (s5: 823e3),
    # so the largest C = 6 x 823e3 x 4e6 = 1.9752e13: 1.5e14 is within 10x, 3e14 is 15x.
    rows = [{**r, "tokens_seen": "4e6"} for r in ladder()]
    far = dg.far_extrapolation(evidence(rows, fits=chinchilla(d="tokens_seen"),
                                        predict=[1.5e14, 3e14]))
    assert one(far) == ("far_extrapolation", "warning", "--predict 3e+14 reaches 15x the "
                        f"largest C = 6ND fitted (1.9752e+13){GUESS}")


def test_a_chinchilla_fit_without_a_d_column_reads_tokens() -> None:
    # C = 6 x 823e3 x 2e6 = 9.876e12: exactly 10x is not past it, 3e14 is 30x
    for keys in ({}, {"d": None}):
        fits = chinchilla(**keys)
        assert dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[9.876e13])) == []
        assert one(dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[3e14]))) == (
            "far_extrapolation", "warning", "--predict 3e+14 reaches 30x the largest C = 6ND "
            f"fitted (9.876e+12){GUESS}")


def test_far_extrapolation_checks_each_axis_of_fit_form_all() -> None:
    # power's x (793e3, 1e15 is 1261034048x) and chinchilla's C = 6ND (9.876e12, 101x), in
    # the order of fit.json's fits; with D in no row there is no C to compare with.
    fits = {"power": converged({}), **chinchilla(d="tokens")}
    x_far = ("far_extrapolation", "warning", "--predict 1e+07, 1e+15 reaches 1261034048x the "
             f"largest params_non_embedding fitted (793000){GUESS}")
    found = dg.far_extrapolation(evidence(ladder(), fits=fits, predict=[1e7, 1e15]))
    assert [(d.code, d.severity, d.message) for d in found] == [x_far, (
        "far_extrapolation", "warning", "--predict 1e+15 reaches 101x the largest C = 6ND "
        f"fitted (9.876e+12){GUESS}")]
    no_d = {"power": converged({}), **chinchilla(d="tokens_seen")}
    assert one(dg.far_extrapolation(evidence(ladder(), fits=no_d, predict=[1e7, 1e15]))) \
        == x_far
    assert dg.far_extrapolation(evidence(ladder(), fits=chinchilla(d="tokens_seen"),
                                         predict=[1e15])) == []
