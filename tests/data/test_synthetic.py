import json
import re
from collections import Counter

from loralab.data.synthetic import TASK_NAMES, corpus, generate, generate_tagged
from loralab.data.template import format_example


def test_deterministic_and_prefix_stable() -> None:
    assert generate(300, seed=4) == generate(300, seed=4)
    assert generate(300, seed=4)[:120] == generate(120, seed=4)
    assert generate(300, seed=4) != generate(300, seed=5)
    assert generate(0, seed=1) == [] and len(generate(5000, seed=1)) == 5000


def test_variety() -> None:
    tagged = generate_tagged(600, seed=0)
    assert len(TASK_NAMES) >= 8
    assert {name for name, _ in tagged} == set(TASK_NAMES)
    with_input = sum(bool(r.input) for _, r in tagged)
    assert 0.2 * len(tagged) < with_input < 0.8 * len(tagged)
    assert len({r for _, r in tagged}) > 0.8 * len(tagged)  # mostly distinct records
    assert all(r.instruction and r.output for _, r in tagged)


def test_answers_are_correct() -> None:
    checked = Counter()
    for name, r in generate_tagged(800, seed=2):
        numbers = [int(x) for x in re.findall(r"-?\d+", r.instruction + " " + r.input)]
        answer = r.output.split("=")[-1].strip()
        if name == "add":
            assert int(answer) == numbers[0] + numbers[1]
        elif name == "subtract":
            assert int(answer) == numbers[0] - numbers[1]
        elif name == "multiply":
            assert int(answer) == numbers[0] * numbers[1]
        elif name == "largest":
            assert int(answer) == max(numbers)
        elif name == "next_in_sequence":
            assert int(answer) - numbers[-1] == numbers[1] - numbers[0]
        elif name == "reverse_words":
            assert r.output.split() == r.input.split()[::-1]
        elif name == "sort_words":
            assert r.output.split(", ") == sorted(r.input.split(", "))
        elif name == "to_json":
            assert json.loads(r.output) == r.input.split("\n")
        elif name == "to_csv":
            rows = [line.split(",") for line in r.output.split("\n")]
            assert rows[0] == ["item", "count"]
            assert [f"{a}: {b}" for a, b in rows[1:]] == r.input.split("\n")
        elif name == "count_words":
            assert int(r.output) == len(r.input.split())
        elif name == "count_letter":
            letter, word = re.findall(r"'(\w+)'", r.instruction)
            assert int(r.output) == word.count(letter)
        elif name == "uppercase":
            assert r.output == r.input.upper() != r.input
        elif name == "lowercase":
            assert r.output == r.instruction.split(": ", 1)[1].lower()
        checked[name] += 1
    assert set(checked) == set(TASK_NAMES)


def test_corpus_is_formatted_examples() -> None:
    assert corpus(20, seed=9) == [format_example(r) for r in generate(20, seed=9)]
