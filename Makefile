# labqueue: `make up` runs it on this machine, `make test` tests it. Both set up what is missing first.
SHELL := /bin/bash
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: up down test test-compose services images lint bench

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

lint:
	@$(VENV)/bin/ruff check .

## bench: the benchmark suite (minutes); writes docs/benchmarks.md
bench: services
	@set -a && . var/labqueue.env && set +a && for b in job_overhead throughput makespan transfer web_load env_cache; do \
		echo "== bench.$$b" && $(VENV)/bin/python -m bench.$$b || exit 1; done && $(VENV)/bin/python -m bench.report
