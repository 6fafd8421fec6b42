"""The diagnostics' exact words and severities (what `fit` prints and fit.json keeps), on
tiny hand-built rows and fits dicts; tests/fit/test_diagnostics.py checks which codes fire."""

from __future__ import annotations

from scalecli.fit import diagnostics as dg
from tests.fit.test_diagnostics import HEADER, evidence, ladder, row


def one(found: list[dg.Diagnostic]) -> tuple[str, str, str]:
    (d,) = found
    return d.code, d.severity, d.message


def converged(params: dict, n_boot: int | None = 100, **more) -> dict:
    fit = {"converged": True, "params": params, **more}
    if n_boot is not None:
        fit["bootstrap"] = {"n": n_boot}
    return fit


OPEN = {"value": 1.0, "ci_low": 0.5, "ci_high": None}
CLOSED = {"value": 1.0, "ci_low": 0.5, "ci_high": 1.5}


def test_unbounded_params_lists_open_intervals_not_ones_left_out_by_request() -> None:
    fits = {"power": converged({"a": OPEN, "b": CLOSED}),
            "saturating": converged({"E": OPEN, "A": {"value": None, "ci_low": None,
                                                     "ci_high": None}}, n_boot=0),
            "chinchilla": converged({"E": OPEN}, n_boot=0),
            "isoflop": {"converged": False, "params": {"a_opt": OPEN}}}
    # saturating's intervals are profiles: --bootstrap 0 still gives them; chinchilla's
    # come from its bootstrap, which --bootstrap 0 turned off
    assert dg.unbounded_params(fits) == ["power a", "saturating E"]
    # a fit.json without a bootstrap block is read as one that ran it
    assert dg.unbounded_params({"power": converged({"b": OPEN}, n_boot=None)}) == ["power b"]
    assert dg._own_intervals("saturating") and not dg._own_intervals("power")
    assert not dg._own_intervals("nothing")


def test_unstable_fit_texts() -> None:
    fits = {"saturating": converged({"E": OPEN, "alpha": OPEN}, n_boot=0)}
    assert one(dg.unstable_fit(evidence(ladder(), fits=fits))) == (
        "unstable_fit", "warning", "The data leave the 95% interval open-ended for: "
        "saturating E; saturating alpha. Those values are not measured; add sizes over a "
        "wider range.")
    no_ci = {"power": converged({"a": CLOSED, "b": {"value": -0.1, "ci_low": None,
                                                    "ci_high": None}}, n_boot=0)}
    assert one(dg.unstable_fit(evidence(ladder(), fits=no_ci))) == (
        "skipped", "info", "unstable_fit (leave one size out) skipped: the power law's b "
        "has no 95% interval to compare with")


def test_rules_without_their_columns_say_they_were_skipped() -> None:
    no_seed = [h for h in HEADER if h != "seed"]
    assert one(dg.within_noise(evidence(ladder(), header=no_seed))) == (
        "skipped", "info", "within_noise skipped: the CSV has no seed column")
    assert one(dg.seed_outlier(evidence(ladder(), header=no_seed))) == (
        "skipped", "info", "seed_outlier skipped: the CSV has no seed column")
    no_lr = [h for h in HEADER if h != "lr"]
    assert one(dg.lr_edge(evidence(ladder(), header=no_lr))) == (
        "skipped", "info", "lr_edge skipped: the CSV has no lr column")
    bare = [h for h in HEADER if h not in ("tokens", "params")]
    assert one(dg.data_limited(evidence(ladder(), header=bare))) == (
        "skipped", "info", "data_limited skipped: the CSV has no tokens or params column")


def test_poor_fit_advice_depends_on_the_form_and_the_runs() -> None:
    fits = {"power": converged({}, r2_log=0.9, y="val_ppl"),
            "saturating": converged({}, r2_log=0.8, y="val_loss")}
    found = dg.poor_fit(evidence(ladder(), fits=fits))
    assert [(d.code, d.severity, d.message) for d in found] == [
        ("poor_fit", "warning", "The power law fits poorly: R^2 (log) 0.900 < 0.95. Add sizes, "
         "check each size's learning rate, or try --form saturating."),
        ("poor_fit", "warning", "The saturating law fits poorly: R^2 (log) 0.800 < 0.95. Add "
         "sizes, check each size's learning rate.")]
    rows = ladder()
    rows[0] = {**rows[0], "tokens": "4e6"}  # two token budgets: a law in N cannot follow D
    found = dg.poor_fit(evidence(rows, fits={"power": fits["power"]}))
    assert one(found)[2].endswith(
        "Its runs differ in D as well as N, which a law in N alone cannot follow: fit one "
        "budget (--where tokens=...), or use --form chinchilla or compute.")
    assert dg.poor_fit(evidence(ladder(), fits={"power": converged({}, r2_log=0.95)})) == []


def test_mixed_schedules_and_far_extrapolation_texts() -> None:
    rows = [{**r, "schedule": s} for r, s in zip(ladder(), ["wsd", "", "cosine", "wsd",
                                                            "cosine"], strict=True)]
    assert one(dg.mixed_schedules(evidence(rows, header=[*HEADER, "schedule"]))) == (
        "mixed_schedules", "warning", "The rows mix lr schedules (cosine, wsd), which end "
        "at different losses for the same run length. Fit one at a time: --where "
        "schedule=wsd.")
    assert dg.mixed_schedules(evidence(rows, header=HEADER)) == []
    far = dg.far_extrapolation(evidence(ladder(), predict=[1e6, 1e7, 7.93e6]))
    assert one(far) == (
        "far_extrapolation", "warning", "--predict 1e+07 reaches 13x the largest "
        "params_non_embedding fitted (793000); nothing checks a law beyond 10x, so treat it "
        "as a guess and add larger sizes.")
    assert dg.far_extrapolation(evidence(ladder(), predict=[7.93e6])) == []  # exactly 10x


def test_data_limited_names_the_measured_optimum_or_hoffmanns() -> None:
    # the largest size (s5: params 823e3) saw 2e6 tokens: 2.4 per parameter
    assert one(dg.data_limited(evidence(ladder()))) == (
        "data_limited", "info", "The largest size (s5) saw 2.4 tokens per parameter, below "
        "the compute-optimal ~20 of Hoffmann et al. (2022), as this fit measured no optimum "
        "of its own (fit --form compute measures one): the exponent describes what size "
        "buys at this budget, not the model-size law.")
    iso = {"isoflop": {"converged": True, "derived": {"tokens_per_param": {
        "value": 3.25, "flops": 1e19}}}}
    assert one(dg.data_limited(evidence(ladder(), fits=iso)))[2].startswith(
        "The largest size (s5) saw 2.4 tokens per parameter, below the compute-optimal 3.2 "
        "that this fit measured (isoflop, at C = 1e+19): ")
    # exactly the measured optimum is not below it
    enough = {"isoflop": {"converged": True, "derived": {"tokens_per_param": {
        "value": 2e6 / 823e3, "flops": None}}}}
    assert dg.data_limited(evidence(ladder(), fits=enough)) == []


def test_non_monotone_without_seeds_counts_any_increase() -> None:
    rows = ladder()
    rows[2] = row("s3", 150e3, 4.2)
    assert one(dg.non_monotone(evidence(rows))) == (
        "non_monotone", "warning", "A larger size has a higher best val_loss than a smaller "
        "one (no seeds measure the noise, so any increase counts): s3 (4.2000) is worse "
        "than the smaller s2 (4.1406). Check each size's lr and seeds before trusting the "
        "exponent.")
    assert dg.non_monotone(evidence(ladder())) == []


def test_multi_epoch_says_why_it_cannot_count_epochs() -> None:
    assert one(dg.multi_epoch(evidence(ladder()))) == (
        "skipped", "info", "multi_epoch skipped: no data.json beside the CSV (not a sweep "
        "folder), so the number of training tokens is unknown")
    assert one(dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 0})))[2] == \
        "multi_epoch skipped: data.json has no positive train_tokens"
    checkpoints = [{**r, "batch_tokens": ""} for r in ladder()]  # trained elsewhere
    assert one(dg.multi_epoch(evidence(checkpoints, data_summary={"train_tokens": 1e5})))[
        2] == "multi_epoch skipped: the CSV has no numeric tokens column"
    assert dg.multi_epoch(evidence(ladder(), data_summary={"train_tokens": 1e9})) == []


def lr_rows() -> list[dict[str, str]]:
    # s1 at three lrs, the loss falling with lr: its best is the largest lr tried
    return [row("s1", 21.7e3, loss, lr=lr)
            for lr, loss in ((1e-3, 4.5), (3e-3, 4.4), (1e-2, 4.3))]


def test_lr_edge_texts() -> None:
    rows = [*lr_rows(), *ladder()[1:]]
    assert one(dg.lr_edge(evidence(rows))) == (
        "lr_edge", "warning", "The best learning rate is at the edge of the grid for: s1 at "
        "lr 0.01 (the largest of 3 tried). The optimum may lie outside it, so that loss is "
        "too high; extend the grid.")

    def tried(status: str, error: str = "") -> dg.Evidence:
        past = {**row("s1", 21.7e3, 9.0, lr=3e-2), "status": status, "error": error}
        return dg.Evidence(rows=rows, header=[*HEADER, "error"], x_col="params_non_embedding",
                           y_col="val_ppl", fits={}, predict=None, data_summary=None,
                           tried=[*rows, past])

    assert one(dg.lr_edge(tried("diverged"))) == (
        "lr_edge", "info", "s1: lr 0.01 is the largest that trained of 4 tried; past it 0.03 "
        "diverged: the optimum is bracketed by divergence.")
    assert one(dg.lr_edge(tried("failed", "CUDA out of memory"))) == (
        "lr_edge", "warning", "The best learning rate is at the edge of the grid for: s1 at "
        "lr 0.01 (the largest that trained of 4 tried; past it 0.03 failed (CUDA out of "
        "memory), which measured nothing). The optimum may lie outside it, so that loss is "
        "too high; extend the grid.")
