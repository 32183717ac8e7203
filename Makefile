# Vigil: `make demo` and `make test` work on a fresh machine (they create .venv and install what they need).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install postgres chromium prometheus clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The machine's PostgreSQL, for the store tests: started when it does not answer.
postgres:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start || true; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

# Debian's Chromium, for the browser tests (Playwright drives it; no browser download).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; \
	fi

# Debian's Prometheus, for the infra tests (`promtool check config|rules`, `promtool test rules`): installed
# when promtool is missing. The package may start a server on :9090; it is stopped so nothing holds the port.
prometheus:
	@if ! command -v promtool >/dev/null; then \
	  echo "installing Debian's prometheus (promtool) for the infra tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  $$SUDO service prometheus stop >/dev/null 2>&1 || true; \
	fi

demo: $(STAMP)
	$(BIN)/vigil --log-level warning demo

test: $(STAMP) postgres chromium prometheus
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m load_tests.bench_parse
	$(BIN)/python -m load_tests.bench_lookup
	$(BIN)/python -m load_tests.bench_replay
	$(BIN)/python -m load_tests.bench_e2e

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
