"""nbval plugin: SVG figures are compared by what they show, not byte by byte.

nbval compares every stored output of a chapter with a fresh execution as
text. For a figure (``image/svg+xml``) that is too strict: the same plot made
on another CPU writes a path coordinate as ``116.912416`` instead of
``116.912412``, and the ids matplotlib derives from coordinates (a clip path's
id is a hash of its rectangle) change with it. This plugin makes nbval accept
such a figure and nothing more. The rule, for the stored SVG and the fresh one
(after nbval's sanitizers, ``tests/nbval_sanitize.cfg``):

1. Each document is split into a *skeleton* and a list of *numbers*. A
   number is a decimal in an attribute value (``d``, ``x``, ``y``,
   ``transform``, ``width``, ``viewBox``, ...; a unit such as ``pt`` stays in
   the skeleton); it is replaced by a placeholder in the skeleton.
2. Ids are renamed by their order of first appearance in each document
   (``id="..."``, ``xlink:href="#..."``, ``url(#...)``), consistently, so
   the two documents' reference graphs must still be the same.
3. The skeletons must be **equal exactly**. They hold every element and
   attribute name and so the number and kind of artists (a curve, a legend,
   a figure that appears or disappears); every number outside attribute
   values: the texts, which matplotlib writes as ``<!-- text -->`` comments
   next to their glyphs (tick labels, axis labels, titles, legend entries:
   compared as text, exactly), and character data (metadata, ``<text>`` in
   case ``svg.fonttype`` is ``none``); the ``style`` attributes (colours,
   line widths, dashes, opacity); and the number of vertices of every path.
4. The numbers must agree within ``TOLERANCE`` = 0.1 (absolute, in SVG
   points, 1/72 inch; glyph outlines are in font units, where 0.1 is even
   less).

Why 0.1 pt is safe both ways (measured with ``d2l.plot`` figures, and the
figures the chapters store):

* It never fails on rounding. Two CPUs disagree in the 6th decimal (4e-6
  pt). Data perturbed at float32 rounding (relative 1e-7) moved coordinates
  by at most 7e-5 pt; relative 1e-4, a thousand times more, by at most
  0.05 pt: that is ~1e-5 to ~1e-2 pt for rounding, 10x below the tolerance.
* It fails on what a reader can see. The smallest axes in the book are
  118 pt high (the widest span of any axes is 54 of them, 118 to 335 pt), so
  a point that moves by 1% of an axis range moves by at least 1.2 pt, 12x
  the tolerance. 0.1 pt is also 0.08% of that axis: about the precision of
  the numbers the chapters print. (On a log axis 1% of the range is 1% of
  its decades.) What moves a curve usually changes its autoscaled limits
  and so the tick labels too, which are text and fail exactly.

Path simplification would break rule 3: matplotlib drops the vertices of a
curve that deviate less than 1/9 pt from a straight line, and rounding
decides which ones (``d2l.use_svg_display()`` turns it off; see there).

How it hooks into nbval: ``IPyNbCell.compare_outputs`` is wrapped. In each
cell, the i-th stored SVG is paired with the i-th fresh one (as nbval pairs
them); a fresh SVG that matches its stored one under the rule is replaced by
the stored text, then nbval's own strict comparison runs on everything:
other mime types, other outputs, and every SVG that did not match, which
fails with nbval's usual "Cell outputs differ" report, followed by one line
per figure saying where it differs.

Activated with ``-p nbval_figures`` (``tools/`` on ``sys.path``): in
pyproject.toml's addopts (with ``pythonpath = ["tools"]``, which pytest
applies before it imports ``-p`` plugins) for ``make test`` and any pytest
run from the repository root, and in ``tools/nbtools.py``'s ``nbval_args()``
with ``nbval_env()`` (``PYTHONPATH``) for nbval runs started elsewhere.
"""
import copy
import re

TOLERANCE = 0.1  # SVG points (1/72 in), absolute
SVG = "image/svg+xml"
PLACEHOLDER = "\u00a7"  # what a number compared within the tolerance becomes in the skeleton
EXACT_ATTRIBUTES = {"style", "version"}

_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)
_COMMENT = re.compile(r"(<!--.*?-->)", re.S)
_TAG = re.compile(r"<[^>]*>")
_ATTR = re.compile(r'([^\s=<>/"\']+)(\s*=\s*)"([^"]*)"')
# A decimal that is not part of a name (DejaVuSans-35, #1f77b4, v3.10.0), maybe followed by a unit.
_NUMBER = re.compile(r"(?<![\w.#-])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
                     r"(?=(?:pt|px|%)?(?![\w.]))")
_URL = re.compile(r"url\(#([^)\s]*)\)")


def parse(svg):
    """``(skeleton, numbers)`` of an SVG document, as the module docstring says."""
    ids = {}
    parts, numbers = [], []

    def canon(name):
        return ids.setdefault(name, f"id{len(ids)}")

    def number(match):
        numbers.append(float(match.group(0)))
        return PLACEHOLDER

    def attribute(match):
        name, eq, value = match.groups()
        if name == "id":
            value = canon(value)
        elif name.endswith("href") and value.startswith("#"):
            value = "#" + canon(value[1:])
        else:
            value = _URL.sub(lambda u: f"url(#{canon(u.group(1))})", value)
            if name not in EXACT_ATTRIBUTES:
                value = _NUMBER.sub(number, value)
        return f'{name}{eq}"{value}"'

    svg = _METADATA.sub("<metadata/>", svg)
    for i, segment in enumerate(_COMMENT.split(svg)):
        if i % 2:  # a comment: matplotlib writes every text it draws as paths here
            parts.append(segment)
            continue
        end = 0
        for tag in _TAG.finditer(segment):
            parts.append(segment[end:tag.start()])  # character data: exact
            parts.append(_ATTR.sub(attribute, tag.group(0)))
            end = tag.end()
        parts.append(segment[end:])
    return "".join(parts), numbers


def _around(text, i, width=70):
    return text[max(0, i - width):i + width].replace("\n", " ")


def difference(reference, test, tolerance=TOLERANCE):
    """None if the two SVG documents show the same figure under the rule, else why not (one line)."""
    if reference == test:
        return None
    skel_r, num_r = parse(reference)
    skel_t, num_t = parse(test)
    if skel_r != skel_t:
        i = next((k for k, (a, b) in enumerate(zip(skel_r, skel_t)) if a != b), min(len(skel_r), len(skel_t)))
        return (f"structure or text differs (numbers shown as {PLACEHOLDER}): stored ...{_around(skel_r, i)!r}... "
                f"vs computed ...{_around(skel_t, i)!r}...")
    off = [k for k, (a, b) in enumerate(zip(num_r, num_t)) if not abs(a - b) <= tolerance]
    if not off:
        return None
    worst = max(off, key=lambda k: abs(num_r[k] - num_t[k]))
    where = -1
    for _ in range(worst + 1):
        where = skel_r.index(PLACEHOLDER, where + 1)
    return (f"{len(off)} of {len(num_r)} numbers differ by more than {tolerance} pt, the most "
            f"{abs(num_r[worst] - num_t[worst]):.4g} (stored {num_r[worst]!r}, computed {num_t[worst]!r}) "
            f"at ...{_around(skel_r, where)!r}...")


def same_figure(reference, test, tolerance=TOLERANCE):
    return difference(reference, test, tolerance) is None


def _text(value):
    return "".join(value) if isinstance(value, list) else value


def accept_matching_figures(cell, test, ref, skip_compare=None):
    """``(test', notes)``: ``test`` with every SVG that matches its stored one replaced by the
    stored text, and one note per SVG that does not match."""
    skip_compare = skip_compare or cell.parent.skip_compare
    if SVG in skip_compare:
        return test, []
    stored = [out for out in ref if SVG in out.get("data", {})]
    fresh = [i for i, out in enumerate(test) if SVG in out.get("data", {})]
    test, notes = list(test), []
    for n, (i, ref_out) in enumerate(zip(fresh, stored), 1):
        ours, theirs = _text(ref_out["data"][SVG]), _text(test[i]["data"][SVG])
        why = difference(cell.sanitize(ours), cell.sanitize(theirs))
        if why is None:
            replaced = copy.copy(test[i])
            replaced["data"] = copy.copy(test[i]["data"])
            replaced["data"][SVG] = ref_out["data"][SVG]
            test[i] = replaced
        else:
            notes.append(f"figure {n} of this cell differs beyond rounding (tools/nbval_figures.py): {why}")
    return test, notes


def pytest_configure(config):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # pragma: no cover - nbval is in requirements.txt
        return
    original = IPyNbCell.compare_outputs
    if getattr(original, "nbval_figures", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        test, notes = accept_matching_figures(self, test, ref, skip_compare)
        same = original(self, test, ref, skip_compare)
        if not same:
            self.comparison_traceback.extend(notes)
        return same

    compare_outputs.nbval_figures = True
    compare_outputs.__wrapped__ = original
    IPyNbCell.compare_outputs = compare_outputs
    config.add_cleanup(lambda: setattr(IPyNbCell, "compare_outputs", original))
