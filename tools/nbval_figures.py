"""nbval plugin: SVG figures are compared by what they show, not byte by byte.

nbval compares every stored output of a chapter with a fresh execution as
text. For a figure (``image/svg+xml``) that is too strict: the same plot made
on another CPU writes a path coordinate as ``116.912416`` instead of
``116.912412``, and the ids matplotlib derives from coordinates (a clip path's
id hashes its rectangle) change with it. This plugin makes nbval accept such
a figure, and nothing more. The rule, applied to the stored SVG and the fresh
one after nbval's sanitizers (``tests/nbval_sanitize.cfg``):

1. Each document becomes a *skeleton* and a list of *numbers*: every
   decimal in an attribute value (``d``, ``x``, ``y``, ``transform``,
   ``width``, ``viewBox``, ...; a unit such as ``pt`` stays in the skeleton)
   is a number and leaves a placeholder in the skeleton.
2. Ids are renamed by their order of first appearance in each document
   (``id="..."``, ``xlink:href="#..."``, ``url(#...)``), consistently: the
   two documents must still reference the same things from the same places.
3. The skeletons must be **equal exactly**. They hold every element and
   attribute name, so the number and kind of artists (a curve, a legend, an
   axes) and the number of vertices of every path; every text, which
   matplotlib writes as a ``<!-- text -->`` comment next to its glyphs
   (tick labels, axis labels, titles, legend entries are compared as text,
   exactly: "0.5" against "0.51" fails); character data (``<text>`` if
   ``svg.fonttype`` is ``none``); the ``style`` attributes (colours, line
   widths, dashes, opacity); the XML version and namespaces. The
   ``<metadata>`` block is left out: it is not drawn, and holds only
   matplotlib's version (and a date, which ``use_svg_display()`` drops).
4. The numbers must agree within ``TOLERANCE`` = 0.1, absolute, in SVG
   points (1/72 inch). Glyph outlines are numbers too, in font units, where
   0.1 is far less than a point.

Whether a figure appears or disappears, and every other mime type, is left to
nbval's own comparison.

Why 0.1 pt is safe both ways (measured with ``d2l.plot`` figures of 50 to
1000 points, and on the 54 axes the chapters store):

* It never fails on rounding. Two CPUs disagree in the 6th decimal (4e-6
  pt). Plotted data perturbed at float32 rounding (relative noise 1e-7)
  moved coordinates by at most 7e-5 pt; relative noise 1e-4, a thousand
  times more than rounding, by at most 0.05 pt. So rounding-level
  differences are 1e-5 to 1e-2 pt: 10x to 10,000x below the tolerance.
* It fails on what a reader can see. The smallest axes in the book are
  118 pt high (the others up to 335 pt), so a point that moves by 1% of an
  axis range moves by at least 1.2 pt, 12x the tolerance. 0.1 pt is 0.08%
  of that axis, about the precision of the numbers the chapters print. (On
  a log axis 1% of the range is 1% of its decades.) A change that moves a
  curve usually also changes its autoscaled limits and so the tick labels,
  which are text and fail exactly.

Path simplification would break rule 3: matplotlib drops the vertices of a
curve that deviate less than 1/9 pt from a straight line, and rounding then
decides which ones survive. ``d2l.use_svg_display()`` turns it off (its
docstring has the measurement).

How it hooks into nbval: ``nbval.plugin.IPyNbCell.compare_outputs`` is
wrapped. In each cell the i-th stored SVG is paired with the i-th fresh one,
as nbval pairs them; a fresh SVG that matches its stored one under the rule
is replaced by the stored text, then nbval's own strict comparison runs on
everything. So other mime types and outputs, and every SVG that does not
match, fail with nbval's usual "Cell outputs differ" report, followed here by
one line per figure that says where it differs.

Activation: ``-p nbval_figures`` with ``tools/`` importable. pyproject.toml
has it in addopts, with ``pythonpath = ["tools"]`` (pytest 9 puts that on
``sys.path`` before it imports ``-p`` plugins), for ``make test`` and every
pytest run whose rootdir is the repository. ``tools/nbtools.py``'s
``nbval_args()`` has it too, for the nbval runs the tools and tests start
themselves; they run with ``nbval_env()`` (``tools/`` on ``PYTHONPATH``), so
it loads from any folder, e.g. a notebook copied to a temporary one.
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
            if name not in EXACT_ATTRIBUTES and not name.startswith("xmlns"):
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


def _element(skeleton, i):
    """The element (or comment) of ``skeleton`` around position ``i``, shortened for a report."""
    start, end = skeleton.rfind("<", 0, i + 1), skeleton.find(">", i)
    piece = skeleton[start:end + 1] if start >= 0 and end >= 0 else skeleton[max(0, i - 60):i + 60]
    piece = re.sub(r"\s+", " ", piece)
    piece = re.sub(rf"(?:[A-Za-z]? ?{PLACEHOLDER}[ ,]*){{3,}}",
                   lambda m: f"[{m.group(0).count(PLACEHOLDER)} numbers] ", piece)
    return piece if len(piece) <= 300 else piece[:300] + "..."


def difference(reference, test, tolerance=TOLERANCE):
    """None if the two SVG documents show the same figure under the rule, else why not (one line)."""
    if reference == test:
        return None
    skel_r, num_r = parse(reference)
    skel_t, num_t = parse(test)
    if skel_r != skel_t:
        i = next((k for k, (a, b) in enumerate(zip(skel_r, skel_t)) if a != b), min(len(skel_r), len(skel_t)))
        return (f"structure or text differs: stored {_element(skel_r, i)!r}, computed {_element(skel_t, i)!r} "
                f"(ids renamed, {PLACEHOLDER} = a number)")
    off = [k for k, (a, b) in enumerate(zip(num_r, num_t)) if not abs(a - b) <= tolerance]
    if not off:
        return None
    worst = max(off, key=lambda k: abs(num_r[k] - num_t[k]))
    where = -1
    for _ in range(worst + 1):
        where = skel_r.index(PLACEHOLDER, where + 1)
    return (f"{len(off)} of {len(num_r)} numbers differ by more than {tolerance} pt, the most by "
            f"{abs(num_r[worst] - num_t[worst]):.4g} (stored {num_r[worst]!r}, computed {num_t[worst]!r}) "
            f"in {_element(skel_r, where)!r}")


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
