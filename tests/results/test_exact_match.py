"""The exact-match scorer: answer cut and normalisation, pure text."""

from __future__ import annotations

import itertools

import pytest

from loralab.results import get_metric
from loralab.results.exact_match import (
    EXACT_MATCH,
    answer_complete,
    answer_ruled_out,
    cut_answer,
    normalise_answer,
    score_answer,
)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("  42 ", "42"),
        ("The  Small\tCat", "The Small Cat"),
        ("item,count\n apple,3 \n", "item,count apple,3"),
        ("STRASSE", "STRASSE"),
        ("", ""),
    ],
)
def test_normalisation_strips_and_collapses_whitespace_and_keeps_case(text, normal):
    assert normalise_answer(text) == normal


def test_the_answer_is_as_many_lines_as_the_reference():
    assert cut_answer("42\n### Instruction:\nmore", "42") == "42"
    assert cut_answer("\n42\nmore", "42") == "42"  # a leading newline is not the answer's line
    table = "item,count\napple,3"
    assert cut_answer(f"{table}\nbanana,4\n\nmore", table) == table


def test_a_complete_answer_is_one_that_no_more_text_can_change():
    assert answer_complete("42\n", "42") and answer_complete("\n 42\nmore", "42")
    assert not answer_complete("42", "42") and not answer_complete(" \n\n", "42")
    assert not answer_complete("item,count\n", "item,count\napple,3")
    assert answer_complete("item,count\napple,3\r", "item,count\napple,3")


def test_an_answer_is_ruled_out_once_it_is_no_start_of_the_reference():
    assert answer_ruled_out("The answer", "42") and answer_ruled_out("43", "42")
    assert not answer_ruled_out("4 ", "42")  # "4 " may yet become "4" (then EOS) or "4 2"
    assert not answer_ruled_out("4", "42") and not answer_ruled_out("\n 12  + 3", "12 + 30 = 42")
    assert not answer_ruled_out("item,count\n", "item,count\napple,3")
    assert answer_ruled_out("42\n43", "42") is False  # the second line is cut: complete, not ruled out


def test_once_decided_no_appended_text_changes_the_score():
    """Every text over a small alphabet (letters, spaces, line breaks of several kinds), every suffix."""
    alphabet = ["a", "b", " ", "\n", "\r", "\u2028"]
    texts = ["".join(t) for n in range(6) for t in itertools.product(alphabet, repeat=n)]
    suffixes = ["".join(t) for n in range(1, 3) for t in itertools.product(alphabet, repeat=n)]
    decided = 0
    for reference in ("a", "a b", "ab\nb"):
        for text in texts:
            if answer_complete(text, reference) or answer_ruled_out(text, reference):
                decided += 1
                score = score_answer(text, reference)
                assert score == 0 or answer_complete(text, reference), (text, reference)
                for x in suffixes:
                    assert score_answer(text + x, reference) == score, (text, x, reference)
    assert decided > len(texts)  # most texts are decided early: the rules are not vacuous


def test_score_is_one_for_the_reference_and_zero_otherwise():
    assert score_answer("12 + 30 = 42\nNext", "12 + 30 = 42") == 1
    assert score_answer(" the small  cat ", "the small cat") == 1
    assert score_answer("THE SMALL CAT", "the small cat") == 0  # case is the answer on case tasks
    assert score_answer("12 + 30 = 43", "12 + 30 = 42") == 0
    assert score_answer("42.", "42") == 0  # punctuation is not forgiven
    assert score_answer("item,count", "item,count\napple,3") == 0  # a missing row is wrong


def test_the_metric_is_registered_as_a_percentage_of_examples():
    metric = get_metric("exact_match")
    assert metric is EXACT_MATCH and metric.direction == "higher" and metric.unit == "fraction"
    assert metric.aggregate({"exact_match": [1, 0, 0, 1]}) == 0.5
    assert metric.display(0.25) == 25.0 and metric.paper_name == "exact-match accuracy"
