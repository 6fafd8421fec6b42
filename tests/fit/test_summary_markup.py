"""Run names are the user's text: the Prediction check prints them as written, brackets and
all, and a name that looks like a closing style tag does not crash `scalecli fit`."""

from __future__ import annotations

import copy

from tests.fit.test_summary_validation_full import BLOCK, shown


def test_run_names_with_brackets_are_printed_as_written() -> None:
    block = copy.deepcopy(BLOCK)
    block["runs"][0]["model"] = "gpt [ablation]"
    block["runs"][1]["run_id"] = "r2[/b]"
    block["compute"][0]["runs"][0]["model"] = "v1 [bf16]"
    block["compute"][1]["runs"][0]["run_id"] = "v3[/]"
    plain, _ = shown(block)
    text = "\n".join(plain)
    assert "│ gpt [ablation] │" in text
    assert "│ r2[/b]         │" in text
    assert "  C = 1e+20: v1 [bf16] 2.951 (3: 2.9 [2.8, 3]), v2 3.01; best trained N 3e+08" in plain
    assert "  C = 1e+21: v3[/] 2.81 (3: 2.7 [2.65, 2.75]); best trained N 1e+09" in plain


def test_size_labels_column_names_and_reasons_in_the_exponents_are_printed_as_written() -> None:
    from tests.fit.test_summary_exponents_full import ENTRIES
    from tests.fit.test_summary_exponents_full import shown as shown_exponents

    entries = copy.deepcopy(ENTRIES)
    entries[2]["at"] = "m[/b] (N = 2e+07)"
    entries[0]["quantity"] = "b of val_loss = k [bold]N^b"
    entries[4]["reason"] = "the isoFLOP fit failed: loss[b] is flat"
    plain, _ = shown_exponents(entries)
    text = "\n".join(plain)
    assert "│ m[/b] (N = 2e+07) " in text
    assert "│ b of val_loss = k [bold]N^b " in text
    assert ("  not measured: N_opt(C) (isoFLOP budgets): the isoFLOP fit failed: loss[b] is "
            "flat") in plain
