"""Lints of the chapters themselves, and proof that the nbval comparison has teeth.

The regression run itself is `pytest --nbval` over chapters/ (configured in
pyproject.toml); these tests check what it cannot: that every chapter is in
the book, carries the standard header, was executed top to bottom in a fresh
kernel with every output stored, and that a changed stored number fails it.
"""
import copy
import os
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

import nbtools

ROOT = nbtools.ROOT
CHAPTERS = nbtools.chapter_paths()


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found in chapters/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_lint(path):
    assert nbtools.lint(path) == []


def test_every_toc_entry_exists():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    assert files, "_toc.yml lists no chapters"
    for f in files:
        assert (ROOT / f).with_suffix(".ipynb").exists() or (ROOT / f).with_suffix(".md").exists(), f


def test_headers_identical_and_generated():
    sources = {p.name: nbformat.read(p, 4).cells[0].source for p in CHAPTERS}
    assert len(set(sources.values())) == 1, "chapter headers differ"
    header = next(iter(sources.values()))
    assert header == nbtools.header_source(), "run: python tools/nbtools.py header"
    url, branch = nbtools.repository()
    assert f'os.environ.get("D2LSTAB_SOURCE", "git+{url}@{branch}")' in header
    assert '"google.colab" in sys.modules' in header
    # One pip command, --no-deps, MXNet and d2lstab only: Colab's NumPy is never touched.
    assert header.count('"pip", "install"') == 1
    assert f'"install", "-q", "--no-deps", "{nbtools.MXNET_PIN}",' in header
    assert "numpy==" not in header and "restart" not in header.lower()
    # Outside the Pythons it serves, it says what to do in Colab before installing anything.
    assert header.index("Change runtime version") < header.index("import subprocess")


def test_header_pins_match_requirements():
    assert nbtools.MXNET_PIN in (ROOT / "requirements-mxnet.txt").read_text().splitlines()
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    assert not any(line.startswith("mxnet") for line in reqs), "MXNet is installed with --no-deps only"


def test_header_silent_outside_colab():
    """Outside Colab the header must do nothing and print nothing."""
    code = nbtools.header_source()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_lint_catches_problems(tmp_path):
    """The lint itself can fail: an unexecuted cell, a missing seed, a changed header."""
    nb = nbformat.read(CHAPTERS[0], 4)
    broken = copy.deepcopy(nb)
    code = [c for c in broken.cells if c.cell_type == "code"]
    code[-1].execution_count = None
    code[1].source = code[1].source.replace("d2l.seed(0)", "")
    code[0].source += "\nprint('hi')"
    path = ROOT / "chapters" / "_lint_probe.ipynb"
    try:
        nbformat.write(broken, path)
        problems = " | ".join(nbtools.lint(path))
    finally:
        path.unlink()
    assert "not listed in _toc.yml" in problems
    assert "no stored execution" in problems
    assert "d2l.seed(0)" in problems
    assert "standard Colab header" in problems


def _first_numeric_cell(nb):
    """Index of the first code cell with a number in a stdout stream output."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and re.search(r"\d\.\d", out.get("text", "")):
                return i
    raise AssertionError("no chapter cell prints a number")


def _run_nbval(path):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *nbtools.nbval_args(ROOT),
         "-o", "addopts=", str(path)],
        capture_output=True, text=True, cwd=path.parent, timeout=600, env={**os.environ, **nbtools.nbval_env(ROOT)})


def test_nbval_fails_on_a_changed_number(tmp_path):
    """Copy the start of chapter 1 up to its first printed number, change one digit
    of the stored output: nbval must fail on it; the unchanged copy must pass."""
    source = ROOT / "chapters" / "01_vanishing_exploding.ipynb"
    nb = nbformat.read(source, 4)
    stop = _first_numeric_cell(nb)
    nb.cells = nb.cells[: stop + 1]
    clean = tmp_path / "clean.ipynb"
    nbformat.write(nb, clean)
    result = _run_nbval(clean)
    assert result.returncode == 0, result.stdout[-3000:]

    tampered = copy.deepcopy(nb)
    for out in tampered.cells[stop].outputs:
        if out.get("output_type") == "stream":
            match = re.search(r"\d\.(\d)", out["text"])
            digit = match.group(1)
            out["text"] = out["text"][: match.start(1)] + str((int(digit) + 1) % 10) + out["text"][match.end(1):]
            break
    bad = tmp_path / "tampered.ipynb"
    nbformat.write(tampered, bad)
    result = _run_nbval(bad)
    assert result.returncode != 0
    assert "Cell outputs differ" in result.stdout
