"""Which sweep folder `fit` and `report` read when they are given none.

`sweep` leaves a marker, OUT/.last_sweep, that names the folder it last wrote under the
output root OUT. Without an argument, `fit` and `report` read that folder; without a
marker, the only sweep folder under out/ (a folder holding results.csv). Two or more,
and no marker, is an error that lists them: guessing could fit the wrong sweep.
"""

from __future__ import annotations

from pathlib import Path

from scalecli.errors import ScaleError
from scalecli.results import atomic_write_text

MARKER = ".last_sweep"
DEFAULT_ROOT = Path("out")


def mark_last(folder: Path) -> None:
    """Record `folder` (OUT/NAME) as the sweep last written under OUT."""
    atomic_write_text(folder.parent / MARKER, folder.name + "\n")


def find_sweep(root: Path = DEFAULT_ROOT) -> tuple[Path, str]:
    """The sweep folder to read under `root`, and how it was chosen (for the user)."""
    marker = root / MARKER
    if marker.is_file():
        name = marker.read_text(encoding="utf-8").strip()
        folder = root / name
        if name and (folder / "results.csv").is_file():
            return folder, f"the last sweep, named in {marker}"
    candidates = sorted(p.parent for p in root.glob("*/results.csv"))
    if len(candidates) == 1:
        return candidates[0], f"the only sweep under {root}"
    if not candidates:
        raise ScaleError(f"no sweep found under {root}/ (no {root}/NAME/results.csv); run "
                         "`scalecli sweep` first, or pass a sweep's folder or a results.csv")
    listed = ", ".join(str(p) for p in candidates)
    raise ScaleError(f"{len(candidates)} sweeps under {root}/ and no {marker} to choose: "
                     f"{listed}; pass one of them")
