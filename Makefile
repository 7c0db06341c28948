# Plasticonnect Hub: `make run` starts the app with demo data, `make test` runs the tests.
# Needs python3.11, Node.js with npm, make, and access to PyPI and npm; everything else goes into .venv and node_modules.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
PYTEST_ARGS ?=
FLASK  := $(BIN)/flask --app wsgi

.PHONY: run test lint translations setup setup-dev migrate worker clean help bench-matching bench-fanout

help:
	@echo "make run     install, migrate, seed the catalog and demo accounts, serve http://$(HOST):$(PORT)"
	@echo "make test    install the test tools and run the whole test suite"
	@echo "make lint    ruff, mypy and the architecture rules (scripts/check_rules.sh)"
	@echo "make worker  an RQ worker (needs REDIS_URL)"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when the pinned requirements change.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# Front-end assets (three.js viewer, Socket.IO client) from npm into app/static/vendor/ (git-ignored).
VENDOR_ASSETS := app/static/vendor/viewer.js app/static/vendor/socket.io.min.js
$(VENV)/.assets: package.json package-lock.json $(wildcard assets/*.js) scripts/build_assets.sh $(VENDOR_ASSETS) \
		| $(BIN)/python
	scripts/build_assets.sh
	@touch $@

# No recipe: a deleted bundle counts as changed, so the stamp above builds it again.
$(VENDOR_ASSETS):

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Compile the translations (.po -> .mo) when there are any.
translations: | $(BIN)/python
	@if ls app/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
		$(BIN)/pybabel -q compile -d app/translations; \
	fi

migrate: $(VENV)/.runtime
	$(FLASK) db upgrade

run: $(VENV)/.runtime $(VENV)/.assets translations migrate
	$(FLASK) seed-catalog
	$(FLASK) seed-demo
	@echo "Plasticonnect Hub on http://$(HOST):$(PORT)  (Ctrl+C stops it)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# Two pytest-xdist workers (the machine class has two cores); the browser tests share one of them.
TEST_WORKERS ?= 2
test: $(VENV)/.dev $(VENV)/.assets translations
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	scripts/check_rules.sh

worker: $(VENV)/.runtime
	$(FLASK) worker

# Matching latency, scaling, build time and memory goals (PERFORMANCE.md §4.3); exit 1 on a failed goal.
bench-matching: $(VENV)/.runtime
	$(BIN)/python -m benchmarks.matching

# Project-channel fan-out: send-to-receive p99 for a 50-member room at 100 msg/s, one process
# versus two processes linked by Redis (PERFORMANCE.md §4.4); needs Redis on 127.0.0.1:6379.
bench-fanout: $(VENV)/.dev
	$(BIN)/python -m benchmarks.fanout --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
