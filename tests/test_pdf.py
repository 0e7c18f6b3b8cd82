"""The PDF edition (``make pdf``): what a reader of the PDF must find in it.

The ``pdf_book`` fixture (tests/conftest.py) builds the PDF of the checkout
with tools/book_pdf.py, which already fails on any Sphinx warning, on a
character missing from the fonts and on undefined references. Here the text
of the PDF (``pdftotext``, Debian's poppler-utils) must contain

- every chapter's title (the first ``# `` heading of each file of _toc.yml),
  with its number for the numbered chapters (in the table of contents and
  the chapter heading), and the bibliography unnumbered;
- every figure caption (``metadata.mystnb.figure.caption`` of the chapters'
  code cells) after its "Figure N.M" label;
- the title of every bibliography entry cited in the book, at least one;

and the page count must be plausible. Text is compared as normalized words:
``$...$`` math and roles (``{cite:p}`...```) are dropped from the source
(each leaves a gap the rest must still match around), hyphenation at line
ends is undone, case and punctuation are ignored. Without TeX or pdftotext
these tests skip, except under CI, where they fail.
"""
import json
import pathlib
import re
import shutil
import subprocess
import unicodedata

import pytest
import nbtools
from conftest import require_tool_or_skip

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Markup in a caption or title that the PDF does not show as written.
_GAPS = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\{[\w:-]+\}`[^`]*`", re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_WORD = re.compile(r"[^\W_]+")
_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                 "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                 "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]


def words(text):
    """Normalized words of rendered text: hyphenation undone, case and punctuation ignored."""
    text = unicodedata.normalize("NFKC", text)  # ligatures, math italic letters
    text = re.sub(r"[-\u00ad\u2010\u2011]\s*\n\s*", "", text)  # a word hyphenated at a line end
    text = re.sub(r"[-\u2010\u2011]", "", text)  # two-layer and twolayer compare equal
    return " ".join(_WORD.findall(text.lower()))


def source_fragments(markdown):
    """The normalized pieces of a caption or title between its math and roles."""
    markdown = _LINK.sub(r"\1", markdown)
    return [w for w in (words(piece) for piece in _GAPS.split(markdown)) if w]


def missing_phrases(pdf_words, phrases, before=""):
    """The phrases (markdown) whose text is not in ``pdf_words`` (from ``words``).

    Each phrase's fragments (split at math and roles) must appear in order,
    each within a few words of the previous one; ``before`` (a regular
    expression over normalized words, e.g. the label "figure 1 2") must come
    right before the first."""
    missing = []
    for phrase in phrases:
        frags = source_fragments(phrase)
        if not frags:
            continue
        pattern = r"(?:^| )" + (f"(?:{before}) " if before else "")
        pattern += r"(?: \S+){0,12} ".join(re.escape(f) for f in frags) + r"(?: |$)"
        if not re.search(pattern, pdf_words):
            missing.append(phrase)
    return missing


# What the book holds, read from the sources.

toc_documents = nbtools.toc_entries  # (file, numbered) for each entry of _toc.yml


def _cells(path):
    if path.suffix == ".ipynb":
        return json.loads(path.read_text())["cells"]
    return [{"cell_type": "markdown", "source": path.read_text(), "metadata": {}}]


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _document(file, root=ROOT):
    for suffix in (".ipynb", ".md"):
        path = (root / file).with_suffix(suffix)
        if path.exists():
            return path
    raise FileNotFoundError(file)


def title(path):
    """The first ``# `` heading of a chapter (notebook or Markdown)."""
    for cell in _cells(path):
        if cell["cell_type"] == "markdown":
            m = re.search(r"^# (.+)$", _source(cell), re.M)
            if m:
                return m.group(1).strip()
    raise AssertionError(f"{path} has no '# ' heading")


def captions(path):
    """The figure captions of a chapter's code cells (metadata.mystnb.figure.caption)."""
    out = []
    for cell in _cells(path):
        fig = (cell.get("metadata", {}).get("mystnb") or {}).get("figure") or {}
        if cell["cell_type"] == "code" and fig.get("caption"):
            out.append(fig["caption"])
    return out


def cited_keys(root=ROOT):
    """The bibliography keys cited by the root document and every file of _toc.yml."""
    files = [root / "index.md"] + [_document(f, root) for f, _ in toc_documents(root)]
    keys = set()
    for path in files:
        for cell in _cells(path):
            for m in re.finditer(r"\{cite(?::\w+)?\}`([^`]*)`", _source(cell)):
                # a key may carry a pre- or postnote: {see}key{p. 5}
                keys.update(re.sub(r"\{[^}]*\}", "", k).strip() for k in m.group(1).split(",")
                            if k.strip())
    return keys


def bib_titles(keys, root=ROOT):
    """key -> the entry's title as plain text, from references.bib."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    bib = parse_file(str(root / "references.bib"))
    return {k: Text.from_latex(bib.entries[k].fields["title"]).render_as("text")
            for k in keys if k in bib.entries}


# The checker, on text made up here (no TeX needed).

SAMPLE = """Figure 3.2: Ten activation func-
tions side by side: ReLU’s slope is 𝛼 = 0.1 for 𝑥 < 0,
a two-layer network (He et al., 2015).
1 Vanishing and exploding gradients . . . . 5
"""


def test_words_undo_line_end_hyphenation_and_ignore_case():
    assert words("Activa-\ntion FUNC-\n  tions, two-layer") == "activation functions twolayer"
    assert words("ﬁrst 𝑥") == "first x"


def test_checker_finds_captions_around_math_and_roles():
    pdf = words(SAMPLE)
    caption = "Ten activation functions side by side: ReLU's slope is $\\alpha=0.1$ for $x<0$"
    assert missing_phrases(pdf, [caption], before="figure 3 2") == []
    assert missing_phrases(pdf, ["A [two-layer](chapters/x.ipynb) network {cite:p}`he2015`."]) == []
    assert missing_phrases(pdf, ["1 Vanishing and exploding gradients"]) == []


def test_checker_reports_a_caption_that_is_not_in_the_pdf():
    pdf = words(SAMPLE)
    absent = "Eleven activation functions side by side"
    assert missing_phrases(pdf, [absent]) == [absent]
    # present, but under another figure's label
    assert missing_phrases(pdf, ["Ten activation functions"], before="figure 3 3") == [
        "Ten activation functions"]
    # the words are there, but not in this order
    assert missing_phrases(pdf, ["side by side functions"]) == ["side by side functions"]


def test_sources_are_read():
    docs = toc_documents()
    assert docs and docs[-1] == ("references", False), docs
    assert all(numbered for _, numbered in docs[:-1])
    assert title(_document(docs[0][0])).lower().startswith("vanishing")
    assert title(ROOT / "references.md") == "References"


# The PDF itself.

@pytest.fixture(scope="module")
def pdf_text(pdf_book):
    exe = shutil.which("pdftotext")
    if exe is None:
        require_tool_or_skip("pdftotext not found: tools/install_tex.sh installs poppler-utils")
    return subprocess.run([exe, "-enc", "UTF-8", str(pdf_book), "-"], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(scope="module")
def pdf_words(pdf_text):
    return words(pdf_text)


def test_every_chapter_title_with_its_number(pdf_words):
    problems = []
    number = 0
    for file, numbered in toc_documents():
        name = title(_document(file))
        if missing_phrases(pdf_words, [name]):
            problems.append(f"title of {file} not in the PDF: {name!r}")
            continue
        head = re.escape(" ".join(source_fragments(name)))
        # the number LaTeX gives this chapter if it numbers it: in the table of
        # contents "3 Activation functions", in the heading "Chapter Three"
        n = number + 1
        spelled = _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)
        in_contents = re.search(rf"(?:^| ){n} {head}(?: |$)", pdf_words)
        in_heading = re.search(rf"(?:^| )chapter (?:{n}|{spelled}) {head}(?: |$)", pdf_words)
        if numbered:
            number = n
            if not in_contents:
                problems.append(f"{file}: no '{n} {name}' in the contents")
            if not in_heading:
                problems.append(f"{file}: no chapter heading 'Chapter {n}' / '{spelled}' before {name!r}")
        elif in_contents or in_heading:
            problems.append(f"{file} is numbered in the PDF ({n}), not in _toc.yml: {name!r}")
    assert not problems, "\n".join(problems)


def test_every_figure_caption_after_its_label(pdf_words):
    problems, total = [], 0
    number = 0
    for file, numbered in toc_documents():
        path = _document(file)
        if not numbered or path.suffix != ".ipynb":
            continue
        number += 1
        # Figures are numbered in order within the chapter; a {figure}
        # directive in the Markdown would take a number too.
        directives = any(cell["cell_type"] == "markdown" and "{figure}" in _source(cell)
                         for cell in _cells(path))
        for k, caption in enumerate(captions(path), start=1):
            total += 1
            label = rf"figure {number} \d+" if directives else f"figure {number} {k}"
            if missing_phrases(pdf_words, [caption], before=label):
                problems.append(f"{file}: Figure {number}.{k} {caption!r}")
    assert not problems, f"{len(problems)} of {total} captions not in the PDF:\n" + "\n".join(problems)


def test_cited_entries_in_the_bibliography(pdf_words):
    keys = cited_keys()
    assert keys, "the book cites nothing ({cite:p}`key`): the PDF would have no bibliography"
    titles = bib_titles(keys)
    assert set(titles) == keys, f"cited but not in references.bib: {sorted(keys - set(titles))}"
    missing = {k: t for k, t in titles.items() if missing_phrases(pdf_words, [t])}
    assert not missing, f"{len(missing)} of {len(titles)} cited entries not in the PDF: {missing}"


def test_page_count_is_plausible(pdf_book, pdf_text):
    pages = pdf_text.count("\f")
    chapters = sum(1 for _, numbered in toc_documents() if numbered)
    # each chapter is several pages; the whole book is not thousands
    assert 4 * chapters <= pages <= 80 * chapters, f"{pages} pages for {chapters} chapters"
    assert pdf_book.stat().st_size > 100_000, "the PDF has no figures?"


def test_nothing_runs_into_the_margin(pdf_book):
    """No line of text, math, code or table is wider than the text (LaTeX's overfull boxes)."""
    latex = pdf_book.parent / "_build" / "latex"
    log = (latex / "d2lstab.log").read_text(errors="replace")
    tex = (latex / "d2lstab.tex").read_text(errors="replace").splitlines()
    problems = []
    for m in re.finditer(r"Overfull \\hbox \(([\d.]+)pt too wide\) .*?lines? (\d+)", log):
        if float(m.group(1)) > 10:
            line = int(m.group(2))
            chapter = next((re.sub(r"^\\chapter\{|\}$", "", t) for t in reversed(tex[:line])
                            if t.startswith("\\chapter{")), "?")
            problems.append(f"{m.group(1)}pt in chapter {chapter!r}, d2lstab.tex:{line}: "
                            f"{' '.join(tex[line - 1:line + 3])[:200]!r}")
    assert not problems, f"{len(problems)} lines run into the margin:\n" + "\n".join(problems)
