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

.PHONY: install chromium postgresql run test test-slow test-all lint format bench eval clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.synced

run: install
	$(BIN)/textdrops run $(DROP)

# the browser test needs Debian's chromium: installed here when missing, as root with apt-get (else it skips)
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		echo "installing chromium for the browser test" && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium missing and not installable here: the browser test will skip"

# `make test`: lint and every test but the end-to-end ones marked slow (servers, workers, clusters started as
# subprocesses); `make test-slow`: those; `make test-all`: both, what CI runs (.ci/run)
test: install chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -m "not slow"

# the PostgreSQL test needs PostgreSQL's server: installed here when missing, as root with apt-get (else it skips)
postgresql:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		echo "installing postgresql for the PostgreSQL server test" && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
		echo "postgresql missing and not installable here: the PostgreSQL server test will skip"

test-slow: install postgresql
	$(BIN)/pytest -q -m slow --dist loadfile

test-all: test test-slow

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
