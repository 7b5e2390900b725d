# newsmon — the commands that matter:
#   make test   set everything up (venv, Elasticsearch download) and run lint, types and all tests
#   make test-clock   only the shifted-clock runs (localdev/clockshift.py)
#   make unit   the fast loop: lint, types and the pure tests (tests/unit) only; no service needed
#   make up     start a local Elasticsearch and mail catcher, then poll the shipped feeds on a loop
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR := var
ES_PORT ?= 9200
SMTP_PORT ?= 1025

.PHONY: setup test test-celery test-clock unit lint typecheck es-fetch up down bench bench-es clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing newsmon[dev]"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

es-fetch: setup
	$(BIN)/python -m localdev.elasticsearch fetch

# The whole suite, then everything but the Airflow tests again under four shifted clocks (end of
# a year, both DST changes, minute 47), to show no result depends on when it runs.
test: setup lint typecheck es-fetch
	$(BIN)/pytest
	$(BIN)/python -m localdev.clockshift

# Only the real CeleryExecutor run (Redis, PostgreSQL, 1 then 2 workers; part of make test too):
# about 3 minutes; its figures go to var/celery-run.json.
test-celery: setup es-fetch
	$(BIN)/pytest -m celery -s

test-clock: setup es-fetch
	$(BIN)/python -m localdev.clockshift

# No Elasticsearch download and no services: about half a minute.
unit: setup lint typecheck
	$(BIN)/pytest tests/unit

bench: setup
	$(BIN)/python benchmarks/bench_tagging.py
	$(BIN)/python benchmarks/bench_dedupe.py

# Starts its own Elasticsearch and indexes 100,000 synthetic stories: about 10 minutes.
bench-es: setup es-fetch
	$(BIN)/python benchmarks/bench_dedupe_es.py

# Local stack: Elasticsearch on 127.0.0.1:$(ES_PORT), a mail catcher writing every delivered
# message to var/mail/*.eml, and newsmon polling config/feeds.yaml every 5 minutes.
up: setup
	@mkdir -p $(RUN_DIR)/mail
	$(BIN)/python -m localdev.elasticsearch start --port $(ES_PORT) --data $(RUN_DIR)/es
	@if [ -f $(RUN_DIR)/mailcatcher.pid ] && kill -0 $$(cat $(RUN_DIR)/mailcatcher.pid) 2>/dev/null; then \
	  echo "mail catcher already running"; else \
	  nohup $(BIN)/python -m localdev.mailcatcher --port $(SMTP_PORT) --dir $(RUN_DIR)/mail \
	    > $(RUN_DIR)/mailcatcher.log 2>&1 & echo $$! > $(RUN_DIR)/mailcatcher.pid; \
	  echo "mail catcher on 127.0.0.1:$(SMTP_PORT), writing to $(RUN_DIR)/mail"; fi
	@test -f config/subscribers.yaml || cp config/subscribers.example.yaml config/subscribers.yaml
	NEWSMON_ES_URL=http://127.0.0.1:$(ES_PORT) NEWSMON_SMTP_HOST=127.0.0.1 \
	NEWSMON_SMTP_PORT=$(SMTP_PORT) NEWSMON_SMTP_SECURITY=none \
	  $(BIN)/newsmon init
	NEWSMON_ES_URL=http://127.0.0.1:$(ES_PORT) NEWSMON_SMTP_HOST=127.0.0.1 \
	NEWSMON_SMTP_PORT=$(SMTP_PORT) NEWSMON_SMTP_SECURITY=none \
	  $(BIN)/newsmon run --interval 5m

down:
	-$(BIN)/python -m localdev.elasticsearch stop --data $(RUN_DIR)/es
	-@if [ -f $(RUN_DIR)/mailcatcher.pid ]; then kill $$(cat $(RUN_DIR)/mailcatcher.pid) 2>/dev/null; rm -f $(RUN_DIR)/mailcatcher.pid; fi

clean: down
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
