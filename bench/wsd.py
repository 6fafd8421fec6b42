"""WSD cooldown branches against cosine runs from scratch: same losses, less compute?

    python bench/wsd.py --out out/wsd     # s4 at 0.5M, 1M and 2M tokens, 3 seeds per arm
    python bench/wsd.py --tiny            # tiny models, a few dozen steps (CI, under a minute)
    python bench/wsd.py --lr 2e-2 --seeds 0 --out out/wsd-2e-2   # one arm pair per lr: a scan

Two arms on the embedded corpus, each through `scalecli sweep` as a user runs it:
  wsd     one sweep, `schedule: wsd` with the three budgets as a token grid: per seed one
          stable phase and three cooled-down branches (warmup: 0.2 of the shortest branch).
  cosine  one sweep per budget, cosine from scratch, with warmup_frac set so that its
          warmup is the wsd family's in steps (so in tokens too); the same peak lr.
Runs already recorded are reused, so an interrupted bench resumes.

It prints per budget the mean val_loss of each arm over the seeds, their difference and
its standard error (sqrt(se_wsd^2 + se_cosine^2), se = sd / sqrt(n)); then the FLOPs the
branches cost per family (the stable phase once plus each cooldown, from results.csv's
branch_step) and what separate runs cost, both over the longest single run. The last line:
  branch_max_abs_diff=<nats> branch_within_2se=<true|false>
  branch_flops_ratio=<y> separate_flops_ratio=<z>            (one line)
branch_within_2se is true when every budget's difference is within 2 standard errors.
Resuming after a kill is tested in tests/sweep/test_wsd.py, not here.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import yaml
from cli import scalecli

FULL = {"model": "s4", "tokens": [500_000, 1_000_000, 2_000_000], "seeds": [0, 1, 2],
        "batch_tokens": 2048, "context": 128, "tokenizer": "bpe:1024", "eval_tokens": 100_000}
TINY = {"model": {"name": "t16", "n_layer": 1, "n_embd": 16, "n_head": 2},
        "tokens": [3072, 6144, 12288], "seeds": [0, 1], "batch_tokens": 256, "context": 32,
        "tokenizer": "bpe:300", "eval_tokens": 2048}
LR = 1e-2  # scaled by 32 / n_embd (lr_rule inverse_width): what the search picks here
WARMUP_FRAC = 0.2
COOLDOWN_FRAC = 0.2


def sweep(name: str, setup: dict, tokens: list[int], tiny: bool, lr: float,
          **train: object) -> dict:
    runtime = ({"device": "cpu", "threads": 1, "dtype": "fp32", "compile": "off"} if tiny
               else {"device": "auto"})
    return {
        "name": name,
        "data": {"dataset": "embedded:shakespeare", "tokenizer": setup["tokenizer"],
                 "context": setup["context"]},
        "models": [setup["model"]],
        "budget": {"tokens": tokens},
        "train": {"batch_tokens": setup["batch_tokens"], "lr": lr, "seeds": setup["seeds"],
                  "noise_seeds": [], "warmup_frac": WARMUP_FRAC, **train},
        "eval": {"tokens": setup["eval_tokens"]},
        "runtime": runtime,
    }


def run(raw: dict, out: Path) -> pd.DataFrame:
    path = out / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    scalecli("sweep", str(path), "--out", str(out))
    rows = pd.read_csv(out / raw["name"] / "results.csv")
    return rows[rows.status == "ok"]


def mean_se(losses: pd.Series) -> tuple[float, float]:
    n = len(losses)
    return float(losses.mean()), (float(losses.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0)


def flops_ratios(wsd: pd.DataFrame) -> tuple[float, float]:
    """Per family, over its longest branch: what the branches cost (the stable phase to
    the last branch point once, plus every cooldown), and what separate runs would."""
    branched, separate = [], []
    for _, family in wsd.groupby("parent_run_id"):
        per_step = family.batch_tokens * family.flops_per_token
        longest = (family.steps * per_step).max()
        stable = (family.branch_step * per_step).max()
        cooldowns = ((family.steps - family.branch_step) * per_step).sum()
        branched.append((stable + cooldowns) / longest)
        separate.append((family.steps * per_step).sum() / longest)
    return max(branched), max(separate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/wsd"))
    parser.add_argument("--tiny", action="store_true", help="tiny models (for CI)")
    parser.add_argument("--lr", type=float, default=LR,
                        help=f"peak lr of both arms at width 32 (default {LR:g})")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds per arm (default 0 1 2)")
    parser.add_argument("--cooldown-frac", type=float, default=COOLDOWN_FRAC,
                        help=f"the wsd arm's cooldown share of each branch (default "
                             f"{COOLDOWN_FRAC:g}; 0.8 is nearly a linear decay)")
    args = parser.parse_args()
    setup = dict(TINY if args.tiny else FULL)
    if args.seeds:
        setup["seeds"] = args.seeds
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    wsd = run(sweep("wsd", setup, setup["tokens"], args.tiny, args.lr, schedule="wsd",
                    cooldown_frac=args.cooldown_frac), out)
    # The family's warmup in steps, as scalecli sets it: 0.2 of the shortest branch.
    steps = sorted(int(s) for s in wsd.steps.unique())
    warmup = round(WARMUP_FRAC * steps[0])
    points = sorted(int(s) for s in wsd.branch_step.unique())
    print(f"wsd: {len(wsd)} branches, {wsd.parent_run_id.nunique()} families, "
          f"warmup {warmup} steps, branch points {points}")
    print("| tokens | steps | wsd mean | cosine mean | diff | se | within |")
    print("|---|---|---|---|---|---|---|")
    diffs, within_2se = [], True
    for tokens, s in zip(setup["tokens"], steps, strict=True):
        # Cosine from scratch with the same warmup in steps: warmup_frac = warmup / steps.
        cosine = run(sweep(f"cosine-{tokens}", setup, [tokens], args.tiny, args.lr,
                           warmup_frac=warmup / s), out)
        w_mean, w_se = mean_se(wsd[wsd.steps == s].val_loss)
        c_mean, c_se = mean_se(cosine.val_loss)
        diff, se = abs(w_mean - c_mean), math.hypot(w_se, c_se)
        diffs.append(diff)
        within_2se &= diff <= 2 * se
        ok = "yes" if diff <= 0.02 or diff <= 2 * se else "no"
        print(f"| {tokens:,} | {s} | {w_mean:.4f} | {c_mean:.4f} | {diff:.4f} | {se:.4f} | {ok} |")
    branched, separate = flops_ratios(wsd)
    print(f"FLOPs over the longest single run: branched {branched:.3f}x, separate {separate:.3f}x")
    print(f"branch_max_abs_diff={max(diffs):.4f} branch_within_2se={str(within_2se).lower()} "
          f"branch_flops_ratio={branched:.3f} separate_flops_ratio={separate:.3f}")


if __name__ == "__main__":
    main()
