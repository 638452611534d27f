# Onramp: every target does its own set-up first (venv, pinned requirements, services).
SHELL := /bin/bash
ONRAMP := .venv/bin/onramp

.PHONY: help setup services status up down demo test test-fast lint lock bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup:  ## venv with the pinned stack (idempotent)
	@scripts/bootstrap.sh

services: setup  ## find or start PostgreSQL and Redis, create databases, migrate
	@$(ONRAMP) services up

status: setup  ## services and Airflow processes
	@$(ONRAMP) services status; $(ONRAMP) airflow status

up: setup  ## start Airflow 3 (UI, scheduler, dag-processor, triggerer) and print the login
	@$(ONRAMP) airflow up

down:  ## stop everything Onramp started (Airflow, embedded services)
	@if [ -x $(ONRAMP) ]; then $(ONRAMP) down; else echo "nothing to stop (no .venv)"; fi

demo: setup  ## THE MAIN JOB: simulate, run one full pipeline cycle through Airflow, print a summary
	@$(ONRAMP) demo

lint: setup  ## ruff, including the Airflow (AIR) rules
	@.venv/bin/ruff check .

test: setup  ## lint + the whole suite (dags, unit, integration, e2e) against real services
	@scripts/browser.sh
	@$(ONRAMP) services up
	@.venv/bin/ruff check .
	@.venv/bin/pytest -q tests

test-fast: setup  ## everything but the e2e tier
	@.venv/bin/pytest -q tests -m "not e2e"

lock:  ## recompile requirements.txt from requirements.in
	@.venv/bin/uv pip compile --python-version 3.12 --no-header --annotation-style line requirements.in -o requirements.txt -q
	@sed -i '1i # Pinned lock for Python 3.12, compiled from requirements.in by `make lock`; do not edit by hand.' requirements.txt

clean: down  ## remove the state folder (.onramp: embedded data, Airflow home, lake)
	rm -rf .onramp
