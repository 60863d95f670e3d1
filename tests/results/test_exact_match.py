"""The exact-match scorer: answer cut and normalisation, pure text."""

from __future__ import annotations

import pytest

from loralab.results import get_metric
from loralab.results.exact_match import EXACT_MATCH, cut_answer, normalise_answer, score_answer


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
