"""The report's text as one document model: sections of plain blocks.

`document()` turns a loaded report into sections of plain blocks (paragraphs, key/value
lists, tables, figures, samples). `html.to_html`, `markdown.to_markdown` and the terminal
view walk the same sections, so every output carries the same content. Escaping happens
on the way out, in each renderer.
"""

from __future__ import annotations

import json
from typing import Any

from scalecli.fit.forms import Form, registry
from scalecli.fit.schema import ApproachFit, LawFit, PredictionBlock, PredictionRow, SeedNoise
from scalecli.fit.schema.text import estimate_text, interval_text
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
    fit = report.fit
    if fit is None:
        return Section("diagnostics", "Diagnostics",
                       [Block("p", "No diagnostics: there is no fit.")])
    found = sorted(fit.diagnostics, key=lambda d: d.severity != "warning")
    if not found:
        return Section("diagnostics", "Diagnostics",
                       [Block("p", "Nothing to warn about: the checks of `scalecli fit` passed.")])
    warnings = sum(d.severity == "warning" for d in found)
    lead = (f"{warnings} warning(s): do not trust the numbers they name as they stand."
            if warnings else "Notes only: nothing here says the fit cannot be trusted.")
    rows = [[d.severity, d.code, d.message] for d in found]
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


def _params_table(fit: LawFit | ApproachFit) -> Block:
    rows = [[name, fmt(p.value), fmt(p.se), interval_text(p.ci_low, p.ci_high, fmt)]
            for name, p in fit.params.items()]
    return Block("table", headers=["parameter", "value", "std. error", "95% CI"], rows=rows)


def _exponent_interval(form: Form | None, params: dict) -> tuple[float | None, float | None]:
    """The form's 95% interval of its exponent; none for a form this scalecli lacks."""
    return form.exponent_interval(params) if form else (None, None)


def fit_summary(fit: LawFit, prediction: PredictionBlock | None = None) -> list[Block]:
    """One form's formula, exponent, quality, parameters and checks; `prediction` (fit.json's
    block) gives the combined prediction that the 10x line is shown beside."""
    form = fit.form or "?"
    known = registry.find(form)
    blocks = [Block("p", known.formula_text(fit) if known else form)]
    pairs = []
    exp = fit.exponent
    exp_name = known.exponent_param if known else None
    if exp is not None:
        p = fit.params.get(exp_name or "")
        lo, hi = _exponent_interval(known, fit.params)  # -alpha's interval flips
        pairs.append(("exponent", f"{fmt(exp)}  (95% CI [{fmt(lo)}, {fmt(hi)}], "
                                  f"s.e. {fmt(p.se if p else None)})"))
    derived = fit.derived
    ten_x = ten_x_text(fit, prediction)
    if ten_x:
        pairs.append(("10x buys", ten_x))
    pairs += [("R^2 (log space)", fmt(fit.r2_log)),
              ("RMSE (log space)", fmt(fit.rmse_log)),
              ("points", fmt(fit.n_points, "i")),
              ("converged", fmt(fit.converged) + (f" ({fit.message})" if fit.message else ""))]
    for key, value in (("a_opt", derived.a_opt), ("b_opt", derived.b_opt), ("G", derived.G)):
        if value is not None:
            pairs.append((key, fmt(value if key == "G" else value.value)))
    boot = fit.bootstrap
    pairs.append(("bootstrap", f"{fmt(boot.n_ok, 'i')} of {fmt(boot.n, 'i')} "
                               f"refits, seed {fmt(boot.seed, 'i')}"))
    if fit.method:
        pairs.append(("method", fit.method))
    blocks += [Block("kv", rows=pairs), _params_table(fit)]

    ext = fit.extrapolation
    if ext and ext.x:
        blocks.append(Block("p", f"Extrapolation check: refit without the {fmt(ext.held_out)} "
                                 "largest, then predict them."))
        blocks.append(Block("table", headers=[fit.x or "x", "predicted", "observed",
                                              "relative error"],
                            rows=[[fmt(x, "n"), fmt(p), fmt(o), fmt(e, "pct")]
                                  for x, p, o, e in zip(ext.x, ext.predicted, ext.observed,
                                                        ext.rel_error, strict=False)]))
    if fit.extrapolation_note:
        blocks.append(Block("p", fit.extrapolation_note))
    if fit.caveat:
        blocks.append(Block("p", f"Caution: {fit.caveat}."))
    if fit.by_size:
        blocks.append(Block("p", f"Each size on its own, the exponent along {fit.x}:"))
        blocks.append(Block("table", headers=["size", "N", "points", "exponent", "95% CI",
                                              "R^2 (log space)"],
                            rows=[[e.size, fmt(e.n, "n"), fmt(e.n_points, "i"),
                                   fmt(e.exponent),
                                   interval_text(*_exponent_interval(known, e.params),
                                                 fmt),
                                   fmt(e.r2_log)]
                                  for e in fit.by_size]))
    return blocks + _predictions(derived.predictions or [], fit.x or "x")


def _predictions(rows: list[PredictionRow], x: str) -> list[Block]:
    """--predict rows: y at x; or at a FLOP budget C, N_opt and D_opt (and L_opt)."""
    if not rows:
        return []
    at_c = any(p.n_opt is not None for p in rows)
    headers = (["C (FLOPs)", "N_opt, 95% CI", "D_opt, 95% CI", "loss, 95% CI"] if at_c
               else [x, "predicted, 95% CI"])
    table = [[fmt(p.x, "e"), estimate_text(p.n_opt, fmt), estimate_text(p.d_opt, fmt),
              estimate_text(p.y, fmt)] if at_c else [fmt(p.x, "n"), estimate_text(p.y, fmt)]
             for p in rows]
    return [Block("p", "Predictions (each 95% interval from the fit's parameter uncertainty):"),
            Block("table", headers=headers, rows=table)]


def approach_summary(fit: ApproachFit) -> list[Block]:
    """A compute-optimal approach: its law, quality of the fit, a and b, predictions."""
    a = fit.params.get("a_opt")
    pairs = []
    if fit.exponent is not None:
        pairs.append(("exponent", f"{fmt(fit.exponent)}  (a of N_opt ~ C^a: 95% CI "
                                  f"{interval_text(a.ci_low, a.ci_high, fmt) if a else '-'})"))
    pairs += [("points", fmt(fit.n_points, "i")),
              ("converged", fmt(fit.converged) + (f" ({fit.message})" if fit.message else "")),
              ("bootstrap", f"{fmt(fit.bootstrap.n_ok, 'i')} of {fmt(fit.bootstrap.n, 'i')} "
                            f"refits, seed {fmt(fit.bootstrap.seed, 'i')}")]
    if fit.method:
        pairs.append(("method", fit.method))
    blocks = [Block("p", f"N_opt = k_N C^a, D_opt = k_D C^b   (N = {fit.x}, C = {fit.c}, "
                         f"loss {fit.y})"), Block("kv", rows=pairs), _params_table(fit)]
    return blocks + _predictions(fit.derived.predictions, "C (FLOPs)")


def seed_noise_blocks(noise: SeedNoise | None, power: bool) -> list[Block]:
    """fit.json's seed_noise: the pooled seed sd, then each fitted point's seeds."""
    if not noise:
        return []
    column = noise.column
    if noise.pooled_sd is None:
        return [Block("p", f"Seed noise: one seed per configuration, so the seed-to-seed sd "
                           f"of {column} is not measured.")]
    left = noise.outliers_left_out
    text = (f"Seed noise: the seed-to-seed standard deviation of {column} is "
            f"{fmt(noise.pooled_sd)}, pooled over {fmt(noise.configs_pooled, 'i')} "
            f"configurations ({fmt(noise.dof, 'i')} degrees of freedom"
            + (f"; {left} outlier seed(s) left out" if left else "") + "). Each fitted point "
            "is the mean over its seeds"
            + (", and the power law's interval for b includes both the seed noise and the "
               "noise of picking each size's best learning rate." if power else "."))
    rows = [[p.label, fmt(p.tokens, "n"), fmt(p.lr), fmt(p.n_seeds, "i"), fmt(p.mean, "f4"),
             fmt(p.sd, "f4")] for p in noise.points]
    return [Block("p", text), Block("table", headers=["size", "tokens D", "lr", "seeds",
                                                      f"mean {column}", "seed sd"], rows=rows)]


def fit_section(report: ReportData) -> Section:
    fit = report.fit
    if not fit or not fit.fits:
        return Section("fit", "Fit", [Block("p", "No fit: run `scalecli fit` on this folder "
                                                 "(it needs at least three finished sizes).")])
    blocks = []
    used = f"{fmt(fit.rows_used, 'i')} of {fmt(fit.rows_total, 'i')} rows used"
    if fit.rows_excluded:
        used += "; excluded: " + ", ".join(f"{k} {v}" for k, v in fit.rows_excluded.items())
    if fit.filter:
        used += f"; filter {' and '.join(fit.filter)}"
    blocks.append(Block("p", used + "."))
    blocks.extend(seed_noise_blocks(fit.seed_noise, registry.default().name in fit.fits))
    for form, one in fit.fits.items():
        blocks.append(Block("h3", form))
        blocks.extend(fit_summary(one, fit.prediction) if isinstance(one, LawFit)
                      else approach_summary(one))
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
