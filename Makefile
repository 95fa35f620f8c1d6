# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both install what is missing: the virtualenv and Python packages, and the
# system tools the suite uses (Graphviz's dot, redis-server; apt-get as root).

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXAMPLE ?= examples/etl/graph.py

.PHONY: run test bench lint system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

system:
	@sh .ci/system-deps

run: $(STAMP) system
	$(VENV)/bin/planner plan $(EXAMPLE)
	$(VENV)/bin/planner run $(EXAMPLE) --local

test: $(STAMP) system
	$(PY) -m pytest -q

bench: $(STAMP) system
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check planner tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
