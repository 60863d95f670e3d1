"""The Alpaca format: one record type and the Stanford Alpaca prompt template, word for word as in
alpaca-lora's `templates/alpaca.json`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlpacaRecord:
    """One instruction-following example: instruction, optional input, expected output, and the task
    type where the source knows it (synthetic tasks, a file's `task` field; "" otherwise). The task is
    never part of the prompt: it only groups scores per task."""

    instruction: str
    input: str
    output: str
    task: str = ""


PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
RESPONSE_SPLIT = "### Response:"


def format_prompt(record: AlpacaRecord) -> str:
    """The prompt the model sees before the response (the input section only when input is non-empty)."""
    if record.input:
        return PROMPT_WITH_INPUT.format(instruction=record.instruction, input=record.input)
    return PROMPT_NO_INPUT.format(instruction=record.instruction)


def format_example(record: AlpacaRecord) -> str:
    """Prompt followed by the response: the full training text without any special tokens."""
    return format_prompt(record) + record.output
