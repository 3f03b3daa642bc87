# Shortcuts for development. The scripts stay the way in (README "Quick start"); these call them.
#   make serve ARGS="--port 8080"     make test ARGS="-k readyz -x"     make lint
#   make bench                         make bench BENCH_ARGS="--size 10000 --quick --no-record"
#   make lock                          make lock ARGS="--upgrade-package fastapi"
SHELL := bash
VENV ?= $(or $(BW_VENV),.venv)
BIN := $(VENV)/bin
ARGS ?=

.PHONY: serve test lint bench lock venv

serve:  ## install, provision PostGIS, migrate, load the demo data and serve (README command 1)
	./scripts/serve.sh $(ARGS)

test:  ## install, provision PostGIS and run the whole suite (README command 2)
	./scripts/test.sh $(ARGS)

venv:  ## the project and its dev tools in $(VENV), as uv.lock pins them
	@BW_VENV="$(abspath $(VENV))" bash -c 'source scripts/lib.sh && ensure_venv'

lint: venv  ## what .ci/run checks after the tests; runs every check, fails if any failed
	@status=0; \
	for check in "ruff check app migrations tests" "ruff format --check app migrations tests" \
	             "mypy" "lint-imports"; do \
	  echo "+ $$check"; $(BIN)/$$check || status=1; \
	done; exit $$status

bench: venv  ## bench/run.py: every measure of docs/SPEC.md "Performance" in one run, appended to bench/RESULTS.md
	@BW_VENV="$(abspath $(VENV))" bash -c 'source scripts/lib.sh && provision_database && \
	  exec "$$BW_VENV/bin/python" bench/run.py "$$@"' bench $(BENCH_ARGS)

lock:  ## refresh uv.lock within pyproject.toml's bounds (default: upgrade everything)
	./scripts/lock.sh $(ARGS)
