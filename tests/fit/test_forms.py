"""The fit forms' registry: each form one object, its curve drawn from fit.json alone."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scalecli.cli import app  # before the toy form is registered: --form reads the registry
from scalecli.errors import ScaleError
from scalecli.fit.forms import LawForm, registry
from scalecli.fit.laws import FitResult


def test_every_form_draws_its_law_from_parameter_values_alone():
    x, d = np.array([1e4, 1e6]), np.array([1e6, 1e8])
    power = registry.get("power").curve({"a": 50.0, "b": -0.1}, x)
    assert_allclose(power, 50.0 * x ** -0.1)
    sat = registry.get("saturating").curve({"E": 2.0, "A": 30.0, "alpha": 0.3}, x)
    assert_allclose(sat, 2.0 + 30.0 * x ** -0.3)
    chin = registry.get("chinchilla").curve(
        {"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}, x, d)
    assert_allclose(chin, 1.7 + 400.0 / x ** 0.34 + 410.0 / d ** 0.28)
    for name in ("isoflop", "envelope"):
        n_opt = registry.get(name).curve({"k_n": 0.1, "a_opt": 0.5}, np.array([1e18]))
        assert_allclose(n_opt, [1e8])


def test_every_form_has_text_for_headings_and_the_reference():
    for form in registry.forms():
        assert form.title and form.doc and form.param_names
        assert form.formula_text({"x": "N", "y": "L", "d": "D"})


def test_capabilities_not_names_pick_the_forms():
    assert [f.name for f in registry.ladder_forms()] == ["power", "saturating"]
    assert [f.approach for f in registry.compute_forms()] == [
        "1: envelope", "2: isoFLOP", "3: parametric"]
    assert registry.default().name == "power"
    assert registry.choices() == ("power", "saturating", "chinchilla", "all", "isoflop",
                                  "envelope", "compute")
    with pytest.raises(ScaleError, match="unknown"):
        registry.get("kaplan")


class Floor(LawForm):
    """A toy law y = c: adding a form is this class and one `register` call."""

    name = "toy_floor"
    title = "constant floor"
    formula = "{y} = c"
    doc = "A constant in log space, the geometric mean of y; for the registry's test."
    param_names = ("c",)
    ladder = in_all = False

    def fit(self, x, y, d=None) -> FitResult:
        c = float(np.exp(np.mean(np.log(y))))
        return FitResult(self.name, np.array([c]), True, "closed form", method="mean of log y")

    def predict(self, theta, x, d=None) -> np.ndarray:
        return np.full(np.shape(x), float(theta[0]))

    def bootstrap(self, x, y, d, point, n_boot, rng, seed_level=None):
        picks = rng.integers(0, y.size, (n_boot, y.size))
        return np.exp(np.mean(np.log(y[picks]), axis=1))[:, None], 0


@pytest.fixture
def toy():
    form = registry.register(Floor())
    yield form
    registry.unregister(form.name)


LOSS = [4.65, 4.30, 4.05, 3.80, 3.62]


def write_ladder(folder):
    """A results.csv of five sizes at one budget, val_loss LOSS."""
    csv = folder / "results.csv"
    csv.write_text("run_id,model,params_non_embedding,tokens,val_loss,val_ppl,status\n" + "".join(
        f"r{i},s{i},{n},1000000,{v},{np.exp(v):.4f},ok\n"
        for i, (n, v) in enumerate(zip([25e3, 1e5, 3e5, 7.9e5, 1.5e6], LOSS, strict=True))))
    return csv


def test_a_registered_form_is_fitted_written_drawn_and_documented(toy, tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    from scalecli.fit import schema
    from scalecli.fit.driver import compute_fit
    from scalecli.report.data import predict

    csv, loss = write_ladder(tmp_path), LOSS
    doc = compute_fit(csv, form="toy_floor", bootstrap=100, holdout=1)
    fit = doc["fits"]["toy_floor"]
    c = fit["params"]["c"]
    assert_allclose(c["value"], np.exp(np.mean(np.log(loss))), rtol=1e-12)
    assert c["ci_low"] < c["value"] < c["ci_high"]
    assert fit["extrapolation"]["predicted"] == [pytest.approx(np.exp(np.mean(np.log(loss[:4]))))]
    written = schema.parse(json.loads(schema.to_json(schema.build(doc))))
    drawn = predict(written.law("toy_floor"), [1e4, 1e7])  # the report's curve
    assert_allclose(drawn, [c["value"]] * 2)
    path = Path(__file__).resolve().parents[2] / "docs" / "gen_reference.py"
    spec = importlib.util.spec_from_file_location("gen_reference", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert "`toy_floor`" in gen.forms_page() and "`val_loss = c`" in gen.forms_page()
    assert "toy_floor" in registry.choices()


def test_the_cli_fits_a_form_registered_after_it_was_imported(toy, tmp_path):
    from typer.testing import CliRunner

    from scalecli.fit import schema

    csv = write_ladder(tmp_path)
    result = CliRunner().invoke(app, ["fit", str(csv), "--form", "toy_floor", "--bootstrap",
                                      "100"])
    assert result.exit_code == 0, result.output
    fit = schema.read(tmp_path / "fit.json").law("toy_floor")
    assert_allclose(fit.params["c"].value, np.exp(np.mean(np.log(LOSS))), rtol=1e-12)
    registry.unregister("toy_floor")  # gone again: the same one line as any unknown name
    result = CliRunner().invoke(app, ["fit", str(csv), "--form", "toy_floor"])
    assert result.exit_code == 2 and "'toy_floor' is not one of 'power'" in result.stderr
