"""Diagnostics worked out by hand, each text whole: non_monotone over every token budget
past an isoFLOP one, with and without a seed sd; non_monotone and within_noise with two
sizes exactly the seed-noise gap apart (and one ulp either side); poor_fit past a form that
did not converge and with two bending forms to suggest; unbounded_params on a bootstrap
block with a count of 0, of 1 and without one."""

from __future__ import annotations

import math

import pytest

from scalecli.fit import diagnostics as dg
from scalecli.fit.forms import registry
from scalecli.fit.forms.saturating import Saturating
from tests.fit.test_diagnostics import HEADER, LADDER, evidence, ladder, row
from tests.fit.test_diagnostics_full_3 import seed_run
from tests.fit.test_diagnostics_texts import CLOSED, OPEN, converged, one

NOISE = "1.96 sd sqrt(1/n_a + 1/n_b) for means of n_a and n_b seeds"
WORSE = "A larger size has a higher best val_loss than a smaller one"
CHECK = ". Check each size's lr and seeds before trusting the exponent."
ORDER = ". Their order is noise; add seeds or space the sizes further apart."


# ------------------------------------------------------------------------- non_monotone


def budgets(rows: list[dict[str, str]], flops: str = "") -> list[dict[str, str]]:
    return [{**r, "budget_flops": flops} for r in rows]


def test_non_monotone_checks_every_token_budget_past_an_isoflop_one() -> None:
    # Three budgets, in the order of their smallest size: 2e6 tokens (from N = 1e4), an
    # isoFLOP budget (from 2e4) whose U is its design, then 8e6 tokens (from 3e4). No seed
    # column: no noise is measured, so any increase counts and an equal loss does not.
    rows = [*budgets([row("a1", 1e4, 4.30), row("a2", 4e4, 4.35), row("a3", 1.6e5, 4.30)]),
            *budgets([row("i0", 2e4, 4.20, tokens=8.3e6), row("i1", 6e4, 4.00, tokens=2.8e6),
                      row("i2", 1.8e5, 4.40, tokens=9.3e5)], flops="1e12"),
            *budgets([row("b1", 3e4, 4.10, tokens=8e6), row("b2", 9e4, 4.05, tokens=8e6),
                      row("b3", 2.7e5, 4.12, tokens=8e6)])]
    header = [h for h in HEADER if h != "seed"] + ["budget_flops"]
    # a2 is worse than a1; a3 only equals a1 (the best smaller size), which is no increase;
    # i2 (4.40) above i1 (4.00) is the isoFLOP U; b3 is worse than b2, the best before it.
    assert one(dg.non_monotone(evidence(rows, header=header))) == (
        "non_monotone", "warning", f"{WORSE} (no seeds measure the noise, so any increase "
        "counts): a2 at 2e+06 tokens (4.3500) is worse than the smaller a1 at 2e+06 tokens "
        "(4.3000); b3 at 8e+06 tokens (4.1200) is worse than the smaller b2 at 8e+06 tokens "
        f"(4.0500){CHECK}")


def seeded_ladder(loss: dict[str, float]) -> list[dict[str, str]]:
    """The default ladder (losses replaced by `loss`), two seeds per size 0.06 apart: each
    size's mean is its loss, and the pooled seed sd is sqrt(2 x 0.03^2) = 0.0424, so two
    means of two seeds differ beyond the noise past 1.96 x 0.0424 x sqrt(1/2 + 1/2) = 0.0832."""
    return [row(m, n, loss.get(m, v) + d, seed=s) for m, n, v in LADDER
            for s, d in ((0, 0.03), (1, -0.03))]


def test_non_monotone_with_a_seed_sd_says_so_and_lists_each_size_past_the_noise() -> None:
    # s3 (4.25) is 0.109 above s2 (4.1406); s4 (3.9927) is the best before s5, which at
    # 4.10 is 0.107 above it: both past 0.0832.
    ev = evidence(seeded_ladder({"s3": 4.25, "s5": 4.10}))
    assert one(dg.non_monotone(ev)) == (
        "non_monotone", "warning", f"{WORSE} by more than the seed noise ({NOISE}; sd "
        "0.0424): s3 (4.2500) is worse than the smaller s2 (4.1406); s5 (4.1000) is worse "
        f"than the smaller s4 (3.9927){CHECK}")
    # 4.22 is 0.079 above s2, within the noise: only s5 is listed
    assert one(dg.non_monotone(evidence(seeded_ladder({"s3": 4.22, "s5": 4.10}))))[2] == (
        f"{WORSE} by more than the seed noise ({NOISE}; sd 0.0424): s5 (4.1000) is worse "
        f"than the smaller s4 (3.9927){CHECK}")


# ------------------------------------------------------------------------- within_noise


def test_within_noise_lists_each_neighbouring_pair_inside_the_noise_word_for_word() -> None:
    # The ladder's steps: 0.1536, 0.0667, 0.0812, 0.0860; the middle two are below 0.0832.
    assert one(dg.within_noise(evidence(seeded_ladder({})))) == (
        "within_noise", "warning", f"Neighbouring sizes differ by less than the seed noise "
        f"({NOISE}; sd 0.0424): s2 and s3 (4.1406 vs 4.0739); s3 and s4 (4.0739 vs 3.9927)"
        f"{ORDER}")
    # one seed per size: no sd, nothing to compare with
    assert dg.within_noise(evidence(ladder())) == []


# ------------------------------------------------------------ both, exactly at the gap


def at_the_gap() -> tuple[float, float, float]:
    """(h, the mean of s1's two seeds 4.2 +- h, the gap to a one-seed size): an h near 0.01
    for which s1's mean plus the gap is a float, so that the difference is the gap exactly.
    The pooled sd is s1's alone, sqrt(2 h^2) up to rounding; the gap 1.96 sd sqrt(1/1 + 1/2)
    (`seeds.noise_gap`, in its order of operations)."""
    for k in range(400):
        h = 0.01 * (1 + k * 1e-9)
        ev = evidence([seed_run("s1", 21.7e3, 4.2 + h, 0), seed_run("s1", 21.7e3, 4.2 - h, 1)])
        sd = dg.pooled_seed_sd(ev)
        (s1,), = dg.sizes_by_budget(ev).values()
        g = 1.96 * sd * math.sqrt(1 / 1 + 1 / 2)
        if (s1.loss + g) - s1.loss == g:
            return h, s1.loss, g
    raise AssertionError("no h near 0.01 puts s1's mean plus the gap on a float")


def test_two_sizes_exactly_the_noise_gap_apart_are_neither_worse_nor_within_it() -> None:
    h, mean, g = at_the_gap()
    assert mean == 4.2 and g == pytest.approx(1.96 * math.sqrt(2) * 0.01 * math.sqrt(1.5))

    def pair(s2: float) -> dg.Evidence:
        return evidence([seed_run("s1", 21.7e3, 4.2 + h, 0), seed_run("s1", 21.7e3, 4.2 - h, 1),
                         seed_run("s2", 84.9e3, s2, 0)])

    exactly = pair(mean + g)
    s1, s2 = dg.sizes_by_budget(exactly)[("tokens", 2e6)]
    # the two numbers each rule compares are equal to the last bit
    assert s2.loss - s1.loss == g == dg.gap(dg.pooled_seed_sd(exactly), s2, s1)
    assert abs(s1.loss - s2.loss) == dg.gap(dg.pooled_seed_sd(exactly), s1, s2)
    # exactly the gap is not "by more than" it (non_monotone) nor "less than" it (within_noise)
    assert dg.non_monotone(exactly) == [] and dg.within_noise(exactly) == []
    # one ulp above, s2 is worse beyond the noise; one ulp below, the pair is within it
    above, below = pair(math.nextafter(mean + g, 5.0)), pair(math.nextafter(mean + g, 4.0))
    assert one(dg.non_monotone(above)) == (
        "non_monotone", "warning", f"{WORSE} by more than the seed noise ({NOISE}; sd "
        f"0.0141): s2 (4.2339) is worse than the smaller s1 (4.2000){CHECK}")
    assert dg.within_noise(above) == [] and dg.non_monotone(below) == []
    assert one(dg.within_noise(below)) == (
        "within_noise", "warning", f"Neighbouring sizes differ by less than the seed noise "
        f"({NOISE}; sd 0.0141): s1 and s2 (4.2000 vs 4.2339){ORDER}")


# ----------------------------------------------------------------------------- poor_fit


class Bend(Saturating):
    """A second law that bends by design, so that poor_fit has two to suggest."""

    name = "toy_bend"


@pytest.fixture
def bend():
    form = registry.register(Bend())
    yield form
    registry.unregister(form.name)


ADVICE = ". Add sizes, check each size's learning rate"


def test_poor_fit_looks_past_a_form_that_did_not_converge(bend) -> None:
    # the ladder forms in order: power (straight), saturating, toy_bend (both bend by design)
    assert [f.name for f in registry.ladder_forms()] == ["power", "saturating", "toy_bend"]
    fits = {"power": converged({}, r2_log=0.9, y="val_ppl"),
            "saturating": {"converged": False},
            "toy_bend": converged({}, r2_log=0.8, y="val_loss")}
    assert [(d.code, d.severity, d.message) for d in dg.poor_fit(evidence(ladder(), fits=fits))
            ] == [("poor_fit", "warning", "The power law fits poorly: R^2 (log) 0.900 < 0.95"
                   f"{ADVICE}, or try --form saturating or toy_bend."),
                  ("poor_fit", "warning", "The toy_bend law fits poorly: R^2 (log) 0.800 < "
                   f"0.95{ADVICE}.")]
    # the first form unfitted: the next one is still judged
    fits = {"power": {"converged": False}, "saturating": converged({}, r2_log=0.8)}
    assert one(dg.poor_fit(evidence(ladder(), fits=fits))) == (
        "poor_fit", "warning", f"The saturating law fits poorly: R^2 (log) 0.800 < 0.95{ADVICE}.")


# --------------------------------------------------------------------- unbounded_params


def test_unbounded_params_reads_a_bootstrap_block_without_a_count_as_one_that_ran() -> None:
    fits = {"power": {**converged({"a": OPEN, "b": CLOSED}, n_boot=None), "bootstrap": {}}}
    assert dg.unbounded_params(fits) == ["power a"]
    assert dg.unbounded_params({"power": converged({"a": OPEN}, n_boot=1)}) == ["power a"]
    assert dg.unbounded_params({"power": converged({"a": OPEN}, n_boot=0)}) == []
