"""Which y to fit when the rows were measured in different tokenizers: bits per byte.

Loss per token (and perplexity) counts in units of the tokenizer: a token of GPT-2's 50K
vocabulary holds about four bytes of English, one of a 1K BPE under two, so the same
model of the same text has a very different loss per token in each. Bits per byte divide
the same total cost by the bytes of the text, which every tokenizer shares
(lm-evaluation-harness's `bits_per_byte`; the Pile and Gao et al. 2020 compare models
so). When the fitted rows name more than one tokenizer, the fit's default y is val_bpb.
"""

from __future__ import annotations

from scalecli.finite import finite
from scalecli.fit.diagnostics import Diagnostic

BPB = "val_bpb"
PER_TOKEN = ("val_loss", "val_ppl", "train_loss")


def tokenizers(rows: list[dict[str, str]]) -> list[str]:
    """The distinct tokenizers the rows were measured in (blank cells left out)."""
    return sorted({t for row in rows if (t := (row.get("tokenizer") or "").strip())})


def choose_y(rows: list[dict[str, str]], header: list[str], y: str | None
             ) -> tuple[str | None, list[Diagnostic]]:
    """(the y every form fits by default, or None for each form's own; what was said).

    With more than one tokenizer: val_bpb when every row has it, said as `mixed_tokenizers`
    (info); a --y per token that the user chose is kept and warned about."""
    names = tokenizers(rows)
    if len(names) < 2:
        return None, []
    listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    if y is not None:
        if y not in PER_TOKEN:
            return None, []
        return None, [Diagnostic(
            "mixed_tokenizers", "warning",
            f"The fitted rows were measured in {len(names)} tokenizers ({listed}), so {y} "
            f"(per token) compares different units; fit {BPB} (bits per byte) instead, "
            "or one tokenizer at a time with --where tokenizer=...")]
    if BPB not in header or any(finite(row.get(BPB)) is None for row in rows):
        return None, [Diagnostic(
            "mixed_tokenizers", "warning",
            f"The fitted rows were measured in {len(names)} tokenizers ({listed}), but not "
            f"every row has {BPB}, so the fit compares losses per token of different "
            "units; fit one tokenizer at a time with --where tokenizer=...")]
    return BPB, [Diagnostic(
        "mixed_tokenizers", "info",
        f"The fitted rows were measured in {len(names)} tokenizers ({listed}): loss and "
        f"perplexity per token are not comparable across them, so every form fits {BPB} "
        "(bits per byte of the same text) instead; --y chooses another column")]
