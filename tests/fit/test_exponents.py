"""`fit --form all`'s `exponents`: every scale the design supports, and why not the others.

Three designs, each with a known law:
- a sizes x tokens grid from ppl = k N^B_N D^B_D (1% noise), where the N exponent at every
  D is B_N and the D exponent at every N is B_D;
- one token budget (the default sweep's design): only N; D and C are named as missing;
- isoFLOP budgets from Hoffmann et al.'s law: a from approach 2, no N at a fixed D.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from scalecli.cli import app
from tests.fit.test_conventions import write
from tests.fit.test_isoflop import A_TRUE, B_TRUE, synthetic

B_N, B_D = -0.12, -0.08
SIZES = np.geomspace(1e5, 1e7, 5)
TOKENS = np.geomspace(1e8, 1e10, 4)


def grid_rows(tokens: np.ndarray, noise: float = 0.01) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate(SIZES):
        for t in tokens:
            ppl = 50.0 * n ** B_N * (t / 1e8) ** B_D * np.exp(rng.normal(0.0, noise))
            rows.append({"model": f"s{i + 1}", "params": repr(1.25 * n),
                         "params_non_embedding": repr(float(n)), "tokens": repr(float(t)),
                         "flops": repr(float(6 * 1.25 * n * t)),
                         "val_loss": repr(float(np.log(ppl))), "val_ppl": repr(float(ppl)),
                         "status": "ok"})
    return rows


def fit_all(path: Path) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["fit", str(path), "--form", "all", "--bootstrap", "50",
                                      "--holdout", "0"])
    assert result.exit_code == 0, result.output
    return json.loads((path.parent / "fit.json").read_text()), result.output


def by_scale(doc: dict, scale: str) -> list[dict]:
    return [e for e in doc["exponents"] if e["scale"] == scale]


def test_a_token_grid_gives_the_n_exponent_at_each_d_and_the_d_exponent_at_each_n(
        tmp_path: Path):
    doc, out = fit_all(write(tmp_path, grid_rows(TOKENS)))
    fitted_n = [e for e in by_scale(doc, "N") if e["at"].startswith("tokens")]
    fitted_d = [e for e in by_scale(doc, "D") if e["at"].startswith("s")]
    assert len(fitted_n) == TOKENS.size and len(fitted_d) == SIZES.size
    covered = 0
    for entry in fitted_n + fitted_d:
        truth = B_N if entry["scale"] == "N" else B_D
        exponent = entry["exponent"]
        assert abs(exponent["value"] - truth) < 0.01, entry
        assert exponent["ci_low"] < exponent["value"] < exponent["ci_high"], entry
        covered += exponent["ci_low"] < truth < exponent["ci_high"]
    assert covered >= len(fitted_n + fitted_d) - 2  # 95% intervals, 50 bootstrap draws
    (c,) = by_scale(doc, "C")
    assert c["exponent"]["value"] < 0 and "frontier" in c["at"]
    for scale in ("N_opt(C)", "D_opt(C)"):
        (entry,) = by_scale(doc, scale)
        assert entry["exponent"] is None and "budget_flops" in entry["reason"]
    assert "exponents" in out.lower()


def test_one_token_budget_supports_only_n_and_says_what_to_add(tmp_path: Path):
    doc, out = fit_all(write(tmp_path, grid_rows(TOKENS[:1])))
    (n,) = by_scale(doc, "N")
    # the N entry is the power fit itself, whose interval also counts the seeds
    assert n["exponent"] == {k: doc["fits"]["power"]["params"]["b"][k]
                             for k in ("value", "se", "ci_low", "ci_high")}
    (d,) = by_scale(doc, "D")
    (c,) = by_scale(doc, "C")
    assert d["exponent"] is None and "budget.tokens" in d["reason"]
    assert c["exponent"] is None and "1 token budget" in c["reason"]
    assert "budget.tokens" in out


def test_isoflop_budgets_give_a_and_b_and_no_n_exponent_at_fixed_d(tmp_path: Path):
    rows = [{"model": f"s{i}", "params": repr(float(np.exp(n))),
             "params_non_embedding": repr(float(0.8 * np.exp(n))),
             "tokens": repr(float(np.exp(d))), "flops": repr(b.flops),
             "budget_flops": repr(b.flops), "val_loss": repr(float(loss)),
             "val_ppl": repr(float(np.exp(loss))), "status": "ok"}
            for b in synthetic() for i, (n, d, loss) in enumerate(
                zip(b.log_n, b.log_d, b.loss, strict=True))]
    doc, _ = fit_all(write(tmp_path, rows))
    (a,) = by_scale(doc, "N_opt(C)")
    (b,) = by_scale(doc, "D_opt(C)")
    assert abs(a["exponent"]["value"] - A_TRUE) < 0.03
    assert abs(b["exponent"]["value"] - B_TRUE) < 0.03
    assert "5 accepted" in a["at"]
    n_fixed = [e for e in by_scale(doc, "N") if e["exponent"] is None]
    assert n_fixed and "isoFLOP" in n_fixed[0]["reason"]
    assert doc["fits"]["isoflop"]["converged"]
