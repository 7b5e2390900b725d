# newsmon — the commands that matter:
#   make test   set everything up (venv, Elasticsearch download) and run lint, types and all tests
#   make test-clock   only the shifted-clock runs (localdev/clockshift.py), every test under every clock
#   make unit   the fast loop: lint, types and the pure tests (tests/unit) only; no service needed
#   make up     start, in the background, a local Elasticsearch, a mail catcher (var/mail/), the offline
#               demo's feed server and `airflow standalone` running the DAGs; waits for health and
#               prints the Airflow URL and login. FEEDS=config/feeds.yaml polls the real feeds instead.
#   make status what runs, with its memory;   make down   stop all of it
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR := var
ES_PORT ?= 9200
SMTP_PORT ?= 1025
AIRFLOW_PORT ?= 8080
DEMO_PORT ?= 8765
# Empty: the offline demo (config/demo/). A feeds.yaml path: poll those feeds instead.
FEEDS ?=
# Seconds between the demo's new items; AIRFLOW_ALL_ADMINS=1: the Airflow UI without login.
REVEAL_EVERY ?= 90
AIRFLOW_ALL_ADMINS ?=

.PHONY: setup test test-celery test-clock unit lint typecheck es-fetch up down status bench bench-es clean

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

# The whole suite, then again under four shifted clocks (end of a year, both DST changes, minute
# 47), to show no result depends on when it runs: the pure tests under each clock, the service
# tests (not Airflow's) one slice per clock, the slices rotating daily.
test: setup lint typecheck es-fetch
	$(BIN)/pytest
	$(BIN)/python -m localdev.clockshift

# Only the real CeleryExecutor run (Redis, PostgreSQL, 1 then 2 workers; part of make test too):
# about 3 minutes; its figures go to var/celery-run.json.
test-celery: setup es-fetch
	$(BIN)/pytest -m celery -s

test-clock: setup es-fetch
	$(BIN)/python -m localdev.clockshift --every-test

# No Elasticsearch download and no services: about half a minute.
unit: setup lint typecheck
	$(BIN)/pytest tests/unit

bench: setup
	$(BIN)/python benchmarks/bench_tagging.py
	$(BIN)/python benchmarks/bench_dedupe.py

# Starts its own Elasticsearch and indexes 100,000 synthetic stories: about 10 minutes.
bench-es: setup es-fetch
	$(BIN)/python benchmarks/bench_dedupe_es.py

# Local stack (localdev/stack.py), everything under $(RUN_DIR)/: Elasticsearch on 127.0.0.1:$(ES_PORT),
# the mail catcher on $(SMTP_PORT) writing var/mail/*.eml, the demo feeds on $(DEMO_PORT) and
# `airflow standalone` on $(AIRFLOW_PORT). Returns once Airflow is healthy and the DAGs are parsed
# (about a minute); a second `make up` says it is already running.
up: setup es-fetch
	$(BIN)/python -m localdev.stack --run-dir $(RUN_DIR) up --es-port $(ES_PORT) \
	  --smtp-port $(SMTP_PORT) --api-port $(AIRFLOW_PORT) --demo-port $(DEMO_PORT) \
	  --reveal-every $(REVEAL_EVERY) $(if $(FEEDS),--feeds $(FEEDS)) \
	  $(if $(AIRFLOW_ALL_ADMINS),--all-admins)

status:
	@$(BIN)/python -m localdev.stack --run-dir $(RUN_DIR) status

down:
	-@$(BIN)/python -m localdev.stack --run-dir $(RUN_DIR) down

clean: down
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
