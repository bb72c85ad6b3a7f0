# Tollgate: `make run` starts the console, `make test` runs every test. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench simulate clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Demo mode binds 127.0.0.1 (its login page shows the demo password) unless TOLLGATE_ADDRESS is set.
run: install
	$(BIN)/streamlit run server.py --server.port $(PORT) --server.address "$$($(BIN)/python -m core.config address || echo 127.0.0.1)" \
		--server.headless true --browser.gatherUsageStats false

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q --durations=30

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: install
	$(BIN)/python bench/overhead.py --observe
	$(BIN)/python bench/observability.py
	$(BIN)/python bench/ledger_queries.py --rows 10000000

simulate: install
	$(BIN)/python -m core simulate --port 8787

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
