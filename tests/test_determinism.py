"""Determinism: executing a chapter twice stores the same outputs.

nbval (the regression run) compares a fresh execution with the stored
outputs, so a chapter that printed something different on every run would
fail it at random. This test executes one chapter twice with
``tools/nbtools.py execute`` (a fresh kernel each time, as an author does
before committing) on a copy, and requires the two stored notebooks to be
identical: every output of every cell, SVG text included, after only the
masking that nbval applies too (``tests/nbval_sanitize.cfg``: durations and
memory addresses) and leaving out cells marked ``# NBVAL_IGNORE_OUTPUT``.

The chapter is the first one in ``_toc.yml`` (override with
``D2LSTAB_DETERMINISM_CHAPTER=chapters/NN_name.ipynb``): every chapter
seeds in the same way and is held to the same comparison by nbval, and two
executions of all of them would cost CI ten more minutes.

That running the tests leaves every chapter unchanged is checked by
``.ci/run`` (``git status --porcelain chapters`` must be empty afterwards).
"""
import configparser
import json
import os
import re
import shutil

import nbformat
import pytest
import yaml

import nbtools

ROOT = nbtools.ROOT


def _chapter():
    chosen = os.environ.get("D2LSTAB_DETERMINISM_CHAPTER")
    if chosen:
        return ROOT / chosen
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return (ROOT / toc["chapters"][0]["file"]).with_suffix(".ipynb")


def _sanitizers():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def _outputs(nb, sanitizers):
    """Per code cell: its outputs as sanitized text, None for NBVAL_IGNORE_OUTPUT cells."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.lstrip().startswith("# NBVAL_IGNORE_OUTPUT"):
            cells.append(None)
            continue
        text = json.dumps(cell.outputs, sort_keys=True, indent=1)
        for regex, replace in sanitizers:
            text = regex.sub(replace, text)
        cells.append(text)
    return cells


def test_sanitizer_masks_only_durations_and_addresses():
    def clean(text):
        for regex, replace in _sanitizers():
            text = regex.sub(replace, text)
        return text

    a = clean("took  1.25 sec, 3 ms at 0x7f00deadbeef; loss 0.125")
    b = clean("took 11.75 sec, 40 ms at 0x7f00cafe0000; loss 0.125")
    assert a == b  # durations (with their padding) and addresses are masked
    assert "loss 0.125" in a and "1.25" not in a and "deadbeef" not in a
    assert clean("loss 0.125") != clean("loss 0.126")  # numbers are not


def test_executing_a_chapter_twice_gives_identical_outputs(tmp_path):
    source = _chapter()
    assert source.exists(), source
    sanitizers = _sanitizers()
    runs = []
    for i in range(2):
        copy = tmp_path / f"run{i}" / source.name
        copy.parent.mkdir()
        shutil.copy(source, copy)
        nbtools.execute(copy)
        runs.append(_outputs(nbformat.read(str(copy), 4), sanitizers))
    first, second = runs
    assert len(first) == len(second)
    differing = [i for i, (a, b) in enumerate(zip(first, second)) if a != b]
    assert differing == [], f"code cells {differing} of {source.name} differ between two executions"
    # and the stored notebook is what an execution produces (nbval checks this more finely)
    stored = _outputs(nbformat.read(str(source), 4), sanitizers)
    assert [s is None for s in stored] == [f is None for f in first]


def test_comparison_catches_an_unseeded_cell(tmp_path):
    """The same comparison on a probe notebook that prints unseeded randomness must differ."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.urandom(8).hex())")])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    runs = []
    for i in range(2):
        path = tmp_path / f"probe{i}.ipynb"
        nbformat.write(nb, str(path))
        nbtools.execute(path)
        runs.append(_outputs(nbformat.read(str(path), 4), _sanitizers()))
    assert runs[0] != runs[1]
