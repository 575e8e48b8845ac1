# labqueue: `make up` runs it on this machine, `make test` tests it. Both set up what is missing first.
SHELL := /bin/bash
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: up down test test-compose services images venv unit lint bench

## up: install what is missing, start the services and labqueue (web on http://127.0.0.1:8000)
up:
	@scripts/up.sh

## down: stop what `make up` started
down:
	@scripts/down.sh

## services: only the set-up `make test` needs (Docker, RabbitMQ, S3 store, venv, images)
services:
	@scripts/services.sh

## test: set up the services, then run the whole test suite (but tests/compose: make test-compose)
test: services
	@set -a && . var/labqueue.env && set +a && $(VENV)/bin/pytest --ignore=tests/compose $(PYTEST_ARGS)

## test-compose: build the compose images here, then test docker-compose.yml under Compose and a single-node Swarm
test-compose: services
	@scripts/compose.sh && scripts/compose-images.sh
	@set -a && . var/labqueue.env && set +a && $(VENV)/bin/pytest tests/compose $(PYTEST_ARGS)

## images: (re)build the base and worker images
images:
	@scripts/images.sh

## venv: only the virtualenv with labqueue[dev] (what `make unit` and `make lint` run in)
venv:
	@scripts/venv.sh

## unit: the fast tests, without root or services: pure logic, scripts against fakes, the web app in process on SQLite
unit: venv
	@$(VENV)/bin/pytest tests/unit -q -p no:cacheprovider $(PYTEST_ARGS)

## lint: ruff on the Python, mypy on the packages, shellcheck on scripts/ (installs shellcheck if missing)
lint: venv
	@bash -c '. scripts/lib.sh && apt_install shellcheck'
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy
	@shellcheck -x -P SCRIPTDIR scripts/*.sh

## bench: the benchmark suite (minutes); writes docs/benchmarks.md
bench: services
	@set -a && . var/labqueue.env && set +a && for b in job_overhead throughput makespan transfer web_load env_cache live_streams lab_day; do \
		echo "== bench.$$b" && $(VENV)/bin/python -m bench.$$b || exit 1; done && $(VENV)/bin/python -m bench.report
