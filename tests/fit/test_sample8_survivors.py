"""The survivors of the eighth fresh sample (`bench/mutation.py --module scalecli/fit/
--sample 10 --seed 8`): a run with no FLOPs per token in the flops-per-token profile, a
saturating refit that runs off to infinity, and fit.json's fields that apply to some fits
only."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np

from scalecli.fit import laws
from scalecli.fit.flops_per_token import FlopsPerToken
from scalecli.fit.schema import blocks
from scalecli.fit.schema.record import Record, json_schema, omitted


def test_a_run_without_flops_per_token_is_left_out_of_the_profile() -> None:
    n = np.array([1e6, 2e6, 4e6, 8e6])
    per_token = 7.2 * n  # 1.2 x 6N: ln 1.2 at every size
    flops = per_token * 1e9
    profile = FlopsPerToken.from_runs(n, per_token, flops)
    assert np.allclose(profile.log_ratio, math.log(1.2), rtol=0, atol=1e-15)
    # a fifth run, of its own size, whose FLOPs per token are 0: no ratio to take a log of
    with_zero = FlopsPerToken.from_runs(np.append(n, 1.6e7), np.append(per_token, 0.0),
                                        np.append(flops, 0.0))
    assert with_zero.log_n.tolist() == profile.log_n.tolist()
    assert with_zero.log_ratio.tolist() == profile.log_ratio.tolist()
    assert with_zero.c_range == profile.c_range == (7.2e15, 5.76e16)


def test_a_refit_that_runs_off_to_infinity_is_dropped_without_a_warning(monkeypatch) -> None:
    x = np.array([1e6, 2e6, 4e6, 8e6, 1.6e7])
    y = 3.0 + 50.0 * x**-0.3
    point = laws.fit_saturating(x, y)

    def refits(q0, lx, targets):  # the second refit's ln E is 1000: E = exp(1000) = inf
        q = q0.copy()
        q[1, 2] = 1000.0
        return q, None, np.ones(q.shape[0], dtype=bool)

    monkeypatch.setattr(laws, "saturating_lm", refits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would reach the user's terminal
        thetas, dropped = laws.bootstrap_saturating(x, y, point, 3, np.random.default_rng(0))
    assert dropped == 1
    assert thetas.shape == (2, 3)
    assert np.allclose(thetas, point.theta, rtol=1e-12, atol=0)


def test_a_field_that_applies_to_some_fits_only_is_left_out_and_not_required() -> None:
    row = blocks.ExponentRow(scale="N", at="tokens = 1e+08", kind="power",
                             quantity="b", reason="too few sizes")
    out = row.to_dict()
    assert out["reason"] == "too few sizes"
    assert "n_points" not in out and "r2_log" not in out  # None: left out, not null
    assert json.loads(json.dumps(out)) == out
    schema = json_schema(blocks.ExponentRow, "row")
    assert "reason" not in schema["required"] and "n_points" not in schema["required"]
    assert "exponent" in schema["required"]  # None is written as null: always present


def test_omitted_marks_a_field_left_out_when_none() -> None:
    # A record made here, in the test: blocks' records called omitted() when they were
    # imported, before the mutation harness switches a mutant on, so only a call made
    # while the test runs shows it what omitted() returns.
    @dataclasses.dataclass
    class Check(Record):
        """A check."""

        value: float | None = None
        why: str | None = dataclasses.field(default=None, metadata=omitted("why not"))

    assert Check(value=None).to_dict() == {"value": None}
    assert Check(value=1.0, why="no data").to_dict() == {"value": 1.0, "why": "no data"}
    schema = json_schema(Check, "check")
    assert schema["required"] == ["value"]
    assert schema["properties"]["why"]["description"] == "why not"
