# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both install what is missing: the virtualenv and Python packages, and the
# system tools the suite uses (Graphviz's dot, redis-server; apt-get as root).
# `make test` also installs real Mermaid (Debian's chromium and npm, then
# mermaid-cli in tests/mermaid/node_modules) to draw the Mermaid output with.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLE ?= examples/etl/graph.py

.PHONY: run test soak bench lint system mermaid clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

system:
	@sh .ci/system-deps

mermaid:
	@sh .ci/mermaid-deps

run: $(STAMP) system
	$(VENV)/bin/planner plan $(EXAMPLE)
	$(VENV)/bin/planner run $(EXAMPLE) --local

test: $(STAMP) system mermaid
	$(PY) -m pytest -q

# The differential harness at length: >= 300 random graphs per backend (embedded, Redis,
# RabbitMQ when it answers), failures grouped by shape. About half an hour.
soak: $(STAMP) system
	$(PY) tests/soak.py --graphs $(or $(GRAPHS),300)

bench: $(STAMP) system
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check planner tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info tests/mermaid/node_modules
