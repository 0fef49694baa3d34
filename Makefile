# `make report` and `make test` each create .venv when it is missing, install the project with its
# pins, then run. Nothing else is needed on a fresh machine with Python >= 3.10.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: report test install clean tutorial digits

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(PY) -m parity run --out reports
	$(PY) -m parity.atlas > reports/atlas.md.tmp && mv reports/atlas.md.tmp reports/atlas.md

test: $(STAMP)
	$(PY) -m pytest -q -n 2

tutorial: $(STAMP)
	$(PY) -m scratchnet.tutorial

digits: $(STAMP)
	$(PY) -m scratchnet.examples.digits_mlp
	$(PY) -m scratchnet.examples.digits_cnn

clean:
	rm -rf $(VENV) .pytest_cache
