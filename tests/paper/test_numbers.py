import re

import pytest

from loralab.errors import PaperError
from loralab.paper.numbers import Number, NumberTable, macro_name


@pytest.mark.parametrize(
    "key, name",
    [
        ("cell.uniform.loss", "LLCellUniformLoss"),
        ("cell.r8.loss", "LLCellREightLoss"),
        ("cmp.linear-decay.uniform.p", "LLCmpLinearDecayUniformP"),
        ("cell.a_b%c&d#e$f{g}h~i^j\\k.loss", "LLCellABCDEFGHIJKLoss"),
        ("cfg.lr10", "LLCfgLrOneZero"),
    ],
)
def test_macro_names_are_letters_only(key, name):
    assert macro_name(key) == name
    assert re.fullmatch(r"[A-Za-z]+", macro_name(key))


def test_colliding_keys_get_distinct_macros():
    table = NumberTable([Number("a-b.x", 1, "int", "t"), Number("a_b.x", 2, "int", "t")])
    names = {table.macro("a-b.x"), table.macro("a_b.x")}
    assert len(names) == 2
    assert all(re.fullmatch(r"[A-Za-z]+", n) for n in names)
    tex = table.numbers_tex()
    for n in names:
        assert tex.count(f"\\newcommand{{\\{n}}}") == 1


@pytest.mark.parametrize(
    "number, text, latex",
    [
        (Number("k", 1.23456, "float", "t"), "1.235", "1.235"),
        (Number("k", -0.01234, "float", "t", decimals=4), "-0.0123", r"\ensuremath{-}0.0123"),
        (Number("k", -0.00001, "float", "t"), "0.000", "0.000"),  # no "-0.000"
        (Number("k", 0.0004, "p", "t"), "< 0.001", r"\ensuremath{<}\,0.001"),
        (Number("k", 0.31234, "p", "t"), "0.312", "0.312"),
        (Number("k", 0.31234, "prel", "t"), "= 0.312", "= 0.312"),
        (Number("k", 0.0001, "prel", "t"), "< 0.001", r"\ensuremath{<}\,0.001"),
        (Number("k", 0.95, "percent", "t", decimals=1), "95", "95"),
        (Number("k", 3e-4, "g", "t"), "0.0003", "0.0003"),
        (Number("k", 12, "int", "t"), "12", "12"),
        (Number("k", "a_b", "text", "t"), "a_b", r"a\_b"),
    ],
)
def test_number_forms(number, text, latex):
    assert number.text() == text
    assert number.latex() == latex


def test_resolve_to_markdown_and_latex():
    table = NumberTable([Number("cell.u.loss", 1.98765, "float", "t")])
    src = "loss {{num:cell.u.loss}}."
    assert table.resolve(src, "markdown") == "loss 1.988."
    assert table.resolve(src, "latex") == "loss `\\LLCellULoss{}`{=latex}."


def test_unknown_key_is_an_error():
    with pytest.raises(PaperError, match=r"num:cell\.nope"):
        NumberTable([]).resolve("{{num:cell.nope}}", "markdown")


def test_duplicate_key_is_a_bug():
    with pytest.raises(PaperError, match="twice"):
        NumberTable([Number("k", 1, "int", "t"), Number("k", 2, "int", "t")])
