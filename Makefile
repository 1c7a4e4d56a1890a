# Two commands do everything on a fresh machine:
#   make run   - create .venv if needed, install, start the app on http://localhost:8501
#   make test  - same, with the test extra, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
PORT   ?= 8501

.PHONY: run test install install-test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, alone, so that the pinned CPU wheel is what satisfies the package
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) torch
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: install-test
	$(PY) -m pytest

bench: install-test
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
