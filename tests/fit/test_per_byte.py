"""per_byte.choose_y: which y the fit takes when the rows were measured in more than one
tokenizer, and the exact diagnostic (code, severity, text) the user reads about it."""

from __future__ import annotations

from scalecli.fit.diagnostics import Diagnostic
from scalecli.fit.per_byte import choose_y, tokenizers

HEADER = ["model", "tokenizer", "val_loss", "val_bpb"]


def rows_in(*names: str, bpb: str = "1.5") -> list[dict[str, str]]:
    return [{"model": f"m{k}", "tokenizer": name, "val_loss": "3.0", "val_bpb": bpb}
            for k, name in enumerate(names)]


def test_tokenizers_are_the_distinct_non_blank_names_sorted() -> None:
    rows = [*rows_in("gpt2", " bpe:1024 ", "", "gpt2"), {"model": "x"}]
    assert tokenizers(rows) == ["bpe:1024", "gpt2"]


def test_one_tokenizer_or_none_changes_nothing() -> None:
    assert choose_y(rows_in("gpt2", "gpt2", "gpt2"), HEADER, None) == (None, [])
    assert choose_y(rows_in("", "", ""), HEADER, None) == (None, [])
    assert choose_y(rows_in("gpt2", "gpt2"), HEADER, "val_loss") == (None, [])


def test_two_tokenizers_fit_bits_per_byte_and_say_so() -> None:
    # Two names is the smallest mixture: `< 2` must not become `<= 2`.
    assert choose_y(rows_in("gpt2", "bpe:1024", "gpt2"), HEADER, None) == ("val_bpb", [
        Diagnostic("mixed_tokenizers", "info",
                   "The fitted rows were measured in 2 tokenizers (bpe:1024, gpt2): loss and "
                   "perplexity per token are not comparable across them, so every form fits "
                   "val_bpb (bits per byte of the same text) instead; --y chooses another "
                   "column")])


def test_more_than_four_tokenizers_are_listed_as_four_and_a_count() -> None:
    y, said = choose_y(rows_in("t1", "t2", "t3", "t4", "t5", "t6"), HEADER, None)
    assert y == "val_bpb"
    assert said[0].message.startswith(
        "The fitted rows were measured in 6 tokenizers (t1, t2, t3, t4 and 2 more): ")
    y, said = choose_y(rows_in("t1", "t2", "t3", "t4", "t5"), HEADER, None)
    assert said[0].message.startswith(
        "The fitted rows were measured in 5 tokenizers (t1, t2, t3, t4 and 1 more): ")
    y, said = choose_y(rows_in("t1", "t2", "t3", "t4"), HEADER, None)
    assert said[0].message.startswith(
        "The fitted rows were measured in 4 tokenizers (t1, t2, t3, t4): ")


def test_a_per_token_y_the_user_asked_for_is_kept_and_warned_about() -> None:
    for y in ("val_loss", "val_ppl", "train_loss"):
        assert choose_y(rows_in("a", "b", "c"), HEADER, y) == (None, [Diagnostic(
            "mixed_tokenizers", "warning",
            f"The fitted rows were measured in 3 tokenizers (a, b, c), so {y} (per token) "
            "compares different units; fit val_bpb (bits per byte) instead, or one "
            "tokenizer at a time with --where tokenizer=...")])
    # A y that is not per token (bpb itself, or any other column) needs nothing said.
    assert choose_y(rows_in("a", "b"), HEADER, "val_bpb") == (None, [])
    assert choose_y(rows_in("a", "b"), HEADER, "flops_6nd") == (None, [])


def test_without_bits_per_byte_on_every_row_the_per_token_fit_is_warned_about() -> None:
    warned = [Diagnostic(
        "mixed_tokenizers", "warning",
        "The fitted rows were measured in 2 tokenizers (a, b), but not every row has "
        "val_bpb, so the fit compares losses per token of different units; fit one "
        "tokenizer at a time with --where tokenizer=...")]
    blank = rows_in("a", "b")
    blank[1]["val_bpb"] = ""
    assert choose_y(blank, HEADER, None) == (None, warned)
    nan = rows_in("a", "b", bpb="nan")
    assert choose_y(nan, HEADER, None) == (None, warned)
    # The column missing from the header: the rows' cells are not read.
    no_column = [{k: v for k, v in row.items() if k != "val_bpb"} for row in rows_in("a", "b")]
    assert choose_y(no_column, HEADER[:3], None) == (None, warned)
    # A header without the column is believed even when the rows carry a cell.
    assert choose_y(rows_in("a", "b"), HEADER[:3], None) == (None, warned)
    # In the header and on every row: bpb is fitted.
    assert choose_y(rows_in("a", "b"), HEADER, None)[0] == "val_bpb"
