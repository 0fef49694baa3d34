# `make report` and `make test` each create .venv when it is missing, install the project with its
# pins, then run. Nothing else is needed on a fresh machine with Python >= 3.10.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: report test install clean tutorial digits browser bench docs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(PY) -m parity run -j $$(nproc 2>/dev/null || echo 1) --out reports  # every core; the same bytes as -j 1
	$(PY) -m parity.atlas > reports/atlas.md.tmp && mv reports/atlas.md.tmp reports/atlas.md

test: $(STAMP) browser
	$(PY) -m pytest -q -n 2

# Debian's Chromium, for the test that opens report.html headless. Installed when missing and
# apt-get can run (as root); otherwise that one test is skipped, with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: the HTML report test will be skipped"

bench: $(STAMP)
	$(PY) -m parity bench --threads 1 --out reports

# docs/spec.md and docs/spec.schema.json, generated from parity/spec/vocabulary.py (a test checks them)
docs: $(STAMP)
	$(PY) -m parity schema > docs/spec.md.tmp && mv docs/spec.md.tmp docs/spec.md
	$(PY) -m parity schema --json > docs/spec.schema.json.tmp && mv docs/spec.schema.json.tmp docs/spec.schema.json

tutorial: $(STAMP)
	$(PY) -m scratchnet.tutorial

digits: $(STAMP)
	$(PY) -m scratchnet.examples.digits_mlp
	$(PY) -m scratchnet.examples.digits_cnn

clean:
	rm -rf $(VENV) .pytest_cache
