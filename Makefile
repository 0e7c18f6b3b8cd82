# `make book` builds the HTML book; `make test` runs every test. Both create
# the virtual environment .venv first if it is missing or out of date.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env book test unit notebooks execute header lint clean mutate bench

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests -o addopts="-p no:cacheprovider"

# Re-execute chapters (all, or CHAPTERS="chapters/01_x.ipynb ...") and store outputs.
execute: $(STAMP)
	$(PY) tools/nbtools.py execute $(CHAPTERS)

header: $(STAMP)
	$(PY) tools/nbtools.py header

lint: $(STAMP)
	$(PY) tools/nbtools.py check

# Mutation testing of d2lstab (tools/mutate.py; part of .ci/run).
mutate: $(STAMP)
	$(PY) tools/mutate.py

# The benchmark table of the README (benchmarks/run.py; about 10 minutes).
bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf _build
