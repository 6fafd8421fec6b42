"""schema.upgrade: each version-0 shape of a predicted number becomes version 1's
`Predicted`, written out here by hand, with the numbers unchanged."""

from __future__ import annotations

from scalecli.fit.schema.upgrade import optimum_rows, predicted, v0_to_v1


def est(value: float, lo: float | None = None, hi: float | None = None,
        se: float | None = None) -> dict:
    return {"value": value, "se": se, "ci_low": lo, "ci_high": hi}


def pred(value: float | None, lo: float | None = None, hi: float | None = None,
         se: float | None = None, kind: str = "parameter") -> dict:
    return {"value": value, "se": se, "ci_low": lo, "ci_high": hi, "interval": kind}


def test_predicted_adds_what_the_interval_holds() -> None:
    assert predicted(None) is None
    assert predicted(est(2.0, 1.0, 3.0, 0.5)) == pred(2.0, 1.0, 3.0, 0.5)
    assert predicted({"value": 2.0}, "prediction") == pred(2.0, kind="prediction")
    assert optimum_rows(None) == []
    assert optimum_rows([{"flops": 1e21, "n_opt": est(1e9), "d_opt": est(2e10),
                          "loss": est(2.1, 2.0, 2.2)}]) == [
        {"x": 1e21, "y": pred(2.1, 2.0, 2.2), "n_opt": pred(1e9), "d_opt": pred(2e10)}]


def test_a_version_1_document_is_left_alone() -> None:
    doc = {"schema_version": 1, "fits": {"power": {"derived": {"predictions": [1]}}}}
    assert v0_to_v1(doc) is doc


def test_law_and_approach_predictions() -> None:
    doc = {"csv": "r.csv", "fits": {
        "power": {"derived": {"ten_x_factor": 0.8, "predictions": [
            {"x": 1e9, "y": 3.1, "ci_low": 3.0, "ci_high": 3.3}]}},
        "isoflop": {"budgets": [], "derived": {"k_n": 0.1, "predictions": [
            {"flops": 1e21, "n_opt": est(1e9, 8e8, 1.2e9), "d_opt": est(2e10), "loss": None}]}},
        "failed": {"derived": None}}}
    out = v0_to_v1(doc)
    assert list(out) == ["schema_version", "csv", "fits"] and out["schema_version"] == 1
    assert out["fits"]["power"]["derived"] == {"ten_x_factor": 0.8, "predictions": [
        {"x": 1e9, "y": pred(3.1, 3.0, 3.3)}]}
    assert out["fits"]["isoflop"]["derived"] == {"k_n": 0.1, "predictions": [
        {"x": 1e21, "y": None, "n_opt": pred(1e9, 8e8, 1.2e9), "d_opt": pred(2e10)}]}
    assert out["fits"]["failed"]["derived"] == {}
    assert doc["fits"]["power"]["derived"]["predictions"][0]["y"] == 3.1  # input untouched


def test_chinchilla_with_compute_optimal_rows() -> None:
    derived = {"a_opt": 0.45, "b_opt": 0.55, "G": 0.6,
               "intervals": {"a_opt": est(0.45, 0.4, 0.5)},
               "tokens_per_param": {"flops": 1e21, **est(20.0)},
               "optimal": [{"C": 1e21, "N_opt": 1e9, "D_opt": 2e10}],
               "compute_optimal": [{"flops": 1e21, "n_opt": est(1e9), "d_opt": est(2e10),
                                    "loss": est(2.0, 1.9, 2.1)}]}
    out = v0_to_v1({"fits": {"chinchilla": {"derived": derived}}})["fits"]["chinchilla"]
    assert out["derived"] == {
        "a_opt": est(0.45, 0.4, 0.5), "b_opt": est(0.55), "G": 0.6,
        "tokens_per_param": {"flops": 1e21, **est(20.0)},
        "predictions": [{"x": 1e21, "y": pred(2.0, 1.9, 2.1), "n_opt": pred(1e9),
                         "d_opt": pred(2e10)}]}


def test_chinchilla_with_plain_optimal_values_and_law_predictions() -> None:
    derived = {"a_opt": 0.45, "b_opt": 0.55,
               "optimal": [{"C": 1e21, "N_opt": 1e9, "D_opt": 2e10},
                           {"C": 1e22, "N_opt": 3e9, "D_opt": 5e10}],
               "predictions": [{"x": 1e21, "y": 2.0, "ci_low": 1.9, "ci_high": 2.1}]}
    out = v0_to_v1({"fits": {"chinchilla": {"derived": derived}}})["fits"]["chinchilla"]
    assert out["derived"] == {"a_opt": est(0.45), "b_opt": est(0.55), "predictions": [
        {"x": 1e21, "y": pred(2.0, 1.9, 2.1), "n_opt": pred(1e9), "d_opt": pred(2e10)},
        {"x": 1e22, "y": None, "n_opt": pred(3e9), "d_opt": pred(5e10)}]}
    # losses alone (no `optimal`): one row per predicted C, without N_opt
    only = {"a_opt": 0.45, "predictions": [{"x": 1e21, "y": 2.0, "ci_low": None,
                                            "ci_high": None}]}
    rows = v0_to_v1({"fits": {"c": {"derived": only}}})["fits"]["c"]["derived"]["predictions"]
    assert rows == [{"x": 1e21, "y": pred(2.0), "n_opt": pred(None), "d_opt": pred(None)}]
    # none at all: an empty list, not a missing key
    none = {"a_opt": 0.45, "predictions": []}
    assert v0_to_v1({"fits": {"c": {"derived": none}}})["fits"]["c"]["derived"] == {
        "a_opt": est(0.45), "predictions": []}
    assert v0_to_v1({"fits": {"c": {"derived": {"intervals": {}}}}})["fits"]["c"][
        "derived"] == {}


def test_tables_and_the_prediction_block() -> None:
    rows = [{"approach": "2: isoFLOP", "form": "isoflop", "a_opt": est(0.5),
             "predictions": [{"flops": 1e21, "n_opt": est(1e9), "d_opt": est(2e10),
                              "loss": None}]}]
    other = [{**rows[0], "a_opt": est(0.7)}]
    doc = {"approaches": rows, "conventions": {"params": rows, "params_matmul": other},
           "prediction": {"x": "params", "points": [
               {"x": 1e9, "forms": {"power": {"y": 3.0, "low": 2.9, "high": 3.1}},
                "combined": {"y": 3.05, "low": 2.8, "high": 3.2, "reason": "r"}},
               {"x": 2e9, "combined": None}]}}
    out = v0_to_v1(doc)
    assert out["approaches"] == [{"approach": "2: isoFLOP", "form": "isoflop"}]
    # the fitted N's table is the approaches table: stored once, as null
    assert out["conventions"]["params"] is None
    assert out["conventions"]["params_matmul"] == [{**other[0], "predictions": [
        {"x": 1e21, "y": None, "n_opt": pred(1e9), "d_opt": pred(2e10)}]}]
    assert out["prediction"] == {"x": "params", "points": [
        {"x": 1e9, "forms": {"power": pred(3.0, 2.9, 3.1, kind="prediction")},
         "combined": {**pred(3.05, 2.8, 3.2, kind="prediction"), "reason": "r"}},
        {"x": 2e9, "forms": {}, "combined": None}]}
    assert v0_to_v1({"prediction": None}) == {"schema_version": 1, "prediction": None}
    assert v0_to_v1({"prediction": {"points": None}})["prediction"] == {"points": []}


def test_an_approach_without_its_fit_keeps_its_name_and_fit_json_is_indented() -> None:
    import json

    from scalecli.fit import schema

    doc = schema.FitDoc.from_dict({"schema_version": 1, "fits": {}, "approaches": [
        {"approach": "2: isoFLOP", "form": "isoflop"}]})
    (row,) = doc.approach_rows()
    assert (row.approach, row.form, row.a_opt, row.predictions) == ("2: isoFLOP", "isoflop",
                                                                    None, [])
    text = schema.to_json(doc)
    assert text == json.dumps(doc.to_dict(), indent=2)
    assert '\n  "schema_version": 1,\n' in text
    bad = schema.FitDoc.from_dict({"schema_version": 1, "fits": {}})
    bad.source = float("nan")
    try:
        schema.to_json(bad)
    except ValueError as error:  # strict JSON: no NaN
        assert "Out of range float values are not JSON compliant" in str(error)
    else:
        raise AssertionError("NaN written into fit.json")


def test_the_json_schema_names_its_version() -> None:
    from scalecli.fit import schema

    assert schema.schema()["title"] == "fit.json, schema_version 1"
