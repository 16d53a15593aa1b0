# Two commands on a fresh machine (Python 3.11 and make): `make run` and `make test`.
# uv (pinned) is bootstrapped into .tools/; the project's environment (.venv/) is synced from uv.lock.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

DROP ?= data/raw/2016-03-15

.PHONY: install run test lint format bench eval clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.synced

run: install
	$(BIN)/textdrops run $(DROP)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m benchmarks.run

eval: install
	$(BIN)/python -m benchmarks.eval_clean
	$(BIN)/python -m benchmarks.eval_entities
	$(BIN)/python -m benchmarks.eval_dates
	$(BIN)/python -m benchmarks.eval_dedupe
	$(BIN)/python -m benchmarks.eval_stories

clean:
	rm -rf $(VENV) .tools data/processed .pytest_cache
