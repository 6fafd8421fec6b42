"""The ladder's 1-D points and its forms' draws on cases known by hand: a CSV of one run,
losses below one nat, sizes of zero and of one parameter, and draws that the seed alone
decides (the same seed reproduces fit.json's prediction; another seed moves it)."""

from __future__ import annotations

import numpy as np

from scalecli.fit import ladder_forms, seeds

X = np.geomspace(22e3, 2e6, 6)
LAW = 3.71 + 11.6 * X ** -0.3
# the law with seed-like scatter of 0.01 nats, so that each form's bootstrap has residuals
# to resample (on the exact law the saturating refits all land on the law)
NOISY = LAW + 0.01 * np.array([1, -1, 1, 1, -1, -1])


def ladder(sizes: list[float], losses: list[float]):
    """One run per size, with budget_flops blank (a ladder along N, not an isoFLOP grid)."""
    rows = [{"model": f"s{k}", "params_non_embedding": repr(float(n)), "tokens": "1e9",
             "val_loss": repr(float(v)), "budget_flops": ""}
            for k, (n, v) in enumerate(zip(sizes, losses, strict=True))]
    return seeds.ladder(rows, list(rows[0]), "params_non_embedding", "tokens"), rows


def test_a_csv_of_one_run_has_no_ladder_points() -> None:
    # one size is no law along N (the power law needs 3): None, read from the one row
    # that there is (there is no second row to read the columns from)
    assert ladder_forms.ladder_points(*ladder([1e5], [4.5])) is None
    lad, rows = ladder([1e5], [4.5])
    bare = [{k: v for k, v in rows[0].items() if k != "budget_flops"}]
    assert ladder_forms.ladder_points(lad, bare) is None


def test_losses_below_one_nat_are_ladder_points() -> None:
    # ln ppl < 1 (ppl < e) is a loss a good model reaches: every positive loss is a point
    sizes, losses = [22e3, 90e3, 360e3, 1.44e6], [1.30, 1.05, 0.92, 0.85]
    points = ladder_forms.ladder_points(*ladder(sizes, losses))
    assert points is not None
    x, y, _ = points
    assert x.tolist() == sizes
    assert y.tolist() == losses


def test_a_size_of_no_parameters_is_left_out_and_one_of_one_parameter_kept() -> None:
    # N = 0 has no ln N (the power law's axis); N = 1 has ln N = 0, a size like any other
    sizes, losses = [0.0, 1.0, 1e5, 4e5, 1.6e6], [6.5, 6.0, 4.5, 4.2, 4.0]
    points = ladder_forms.ladder_points(*ladder(sizes, losses))
    assert points is not None
    x, y, _ = points
    assert x.tolist() == [1.0, 1e5, 4e5, 1.6e6]
    assert y.tolist() == [6.0, 4.5, 4.2, 4.0]


def test_the_seed_alone_decides_the_forms_draws() -> None:
    xs = np.array([1e7, 2e7])

    def draws(seed: int, seed_sd: float) -> dict[str, np.ndarray]:
        got = ladder_forms.form_draws(X, NOISY, xs, 40, seed, seed_sd)
        assert [d.form for d in got] == ["power", "saturating"]
        return {d.form: d.draws for d in got}

    # the same seed gives the same fit.json, seed noise (sd 0.02 nats) included
    first, again = draws(5, 0.02), draws(5, 0.02)
    for form in first:
        assert first[form].shape[0] >= 30
        np.testing.assert_array_equal(first[form], again[form])
    # another seed resamples the bootstrap itself (no seed noise here to tell them apart)
    five, six = draws(5, 0.0), draws(6, 0.0)
    for form in five:
        assert not np.array_equal(five[form], six[form])
        # the seeds' draws differ but sample the same law: medians within 1% of each other
        np.testing.assert_allclose(np.median(five[form], axis=0),
                                   np.median(six[form], axis=0), rtol=0.01)
