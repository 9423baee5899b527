# Flowdeck: `make run` starts the embedded server and a worker; `make test` runs the suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate seed bench bench-dispatch bench-tracking clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --no-input

# Embedded default: SQLite (WAL), local files, a file-system broker. Ctrl-C stops everything.
run: migrate
	$(BIN)/python manage.py flowdeck_up

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/sdk_ingest.py --quick

# Per-step dispatch overhead next to Celery and Prefect 3: PostgreSQL at DATABASE_URL, Redis db 8.
bench-dispatch: install
	$(BIN)/python bench/dispatch.py $(BENCH_ARGS)

# Tracking (ingest, metric history, run list) next to a stock MLflow server on the PostgreSQL at DATABASE_URL.
bench-tracking: install
	$(BIN)/python bench/tracking.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .flowdeck-data .pytest_cache
