"""Short human-readable numbers for tables: 1.5M, 2.3G, 95s, 4.2min."""

from __future__ import annotations


def si(n: float) -> str:
    """A count with an SI suffix and three significant digits: 1.53M, 21.7K."""
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"
