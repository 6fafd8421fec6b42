"""A sweep's five saved ladder models as an evaluation-only sweep, on another corpus.

    python bench/corpora.py /tmp/corpora --only docs        # the other corpus (8 s)
    python bench/evaluate_ladder.py /work/bench_out/runs/validate-embedded /tmp/corpora/docs.jsonl

LADDER is a default sweep's output folder (s1..s5, lr: auto). It is copied to a temporary
folder first (the bench never writes into it), and its ladder runs (seed 0, the lr that
the search chose) become `checkpoint:` entries of two evaluation-only sweeps:
  other     on CORPUS (its own bpe:1024): the models' bits per byte on text they never saw;
  embedded  on the embedded corpus with the ladder's own data settings: the runs' own
            held-out tokens, so each val_loss must equal the ladder's results.csv value.
Each runs `scalecli sweep` with a fresh SCALECLI_CACHE (tokenizer training included) and
then `scalecli fit` and `scalecli report` on the other corpus's folder. It prints the rows
and the wall times; the last line is machine-readable:
  evaluate_rows=<n> evaluate_sweep_s=<s> evaluate_fit_s=<s> evaluate_report_s=<s>
  evaluate_max_dloss=<nats> (on one line)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("s1", "s2", "s3", "s4", "s5")


def ladder_runs(folder: Path) -> dict[str, dict[str, str]]:
    """Each size's seed-0 ladder row: the lr search's chosen probe for the size it searched
    on, the one lr of the others."""
    import csv

    with open(folder / "results.csv", encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["status"] == "ok" and r["seed"] == "0" and r.get("role") != "validation"]
    search = json.loads((folder / "lr_search.json").read_text(encoding="utf-8"))
    chosen = {c["lr"] for c in search["chosen"]}
    picked = {p["run_id"] for p in search["probes"] if p["lr_base"] in chosen}
    out = {}
    for size in SIZES:
        mine = [r for r in rows if r["model"] == size]
        out[size] = next((r for r in mine if r["run_id"] in picked), mine[0])
    return out


def sweep_file(path: Path, name: str, dataset: str, runs: Path, picked: dict) -> None:
    spec = {"name": name,
            "data": {"dataset": dataset, "tokenizer": "bpe:1024", "context": 128},
            "models": [{"checkpoint": str(runs / row["run_id"])} for row in picked.values()],
            "eval": {"tokens": 100000}, "runtime": {"device": "cpu"}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def timed(*args: str, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scalecli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"scalecli {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
                 f"{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ladder", type=Path, help="a default sweep's output folder")
    parser.add_argument("corpus", help="another corpus: a .jsonl/.txt file, glob or folder")
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args()
    import os

    work = Path(args.out or tempfile.mkdtemp(prefix="evaluate-ladder-"))
    copy = work / "ladder"
    if not copy.exists():
        shutil.copytree(args.ladder, copy)  # never write into the ladder's own folder
    picked = ladder_runs(copy)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1",
           "SCALECLI_CACHE": str(work / "cache")}
    times = {}
    for name, dataset in (("other", args.corpus), ("embedded", "embedded:shakespeare")):
        sweep_file(work / f"{name}.yaml", name, dataset, copy / "runs", picked)
        shutil.rmtree(work / "cache", ignore_errors=True)  # tokenizer training is timed too
        times[name] = timed("sweep", str(work / f"{name}.yaml"), "--out", str(work / "out"),
                            env=env)
    times["fit"] = timed("fit", str(work / "out" / "other"), "--bootstrap", "1000", env=env)
    times["report"] = timed("report", str(work / "out" / "other"), env=env)

    import csv

    def rows(name: str) -> list[dict[str, str]]:
        with open(work / "out" / name / "results.csv", encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    other, embedded = rows("other"), rows("embedded")
    print(f"{'size':5} {'N':>8} {'ladder val_loss':>16} {'again':>10} {'diff':>9} "
          f"{'other val_loss':>15} {'other val_bpb':>14} {'other tokenizer':>18}")
    worst = 0.0
    for size, o, e in zip(SIZES, other, embedded, strict=True):
        trained = float(picked[size]["val_loss"])
        diff = float(e["val_loss"]) - trained
        worst = max(worst, abs(diff))
        print(f"{size:5} {int(o['params_non_embedding']):>8,} {trained:>16.6f} "
              f"{float(e['val_loss']):>10.6f} {diff:>9.1e} {float(o['val_loss']):>15.4f} "
              f"{float(o['val_bpb']):>14.4f} {o['tokenizer']:>18}")
    fit = json.loads((work / "out" / "other" / "fit.json").read_text(encoding="utf-8"))
    power = fit["fits"]["power"]
    print(f"fit on the other corpus: power {power['y']} vs {power['x']}, "
          f"b = {power['params']['b']['value']:.4f}, R^2 {power['r2_log']:.3f}")
    print(f"wall: sweep other {times['other']:.1f} s, sweep embedded {times['embedded']:.1f} s "
          f"(each with a fresh cache), fit {times['fit']:.1f} s, report {times['report']:.1f} s"
          f"; output in {work}")
    print(f"evaluate_rows={len(other)} evaluate_sweep_s={times['other']:.1f} "
          f"evaluate_fit_s={times['fit']:.1f} evaluate_report_s={times['report']:.1f} "
          f"evaluate_max_dloss={worst:.2e}")


if __name__ == "__main__":
    main()
