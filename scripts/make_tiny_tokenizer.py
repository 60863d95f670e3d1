"""Regenerate loralab/assets/tiny_tokenizer.json: byte-level BPE trained on synthetic Alpaca texts.

Usage: python scripts/make_tiny_tokenizer.py [--out PATH]. The output is deterministic for a given
`tokenizers` version; commit it when it changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from loralab.data.synthetic import corpus
from loralab.data.template import PROMPT_NO_INPUT, PROMPT_WITH_INPUT
from loralab.data.tiny_tokenizer import SPECIAL_TOKEN, VOCAB_SIZE, tiny_tokenizer_path

N_TEXTS = 20_000
SEED = 12345  # not a seed used by tests, so the tokenizer is not fitted to their exact records


def train() -> Tokenizer:
    """A byte-level BPE with VOCAB_SIZE ids, id 0 the special token, every byte representable."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[SPECIAL_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The bare templates are repeated so their boilerplate words become single tokens.
    texts = corpus(N_TEXTS, SEED) + [PROMPT_WITH_INPUT, PROMPT_NO_INPUT] * 200
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=tiny_tokenizer_path())
    args = parser.parse_args()
    tok = train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out), pretty=False)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, {tok.get_vocab_size()} ids)")


if __name__ == "__main__":
    main()
