"""Sphinx extension for the PDF edition (``make pdf``, tools/book_pdf.py).

Listed in ``_config.yml`` under ``sphinx: local_extensions``; it does nothing
for the HTML builders except load the SVG converter, which only acts when a
builder cannot show SVG.

1. The chapters store their figures as SVG; LaTeX cannot include SVG, so
   sphinxcontrib-svg2pdfconverter's ``rsvg-convert`` converter (Debian's
   librsvg2-bin, installed by tools/install_tex.sh) turns each into a PDF.
   myst-nb picks the SVG output for the latex builder because of
   ``nb_mime_priority_overrides`` in ``_config.yml``.
2. In HTML only the chapters of a ``numbered: true`` part of ``_toc.yml`` are
   numbered; LaTeX numbers every ``\\chapter``, so the bibliography
   (references.md) would come out as "Chapter 10". Before each top-level
   document we insert ``\\dlsnumbered`` or ``\\dlsunnumbered``
   (tools/latex/d2lstab.sty), from whether Sphinx numbered it.
3. sphinx-exercise writes exercises and solutions as LaTeX admonitions (framed
   boxes) without telling Sphinx's writer, so a captioned figure in a solution
   became a float inside a box ("Not in outer par mode"). Its LaTeX visitors
   are wrapped to count as an admonition, as Sphinx's own do: figures there are
   placed where they stand (``[H]``).
4. A {numref} to an exercise of another chapter: sphinx-exercise rewrites
   only same-page references for LaTeX, so Sphinx wrote a ``\\ref`` to a
   label that does not exist (an undefined reference, "Exercise ??"). Those
   are rewritten the way sphinx-exercise rewrites the others: a link to its
   ``exercise:LABEL`` with the text Sphinx resolved ("Exercise 2.8.5"); and
   the space of "Solution to Exercise 1.7.1" is moved out of the link, where
   LaTeX dropped it.
5. Sphinx sets a table without a class as ``tabulary``, one box that cannot
   break across pages: a table of long cells (chapter 9's defaults and
   evidence) ran over the bottom of the page. A table estimated to fill most
   of a page becomes a ``longtable``, which breaks between rows, with column
   widths in proportion to the text of each column (Sphinx would make a
   classless longtable of unbreakable ``l`` columns).
"""
from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


class ChapterNumbering(SphinxPostTransform):
    """Mark each document of the assembled LaTeX doctree as numbered or not."""

    builders = ("latex",)
    # after sphinx-jupyterbook-latex's LatexRootDocPostTransforms (700)
    default_priority = 710

    def run(self, **kwargs):
        secnumbers = self.env.toc_secnumbers
        for start in self.document.findall(addnodes.start_of_file):
            docname = start.get("docname")
            if docname not in self.env.all_docs:
                continue  # a part heading made by sphinx-jupyterbook-latex
            if any(isinstance(a, addnodes.start_of_file) and a.get("docname") in self.env.all_docs
                   for a in _ancestors(start)):
                continue  # only top-level documents (chapters) switch numbering
            numbered = bool(secnumbers.get(docname))
            command = r"\dlsnumbered" if numbered else r"\dlsunnumbered"
            start.insert(0, nodes.raw("", command + "\n", format="latex"))


class ExerciseReferences(SphinxPostTransform):
    """Cross-chapter references to exercises, linked as sphinx-exercise links the others."""

    builders = ("latex",)
    # after sphinx-exercise's ResolveLinkTextToSolutions (22)
    default_priority = 23

    def run(self, **kwargs):
        registry = getattr(self.env, "sphinx_exercise_registry", None)
        if not registry:
            return
        from sphinx_exercise.nodes import exercise_enumerable_node, exercise_latex_number_reference

        for node in list(self.document.findall(nodes.reference)):
            uri = node.get("refuri", "")
            if node.get("refid") or not uri.startswith("%") or "#" not in uri:
                continue
            label = uri.rsplit("#", 1)[1]
            target = registry.get(label)
            if target is None or not isinstance(target.get("node"), exercise_enumerable_node):
                continue
            new = exercise_latex_number_reference()
            new["refid"] = label
            new += node.children
            node.replace_self(new)
        # "Solution to Exercise 1.7.1": sphinx-exercise puts the space inside
        # the link, where LaTeX drops it ("Solution toExercise 1.7.1").
        for node in list(self.document.findall(exercise_latex_number_reference)):
            first = node.children[0] if node.children else None
            if isinstance(first, nodes.Text) and first.astext()[:1].isspace():
                node.replace(first, nodes.Text(first.astext().lstrip()))
                node.parent.insert(node.parent.index(node), nodes.Text(" "))


def _fit(shares, mins):
    """Shares summing to 1: the columns above their minimum give up the excess."""
    excess = sum(shares) - 1
    slack = [x - m for x, m in zip(shares, mins)]
    if excess <= 0 or sum(slack) <= excess:
        return [x / sum(shares) for x in shares]
    return [x - excess * d / sum(slack) for x, d in zip(shares, slack)]


def _longest_word(entry):
    """The longest word of a table cell, in characters of text (code counts 1.4 times)."""
    longest = 0
    for text in entry.findall(nodes.Text):
        code = isinstance(text.parent, nodes.literal)
        for word in text.astext().split():
            longest = max(longest, len(word) * (1.4 if code else 1.0))
    return longest


class TallTables(SphinxPostTransform):
    """Tables that would not fit on a page become longtables with set column widths."""

    builders = ("latex",)
    default_priority = 700
    CHARS_PER_LINE = 110  # characters of text in a line of the full text width
    LINES_PER_PAGE = 50
    MIN_SHARE = 0.12  # no column narrower than this fraction of the width

    def run(self, **kwargs):
        for table in list(self.document.findall(nodes.table)):
            classes = set(table.get("classes", []))
            if classes & {"longtable", "colwidths-given", "tabular", "tabulary"}:
                continue
            tgroups = [n for n in table.children if isinstance(n, nodes.tgroup)]
            if len(tgroups) != 1:
                continue
            tgroup = tgroups[0]
            colspecs = [n for n in tgroup.children if isinstance(n, nodes.colspec)]
            rows = list(tgroup.findall(nodes.row))
            if not colspecs or not rows or any(
                    len([e for e in row.children if isinstance(e, nodes.entry)]) != len(colspecs)
                    for row in rows):
                continue  # merged cells: leave the table to Sphinx
            lengths = [[len(entry.astext()) for entry in row.children if isinstance(entry, nodes.entry)]
                       for row in rows]
            totals = [sum(col) + 1 for col in zip(*lengths)]
            # and wide enough for the longest word of the column, unhyphenated
            longest = [max((_longest_word(row.children[j]) for row in rows), default=0)
                       for j in range(len(colspecs))]
            mins = [max(self.MIN_SHARE, (w + 3) / self.CHARS_PER_LINE) for w in longest]
            shares = _fit([max(m, t / sum(totals)) for m, t in zip(mins, totals)], mins)
            lines = sum(max(-(-n // max(1, int(self.CHARS_PER_LINE * x))) for n, x in zip(row, shares))
                        for row in lengths)
            if lines < 0.8 * self.LINES_PER_PAGE:
                continue
            for colspec, share in zip(colspecs, shares):
                colspec["colwidth"] = max(1, round(100 * share))
            table["classes"] = list(table.get("classes", [])) + ["longtable", "colwidths-given"]


def _in_place(visit, depart):
    def visit_in_place(self, node):
        visit(self, node)
        self.no_latex_floats += 1

    def depart_in_place(self, node):
        self.no_latex_floats -= 1
        depart(self, node)

    return visit_in_place, depart_in_place


def exercise_figures_in_place(app):
    if app.builder.name != "latex" or "sphinx_exercise" not in app.extensions:
        return
    from sphinx_exercise import nodes as ex

    for node, visit, depart in (
            (ex.exercise_node, ex.visit_exercise_node, ex.depart_exercise_node),
            (ex.exercise_enumerable_node, ex.visit_exercise_enumerable_node,
             ex.depart_exercise_enumerable_node),
            (ex.solution_node, ex.visit_solution_node, ex.depart_solution_node)):
        app.registry.add_translation_handlers(node, latex=_in_place(visit, depart))


def setup(app):
    app.setup_extension("sphinxcontrib.rsvgconverter")
    app.add_post_transform(ChapterNumbering)
    app.add_post_transform(ExerciseReferences)
    app.add_post_transform(TallTables)
    app.connect("builder-inited", exercise_figures_in_place)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
