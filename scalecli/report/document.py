"""The report's text as one document model: sections of plain blocks.

`document()` turns a loaded report into sections of plain blocks (paragraphs, key/value
lists, tables, figures, samples). `html.to_html`, `markdown.to_markdown` and the terminal
view walk the same sections, so every output carries the same content. Escaping happens
on the way out, in each renderer.
"""

from __future__ import annotations

import json
from typing import Any

from scalecli.fit.axes import exponent_interval
from scalecli.fit.summary import interval_text
from scalecli.report.approaches import approaches_blocks, exponents_blocks
from scalecli.report.blocks import Block, Section, fmt
from scalecli.report.data import VALIDATION, ReportData
from scalecli.report.prediction import prediction_section, ten_x_text
from scalecli.report.samples import REPETITION_PENALTY, SEED, TEMPERATURE, TOP_K

RUN_COLUMNS = (  # (column, header, format)
    ("model", "model", "s"),
    ("role", "role", "s"),  # shown only when some run is a validation run
    ("n_layer", "layers", "i"),
    ("n_embd", "width", "i"),
    ("n_head", "heads", "i"),
    ("params_non_embedding", "N (non-emb.)", "n"),
    ("params", "params", "n"),
    ("tokens", "tokens D", "n"),
    ("flops", "FLOPs", "e"),
    ("lr", "lr", "g"),
    ("seed", "seed", "i"),
    ("steps", "steps", "i"),
    ("train_loss", "train loss", "f4"),
    ("val_loss", "val loss", "f4"),
    ("val_ppl", "val ppl", "f2"),
    ("val_bpb", "val bpb", "f4"),
    ("tokens_per_s", "tokens/s", "n"),
    ("mfu", "MFU", "pct"),
    ("wall_s", "wall s", "f1"),
    ("status", "status", "s"),
)


# The document ---------------------------------------------------------------------------
def document(report: ReportData) -> list[Section]:
    sections = [
        diagnostics_section(report),
        # The prediction check sits above every figure: whether the law held past the
        # ladder decides how far a reader should trust the plots below it.
        prediction_section(report.fit),
        provenance_section(report),
        settings_section(report),
        runs_section(report),
        fit_section(report),
        figures_section(report),
        samples_section(report),
        notes_section(report),
    ]
    return [s for s in sections if s is not None]


def title(report: ReportData) -> str:
    name = (report.sweep or {}).get("name") or report.out_dir.name
    return f"scalecli report: {name}"


def diagnostics_section(report: ReportData) -> Section:
    """What `fit` found that should change how far the numbers are trusted: first, above
    every figure, because a reader who stops at the first plot must not miss it."""
    fit = report.fit or {}
    if "diagnostics" not in fit:
        text = ("No diagnostics: " + ("this fit.json predates them; rerun `scalecli fit`."
                                      if fit else "there is no fit."))
        return Section("diagnostics", "Diagnostics", [Block("p", text)])
    found = sorted(fit["diagnostics"], key=lambda d: d.get("severity") != "warning")
    if not found:
        return Section("diagnostics", "Diagnostics",
                       [Block("p", "Nothing to warn about: the checks of `scalecli fit` passed.")])
    warnings = sum(d.get("severity") == "warning" for d in found)
    lead = (f"{warnings} warning(s): do not trust the numbers they name as they stand."
            if warnings else "Notes only: nothing here says the fit cannot be trusted.")
    rows = [[d.get("severity", ""), d.get("code", ""), d.get("message", "")] for d in found]
    return Section("diagnostics", "Diagnostics",
                   [Block("p", lead), Block("table", headers=["severity", "code", "message"],
                                            rows=rows)])


def provenance_section(report: ReportData) -> Section:
    data = report.data or {}
    rows = report.rows
    versions = sorted({str(v) for v in rows.get("scalecli_version", []) if str(v)})
    pairs = [
        ("scalecli version", report.version
         + (f" (runs made by {', '.join(versions)})" if versions and versions != [report.version]
            else "")),
        ("data fingerprint", report.fingerprint),
        ("command", report.command),
        ("generated", report.created),
        ("output folder", str(report.out_dir)),
        ("runs", f"{len(rows)} in results.csv, {len(report.ok)} finished ok"
                 + (f" ({len(report.validation)} of them validation runs, never fitted)"
                    if len(report.validation) else "")),
    ]
    for key in ("dataset", "tokenizer", "vocab_size", "train_tokens", "val_tokens"):
        if key in data:
            pairs.append((key.replace("_", " "), fmt(data[key], "n" if "tokens" in key else "g")))
    return Section("provenance", "Provenance", [Block("kv", rows=pairs)])


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for key, sub in value.items():
            out.extend(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return [(prefix, text)]


def settings_section(report: ReportData) -> Section:
    sweep = report.sweep
    if not sweep:
        return Section("settings", "Sweep settings",
                       [Block("p", "No sweep.yaml in the output folder, so the settings are "
                                   "not shown.")])
    blocks = []
    models = sweep.get("models")
    rest = {k: v for k, v in sweep.items() if k != "models"}
    blocks.append(Block("kv", rows=_flatten(rest)))
    if isinstance(models, list) and all(isinstance(m, dict) for m in models):
        keys = list(dict.fromkeys(k for m in models for k in m))
        blocks.append(Block("table", headers=keys,
                            rows=[[fmt(m.get(k)) for k in keys] for m in models]))
    elif models is not None:
        blocks.append(Block("kv", rows=[("models", json.dumps(models))]))
    return Section("settings", "Sweep settings", blocks)


TERMINAL_COLUMNS = ("model", "role", "params_non_embedding", "tokens", "lr", "seed", "val_loss",
                    "val_ppl", "val_bpb", "wall_s", "status")


def runs_section(report: ReportData, only: tuple[str, ...] | None = None) -> Section:
    rows = report.rows.sort_values(
        [c for c in ("params_non_embedding", "tokens", "seed") if c in report.rows.columns])
    cols = [c for c in RUN_COLUMNS if c[0] in rows.columns and rows[c[0]].notna().any()
            and (only is None or c[0] in only)
            and (c[0] != "role" or (rows["role"] == VALIDATION).any())]
    table = [[fmt(r[c], how) for c, _, how in cols] for _, r in rows.iterrows()]
    blocks = [Block("table", headers=[h for _, h, _ in cols], rows=table)]
    bad = rows[rows["status"] != "ok"]
    if len(bad) and "error" in rows.columns:
        blocks.append(Block("p", "Runs that did not finish: " + "; ".join(
            f"{r['model']} ({r['status']}: {r['error'] or 'no message'})"
            for _, r in bad.iterrows())))
    saved = branch_savings(report.ok)
    if saved:
        blocks.append(Block("p", saved))
    return Section("runs", "Runs", blocks)


def branch_savings(ok: Any) -> str | None:
    """What WSD branches saved, from results.csv alone: each branch row would cost its
    `flops` as a separate run; branched, its family paid the stable phase once, to the
    latest branch point (the largest branch_step), plus each branch's own cooldown."""
    needed = {"parent_run_id", "branch_step", "steps", "batch_tokens", "flops_per_token"}
    if not needed <= set(ok.columns):
        return None
    rows = ok[ok["parent_run_id"].notna() & (ok["parent_run_id"].astype(str) != "")]
    if rows.empty:
        return None
    per_step = rows["batch_tokens"].astype(float) * rows["flops_per_token"].astype(float)
    branch = rows["branch_step"].astype(float)
    cooldowns = ((rows["steps"].astype(float) - branch) * per_step).sum()
    stable = (branch * per_step).groupby(rows["parent_run_id"]).max().sum()
    separate = (rows["steps"].astype(float) * per_step).sum()
    trained = stable + cooldowns
    families = rows["parent_run_id"].nunique()
    return (f"WSD branches: {len(rows)} runs branched off {families} stable "
            f"phase{'s' if families > 1 else ''} cost {fmt(trained, 'e')} FLOPs of training "
            f"(each stable phase once, plus every cooldown) instead of {fmt(separate, 'e')} "
            f"as separate runs: {1 - trained / separate:.0%} of the compute saved.")


def _params_table(fit: dict) -> Block:
    rows = []
    for name, p in (fit.get("params") or {}).items():
        p = p or {}
        ci = interval_text(p.get("ci_low"), p.get("ci_high"), fmt)
        rows.append([name, fmt(p.get("value")), fmt(p.get("se")), ci])
    return Block("table", headers=["parameter", "value", "std. error", "95% CI"], rows=rows)


FORMULAS = {
    "power": "{y} = a * {x}^b",
    "saturating": "{y} = E + A * {x}^(-alpha)",
    "chinchilla": "{y} = E + A / N^alpha + B / D^beta   (N = {x}, D = {d})",
}


def fit_summary(fit: dict, prediction: dict | None = None) -> list[Block]:
    """One form's formula, exponent, quality, parameters and checks; `prediction` (fit.json's
    block) gives the combined prediction that the 10x line is shown beside."""
    form = fit.get("form", "?")
    blocks = [Block("p", FORMULAS.get(form, form).format(
        x=fit.get("x"), y=fit.get("y"), d=fit.get("d")))]
    pairs = []
    exp = fit.get("exponent")
    params = fit.get("params") or {}
    exp_name = {"power": "b", "saturating": "alpha"}.get(form)
    if exp is not None:
        p = params.get(exp_name) or {}
        lo, hi = p.get("ci_low"), p.get("ci_high")
        if form == "saturating":  # the exponent is -alpha: its interval flips
            lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
        pairs.append(("exponent", f"{fmt(exp)}  (95% CI [{fmt(lo)}, {fmt(hi)}], "
                                  f"s.e. {fmt(p.get('se'))})"))
    derived = fit.get("derived") or {}
    ten_x = ten_x_text(fit, prediction)
    if ten_x:
        pairs.append(("10x buys", ten_x))
    pairs += [("R^2 (log space)", fmt(fit.get("r2_log"))),
              ("RMSE (log space)", fmt(fit.get("rmse_log"))),
              ("points", fmt(fit.get("n_points"), "i")),
              ("converged", fmt(fit.get("converged")) + (
                  f" ({fit['message']})" if fit.get("message") else ""))]
    for key in ("a_opt", "b_opt", "G"):
        if derived.get(key) is not None:
            pairs.append((key, fmt(derived[key])))
    boot = fit.get("bootstrap") or {}
    if boot:
        pairs.append(("bootstrap", f"{fmt(boot.get('n_ok'), 'i')} of {fmt(boot.get('n'), 'i')} "
                                   f"refits, seed {fmt(boot.get('seed'), 'i')}"))
    if fit.get("method"):
        pairs.append(("method", str(fit["method"])))
    blocks += [Block("kv", rows=pairs), _params_table(fit)]

    ext = fit.get("extrapolation")
    if ext and ext.get("x"):
        held = fmt(ext.get("held_out"))
        blocks.append(Block("p", f"Extrapolation check: refit without the {held} largest, "
                                 "then predict them."))
        blocks.append(Block("table", headers=[fit.get("x") or "x", "predicted", "observed",
                                              "relative error"],
                            rows=[[fmt(x, "n"), fmt(p), fmt(o), fmt(e, "pct")]
                                  for x, p, o, e in zip(ext.get("x") or [],
                                                        ext.get("predicted") or [],
                                                        ext.get("observed") or [],
                                                        ext.get("rel_error") or [],
                                                        strict=False)]))
    if fit.get("extrapolation_note"):
        blocks.append(Block("p", str(fit["extrapolation_note"])))
    if fit.get("caveat"):
        blocks.append(Block("p", f"Caution: {fit['caveat']}."))
    if fit.get("by_size"):
        blocks.append(Block("p", f"Each size on its own, the exponent along {fit.get('x')}:"))
        blocks.append(Block("table", headers=["size", "N", "points", "exponent", "95% CI",
                                              "R^2 (log space)"],
                            rows=[[e.get("size", ""), fmt(e.get("n"), "n"),
                                   fmt(e.get("n_points"), "i"), fmt(e.get("exponent")),
                                   interval_text(*exponent_interval(form, e.get("params") or {}),
                                                 fmt), fmt(e.get("r2_log"))]
                                  for e in fit["by_size"]]))
    if derived.get("optimal"):
        blocks.append(Block("p", "Compute-optimal allocation:"))
        blocks.append(Block("table", headers=["C (FLOPs)", "N_opt", "D_opt"],
                            rows=[[fmt(o.get("C"), "e"), fmt(o.get("N_opt"), "n"),
                                   fmt(o.get("D_opt"), "n")] for o in derived["optimal"]]))
    if derived.get("predictions"):
        blocks.append(Block("p", "Predictions (95% CI):"))
        blocks.append(Block("table", headers=["x", "predicted", "95% CI"],
                            rows=[[fmt(p.get("x"), "n"), fmt(p.get("y")),
                                   f"[{fmt(p.get('ci_low'))}, {fmt(p.get('ci_high'))}]"]
                                  for p in derived["predictions"]]))
    return blocks


def seed_noise_blocks(noise: dict | None, power: bool) -> list[Block]:
    """fit.json's seed_noise: the pooled seed sd, then each fitted point's seeds."""
    if not noise:
        return []
    column = noise.get("column", "val_loss")
    if noise.get("pooled_sd") is None:
        return [Block("p", f"Seed noise: one seed per configuration, so the seed-to-seed sd "
                           f"of {column} is not measured.")]
    left = noise.get("outliers_left_out") or 0
    text = (f"Seed noise: the seed-to-seed standard deviation of {column} is "
            f"{fmt(noise['pooled_sd'])}, pooled over {fmt(noise.get('configs_pooled'), 'i')} "
            f"configurations ({fmt(noise.get('dof'), 'i')} degrees of freedom"
            + (f"; {left} outlier seed(s) left out" if left else "") + "). Each fitted point "
            "is the mean over its seeds"
            + (", and the power law's interval for b includes both the seed noise and the "
               "noise of picking each size's best learning rate." if power else "."))
    rows = [[str(p.get("label", "")), fmt(p.get("tokens"), "n"), fmt(p.get("lr")),
             fmt(p.get("n_seeds"), "i"), fmt(p.get("mean"), "f4"), fmt(p.get("sd"), "f4")]
            for p in noise.get("points") or []]
    return [Block("p", text), Block("table", headers=["size", "tokens D", "lr", "seeds",
                                                      f"mean {column}", "seed sd"], rows=rows)]


def fit_section(report: ReportData) -> Section:
    fit = report.fit
    if not fit or not fit.get("fits"):
        return Section("fit", "Fit", [Block("p", "No fit: run `scalecli fit` on this folder "
                                                 "(it needs at least three finished sizes).")])
    blocks = []
    used = f"{fmt(fit.get('rows_used'), 'i')} of {fmt(fit.get('rows_total'), 'i')} rows used"
    excluded = fit.get("rows_excluded") or {}
    if excluded:
        used += "; excluded: " + ", ".join(f"{k} {v}" for k, v in excluded.items())
    if fit.get("filter"):
        used += f"; filter {' and '.join(map(str, fit['filter']))}"
    blocks.append(Block("p", used + "."))
    blocks.extend(seed_noise_blocks(fit.get("seed_noise"), "power" in fit["fits"]))
    for form, one in fit["fits"].items():
        if not one:
            continue
        blocks.append(Block("h3", form))
        blocks.extend(fit_summary(one, fit.get("prediction")))
    blocks.extend(approaches_blocks(fit))
    blocks.extend(exponents_blocks(fit))
    return Section("fit", "Fit", blocks)


def figures_section(report: ReportData) -> Section:
    blocks = []
    for figure in report.figures:
        if figure.path:
            blocks.append(Block("figure", figure=figure))
            if figure.note:
                blocks.append(Block("p", figure.note))
    if not blocks:
        blocks.append(Block("p", "No figures: the data supports none (see Notes)."))
    return Section("figures", "Figures", blocks)


def samples_section(report: ReportData) -> Section:
    if not report.samples:
        return Section("samples", "Samples",
                       [Block("p", "No samples: they need the run folders with saved weights "
                                   "and tokenizer (see Notes).")])
    sample = report.samples[0]
    text = (f"Each size continues the same prompt with {sample.n_new or 'its'} tokens from its "
            f"saved weights: top-{TOP_K} sampling at temperature {TEMPERATURE}, repetition "
            f"penalty {REPETITION_PENALTY}, seed {SEED} for every size.")
    if any(s.windowed for s in report.samples):
        text += (" Where prompt and continuation outgrow the model's context, it slides its "
                 "window (marked 'windowed').")
    return Section("samples", "Samples", [Block("p", text), Block("samples")])


def notes_section(report: ReportData) -> Section:
    notes = list(dict.fromkeys(report.notes))
    if not notes:
        return Section("notes", "Notes", [Block("p", "Nothing was left out.")])
    return Section("notes", "Notes", [Block("ul", rows=notes)])
