# Two commands do everything on a fresh machine:
#   make run   - create .venv if needed, install, start the app on http://localhost:8501
#   make test  - same, with the test extra and Debian's Chromium, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install install-test browser bench load deploy-local screenshots clean

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
install-test: $(VENV)/.installed-test browser

# The browser tests (tests/e2e) drive Debian's Chromium through the playwright package;
# Playwright's own browser downloads are never used.  As root (CI) Chromium is installed
# with apt-get when missing; otherwise those tests are skipped (and fail under CI=true).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for tests/e2e ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	  else \
	    echo "note: no $(CHROMIUM): tests/e2e will be skipped (sudo apt-get install chromium)"; \
	  fi; \
	fi

run: install
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: install-test
	$(PY) -m pytest

bench: install-test
	$(PY) benchmarks/bench_core.py

# 30 sessions moving sliders for 60 s against a fresh server (README: "Serving a whole class")
load: install
	$(PY) benchmarks/load_test.py

# two replicas behind nginx on loopback, and the load test through them
deploy-local: install
	bash deploy/run_local.sh

# rewrite assets/screenshots/*.png (the README's pictures) from the browser tests
screenshots: install-test
	RLEAKY_VIZ_SCREENSHOTS=update $(PY) -m pytest tests/e2e -q -k every_page

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
