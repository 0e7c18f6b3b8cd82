"""Figures are compared by what they show (tools/nbval_figures.py), and the comparison has teeth.

1. The comparison itself, on real SVG made by ``d2l.plot`` as a notebook shows it: rounding-level
   changes (coordinates moved by 1e-4 pt, ids re-hashed, data rounded at float32 level) pass; a
   curve moved by 1% of the axis range, a changed legend entry, axis label, title, tick label or
   colour, and a removed curve fail.
2. The nbval integration, on a small notebook made here: the plugin loads through
   ``nbtools.nbval_args()`` / ``nbval_env()``, a stored figure perturbed at rounding level passes,
   one whose label changed or that is missing fails with nbval's "Cell outputs differ".
3. A real chapter: its first figure, re-executed here, passes; the same with one plotted series
   scaled by 1.05 fails. And the chapter's stored figure matches a fresh execution.
"""
import copy
import os
import re
import subprocess
import sys

import nbformat
import numpy as onp
import pytest

import d2lstab as d2l
import nbtools
import nbval_figures

ROOT = nbtools.ROOT
CHAPTER = ROOT / "chapters" / "01_vanishing_exploding.ipynb"
SVG = "image/svg+xml"


# --- 1. the comparison, on real figures ---------------------------------------

def _figure(draw, salt=None):
    """The SVG text a notebook stores for the figure ``draw()`` makes (the inline backend's
    call: IPython's print_figure with the kwargs use_svg_display() gives it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    plt.close("all")
    d2l.use_svg_display()
    try:
        draw()  # d2l.plot calls use_svg_display() again
        if salt is not None:  # as if the ids had come out differently
            matplotlib.rcParams["svg.hashsalt"] = salt
        return print_figure(plt.gcf(), "svg", metadata={"Date": None})
    finally:
        plt.close("all")
        matplotlib.rcParams["svg.hashsalt"] = d2l.plotting.SVG_HASHSALT


X = onp.linspace(0, 6, 60)
YLIM = (-1.5, 1.5)  # fixed, so that moving a curve moves only its coordinates, not the ticks
AXES_HEIGHT = 2.5 * 72 * (0.88 - 0.11)  # pt: d2l.plot's figsize (3.5, 2.5), matplotlib's subplot margins


def _shift(points):
    """The data shift that moves a point on this plot's y axis by ``points`` pt."""
    return points / AXES_HEIGHT * (YLIM[1] - YLIM[0])


def _plot(Y=None, legend=("sin", "cos"), xlabel="x", ylabel="f(x)", title=None, fmts=("-", "m--"), x=X):
    Y = [onp.sin(x), onp.cos(x)] if Y is None else Y

    def draw():
        import matplotlib.pyplot as plt

        d2l.plot(x, Y, xlabel, ylabel, legend=list(legend), xlim=(0, 6), ylim=YLIM, fmts=fmts)
        if title:
            plt.title(title)
    return draw


@pytest.fixture(scope="module")
def reference():
    return _figure(_plot())


_GEOMETRY = re.compile(r'(\s(?:d|x|y|transform|width|height|viewBox)=")([^"]*)(")')
_DECIMAL = re.compile(r"(?<![\w.#-])-?\d+(?:\.\d+)?")


def _perturb(svg, eps, seed=0):
    """Every coordinate (every number of a geometry attribute) moved by +-eps, at random."""
    rng = onp.random.default_rng(seed)

    def move(m):
        return f"{float(m.group(0)) + eps * rng.choice([-1, 1]):.6f}"
    return _GEOMETRY.sub(lambda a: a.group(1) + _DECIMAL.sub(move, a.group(2)) + a.group(3), svg)


def _rehash(svg):
    """Every hashed id (clip paths p..., markers m...) replaced by another hash, consistently,
    as a clip rectangle that moved in the 6th decimal does."""
    import hashlib

    return re.sub(r"\b([pm])[0-9a-f]{10}\b",
                  lambda m: m.group(1) + hashlib.md5(m.group(0).encode() + b"other").hexdigest()[:10], svg)


def _hashed_ids(svg):
    return sorted(set(re.findall(r'id="([a-z][0-9a-f]{10})"', svg)))


def test_identical_figures_match(reference):
    assert nbval_figures.difference(reference, _figure(_plot())) is None
    assert nbval_figures.difference(reference, reference) is None


def test_coordinates_perturbed_and_ids_rehashed_match(reference):
    other = _perturb(_figure(_plot(), salt="another CPU"), 1e-4)
    assert other != reference
    assert _hashed_ids(other) and not set(_hashed_ids(other)) & set(_hashed_ids(reference))
    assert nbval_figures.difference(reference, other) is None


def test_float32_rounding_of_the_data_matches(reference):
    rounded = _figure(_plot(Y=[onp.sin(X) * (1 + 1e-7), onp.cos(X) * (1 + 1e-7)]))
    assert rounded != reference
    assert nbval_figures.difference(reference, rounded) is None


def test_a_move_of_a_ten_thousandth_of_the_axis_matches(reference):
    moved = _figure(_plot(Y=[onp.sin(X), onp.cos(X) + 1e-4 * (YLIM[1] - YLIM[0])]))  # 0.014 pt
    assert moved != reference
    assert nbval_figures.difference(reference, moved) is None


def test_a_curve_moved_by_one_percent_of_the_axis_fails(reference):
    moved = _figure(_plot(Y=[onp.sin(X), onp.cos(X) + 0.01 * (YLIM[1] - YLIM[0])]))  # 1.39 pt
    why = nbval_figures.difference(reference, moved)
    assert why is not None and "numbers differ by more than 0.1 pt" in why
    # and the tolerance is what holds: a move of 1.5 times it fails too, one of half of it passes
    tolerance = nbval_figures.TOLERANCE
    assert nbval_figures.difference(reference, _figure(_plot(Y=[onp.sin(X), onp.cos(X) + _shift(1.5 * tolerance)])))
    assert not nbval_figures.difference(reference, _figure(_plot(Y=[onp.sin(X), onp.cos(X) + _shift(tolerance / 2)])))


def test_one_point_moved_by_one_percent_fails(reference):
    y = onp.cos(X)
    y[30] += 0.01 * (YLIM[1] - YLIM[0])
    assert nbval_figures.difference(reference, _figure(_plot(Y=[onp.sin(X), y]))) is not None


@pytest.mark.parametrize("change", [
    {"legend": ("sin", "cosine")},
    {"xlabel": "t"},
    {"ylabel": "g(x)"},
    {"title": "Two curves"},
    {"Y": [onp.sin(X)]},           # a curve removed
    {"fmts": ("-", "r--")},        # a colour
], ids=["legend", "xlabel", "ylabel", "title", "curve-removed", "colour"])
def test_a_visible_change_fails(reference, change):
    why = nbval_figures.difference(reference, _figure(_plot(**change)))
    assert why is not None and "structure or text differs" in why


def test_texts_are_compared_exactly(reference):
    """Tick labels are text (a comment beside the glyphs): 0.01 apart is a different label."""
    assert "<!-- 0.5 -->" in reference
    assert nbval_figures.difference(reference, reference.replace("<!-- 0.5 -->", "<!-- 0.51 -->"))


def test_ids_are_renamed_consistently_not_ignored():
    svg = ('<svg><path d="M 0 0" clip-path="url(#pAAAAAAAAAA)"/><path d="M 1 1" clip-path="url(#pBBBBBBBBBB)"/>'
           '<defs><clipPath id="pAAAAAAAAAA"><rect x="0"/></clipPath><clipPath id="pBBBBBBBBBB">'
           '<rect x="5"/></clipPath></defs></svg>')
    renamed = svg.replace("AAAAAAAAAA", "CCCCCCCCCC").replace("BBBBBBBBBB", "DDDDDDDDDD")
    swapped = svg.replace('id="pAAAAAAAAAA"', 'id="pTMP"').replace('id="pBBBBBBBBBB"', 'id="pAAAAAAAAAA"') \
                 .replace('id="pTMP"', 'id="pBBBBBBBBBB"')
    assert nbval_figures.difference(svg, renamed) is None
    assert nbval_figures.difference(svg, swapped) is not None  # each curve now clipped by the other rect


def test_names_and_colours_are_not_numbers():
    skeleton, numbers = nbval_figures.parse(
        '<path id="DejaVuSans-35" d="M 1.5 -2 L 3e-05 .5" style="stroke: #1f77b4; stroke-width: 0.8" '
        'width="252.5pt"/><dc:title>Matplotlib v3.10.0</dc:title><!-- 0.5 -->')
    assert numbers == [1.5, -2.0, 3e-05, 0.5, 252.5]
    assert "#1f77b4" in skeleton and "stroke-width: 0.8" in skeleton and "v3.10.0" in skeleton
    assert "<!-- 0.5 -->" in skeleton and "DejaVuSans" not in skeleton


def test_use_svg_display_turns_off_path_simplification():
    """With simplification, rounding decides which vertices of a dense curve survive (measured:
    relative noise of 1e-5 changed the path of most such figures); without it each data point is
    one vertex, and the figure compares equal under that noise."""
    import matplotlib

    d2l.use_svg_display()
    assert matplotlib.rcParams["path.simplify"] is False
    x = onp.linspace(-8, 8, 1000)
    draw = lambda y: lambda: d2l.plot(x, [y], xlim=(-8, 8), ylim=(-1.2, 1.2))  # noqa: E731
    y = onp.tanh(x)
    dense = _figure(draw(y))
    curve = max(re.findall(r'<path d="([^"]*)"[^>]*stroke: #1f77b4', dense), key=len)
    assert curve.count("L") == len(x) - 1
    rng = onp.random.default_rng(0)
    for _ in range(3):
        noisy = y * (1 + rng.normal(scale=1e-5, size=y.shape))
        assert nbval_figures.difference(dense, _figure(draw(noisy))) is None


def test_pytest_from_the_repository_root_loads_the_plugin():
    """make test is plain pytest in the repository: pyproject.toml's addopts and pythonpath."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "--trace-config", str(CHAPTER)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plugin = str(ROOT / "tools" / "nbval_figures.py")
    assert re.search(rf"PLUGIN registered: <module 'nbval_figures' from '{re.escape(plugin)}'>", result.stdout)


# --- 2. and 3.: nbval runs -----------------------------------------------------
#
# Every notebook below goes through one nbval run (a kernel each, one pytest start-up), made
# exactly as the project's subprocess runs are: nbtools.nbval_args() with nbtools.nbval_env(),
# from a folder outside the repository, so the plugin must load through them.

def _svg_cells(nb):
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and any(SVG in o.get("data", {}) for o in c.get("outputs", []))]


def _svgs(nb, cell):
    return [o.data[SVG] for o in nb.cells[cell].outputs if SVG in o.get("data", {})]


def _edit_svg(nb, cell, edit):
    nb = copy.deepcopy(nb)
    for out in nb.cells[cell].outputs:
        if SVG in out.get("data", {}):
            out.data[SVG] = edit(out.data[SVG])
    return nb


def _nbval_cell(nb, cell):
    """nbval's number of a cell (it counts code cells only)."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"].index(cell)


SMALL = [
    "%matplotlib inline\nimport numpy as onp\nimport d2lstab as d2l\nd2l.use_svg_display()",
    "x = onp.linspace(0, 6, 60)\nd2l.plot(x, [onp.sin(x), onp.cos(x)], 'x', 'f(x)', legend=['sin', 'cos'])",
]

TAMPER = """\
import matplotlib.axes as _tamper_axes
_tamper_plot = _tamper_axes.Axes.plot
def _tampered_plot(self, *args, **kwargs):  # the first series drawn is scaled by 1.05 in y
    _tamper_axes.Axes.plot = _tamper_plot
    args = list(args)
    arrays = [i for i, a in enumerate(args) if not isinstance(a, str)]
    i = arrays[1] if len(arrays) > 1 else arrays[0]  # plot(x, y, ...) or plot(y, ...)
    y = args[i].asnumpy() if hasattr(args[i], "asnumpy") else args[i]
    args[i] = __import__("numpy").asarray(y, dtype=float) * 1.05
    return _tamper_plot(self, *args, **kwargs)
_tamper_axes.Axes.plot = _tampered_plot
"""


def _with_tamper(source):
    lines = source.splitlines(keepends=True)
    head = [lines.pop(0)] if lines and lines[0].startswith("%%") else []  # a cell magic stays first
    return "".join(head) + TAMPER + "".join(lines)


def _executed(nb, path):
    nbformat.write(nb, path)
    nbtools.execute(path)
    return nbformat.read(path, 4)


def _nbval_outcomes(paths, junit):
    """Run nbval once on ``paths`` (in one folder); per notebook name: (failed cells, their reports)."""
    import xml.etree.ElementTree as ET

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         *nbtools.nbval_args(ROOT), "--color=no", f"--junitxml={junit}",
         f"--rootdir={paths[0].parent}", *(p.name for p in paths)],  # else the sanitizer's path sets it
        capture_output=True, text=True, cwd=paths[0].parent, env={**os.environ, **nbtools.nbval_env(ROOT)},
        timeout=1200)
    assert result.returncode in (0, 1) and junit.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    outcomes = {p.name: ([], []) for p in paths}
    for case in ET.parse(junit).iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            failed, reports = outcomes[case.get("classname")]
            failed.append(int(case.get("name").split()[-1]))
            reports.append((problem.get("message") or "") + "\n" + (problem.text or ""))
    return outcomes, result.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The notebooks, executed here (their stored outputs are this environment's), their
    variants, and the outcome of one nbval run over all of them."""
    folder = tmp_path_factory.mktemp("nbval")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in SMALL]
    small = _executed(nb, folder / "figure.ipynb")
    cell = _svg_cells(small)[0]

    stored = nbformat.read(CHAPTER, 4)  # the chapter up to its first figure
    chapter_cell = _svg_cells(stored)[0]
    stored.cells = stored.cells[: chapter_cell + 1]
    chapter = _executed(copy.deepcopy(stored), folder / "chapter.ipynb")
    tampered = copy.deepcopy(chapter)
    tampered.cells[chapter_cell].source = _with_tamper(tampered.cells[chapter_cell].source)

    appears = copy.deepcopy(small)  # stored without the figure the code makes
    appears.cells[cell].outputs = [o for o in appears.cells[cell].outputs if SVG not in o.get("data", {})]
    variants = {
        "perturbed.ipynb": _edit_svg(small, cell, lambda svg: _rehash(_perturb(svg, 1e-5))),
        "label.ipynb": _edit_svg(small, cell, lambda svg: svg.replace("<!-- cos -->", "<!-- cosh -->")),
        "appears.ipynb": appears,
        "chapter_tampered.ipynb": tampered,
    }
    for name, variant in variants.items():
        nbformat.write(variant, folder / name)
    paths = [folder / n for n in ["figure.ipynb", *variants, "chapter.ipynb"]]
    outcomes, stdout = _nbval_outcomes(paths, folder / "junit.xml")
    return dict(outcomes=outcomes, stdout=stdout, small=small, cell=cell, variants=variants,
                stored_chapter=stored, chapter=chapter, chapter_cell=chapter_cell)


# --- 2. the nbval integration

def test_nbval_passes_the_figure_as_stored(runs):
    assert runs["outcomes"]["figure.ipynb"] == ([], []), runs["stdout"][-3000:]


def test_nbval_passes_a_figure_perturbed_at_rounding_level(runs):
    """Every coordinate of the stored SVG moved by +-1e-5 pt, its hashed ids replaced."""
    stored = _svgs(runs["variants"]["perturbed.ipynb"], runs["cell"])[0]
    assert stored != _svgs(runs["small"], runs["cell"])[0]
    assert runs["outcomes"]["perturbed.ipynb"] == ([], []), runs["stdout"][-3000:]


def test_nbval_fails_a_figure_whose_label_changed(runs):
    failed, reports = runs["outcomes"]["label.ipynb"]
    assert failed == [_nbval_cell(runs["small"], runs["cell"])], runs["stdout"][-3000:]
    assert "Cell outputs differ" in reports[0] and "mismatch 'image/svg+xml'" in reports[0]
    assert "figure 1 of this cell differs beyond rounding" in reports[0]  # the plugin was loaded


def test_nbval_fails_when_a_figure_appears(runs):
    """The stored cell has no figure, the fresh one has: nbval's own check (unchanged) fails it."""
    failed, reports = runs["outcomes"]["appears.ipynb"]
    assert failed == [_nbval_cell(runs["small"], runs["cell"])], runs["stdout"][-3000:]
    assert "Cell outputs differ" in reports[0]


# --- 3. a real chapter's first figure

def test_chapter_figure_passes_nbval(runs):
    assert runs["outcomes"]["chapter.ipynb"] == ([], []), runs["stdout"][-3000:]


def test_chapter_figure_with_a_series_scaled_by_5_percent_fails(runs):
    failed, reports = runs["outcomes"]["chapter_tampered.ipynb"]
    assert failed == [_nbval_cell(runs["chapter"], runs["chapter_cell"])], runs["stdout"][-3000:]
    assert "Cell outputs differ" in reports[0] and "mismatch 'image/svg+xml'" in reports[0]
    assert "figure 1 of this cell differs beyond rounding" in reports[0]


def test_stored_chapter_figure_matches_a_fresh_execution(runs):
    """The chapter's stored first figure is what this environment computes, under the rule.
    (Fails while the chapter's outputs come from another environment: re-execute it.)"""
    cell = runs["chapter_cell"]
    stored, fresh = _svgs(runs["stored_chapter"], cell), _svgs(runs["chapter"], cell)
    assert len(stored) == len(fresh) == 1
    why = nbval_figures.difference(stored[0], fresh[0])
    assert why is None, why
