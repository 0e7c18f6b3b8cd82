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
    files = nbtools.toc_files(ROOT)
    assert files, "_toc.yml lists no chapters"
    for f in files:
        assert (ROOT / f).with_suffix(".ipynb").exists() or (ROOT / f).with_suffix(".md").exists(), f


def test_headers_identical_and_generated():
    sources = {p.name: nbformat.read(p, 4).cells[0].source for p in CHAPTERS}
    assert len(set(sources.values())) == 1, "chapter headers differ"
    header = next(iter(sources.values()))
    assert header == nbtools.header_source(), "run: python tools/nbtools.py header"
    url, branch = nbtools.repository()
    assert f'_src = "git+{url}@{branch}"\n    _src = os.environ.get("D2LSTAB_SOURCE", _src)' in header
    assert '"google.colab" in sys.modules' in header
    # One pip command, --no-deps, MXNet and d2lstab only: Colab's NumPy is never touched.
    words = " ".join(header.split())
    assert header.count('"pip", "install"') == 1
    assert f'"install", "-q", "--no-deps", "{nbtools.MXNET_PIN}", _src]' in words
    # A reader sees it in Colab: it fits 79 columns like every other cell.
    assert max(len(line) for line in header.splitlines()) <= nbtools.MAX_COLUMNS
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


def _probe_problems(nb):
    """nbtools.lint of ``nb`` written inside the checkout but outside chapters/
    (never seen by a test that lists the chapters, nor by git status chapters)."""
    folder = ROOT / "_build" / "lint-probes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"probe-{os.getpid()}-{id(nb)}.ipynb"
    try:
        nbformat.write(nb, path)
        return nbtools.lint(path)
    finally:
        path.unlink()


def test_lint_catches_problems(tmp_path):
    """The lint itself can fail: an unexecuted cell, a missing seed, a changed header."""
    nb = nbformat.read(CHAPTERS[0], 4)
    broken = copy.deepcopy(nb)
    code = [c for c in broken.cells if c.cell_type == "code"]
    code[-1].execution_count = None
    code[1].source = code[1].source.replace("d2l.seed(0)", "")
    code[0].source += "\nprint('hi')"
    problems = " | ".join(_probe_problems(broken))
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


def _minimal_chapter():
    """A chapter that passes the reader-text lint: one exercise with its solution."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter\n\nSee [chapter 2](02_initialization.ipynb) "
                                      "and {numref}`ex-99-1`; over seeds 0-4."),
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-99-1\nShow that 1 + 1 = 2.\n```\n\n"
                                      "```{solution} ex-99-1\n:class: dropdown\nCount.\n```"),
    ]
    return nb


def test_reader_text_lint_passes_a_clean_chapter():
    assert nbtools.reader_text_problems(_minimal_chapter()) == []


@pytest.mark.parametrize("plant, expected", [
    ("S_MXNET", "placeholder paragraph 'S_MXNET'"),
    ("The rest is TODO.", "placeholder 'TODO'"),
    ("As the seeds say, ReLU is best.", "'the seeds' refers to the working notes"),
    ("Our working notes list it.", "'working notes' refers to the working notes"),
    ("\u6839\u636e\u7b14\u8bb0", "refers to the working notes"),
    ("As chapter 3 showed.", "'chapter 3'... is plain text"),
    ("By equation (2) the variance doubles.", "'equation (2'... is plain text"),
    ("The unit tests check this digit.", "test plumbing visible to readers"),
    ("so $a = b\n+ c$ holds.", "which Markdown reads as a list item"),
])
def test_reader_text_lint_fails_on_planted_prose(plant, expected):
    nb = _minimal_chapter()
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(plant))
    problems = " | ".join(nbtools.reader_text_problems(nb))
    assert expected in problems, problems


def test_reader_text_lint_fails_on_planted_code_and_outputs():
    nb = _minimal_chapter()
    long_code = nbformat.v4.new_code_cell("x = 1  # " + "a" * 75)
    plumbing = nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(1)")
    wide_output = nbformat.v4.new_code_cell("print('-' * 80)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="-" * 80 + "\n")])
    figure = nbformat.v4.new_code_cell("plot()", outputs=[
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg/>", "text/plain": "<Figure>"})])
    two = nbformat.v4.new_code_cell("plot(); plot()", outputs=figure.outputs * 2)
    two.metadata["mystnb"] = {"figure": {"caption": "Two.", "name": "fig-99-two"},
                              "image": {"alt": "Two figures of the same thing, side by side."}}
    nb.cells = [nbformat.v4.new_code_cell("# header")] + nb.cells + [long_code, plumbing, wide_output, figure, two]
    problems = " | ".join(nbtools.reader_text_problems(nb))
    for expected in ("code line 1 has 84 > 79", "'NBVAL'", "output line 1 has 80 > 79",
                     "figure without caption", "figure without alt text", "2 figures in one cell"):
        assert expected in problems, (expected, problems)


def test_reader_text_lint_fails_on_missing_solutions():
    nb = _minimal_chapter()
    nb.cells[1].source = nb.cells[1].source.split("\n\n")[0]
    nb.cells.append(nbformat.v4.new_markdown_cell("```{solution-start} ex-99-2\n:class: dropdown\n```"))
    problems = " | ".join(nbtools.reader_text_problems(nb))
    assert "exercise ex-99-1 has no solution" in problems
    assert "solution for ex-99-2, which is not an exercise" in problems
    assert "1 solution-start but 0 solution-end" in problems
    nb.cells = nb.cells[:1]
    assert "no exercises" in " | ".join(nbtools.reader_text_problems(nb))


def test_lint_runs_the_reader_text_checks_on_a_chapter():
    """nbtools.lint (the test above every chapter) includes the reader-text checks."""
    nb = nbformat.read(CHAPTERS[0], 4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("S_PLANTED"))
    assert "placeholder paragraph 'S_PLANTED'" in " | ".join(_probe_problems(nb))
