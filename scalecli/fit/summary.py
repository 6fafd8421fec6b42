"""The fit's terminal summary: a table of parameters per form, fit quality, the
extrapolation check, the derived quantities, and the diagnostics."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from scalecli.fit.forms import ComputeForm, LawForm, registry
from scalecli.fit.schema.text import (
    EXPONENT_HEADERS,
    NAMES,
    PARAMETRIC_C,
    estimate_text,
    exponent_rows,
    interval_text,
    sig4,
)


def _solves_optimum(name: str) -> bool:
    """A law form that gives N_opt too (its --predict values are FLOP budgets)."""
    form = registry.find(name)
    return isinstance(form, LawForm) and form.compute


def print_summary(doc: dict, notes: list[str], out_path: Path) -> None:
    """One table of parameters per form, then fit quality, extrapolation and derived lines."""
    from rich.table import Table

    from scalecli.console import output_console

    # The CSV's path, its column names, --where's values, size labels and run names are the
    # user's text, not markup: escaped, so that a name like 'm[/b]' prints as written
    # instead of crashing rich with a MarkupError (and '[b]' is not swallowed as a style).
    console = output_console()
    excluded = ", ".join(f"{n} {k}" for k, n in doc["rows_excluded"].items())
    console.print(
        f"[bold]{escape(doc['source'])}[/]: {doc['rows_used']} of {doc['rows_total']} rows used"
        + (f" (left out: {escape(excluded)})" if excluded else "")
        + (f"; filter {escape(' '.join(doc['filter']))}" if doc["filter"] else "")
    )
    if doc.get("seed_noise"):
        for line in seed_noise_lines(doc["seed_noise"]):
            console.print(escape(line), highlight=False)
    for name, fit in doc["fits"].items():
        boot = fit["bootstrap"]
        title = escape(f"{name}: {fit['y']} vs {fit['x']}"
                       + (f", {fit['d']}" if fit["d"] else ""))
        if isinstance(registry.find(name), ComputeForm):
            print_optimum(console, name, fit)
            continue
        if not fit["converged"]:
            console.print(f"[bold red]{title}: did not converge[/] ({escape(fit['message'])})")
            continue
        table = Table(title=title, title_justify="left")
        for column in ("param", "value", "se", "95% CI"):
            table.add_column(column, justify="left" if column == "param" else "right")
        for param, p in fit["params"].items():
            ci = interval_text(p["ci_low"], p["ci_high"], sig4)
            table.add_row(param, sig4(p["value"]), sig4(p["se"]), ci)
        console.print(table)
        console.print(
            f"  R^2 (log) {fit['r2_log']:.4f}, RMSE (log) {fit['rmse_log']:.4f}, "
            f"{fit['n_points']} points; bootstrap {boot['n_ok']}/{boot['n']} refits ok"
            f" (seed {boot['seed']})"
        )
        derived = fit["derived"]
        if "ten_x_text" in derived:
            console.print(
                f"  [bold]{escape(derived['ten_x_text'])}[/] "
                f"(10^b = {derived['ten_x_factor']:.4f})"
            )
            beside = ten_x_combined_text(doc.get("prediction"))
            if beside:
                console.print(f"  {escape(beside)}", highlight=False)
        if _solves_optimum(name):
            console.print(
                f"  compute-optimal: N_opt ~ C^{derived['a_opt']:.3f}, "
                f"D_opt ~ C^{derived['b_opt']:.3f}, G = {sig4(derived['G'])}"
            )
            for row in derived["optimal"]:
                console.print(
                    f"    C = {row['C']:.3g} FLOPs: N_opt = {row['N_opt']:.3g}, "
                    f"D_opt = {row['D_opt']:.3g}"
                )
        for pred in derived.get("predictions", []):
            ci = (
                ""
                if pred["ci_low"] is None
                else (f" [{sig4(pred['ci_low'])}, {sig4(pred['ci_high'])}]")
            )
            at = "C" if _solves_optimum(name) else fit["x"]
            console.print(
                f"  predicted {escape(str(fit['y']))} at {escape(str(at))} = {pred['x']:.3g}: "
                f"{sig4(pred['y'])}{ci}"
            )
        console.print(f"  extrapolation: {escape(str(fit['extrapolation_note']))}")
        check = fit["extrapolation"]
        if check:
            for k, (xv, pv, ov, ev) in enumerate(zip(
                check["x"], check["predicted"], check["observed"], check["rel_error"], strict=True
            )):
                lo, hi = (check.get("low") or [None] * (k + 1))[k], \
                    (check.get("high") or [None] * (k + 1))[k]
                inside = (check.get("inside") or [None] * (k + 1))[k]
                band = "" if lo is None else (
                    f" [{sig4(lo)}, {sig4(hi)}], " + ("inside" if inside else "[yellow]outside[/]"))
                console.print(
                    f"    x = {xv:.4g}: predicted {sig4(pv)}{band}, observed {sig4(ov)} "
                    f"({100 * ev:+.2f}%)"
                )
        if fit.get("caveat"):
            console.print(f"  [yellow]caution:[/] {escape(fit['caveat'])}")
        if fit.get("by_size"):
            console.print(f"  per size, the exponent along {escape(str(fit['x']))} (95% CI): "
                          + escape("; ".join(by_size_text(name, e) for e in fit["by_size"])),
                          highlight=False)
    if doc.get("prediction"):
        for line in prediction_lines(doc["prediction"]):
            console.print(line, highlight=False)
    if doc.get("validation"):
        print_validation(console, doc["validation"])
    if doc.get("approaches"):
        print_approaches(console, doc["approaches"], doc.get("conventions"))
    if doc.get("exponents"):
        print_exponents(console, doc["exponents"])
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    print_diagnostics(console, doc.get("diagnostics") or [])
    console.print(f"wrote {escape(str(out_path))}")



def by_size_text(form: str, entry: dict) -> str:
    """'s2 (N 8.49e+04): -0.0712 [-0.08, -0.06]', or why a size has no fit."""
    head = f"{entry['size']} (N {sig4(entry.get('n'))})"
    if not entry.get("converged"):
        return f"{head}: no fit ({entry.get('message')})"
    ci = interval_text(*registry.get(form).exponent_interval(entry.get("params") or {}), sig4)
    return f"{head}: {sig4(entry['exponent'])}" + ("" if ci == "-" else f" {ci}")


def seed_noise_lines(noise: dict) -> list[str]:
    """The pooled seed sd, then each fitted point's seeds: 'label: n seeds, mean +- sd'."""
    column = noise["column"]
    if noise.get("pooled_sd") is None:
        return [f"seed noise: one seed per configuration, so the seed-to-seed sd of {column} "
                "is not measured"]
    left = noise.get("outliers_left_out") or 0
    lines = [f"seed noise: pooled sd of {column} {noise['pooled_sd']:.4g} "
             f"({noise['dof']} degrees of freedom over {noise['configs_pooled']} "
             "configurations" + (f"; {left} outlier seed(s) left out" if left else "") + "); "
             "each point is the mean over its seeds"]
    per = [f"{p['label']}"
           + (f" at {p['tokens']:.3g} tokens" if p.get("tokens") is not None
              and len({q.get("tokens") for q in noise["points"]}) > 1 else "")
           + f" {p['n_seeds']}x {sig4(p['mean'])}"
           + (f" +- {sig4(p['sd'])}" if p.get("sd") is not None else "")
           for p in noise["points"]]
    lines.append("  per point (n seeds, mean +- sd): " + "; ".join(per))
    return lines


def print_diagnostics(console, diagnostics: list[dict]) -> None:
    """Warnings first, then notes, each as `severity code: message` (codes are greppable)."""
    if not diagnostics:
        console.print("[green]diagnostics: nothing to warn about[/]")
        return
    warnings = sum(d["severity"] == "warning" for d in diagnostics)
    console.print(f"[bold]diagnostics[/]: {warnings} warning(s), "
                  f"{len(diagnostics) - warnings} note(s)")
    from scalecli.console import print_finding

    for d in sorted(diagnostics, key=lambda d: d["severity"] != "warning"):
        console.print("  ", end="")
        print_finding(console, d["severity"], d["code"], d["message"])


def print_optimum(console, name: str, fit: dict) -> None:
    """An isoflop or envelope fit: its budgets (with verdicts), a and b, predictions."""
    # column names and messages are the user's text (or quote it), not markup
    title = escape(f"{name}: N_opt ~ C^a, D_opt ~ C^b ({fit['y']}; N = {fit['x']}, "
                   f"C = {fit['c']})")
    for b in fit.get("budgets") or []:
        verdict = "accepted" if b["accepted"] else f"[yellow]rejected: {escape(b['reason'])}[/]"
        console.print(f"  C = {b['flops']:.3g}: {b['points']} sizes, N_opt {sig4(b['n_opt'])}, "
                      f"D_opt {sig4(b['d_opt'])}, loss {sig4(b['loss_opt'])}, curvature "
                      f"{sig4(b['curvature'])}; {verdict}"
                      + (f" ({escape(b['reason_text'])})" if b.get("reason_text") else ""))
    for e in fit.get("envelope") or []:
        console.print(f"  C = {e['flops']:.3g}: lowest loss {sig4(e['loss'])} at N = "
                      f"{sig4(e['n'])}, D = {sig4(e['d'])}")
    if not fit["converged"]:
        console.print(f"[bold red]{title}: no law[/] ({escape(fit['message'])})")
        return
    console.print(f"[bold]{title}[/]: a = {estimate_text(fit['params']['a_opt'])}, "
                  f"b = {estimate_text(fit['params']['b_opt'])}; {escape(fit['message'])}; "
                  "bootstrap "
                  f"{fit['bootstrap']['n_ok']}/{fit['bootstrap']['n']} refits ok")
    loo = fit.get("leave_one_out") or {}
    if loo.get("budgets"):
        console.print("  leave one budget out: a = " + ", ".join(
            f"{sig4(r['a_opt'])} without {r['flops']:.3g}" for r in loo["budgets"]))


def print_exponents(console, entries: list[dict]) -> None:
    """`--form all`'s exponents: a table of every scale the design supports, then the
    scales it does not, each with what to add."""
    from rich.table import Table

    rows, missing = exponent_rows(entries)
    out = Table(title="exponents: every scale the design supports", title_justify="left")
    for column in EXPONENT_HEADERS:  # text left, numbers right
        out.add_column(column, justify="left" if column in ("scale", "at", "what the number is")
                       else "right")
    for row in rows:  # size labels and column names are the user's text, not markup
        out.add_row(*(escape(cell) for cell in row))
    console.print(out)
    for line in missing:
        console.print(f"  [yellow]not measured:[/] {escape(line)}", highlight=False)


def print_approaches(console, table: list[dict], conventions: dict | None = None) -> None:
    """Chinchilla's approaches side by side, with an "N counted as" column when fit.json has
    `conventions`; then N_opt, D_opt (and loss) per budget asked, for the default N."""
    from rich.table import Table

    groups = list((conventions or {}).items()) or [(None, table)]
    ref = next((r["tokens_per_param"]["flops"] for _, rows in groups for r in rows
                if r.get("tokens_per_param")), None)
    out = Table(title="compute-optimal, per approach (95% CI)", title_justify="left")
    heads = ("N counted as",) if conventions else ()
    for column in (*heads, "approach", "a (N_opt ~ C^a)", "b (D_opt ~ C^b)",
                   f"tokens/param at C = {sig4(ref)}"):
        out.add_column(column, justify="left" if column in ("N counted as", "approach")
                       else "right")
    for column, rows in groups:
        for k, r in enumerate(rows):
            # an --x outside NAMES is a CSV column's name: the user's text, not markup
            named = [escape(f"{NAMES.get(column, column)} ({column})") if k == 0 else ""] \
                if conventions else []
            out.add_row(*named, r["approach"], estimate_text(r["a_opt"]),
                        estimate_text(r["b_opt"]), estimate_text(r.get("tokens_per_param")))
    console.print(out)
    if any(_solves_optimum(r["form"]) for _, rows in groups for r in rows):
        console.print(f"  3: parametric: {PARAMETRIC_C}, with N counted as its row says; 1 and 2 "
                      "take C from the compute column", highlight=False)
    for r in table:
        for p in r.get("predictions") or []:
            loss = f", loss {estimate_text(p['loss'])}" if p.get("loss") else ""
            console.print(f"  {r['approach']} at C = {p['flops']:.3g}: N_opt "
                          f"{estimate_text(p['n_opt'])}, D_opt {estimate_text(p['d_opt'])}{loss}")


# --------------------------------------------------------- predictions and their check


def _iv(p: dict | None, key: str = "y") -> str:
    """'3.71 [3.56, 3.88]' of a {y, low, high} block."""
    if not p or p.get(key) is None:
        return "-"
    return f"{p[key]:.4g}" + ("" if p.get("low") is None else
                              f" [{p['low']:.4g}, {p['high']:.4g}]")


def ten_x_combined_text(block: dict | None) -> str | None:
    """Beside the power law's 10x: the combined prediction at 10x the largest size."""
    point = next((p for p in (block or {}).get("points", []) if p["source"] == "default"),
                 None)
    if not point or not point.get("combined"):
        return None
    c = point["combined"]
    return (f"combined prediction at 10x the largest size (N = {point['x']:.3g}): "
            f"{block['y']} {_iv(c)} (95% prediction interval)"
            + ("; the forms disagree there" if c.get("disagree") else ""))


def prediction_lines(block: dict) -> list[str]:
    """fit.json's prediction: per point, each form and the combined one, with intervals;
    rich markup, the user's text in it (the y column, a run's name) escaped."""
    sd = block.get("seed_sd")
    lines = [f"prediction of one new run's {escape(block['y'])} from the ladder (95% prediction "
             "intervals: the fit's uncertainty plus "
             + (f"seed noise sd {sd:.3g})" if sd else "no seed noise: none measured)")]
    for p in block["points"]:
        where = {"validation": escape(p["label"] or "validation run"),
                 "predict": "--predict", "default": "10x the largest"}[p["source"]]
        forms = "; ".join(f"{name} {_iv(f)}" for name, f in p["forms"].items())
        c = p.get("combined")
        combined = "" if not c else (f"; [bold]combined {_iv(c)}[/]"
                                     + (" (the forms disagree there)" if c.get("disagree")
                                        else ""))
        lines.append(f"  N = {p['x']:.3g} ({where}): {forms}{combined}")
    return lines


def print_validation(console, block: dict) -> None:
    """The 'Prediction check' table: per validation run and form, predicted [low, high],
    observed, relative error, inside; then the best form and the forms ruled out."""
    from rich.table import Table

    if block["runs"]:
        table = Table(title=f"Prediction check: runs past the ladder ({block['y']}, 95% "
                      "prediction intervals)", title_justify="left")
        for column in ("run", "N", "form", "predicted [low, high]", "observed", "rel. error",
                       "inside"):
            # escaped: rich would read "[low, high]" as a style tag and print "predicted"
            table.add_column(escape(column),
                             justify="left" if column in ("run", "form") else "right")
        for run in block["runs"]:
            # a run's name is the user's text, not markup: "gpt [ablation]" keeps its brackets
            label = escape(run.get("model") or run.get("run_id") or "-")
            for k, s in enumerate(run["scores"]):
                inside = "-" if s["inside"] is None else ("yes" if s["inside"] else
                                                          "[yellow]no[/]")
                table.add_row(label if k == 0 else "", f"{run['x']:.3g}" if k == 0 else "",
                              s["form"], _iv(s, "predicted"),
                              f"{run['observed']:.4g}" if k == 0 else "",
                              "-" if s["rel_error"] is None else f"{100 * s['rel_error']:+.2f}%",
                              inside)
        console.print(table)
    ruled = ", ".join(block.get("ruled_out") or []) or "none"
    console.print(f"  best form: {block.get('best_form') or '-'}; ruled out (a run outside "
                  f"its interval): {ruled}", highlight=False)
    for c in block.get("compute") or []:
        runs = ", ".join(f"{escape(str(r.get('model') or r.get('run_id')))} {r['observed']:.4g}"
                         + ("" if r.get("predicted") is None else
                            f" (3: {_iv(r, 'predicted')})")
                         for r in c["runs"])
        console.print(f"  C = {c['flops']:.3g}: {runs}; best trained N {sig4(c['best_trained_n'])}",
                      highlight=False)
        for a in c["approaches"]:
            loss = "" if a.get("loss") is None else (
                f", loss {_iv(a, 'loss')} vs {c['observed_best']:.4g} "
                + ("inside" if a.get("inside") else "outside"))
            console.print(f"    {a['approach']}: N_opt {sig4(a['n_opt'])} "
                          f"({sig4(a['n_ratio'])}x the best trained){loss}", highlight=False)
