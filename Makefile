# Two commands after a fresh clone: `make run` and `make test` (see README.md).
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PORT ?= 8000
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export AGNO_TELEMETRY := false

.PHONY: install run test demo bench eval lint format

# uv comes from PyPI when missing (a fresh machine has nothing else); .ci/install-uv tries
# pipx, then pip --user, then pip --user --break-system-packages (PEP 668 Pythons).
$(UV):
	bash .ci/install-uv

install: $(UV)
	$(UV) sync --frozen

run: install
	mkdir -p var
	$(UV) run seleto-agent migrate
	$(UV) run seleto-agent serve --port $(PORT)

# A local Postgres that is installed but stopped is started first; one that cannot be reached
# stops the run at once with one line saying so (tests/conftest.py).
# Two test processes (pytest-xdist): most tests wait on I/O and timers, so two keep both cores
# of a small machine busy; each process gets its own Postgres database and SQLite files.
PYTEST_WORKERS ?= 2
test: install
	bash .ci/start-postgres "$(TEST_DATABASE_URL)"
	bash .ci/install-promtool
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(UV) run pytest -n $(PYTEST_WORKERS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: install
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

# PROVIDER=meta plays the same conversation through the Cloud API simulator.
PROVIDER ?= zapi
demo: install
	$(UV) run python -m seleto_agent.sandbox.demo --provider $(PROVIDER)

bench: install
	$(UV) run python bench/run_all.py

# Scripted model by default; a real model when OPENAI_API_KEY is set (README "Conversation evals").
eval: install
	$(UV) run python -m seleto_agent.evals
