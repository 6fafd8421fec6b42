"""The default sweep on corpora it was never tuned on: `lr: auto` against the old fixed lr.

    python bench/corpora.py /tmp/corpora                    # build the corpora first
    python bench/unseen.py /tmp/corpora --out out/unseen     # about an hour on 2 CPU cores
    python bench/unseen.py --tiny                           # tiny models, one tiny corpus (CI)

For each corpus (every .jsonl in the folder, and the embedded Shakespeare), two arms:
  auto   `sweeps/default.yaml` with only data.dataset changed (lr searched on s1);
  fixed  the same file with the lr fixed instead of searched: 1e-2 scaled by 32 / n_embd
         for every parameter, the value the search picks on the embedded corpus.
Each arm runs the file as it is (the bar's configuration: s1 has three seeds, its
noise_seeds); the auto arm then adds seeds 1 and 2 of s2 and s3 at the chosen lr, in the
same output folder, for seed noise at three sizes. Runs already recorded are reused, so an
interrupted bench resumes. Then `scalecli fit` on each.

Per arm it prints: the best val_loss per size (seed 0; mean over seeds where there are
more), whether they strictly fall, the pooled seed sd over the sizes with several seeds,
R^2 and b with its 95% CI, the lr chosen, and the training time of the default
configuration (the sum of its runs' wall_s, so resuming does not distort it). The last
line is machine-readable:
  unseen_monotone=<n>/<m> unseen_min_r2=<x> unseen_max_seed_sd=<nats> unseen_max_wall_ratio=<y>
where the ratio is each corpus's auto wall time over the embedded corpus's auto wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import yaml
from cli import ROOT, make_tiny, scalecli, tiny_corpus

FIXED = {"parametrization": "standard", "lr": 1e-2, "lr_rule": "inverse_width",
         "lr_ref_width": 32}
TINY_MODELS = [{"name": "t1", "n_layer": 1, "n_embd": 16, "n_head": 2},
               {"name": "t2", "n_layer": 1, "n_embd": 32, "n_head": 2},
               {"name": "t3", "n_layer": 2, "n_embd": 48, "n_head": 2}]


def sweep_file(corpus: str, name: str, arm: str, folder: Path, tiny: bool) -> dict:
    """The arm's sweep file: `sweeps/default.yaml` with the corpus (and the arm's recipe)."""
    raw = yaml.safe_load((ROOT / "sweeps" / "default.yaml").read_text())
    raw["name"] = f"{arm}-{name}"
    raw["data"]["dataset"] = corpus
    if arm == "fixed":
        raw["train"].update(FIXED)
    if tiny:
        make_tiny(raw, TINY_MODELS)
    return raw


def write(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def summarise(out: Path, default_ids: set[str]) -> dict:
    rows = pd.read_csv(out / "results.csv")
    rows = rows[rows.status == "ok"]
    fit = json.loads((out / "fit.json").read_text())
    power = fit["fits"]["power"]
    b = power["params"]["b"]
    # Best lr per size by seed mean, then that lr's mean over seeds.
    means = rows.groupby(["model", "lr"]).val_loss.agg(["mean", "std", "count"]).reset_index()
    best = means.loc[means.groupby("model")["mean"].idxmin()]
    order = rows.drop_duplicates("model").sort_values("params_non_embedding").model.tolist()
    best = best.set_index("model").loc[order]
    losses = best["mean"].tolist()
    several = best[best["count"] > 1]
    pooled = (math.sqrt(sum((several["std"] ** 2) * (several["count"] - 1))
                        / sum(several["count"] - 1)) if len(several) else math.nan)
    chosen = json.loads((out / "lr_search.json").read_text())["chosen"][0]["lr"] \
        if (out / "lr_search.json").exists() else None
    wall = rows[rows.run_id.isin(default_ids)].wall_s.sum()
    return {"losses": losses, "monotone": all(a > b for a, b in itertools.pairwise(losses)),
            "seed_sd": pooled, "r2": power["r2_log"], "b": b["value"],
            "ci": (b["ci_low"], b["ci_high"]), "lr": chosen, "wall_s": wall}


def run_arm(corpus: str, name: str, arm: str, out_root: Path, tiny: bool) -> dict:
    """The default configuration; for the auto arm, then seeds 1 and 2 of the next two sizes
    at the lr the search chose (the fixed arm's seed noise is s1's noise seeds alone)."""
    folder = out_root / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    raw = sweep_file(corpus, name, arm, folder, tiny)
    out = out_root / f"{arm}-{name}"
    if arm == "fixed":
        reuse(out_root / f"auto-{name}", out)
    scalecli("sweep", str(write(raw, folder / f"{arm}-{name}.yaml")), "--out", str(out_root))
    default_ids = set(pd.read_csv(out / "results.csv").run_id)
    if arm == "auto":
        chosen = json.loads((out / "lr_search.json").read_text())["chosen"][0]["lr"]
        more = yaml.safe_load(yaml.safe_dump(raw))
        more["models"] = raw["models"][1:3]
        more["train"].update(seeds=[0, 1, 2], lr=chosen)
        scalecli("sweep", str(write(more, folder / f"{arm}-{name}-seeds.yaml")), "--out",
                 str(out_root))
    scalecli("fit", str(out))
    return summarise(out, default_ids)


def reuse(auto: Path, fixed: Path) -> None:
    """Copy the auto arm's runs that the fixed arm would train: the same settings and the
    fixed lr (1e-2 x 32 / n_embd). A run is a function of its settings and seed, so this is
    the run the fixed arm would get, and the search's centre is often its choice."""
    if (fixed / "results.csv").exists() or not (auto / "results.csv").exists():
        return
    rows = pd.read_csv(auto / "results.csv")
    fixed_lr = FIXED["lr"] * FIXED["lr_ref_width"] / rows.n_embd
    same = rows[(rows.lr - fixed_lr).abs() < 1e-12 * fixed_lr]
    if same.empty:
        return
    (fixed / "runs").mkdir(parents=True)
    same.assign(sweep=fixed.name).to_csv(fixed / "results.csv", index=False)
    for rid in same.run_id:
        shutil.copytree(auto / "runs" / rid, fixed / "runs" / rid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="?", type=Path, help="folder of .jsonl corpora")
    parser.add_argument("--out", type=Path, default=Path("out/unseen"))
    parser.add_argument("--tiny", action="store_true", help="tiny models (for CI)")
    args = parser.parse_args()
    corpora = {"shakespeare": "embedded:shakespeare"}
    if args.tiny:
        args.out = args.out / "tiny"
        corpora = {"docs": tiny_corpus(args.out / "corpora")}
    elif args.corpora:
        corpora |= {p.stem: str(p) for p in sorted(args.corpora.glob("*.jsonl"))}
    # Every auto arm first: they are the bar; the fixed arms are the comparison.
    results = {(name, arm): run_arm(path, name, arm, args.out, args.tiny)
               for arm in ("auto", "fixed") for name, path in corpora.items()}
    print("| corpus | arm | lr (s1) | best val_loss per size | falls | seed sd | R² | b [95% CI] "
          "| train time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, arm), r in results.items():
        lr = f"{r['lr']:.3g}" if r["lr"] else "1e-2 x 32/d"
        print(f"| {name} | {arm} | {lr} | {', '.join(f'{x:.3f}' for x in r['losses'])} | "
              f"{'yes' if r['monotone'] else 'no'} | {r['seed_sd']:.3f} | {r['r2']:.3f} | "
              f"{r['b']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {r['wall_s'] / 60:.1f} min |")
    auto = {name: r for (name, arm), r in results.items() if arm == "auto"}
    base = auto.get("shakespeare") or next(iter(auto.values()))
    print(f"unseen_monotone={sum(r['monotone'] for r in auto.values())}/{len(auto)} "
          f"unseen_min_r2={min(r['r2'] for r in auto.values()):.4f} "
          f"unseen_max_seed_sd={max(r['seed_sd'] for r in auto.values()):.4f} "
          f"unseen_max_wall_ratio={max(r['wall_s'] for r in auto.values()) / base['wall_s']:.3f}")


if __name__ == "__main__":
    main()
