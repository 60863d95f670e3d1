from loralab.data import AlpacaRecord, format_example, format_prompt


def test_prompt_with_input_is_the_alpaca_text() -> None:
    record = AlpacaRecord(instruction="Add the numbers.", input="2, 3", output="5")
    assert format_prompt(record) == (
        "Below is an instruction that describes a task, paired with an input that provides further"
        " context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nAdd the numbers.\n\n### Input:\n2, 3\n\n### Response:\n"
    )


def test_prompt_without_input_is_the_alpaca_text() -> None:
    record = AlpacaRecord(instruction="Name a colour.", input="", output="Blue.")
    assert format_prompt(record) == (
        "Below is an instruction that describes a task. Write a response that appropriately completes"
        " the request.\n\n### Instruction:\nName a colour.\n\n### Response:\n"
    )


def test_example_is_prompt_then_response_and_braces_survive() -> None:
    record = AlpacaRecord(instruction="Echo {input}", input="{x}", output="{y}")
    prompt = format_prompt(record)
    assert "Echo {input}" in prompt and "### Input:\n{x}\n\n" in prompt
    assert format_example(record) == prompt + "{y}"
