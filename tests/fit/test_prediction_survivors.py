"""The ladder's prediction on cases worked out by hand: which ladder points the 1-D forms
read, the bend test's 5% level, the note fit.json carries without seed noise, a form with
no bootstrap, and when two forms' intervals count as disagreeing (closed intervals)."""

from __future__ import annotations

import numpy as np

from scalecli.fit import diagnostics, ladder_forms, prediction, seeds
from scalecli.fit.prediction import FormDraws

X = np.geomspace(22e3, 2e6, 6)
LAW = 3.71 + 11.6 * X ** -0.3


def test_ladder_points_leave_out_a_size_without_a_positive_finite_loss() -> None:
    # Five sizes, one seed each; s1 has no val_loss (a crashed run: a blank cell) and s3 a
    # val_loss of 0 (not a loss a language model can have: ln ppl > 0 as ppl > 1).
    losses = ["4.5", "", "4.2", "0", "4.0"]
    sizes = [1e5, 2e5, 4e5, 8e5, 1.6e6]
    rows = [{"model": f"s{k}", "params_non_embedding": repr(n), "tokens": "1e9",
             "val_loss": v} for k, (n, v) in enumerate(zip(sizes, losses, strict=True))]
    lad = seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens")
    got = ladder_forms.ladder_points(lad, rows)
    assert got is not None
    x, y, _ = got
    assert x.tolist() == [1e5, 4e5, 1.6e6]
    assert y.tolist() == [4.5, 4.2, 4.0]


def test_the_bend_rejects_the_power_law_below_the_5_percent_level_only(monkeypatch) -> None:
    # "significant at CURVE_ALPHA" is p < 0.05, as the poor_fit warning (diagnostics.bends)
    # reads it: at p = 0.05 exactly the straight line stands; just below it does not.
    monkeypatch.setattr(diagnostics, "curvature_p", lambda lx, ly: diagnostics.CURVE_ALPHA)
    assert ladder_forms.rejected_forms(X, LAW.copy()) == {}
    monkeypatch.setattr(diagnostics, "curvature_p", lambda lx, ly: 0.0499)
    assert ladder_forms.rejected_forms(X, LAW.copy()) == {
        "power": "the ladder bends away from the power law's straight line (quadratic term "
                 "p = 0.050, poor_fit)"}


def _draws(y: float, lo: float, hi: float) -> FormDraws:
    """41 draws whose 2.5 and 97.5 percentiles are exactly lo and hi: three copies at each
    end, so the percentiles' interpolation (at sorted index 1 and 39) lands between equal
    values whatever its rounding."""
    body = np.linspace(lo, hi, 37)[1:-1]
    draws = np.concatenate([[lo] * 3, body, [hi] * 3])[:, None]
    return FormDraws("f", np.array([y]), draws)


def test_forms_whose_values_sit_on_each_others_interval_ends_agree() -> None:
    a = _draws(1.0, 0.75, 1.25)
    assert a.interval() == (np.array([0.75]), np.array([1.25]))
    # b's y is a's upper end, and a's y is b's lower end: inside closed intervals
    b = _draws(1.25, 1.0, 1.5)
    assert prediction.disagree([a, b], 0) is False
    assert prediction.disagree([b, a], 0) is False
    # one step past either end is outside
    assert prediction.disagree([a, _draws(1.25 + 2 ** -20, 1.0, 1.5)], 0) is True
    assert prediction.disagree([a, _draws(1.25, 1.0 + 2 ** -20, 1.5)], 0) is True
    # and fit.json's combined point says the same
    (point,) = prediction.points_json(np.array([1e7]), [None], ["default"], [a, b], "r")
    assert point["combined"]["disagree"] is False


def test_without_seed_noise_the_prediction_block_says_whose_uncertainty_it_holds() -> None:
    forms = [_draws(1.0, 0.75, 1.25)]
    args = (np.array([1e7]), [None], ["default"], forms)
    note = ("no seed noise measured (one seed per configuration): the intervals hold the "
            "fit's uncertainty only")
    assert ladder_forms.prediction_block(*args, None)["seed_note"] == note
    assert ladder_forms.prediction_block(*args, 0.0)["seed_note"] == note
    assert ladder_forms.prediction_block(*args, 0.01)["seed_note"] is None


def test_a_form_without_a_bootstrap_has_no_draws() -> None:
    # n_boot = 0: the point fit's prediction only, no draws and so no interval (of either
    # form, the power law's log-space branch included)
    xs = np.array([1e7, 2e7, 4e7])
    drawn = ladder_forms.form_draws(X, LAW, xs, 0, 0, 0.0)
    assert [d.form for d in drawn] == ["power", "saturating"]
    for d in drawn:
        assert d.draws.shape == (0, 3)
        assert d.interval() is None
    sat = drawn[1]
    np.testing.assert_allclose(sat.y, 3.71 + 11.6 * xs ** -0.3, rtol=1e-6)
