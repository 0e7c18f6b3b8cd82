"""The PDF edition of the book: one PDF of the whole book, by Jupyter Book's LaTeX builder.

``build_pdf(out_dir)`` runs, with a fresh Sphinx environment::

    jupyter-book build ROOT --builder pdflatex -W -n --keep-going --path-output OUT_DIR

(xelatex, via sphinx-jupyterbook-latex; settings in ``_config.yml``'s ``latex:``
section and ``sphinx.config.latex_*`` keys, tools/book_latex.py and
tools/latex/) and returns ``OUT_DIR/d2lstab.pdf``. It raises
``PdfBuildError`` with the tail of the log when the build fails, when Sphinx
warns (``-W``: the same rules as ``make book``), or when the LaTeX log reports
a character missing from the fonts, an undefined reference or citation, or a
font substitution.

Command line (``make pdf``)::

    python tools/book_pdf.py              # build into _build/pdf, copy to _build/html
    python tools/book_pdf.py --if-tex     # the same, or a one-line note if TeX is absent (make book)

The PDF is written to ``_build/pdf/d2lstab.pdf`` and copied to
``_build/html/d2lstab.pdf``, which the home page links. TeX comes from Debian's
packages: ``tools/install_tex.sh`` (as root) installs them.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAME = "d2lstab.pdf"
# What the build runs: xelatex and latexmk (TeX Live), make (Sphinx's LaTeX
# Makefile), rsvg-convert (the SVG figures to PDF).
TOOLS = ("xelatex", "latexmk", "make", "rsvg-convert")
INSTALL_HINT = "run tools/install_tex.sh (as root) to install TeX Live and the fonts from Debian's packages"

# LaTeX log lines that are faults of the book, not noise of the packages.
LOG_PROBLEMS = re.compile(
    r"^(Missing character: .*"
    r"|LaTeX Warning: (Reference|Citation|Hyper reference) .* undefined.*"
    r"|LaTeX Warning: There were undefined references.*"
    r"|LaTeX Font Warning: Font shape .* undefined.*"
    r"|! .*)$", re.MULTILINE)


class PdfBuildError(RuntimeError):
    pass


def missing_tools():
    """The programs the PDF build needs that are not on the PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def jupyter_book():
    exe = pathlib.Path(sys.executable).parent / "jupyter-book"
    return str(exe) if exe.exists() else (shutil.which("jupyter-book") or str(exe))


def command(out_dir, root=ROOT):
    return [jupyter_book(), "build", str(root), "--builder", "pdflatex",
            "-W", "-n", "--keep-going", "--path-output", str(out_dir)]


def latex_log_problems(log_text):
    """The lines of a LaTeX log that make the PDF build fail (missing glyphs, undefined refs)."""
    return sorted(set(m.group(0) for m in LOG_PROBLEMS.finditer(log_text)))


def build_pdf(out_dir, root=ROOT, timeout=1800):
    """Build the whole book as one PDF into ``out_dir``; return ``out_dir/d2lstab.pdf``."""
    missing = missing_tools()
    if missing:
        raise PdfBuildError(f"{', '.join(missing)} not found: {INSTALL_HINT}")
    out_dir = pathlib.Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    build = out_dir / "_build"
    # A fresh environment: Sphinx reports a page's warnings only when it reads
    # the page, so a cached environment would hide them.
    for stale in (build / ".doctrees", build / "latex"):
        shutil.rmtree(stale, ignore_errors=True)
    # xelatex stops at the first error instead of waiting for an answer, and
    # does not wrap the lines of its log (so a warning is one line).
    env = dict(os.environ, LATEXOPTS="-interaction=nonstopmode -halt-on-error",
               max_print_line="10000")
    result = subprocess.run(command(out_dir, root), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=timeout, cwd=str(root), env=env)
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    latex = build / "latex"
    pdf = latex / NAME
    tex_log = latex / pathlib.Path(NAME).with_suffix(".log").name
    tex_log_text = tex_log.read_text(errors="replace") if tex_log.exists() else ""

    def fail(what, detail):
        raise PdfBuildError(f"{what} ({' '.join(command(out_dir, root))}):\n{detail}")

    warnings = [line for line in log.splitlines() if "WARNING" in line]
    if warnings:
        fail(f"the PDF build warned ({len(warnings)} warnings)", "\n".join(warnings[:50]))
    if result.returncode != 0 or not pdf.exists():
        fail("the PDF build failed", log[-6000:] + ("\n--- LaTeX log tail ---\n" + tex_log_text[-3000:]
                                                    if tex_log_text else ""))
    problems = latex_log_problems(tex_log_text)
    if problems:
        fail(f"the LaTeX log of {tex_log} reports problems", "\n".join(problems[:50]))
    target = out_dir / NAME
    shutil.copy2(pdf, target)
    return target


def main(argv):
    if_tex = "--if-tex" in argv
    missing = missing_tools()
    if missing:
        if if_tex:
            print(f"PDF edition skipped: {', '.join(missing)} not found ({INSTALL_HINT}).")
            return 0
        print(f"make pdf: {', '.join(missing)} not found: {INSTALL_HINT}.", file=sys.stderr)
        return 1
    try:
        pdf = build_pdf(ROOT / "_build" / "pdf")
    except PdfBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    html = ROOT / "_build" / "html"
    html.mkdir(parents=True, exist_ok=True)
    shutil.copy2(pdf, html / NAME)
    print(f"PDF edition: {pdf.relative_to(ROOT)} (copied to {(html / NAME).relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
