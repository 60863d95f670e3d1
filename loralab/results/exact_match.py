"""Task accuracy by exact match: the `exact_match` metric and how a generated answer is scored.

A greedy generation (`loralab/accuracy.py` makes it) is cut to the answer, normalised and compared
with the reference answer (the record's `output`); each example scores 1 or 0 and the metric is the
mean over examples, shown as a percentage. Pure text functions, no torch, so the analysis and the
config can use the definition without a model.

The answer is the generated text before the first EOS, cut to as many lines as the reference has (one
line for most synthetic tasks, a header and rows for CSV): what follows is the model going on to
something else, not its answer. Normalisation strips both ends and collapses every run of whitespace
(newlines too) to one space; nothing else is forgiven: not case (several synthetic tasks convert case,
where an answer in the wrong case is wrong), not punctuation, not number formats.

A generation can stop as soon as its score is decided, without changing it: once its answer lines
are all complete (`answer_complete`: what follows is cut), or once the answer begun already differs
from the reference (`answer_ruled_out`: the normalised answer only grows as text is appended, so one
that is not a start of the reference never becomes equal to it).
"""

from __future__ import annotations

from loralab.results.metric import Metric, register_metric

EXACT_MATCH = register_metric(
    Metric(
        name="exact_match",
        description="Share of eval examples whose greedy answer equals the reference after normalisation.",
        columns=("exact_match",),
        aggregation="mean",
        direction="higher",
        transform="percent",
        display_name="exact-match accuracy (%)",
        unit="fraction",
        paper_name="exact-match accuracy",
        scorer="loralab.accuracy:SCORER",
    )
)


def normalise_answer(text: str) -> str:
    """`text` stripped, each run of whitespace (newlines too) made one space; case is kept."""
    return " ".join(text.split())


def answer_lines(reference: str) -> int:
    """How many lines of a generation are its answer: as many as the reference has (at least one)."""
    return max(1, len(reference.strip().splitlines()))


def cut_answer(generated: str, reference: str) -> str:
    """The answer part of a generation: as many lines as the reference has (EOS is cut before this)."""
    return "\n".join(generated.lstrip().splitlines()[: answer_lines(reference)])


def answer_complete(generated: str, reference: str) -> bool:
    """Whether `generated` already holds every line `cut_answer` keeps, each one ended by a line break:
    then no text appended to it can change its answer, and generation may stop."""
    kept = generated.lstrip().splitlines(keepends=True)[: answer_lines(reference)]
    return len(kept) == answer_lines(reference) and kept[-1].splitlines() != [kept[-1]]


def answer_ruled_out(generated: str, reference: str) -> bool:
    """Whether the answer begun in `generated` already differs from the reference, so that no text
    appended to it can make it equal: its normalised form is not a start of the reference's."""
    return not normalise_answer(reference).startswith(normalise_answer(cut_answer(generated, reference)))


def score_answer(generated: str, reference: str) -> int:
    """1 if the generation's answer equals the reference after normalisation, else 0."""
    return int(normalise_answer(cut_answer(generated, reference)) == normalise_answer(reference))
