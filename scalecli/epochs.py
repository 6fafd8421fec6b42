"""How many passes over the training tokens a budget makes, and how much that matters.

Shared by the sweep (its dry run and its start) and by the fit's `multi_epoch`
diagnostic, so that both say the same thing with the same threshold.
"""

from __future__ import annotations

# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models": up to about 4
# epochs, repeated tokens are worth nearly as much as fresh ones; beyond that, much less.
FRESH_EPOCHS = 4.0


def epochs(tokens: float, train_tokens: int) -> float:
    """Passes over the training stream that a run of `tokens` tokens makes."""
    return tokens / max(1, train_tokens)


def epochs_note(tokens: float, train_tokens: int) -> tuple[str, str] | None:
    """(severity, message) when the budget repeats training tokens, else None."""
    passes = epochs(tokens, train_tokens)
    if passes <= 1.0:
        return None
    severity = "warning" if passes > FRESH_EPOCHS else "info"
    worth = ("repeated tokens are worth nearly as much as fresh ones up to about 4 epochs "
             "(Muennighoff et al. 2023), so this is a note" if severity == "info" else
             "beyond about 4 epochs repeated tokens are worth much less than fresh ones "
             "(Muennighoff et al. 2023), so these losses are higher than fresh data would give "
             "at the same budget")
    return severity, (f"the budget of {tokens:,.0f} tokens is {passes:.2f} epochs of the "
                      f"{train_tokens:,} training tokens; {worth}. Lower the budget or add "
                      "training data for one pass")
