"""A seeded generator of small, learnable Alpaca-format tasks, written for loralab (no Alpaca text).

Each task type is a function of a `random.Random`; answers are computed, never looked up, so a model
can learn them from the data alone. Some tasks carry their data in `input`, others inline in the
instruction. The same (n, seed) always gives the same records, and a longer list extends a shorter one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace

from loralab.data.template import AlpacaRecord, format_example

NOUNS = (
    "apple", "river", "garden", "window", "teacher", "doctor", "bird", "train", "city", "house",
    "book", "table", "forest", "cat", "dog", "ship", "road", "flower", "school", "market",
    "bridge", "child", "farmer", "letter", "mountain", "island", "clock", "kitchen", "friend", "song",
)  # fmt: skip
ADJECTIVES = (
    "small", "bright", "quiet", "old", "young", "green", "happy", "cold", "warm", "tall",
    "busy", "gentle", "heavy", "quick", "blue", "empty", "strong", "simple", "early", "calm",
)  # fmt: skip
VERBS = (
    "sees", "finds", "likes", "visits", "builds", "paints", "carries", "follows", "watches", "opens",
    "cleans", "moves", "reads", "holds", "helps", "draws",
)  # fmt: skip
PLACES = ("near", "behind", "under", "beside", "across", "inside")
WORDS = NOUNS + ADJECTIVES


def _sentence(rng: random.Random) -> str:
    subject = f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    obj = f"a {rng.choice(NOUNS)}"
    if rng.random() < 0.5:
        return f"{subject} {rng.choice(VERBS)} {obj} {rng.choice(PLACES)} the {rng.choice(NOUNS)}"
    return f"{subject} {rng.choice(VERBS)} {obj}"


def _words(rng: random.Random, lo: int = 3, hi: int = 7) -> list[str]:
    return rng.sample(WORDS, rng.randint(lo, hi))


def _numbers(rng: random.Random, lo: int = 3, hi: int = 7) -> list[int]:
    return [rng.randint(1, 99) for _ in range(rng.randint(lo, hi))]


def _rec(instruction: str, output: str, input: str = "") -> AlpacaRecord:
    return AlpacaRecord(instruction=instruction, input=input, output=output)


def _add(rng: random.Random) -> AlpacaRecord:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    if rng.random() < 0.5:
        return _rec(f"What is {a} + {b}?", f"{a} + {b} = {a + b}")
    return _rec("Add the two numbers.", str(a + b), f"{a}, {b}")


def _subtract(rng: random.Random) -> AlpacaRecord:
    a = rng.randint(10, 99)
    b = rng.randint(0, a)
    if rng.random() < 0.5:
        return _rec(f"What is {a} minus {b}?", f"{a} - {b} = {a - b}")
    return _rec("Subtract the second number from the first.", str(a - b), f"{a}, {b}")


def _multiply(rng: random.Random) -> AlpacaRecord:
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    if rng.random() < 0.5:
        return _rec(f"Multiply {a} by {b}.", f"{a} x {b} = {a * b}")
    return _rec("What is the product of these numbers?", str(a * b), f"{a} and {b}")


def _reverse_words(rng: random.Random) -> AlpacaRecord:
    words = _sentence(rng).split()
    return _rec(
        "Reverse the order of the words in this sentence.", " ".join(reversed(words)), " ".join(words)
    )


def _sort_words(rng: random.Random) -> AlpacaRecord:
    words = _words(rng)
    return _rec("Sort these words in alphabetical order.", ", ".join(sorted(words)), ", ".join(words))


def _count_letter(rng: random.Random) -> AlpacaRecord:
    word = rng.choice(WORDS)
    letter = rng.choice(word) if rng.random() < 0.8 else rng.choice("aeiostnr")
    count = word.count(letter)
    return _rec(f"How many times does the letter '{letter}' appear in the word '{word}'?", str(count))


def _count_words(rng: random.Random) -> AlpacaRecord:
    sentence = _sentence(rng)
    return _rec("Count the words in the following sentence.", str(len(sentence.split())), sentence)


def _uppercase(rng: random.Random) -> AlpacaRecord:
    sentence = _sentence(rng)
    return _rec("Rewrite the text in uppercase letters.", sentence.upper(), sentence)


def _lowercase(rng: random.Random) -> AlpacaRecord:
    words = [w.upper() if rng.random() < 0.5 else w.capitalize() for w in _sentence(rng).split()]
    text = " ".join(words)
    return _rec(f"Convert to lowercase: {text}", text.lower())


def _to_json(rng: random.Random) -> AlpacaRecord:
    words = _words(rng, 2, 5)
    return _rec("Convert this list into a JSON array of strings.", json.dumps(words), "\n".join(words))


def _to_csv(rng: random.Random) -> AlpacaRecord:
    items = rng.sample(NOUNS, rng.randint(2, 4))
    counts = [rng.randint(1, 20) for _ in items]
    source = "\n".join(f"{item}: {count}" for item, count in zip(items, counts, strict=True))
    table = "\n".join(["item,count"] + [f"{i},{c}" for i, c in zip(items, counts, strict=True)])
    return _rec("Write these items and counts as CSV with the header item,count.", table, source)


def _next_in_sequence(rng: random.Random) -> AlpacaRecord:
    start, step = rng.randint(0, 30), rng.randint(1, 9) * rng.choice((1, 1, -1))
    terms = [start + step * k for k in range(rng.randint(4, 6))]
    shown = ", ".join(str(t) for t in terms)
    return _rec(f"What number comes next in the sequence {shown}?", str(terms[-1] + step))


def _largest(rng: random.Random) -> AlpacaRecord:
    numbers = _numbers(rng)
    if rng.random() < 0.5:
        return _rec(
            "Which number in the list is the largest?", str(max(numbers)), ", ".join(map(str, numbers))
        )
    return _rec(f"Pick the largest number: {' '.join(map(str, numbers))}", str(max(numbers)))


TASKS: dict[str, Callable[[random.Random], AlpacaRecord]] = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "reverse_words": _reverse_words,
    "sort_words": _sort_words,
    "count_letter": _count_letter,
    "count_words": _count_words,
    "uppercase": _uppercase,
    "lowercase": _lowercase,
    "to_json": _to_json,
    "to_csv": _to_csv,
    "next_in_sequence": _next_in_sequence,
    "largest": _largest,
}
TASK_NAMES = tuple(TASKS)


def generate_tagged(n: int, seed: int) -> list[tuple[str, AlpacaRecord]]:
    """`n` (task name, record) pairs; task types are drawn uniformly, and each record carries its task."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name = rng.choice(TASK_NAMES)
        out.append((name, replace(TASKS[name](rng), task=name)))
    return out


def generate(n: int, seed: int) -> list[AlpacaRecord]:
    """`n` synthetic Alpaca records, the same for the same seed."""
    return [record for _, record in generate_tagged(n, seed)]


def corpus(n: int, seed: int) -> list[str]:
    """`n` formatted prompt + response texts, e.g. to train a tokenizer."""
    return [format_example(record) for record in generate(n, seed)]
