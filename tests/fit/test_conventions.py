"""The compute-optimal approaches with N counted three ways (fit.json's `conventions`).

The runs come from a closed form of GPT-2's shapes: L layers of width w, vocabulary V and
context T, so non-embedding N = 12 L w^2, matmul N = 12 L w^2 + V w (the tied head), and
total N = matmul N + T w + 13 L w (position embeddings, biases, LayerNorms). The loss is
Hoffmann et al.'s law in total N with C = 6 N D and 1% noise, on test_isoflop's design, so
counting N as total parameters must recover the true a, and the other counts must not.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalecli.cli import app
from scalecli.fit import chinchilla, schema

THETA = np.array([1.69, 406.4, 410.7, 0.34, 0.28])  # E, A, B, alpha, beta (total N)
A_TRUE = 0.28 / 0.62
FLOPS = np.geomspace(1e18, 1e20, 5)
V, T, L = 50257, 1024, 6


def width(total: np.ndarray) -> np.ndarray:
    """w such that 12 L w^2 + (13 L + V + T) w = total."""
    qa, qb = 12 * L, 13 * L + V + T
    return (-qb + np.sqrt(qb * qb + 4 * qa * total)) / (2 * qa)


def rows(seed: int = 0) -> list[dict[str, str]]:
    """7 sizes a factor 3 apart per budget, centred on the true optimum in total N."""
    rng = np.random.default_rng(seed)
    n_opt = chinchilla.compute_optimal(THETA, FLOPS)["N_opt"]
    out = []
    for c, n0 in zip(FLOPS, n_opt, strict=True):
        total = n0 * 3.0 ** np.arange(-3, 4)
        tokens = c / (6 * total)
        loss = chinchilla.chinchilla_predict(THETA, total, tokens)
        loss = loss * np.exp(rng.normal(0.0, 0.01, total.size))
        w = width(total)
        for k in range(total.size):
            out.append({"run_id": f"c{c:.0e}-{k}", "model": f"w{w[k]:.0f}", "n_layer": str(L),
                        "n_embd": repr(float(w[k])), "vocab_size": str(V),
                        "params": repr(float(total[k])),
                        "params_non_embedding": repr(float(12 * L * w[k] ** 2)),
                        "params_matmul": repr(float(12 * L * w[k] ** 2 + V * w[k])),
                        "tokens": repr(float(tokens[k])), "flops": repr(float(c)),
                        "budget_flops": repr(float(c)), "val_loss": repr(float(loss[k])),
                        "status": "ok"})
    return out


def write(folder: Path, table: list[dict[str, str]]) -> Path:
    path = folder / "results.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return path


def fit(path: Path, *args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["fit", str(path), "--holdout", "0", *args])
    assert result.exit_code == 0, result.output
    # fit.json stores the fitted N's table once, as references into `fits`: read it back
    # through the schema, each convention's rows whole
    doc = schema.read(path.parent / "fit.json")
    flat = doc.to_dict()
    flat["approaches"] = [r.to_dict() for r in doc.approach_rows()]
    flat["conventions"] = {column: [r.to_dict() for r in table]
                           for column, table in doc.convention_tables().items()}
    return flat, result.output


def a_of(doc: dict, column: str, form: str) -> float:
    row = next(r for r in doc["conventions"][column] if r["form"] == form)
    return row["a_opt"]["value"]


def test_total_params_recover_a_and_the_other_counts_do_not(tmp_path: Path):
    doc, out = fit(write(tmp_path, rows()), "--form", "compute", "--bootstrap", "0")
    assert list(doc["conventions"]) == ["params", "params_non_embedding", "params_matmul"]
    assert doc["conventions_skipped"] == {}
    assert doc["conventions"]["params"] == doc["approaches"]  # the default N, not refitted
    for column in doc["conventions"]:
        assert [r["form"] for r in doc["conventions"][column]] == ["envelope", "isoflop",
                                                                   "chinchilla"]
    for form in ("isoflop", "chinchilla"):
        total = a_of(doc, "params", form)
        assert abs(total - A_TRUE) < 0.03, form
        # Kaplan's N: the embeddings' share shrinks with size, so N_opt grows faster in it
        assert a_of(doc, "params_non_embedding", form) - total > 0.1, form
    # matmul N leaves out only position embeddings, biases and LayerNorms (1-2% here)
    matmul = a_of(doc, "params_matmul", "isoflop")
    assert matmul != a_of(doc, "params", "isoflop")
    assert abs(matmul - a_of(doc, "params", "isoflop")) < 0.01
    assert "N counted as" in out and "non-embedding (params_non_embedding)" in out
    # approach 3 is solved on the flops column's C: here C = 6 N D in total params, so the
    # closed form is exact; Kaplan's N needs flops per token against N
    assert "L(N, C / flops_per_token(N))" in out
    assert "G (C/6)^a (Hoffmann et al. 2022, Eq. 4), exact here" in \
        doc["fits"]["chinchilla"]["method"]


def drop(table: list[dict[str, str]], column: str) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != column} for r in table]


def blank_first(table: list[dict[str, str]], column: str) -> list[dict[str, str]]:
    """A row written before the column existed: its cell is blank."""
    return [{**r, column: ""} if i == 0 else r for i, r in enumerate(table)]


@pytest.mark.parametrize(("edit", "why"), [(drop, "has no column 'params_matmul'"),
                                           (blank_first, "is not numeric")])
def test_a_csv_without_matmul_counts_gets_two_conventions_and_a_note(tmp_path: Path, edit,
                                                                     why):
    doc, out = fit(write(tmp_path, edit(rows(), "params_matmul")), "--form", "isoflop",
                   "--bootstrap", "20")
    assert list(doc["conventions"]) == ["params", "params_non_embedding"]
    assert list(doc["conventions_skipped"]) == ["params_matmul"]
    assert why in doc["conventions_skipped"]["params_matmul"]
    assert "matmul-only (params_matmul) left out" in " ".join(out.split())
    iso = doc["conventions"]["params_non_embedding"][0]
    assert iso["form"] == "isoflop" and iso["a_opt"]["ci_low"] is not None


def test_an_x_outside_the_three_is_shown_first(tmp_path: Path):
    # n_total = params^1.1: ln N scales by 1.1, and so does every vertex of a parabola in
    # ln N (the window, the checks and the weights do not change), so a in n_total is
    # exactly 1.1 times a in params, and b the same: each row is its own column's fit
    table = [{**r, "n_total": repr(float(r["params"]) ** 1.1)} for r in rows()]
    doc, _ = fit(write(tmp_path, table), "--form", "isoflop", "--bootstrap", "0",
                 "--x", "n_total")
    assert list(doc["conventions"]) == ["n_total", "params", "params_non_embedding",
                                        "params_matmul"]
    total, params = doc["conventions"]["n_total"][0], doc["conventions"]["params"][0]
    assert abs(params["a_opt"]["value"] - A_TRUE) < 3 * 0.014  # sd over seeds (test_isoflop)
    assert total["a_opt"]["value"] == pytest.approx(1.1 * params["a_opt"]["value"], rel=1e-9)
    assert total["b_opt"]["value"] == pytest.approx(params["b_opt"]["value"], rel=1e-9)


def test_seed_noise_sits_on_the_scaling_plots_axis(tmp_path: Path):
    # The compute-optimal forms fit N = params, but the report's scaling plot (and its seed
    # bars) is drawn against Kaplan's N unless --x says otherwise.
    table = [{**r, "seed": "0"} for r in rows()]
    doc, _ = fit(write(tmp_path, table), "--form", "isoflop", "--bootstrap", "0")
    assert doc["fits"]["isoflop"]["x"] == "params"
    assert [p["x"] for p in doc["seed_noise"]["points"]] == [
        float(r["params_non_embedding"]) for r in table]


@pytest.mark.parametrize(("edit", "why"), [(drop, "has no column 'params_non_embedding'"),
                                           (blank_first, "is not numeric")])
def test_a_convention_that_fails_leaves_the_next_one_fitted(tmp_path: Path, edit, why):
    doc, _ = fit(write(tmp_path, edit(rows(), "params_non_embedding")), "--form",
                 "isoflop", "--bootstrap", "0")
    assert list(doc["conventions"]) == ["params", "params_matmul"]
    assert list(doc["conventions_skipped"]) == ["params_non_embedding"]
    assert why in doc["conventions_skipped"]["params_non_embedding"]
    assert abs(a_of(doc, "params_matmul", "isoflop") - a_of(doc, "params", "isoflop")) < 0.01
