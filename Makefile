# Basketry developer commands. Everything runs inside .venv, created on first use.
#   make demo   train on the bundled Online Retail data, serve, ask, print, stop
#   make test   lint, type-check and run the test suite (what CI runs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STUBS  := protos/basketry/v1/recommender_pb2.py
# Every install takes the exact versions in constraints.txt (also inside pip's isolated build
# environment, which reads only the environment variable).
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: venv demo test lint typecheck pytest protos bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt protos/hatch_build.py
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Basketry needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The type check and the tests cover the Spark engine (pyspark is large: only they install it).
$(VENV)/.spark: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $@

# The editable install generates the stubs; regenerate when a .proto changes.
$(STUBS): $(wildcard protos/basketry/v1/*.proto) | venv
	$(BIN)/python protos/hatch_build.py

protos: venv
	$(BIN)/python protos/hatch_build.py

demo: venv $(STUBS)
	$(BIN)/python examples/demo.py

lint: venv $(STUBS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv $(VENV)/.spark $(STUBS)
	$(BIN)/mypy

pytest: venv $(VENV)/.spark $(STUBS)
	$(BIN)/pytest

test: lint typecheck pytest

bench: venv $(STUBS)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache protos/basketry/v1/*_pb2*
