# `make book` builds the HTML book; `make test` runs every test. Both create
# the virtual environment .venv first if it is missing or out of date.
#
# The book's environment is Google Colab's runtime (colab/runtime.toml):
# Python 3.13. `python3.13` on the PATH (Debian 13, Ubuntu, python.org) or
# one under ~/.pyenv/versions/ is used; `make PYTHON=/path/to/python3.13`
# names another.
PYTHON_VERSION := 3.13
comma := ,
PYTHON ?= $(shell for p in python$(PYTHON_VERSION) $(HOME)/.pyenv/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION); do \
    "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(PYTHON_VERSION))))' 2>/dev/null \
    && { command -v "$$p"; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env book pdf test unit notebooks execute header lint clean mutate bench lab

env: $(STAMP)

$(STAMP): requirements.txt requirements-mxnet.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python $(PYTHON_VERSION) is needed (the Python of Google Colab's runtime) and none was found: install it (Debian/Ubuntu: apt-get install python$(PYTHON_VERSION) python$(PYTHON_VERSION)-venv; or pyenv install $(PYTHON_VERSION)), or run make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; fi
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(PYTHON_VERSION))))' 2>/dev/null; then echo "$(VENV) is not Python $(PYTHON_VERSION): recreating it"; rm -rf $(VENV); fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-mxnet.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The HTML book, then (when TeX is installed) the PDF edition it links.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) tools/book_pdf.py --if-tex

# The whole book as one PDF (Jupyter Book's LaTeX builder, xelatex), into
# _build/pdf/d2lstab.pdf and _build/html/d2lstab.pdf. TeX Live comes from
# Debian's packages: tools/install_tex.sh (as root).
pdf: $(STAMP)
	$(PY) tools/book_pdf.py

test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests -o addopts="-p no:cacheprovider"

# Re-execute chapters (all, or CHAPTERS="chapters/01_x.ipynb ...") and store outputs.
execute: $(STAMP)
	$(PY) tools/nbtools.py execute $(CHAPTERS)

# Open the chapters in JupyterLab (in the book's environment).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab chapters/ $(if $(filter 0,$(shell id -u)),--allow-root)

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
