#!/usr/bin/env bash
# Regenerates the refactor guard's expected outputs (tests/test_unchanged.py) with the code
# of the checkout this is run from. Run it only from a commit whose numbers are the ones to
# keep, and say so in the commit: the goldens are what a refactor must leave unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
export HF_HUB_OFFLINE=1 COLUMNS=160 SCALECLI_CACHE="$work/cache"
for case in default isoflop; do
  mkdir -p "$work/$case"
  cp "$here/$case/results.csv" "$work/$case/"
done
python -m scalecli fit "$work/default" --form all > /dev/null
python -m scalecli report "$work/default" --terminal > "$here/default/terminal.txt"
python -m scalecli fit "$work/isoflop" --form compute --bootstrap 40 > /dev/null
python -m scalecli report "$work/isoflop" > /dev/null
for case in default isoflop; do
  cp "$work/$case/fit.json" "$work/$case/report/report.md" "$here/$case/"
done
for case in tiny_cosine tiny_wsd; do
  python -m scalecli sweep "$here/$case.yaml" --out "$work/train" > /dev/null
  cp "$work/train/$case/results.csv" "$here/train/$case.csv"
done
rm -rf "$work"
