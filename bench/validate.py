"""Predictions checked against runs the fit never saw: the default ladder plus a size past it.

    python bench/corpora.py /tmp/corpora                         # build the corpora first
    python bench/validate.py /tmp/corpora/code.jsonl /tmp/corpora/portuguese.jsonl
    python bench/validate.py --isoflop                           # isoFLOP, a budget 3x past
    python bench/validate.py --tiny                              # tiny models, one tiny corpus (CI)

For the embedded Shakespeare and each corpus given: `sweeps/default.yaml` with only
data.dataset changed, plus `validate: {models: [s8]}` (4.74M non-embedding parameters, 6x
s5's, at the ladder's own 2M tokens). `scalecli sweep` trains the ladder and then s8, which
no fit uses; `scalecli fit --form all` scores every form on it. Runs already recorded are
reused, so an interrupted bench resumes.

Per corpus it prints, for each form and for the combined prediction that `fit` stands
behind (made from the ladder alone): predicted val_loss, its 95% prediction interval,
observed, relative error, inside. A corpus is validated when the combined interval holds
the observed loss and its half-width is under 4% of the loss. The last line:
  validated_corpora=K/M best_form_max_rel_err=X prediction_misses=M
where best_form_max_rel_err is, per corpus, the |relative error| of the form that predicted
best, maximised over corpora, and prediction_misses counts (form, run) pairs outside their
interval (the combined one included).

With --isoflop: `sweeps/isoflop.yaml` plus `validate: {flops: [3 x its largest budget]}`;
it prints each approach's N_opt at that budget against the best size trained there, and
approach 3's predicted loss against the observed. Last line:
  isoflop_inside=<bool> isoflop_n_ratio=<predicted N_opt / best trained N>
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from cli import ROOT, make_tiny, scalecli, tiny_corpus

HALF_WIDTH_BAR = 0.04  # the combined interval's half-width, as a fraction of the loss
TINY_MODELS = [{"name": "t1", "n_layer": 1, "n_embd": 16, "n_head": 2},
               {"name": "t2", "n_layer": 1, "n_embd": 24, "n_head": 2},
               {"name": "t3", "n_layer": 1, "n_embd": 32, "n_head": 2},
               {"name": "t4", "n_layer": 2, "n_embd": 40, "n_head": 2},
               {"name": "t5", "n_layer": 2, "n_embd": 48, "n_head": 2}]
TINY_VALIDATE = {"name": "t8", "n_layer": 2, "n_embd": 96, "n_head": 2}


def sweep_file(corpus: str, name: str, tiny: bool) -> dict:
    """`sweeps/default.yaml` on this corpus, with a size past the ladder to check."""
    raw = yaml.safe_load((ROOT / "sweeps" / "default.yaml").read_text())
    raw["name"] = f"validate-{name}"
    raw["data"]["dataset"] = corpus
    raw["validate"] = {"models": ["s8"]}
    if tiny:
        make_tiny(raw, TINY_MODELS)
        raw["validate"] = {"models": [TINY_VALIDATE]}
        raw["train"]["lr"] = 1e-2
    return raw


def run(raw: dict, out_root: Path, form: str) -> dict:
    """Sweep (resuming), fit, and return fit.json."""
    folder = out_root / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    scalecli("sweep", str(path), "--out", str(out_root))
    out = out_root / raw["name"]
    scalecli("fit", str(out), "--form", form)
    return json.loads((out / "fit.json").read_text())


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def corpus_rows(name: str, fit: dict) -> tuple[list[str], dict]:
    """Table lines for one corpus, and its verdict."""
    lines = []
    block = fit.get("validation") or {}
    misses, best_err, validated = 0, None, True
    for run in block.get("runs", []):
        for s in run["scores"]:
            inside = s["inside"]
            misses += not inside
            lines.append(f"| {name} | {run['model']} | {s['form']} | {fmt(s['predicted'])} | "
                         f"[{fmt(s['low'])}, {fmt(s['high'])}] | {fmt(run['observed'])} | "
                         f"{fmt(100 * s['rel_error'], '+.2f')}% | {'yes' if inside else 'NO'} |")
            if s["form"] == "combined":
                half = (s["high"] - s["low"]) / 2 / s["predicted"]
                validated &= bool(inside and half < HALF_WIDTH_BAR)
                lines[-1] += f" half-width {100 * half:.2f}%"
        forms = [s for s in run["scores"] if s["form"] == run.get("best_form")]
        if forms:
            err = abs(forms[0]["rel_error"])
            best_err = err if best_err is None else max(best_err, err)
    if not block.get("runs"):
        validated = False
        lines.append(f"| {name} | - | no validation run was scored | | | | | |")
    ruled = ", ".join(block.get("ruled_out") or []) or "none"
    left = "; ".join(f"{k}: {v}" for k, v in ((fit.get("prediction") or {}).get("rejected")
                                              or {}).items()) or "none"
    lines.append(f"| {name} | | best form: {block.get('best_form')}; ruled out: {ruled}; "
                 f"left out of combined (ladder alone): {left} | | | | | |")
    return lines, {"validated": validated, "best_err": best_err, "misses": misses}


def isoflop(out_root: Path, tiny: bool) -> None:
    raw = yaml.safe_load((ROOT / "sweeps" / "isoflop.yaml").read_text())
    if tiny:
        sys.exit("--isoflop has no tiny mode: its point is the real design")
    raw["validate"] = {"flops": [3.0 * max(float(c) for c in raw["budget"]["flops"])]}
    fit = run(raw, out_root, "compute")
    ok, ratio = True, None
    for entry in (fit.get("validation") or {}).get("compute", []):
        print(f"budget {entry['flops']:.3g} FLOPs: trained "
              + ", ".join(f"{r['model']} (N {r['n']:.3g}, D {r['tokens']:.3g}) -> "
                          f"{r['observed']:.4f}" for r in entry["runs"])
              + f"; best N {entry['best_trained_n']:.3g} at {entry['observed_best']:.4f}")
        for a in entry["approaches"]:
            print(f"  {a['approach']}: N_opt {fmt(a.get('n_opt'), '.3g')} "
                  f"(x{fmt(a.get('n_ratio'), '.2f')} the best trained); loss "
                  f"{fmt(a.get('loss'), '.4f')} [{fmt(a.get('low'), '.4f')}, "
                  f"{fmt(a.get('high'), '.4f')}] inside={a.get('inside')}")
            if a["approach"].startswith("3"):
                ok &= bool(a.get("inside"))
                ratio = a.get("n_ratio")
    print(f"isoflop_inside={ok} isoflop_n_ratio={fmt(ratio, '.3f')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="*", type=Path, help=".jsonl corpora (or folders)")
    parser.add_argument("--out", type=Path, default=Path("out/validate"))
    parser.add_argument("--tiny", action="store_true", help="tiny models (for CI)")
    parser.add_argument("--isoflop", action="store_true", help="the isoFLOP check instead")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded corpus")
    args = parser.parse_args()
    if args.isoflop:
        isoflop(args.out, args.tiny)
        return
    corpora = {} if args.no_embedded else {"embedded": "embedded:shakespeare"}
    if args.tiny:
        args.out = args.out / "tiny"
        corpora = {"docs": tiny_corpus(args.out / "corpora")}
    for p in args.corpora:
        for f in sorted(p.glob("*.jsonl")) if p.is_dir() else [p]:
            corpora[f.stem] = str(f)
    print("| corpus | run | form | predicted | 95% interval | observed | rel. error | inside |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for name, corpus in corpora.items():
        fit = run(sweep_file(corpus, name, args.tiny), args.out, "all")
        lines, verdict = corpus_rows(name, fit)
        print("\n".join(lines), flush=True)
        verdicts.append(verdict)
    errs = [v["best_err"] for v in verdicts if v["best_err"] is not None]
    print(f"validated_corpora={sum(v['validated'] for v in verdicts)}/{len(verdicts)} "
          f"best_form_max_rel_err={fmt(max(errs) if errs else None, '.4f')} "
          f"prediction_misses={sum(v['misses'] for v in verdicts)}")


if __name__ == "__main__":
    main()
