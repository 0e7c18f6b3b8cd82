#!/usr/bin/env python3
"""Chapter tooling: the Colab header, new chapters, execution in place.

    python tools/nbtools.py header [NOTEBOOK ...]   # rewrite cell 1 from the template
    python tools/nbtools.py new chapters/NN_name.ipynb "Title"
    python tools/nbtools.py execute NOTEBOOK [...]  # run from a fresh kernel, store outputs
    python tools/nbtools.py check [NOTEBOOK ...]    # the lint the tests run

Every chapter's first cell is generated from HEADER_TEMPLATE with the
repository URL and branch read from ``_config.yml``, so it is identical in
all chapters. Outside Google Colab it does nothing and prints nothing.
"""
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"

# What the header installs in Colab (MXNet's pin must match requirements-mxnet.txt) and the
# Pythons it serves (d2lstab._compat.SUPPORTED_PYTHON). It installs nothing else: Colab's
# NumPy, matplotlib, scikit-learn, requests and setuptools are what d2lstab needs
# (colab/runtime.toml; tests/test_colab.py checks both).
MXNET_PIN = "mxnet==1.9.1"
PYTHON_RANGE = ((3, 10), (3, 13))

HEADER_TEMPLATE = '''\
# Colab setup: installs MXNet 1.9.1 and d2lstab, keeping Colab's NumPy.
# Outside Colab it does nothing.
import os, sys
if "google.colab" in sys.modules:
    if not {low} <= sys.version_info[:2] <= {high}:
        raise SystemExit(
            "This book needs Python {low_text} to {high_text}; this runtime has "
            "Python %d.%d. Open the command palette (Tools > Command palette, "
            "or Ctrl+Shift+P), choose 'Change runtime version', pick the "
            "Python {high_text} runtime, then run this notebook again."
            % sys.version_info[:2])
    import subprocess
    # --no-deps: MXNet's wheel asks for numpy<2; all d2lstab needs is
    # preinstalled in Colab.
    _src = "git+{url}@{branch}"
    _src = os.environ.get("D2LSTAB_SOURCE", _src)
    _cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
            "{mxnet}", _src]
    _pip = subprocess.run(_cmd, capture_output=True, text=True)
    if _pip.returncode:
        print(_pip.stdout + _pip.stderr)
        raise SystemExit("pip could not install MXNet and d2lstab "
                         "(its messages are above).")'''

SEED_PATTERN = re.compile(r"^d2l\.seed\(0\)\s*$", re.M)


def repository():
    """(url, branch) from ``_config.yml``."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def header_source():
    url, branch = repository()
    low, high = PYTHON_RANGE
    return HEADER_TEMPLATE.format(url=url, branch=branch, mxnet=MXNET_PIN, low=low, high=high,
                                  low_text="%d.%d" % low, high_text="%d.%d" % high)


def nbval_args(root=ROOT):
    """The options of the notebook regression run (nbval, strict), for any pytest
    command line that validates chapters outside pyproject.toml's addopts (the
    tamper tests, the determinism test, the mutation run, the benchmarks).
    They load ``tools/nbval_figures.py`` (SVG figures compared within 0.1 pt), which
    pyproject.toml makes importable only for runs from the repository root: run them
    with ``env={**os.environ, **nbval_env(root)}``."""
    return ["-p", "nbval_figures", "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
            str(pathlib.Path(root) / "tests" / "nbval_sanitize.cfg"), "--nbval-cell-timeout", "600"]


def nbval_env(root=ROOT):
    """The environment variables a pytest run with ``nbval_args(root)`` needs, to update
    ``os.environ`` with: ``root/tools`` put first on ``PYTHONPATH``, so that
    ``-p nbval_figures`` imports from any working directory."""
    tools = str(pathlib.Path(root) / "tools")
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": tools + (os.pathsep + rest if rest else "")}


def copy_checkout(dest):
    """Copy the files of this checkout as they are now (tracked, and untracked but not
    ignored) into ``dest``: what a ``pip install`` of the repository would see. Returns ``dest``."""
    import shutil
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listed):
        src = ROOT / name.decode()
        if src.is_file():
            target = pathlib.Path(dest) / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return pathlib.Path(dest)


def toc_entries(root=ROOT):
    """(file, numbered) for each file of _toc.yml in book order (with or without parts)."""
    import yaml

    toc = yaml.safe_load((pathlib.Path(root) / "_toc.yml").read_text())
    parts = toc.get("parts") or [{"chapters": toc.get("chapters", []), "numbered": toc.get("numbered")}]
    return [(entry["file"], bool(part.get("numbered")))
            for part in parts for entry in part.get("chapters", []) if "file" in entry]


def toc_files(root=ROOT):
    """The files of _toc.yml in book order, as written there."""
    return [file for file, _ in toc_entries(root)]


def toc_chapters(root=ROOT):
    """The notebook chapters of _toc.yml in book order, as paths."""
    root = pathlib.Path(root)
    return [(root / f).with_suffix(".ipynb") for f in toc_files(root)
            if (root / f).with_suffix(".ipynb").exists()]


def chapter_paths(args=()):
    if args:
        return [pathlib.Path(a).resolve() for a in args]
    return sorted(p for p in CHAPTERS.glob("*.ipynb"))


def read(path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def write(nb, path):
    import nbformat

    nbformat.write(nb, str(path))


def set_header(nb):
    """Make the first cell the standard header (inserting it if needed)."""
    import nbformat

    source = header_source()
    cells = nb.cells
    if cells and cells[0].cell_type == "code" and cells[0].source.startswith("# Colab setup"):
        cells[0].source = source
    else:
        cells.insert(0, nbformat.v4.new_code_cell(source))
    # Hidden in the HTML book (it does nothing there); shown in Colab and Jupyter.
    cells[0].metadata["tags"] = ["remove-cell"]
    return nb


def cmd_header(args):
    for path in chapter_paths(args):
        nb = set_header(read(path))
        write(nb, path)
        print(f"header: {path.relative_to(ROOT)}")


def cmd_new(args):
    import nbformat

    if len(args) != 2:
        sys.exit("usage: nbtools.py new chapters/NN_name.ipynb 'Title'")
    path, title = pathlib.Path(args[0]), args[1]
    if path.exists():
        sys.exit(f"{path} exists")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport d2lstab as d2l\nfrom mxnet import autograd, gluon, init, np, npx\n\nd2l.seed(0)\nd2l.use_svg_display()"),
    ]
    set_header(nb)
    # the title must come first on the page, so the header goes before it but renders nothing
    write(nb, path)
    print(f"created {path}")


def _clean_metadata(nb):
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
    return nb


def execute(path, timeout=600):
    """Execute a notebook from a fresh kernel in its own folder and store outputs."""
    from nbclient import NotebookClient

    nb = read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(pathlib.Path(path).parent)}})
    client.execute()
    write(_clean_metadata(nb), path)


def cmd_execute(args):
    import time

    for path in chapter_paths(args):
        tic = time.perf_counter()
        execute(path)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"executed {shown} in {time.perf_counter() - tic:.1f} s")


# What a reader must never see (issue 13). Each pattern is checked in the text
# a reader sees: markdown cells and the source of code cells.
MAX_COLUMNS = 79
PLACEHOLDER_PARAGRAPH = re.compile(r"^\s*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\s*$")
PLACEHOLDER_WORDS = re.compile(r"\b(?:TODO|FIXME|TBD|XXX)\b|lorem ipsum|\?\?\?", re.I)
# The book's working notes are never a source: cite the works they summarize.
NOTES_WORDS = re.compile(r"\bthe seeds\b|\bseed notes?\b|\bworking notes\b|\b(?:the|our|my) notes\b"
                         r"|[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", re.I)
PLUMBING_CODE = re.compile(r"NBVAL|nbval|pytest", re.I)
PLUMBING_PROSE = re.compile(r"nbval|pytest|\btests/test_\w+|\b(?:our|the book's|the project's|the)"
                            r" (?:unit )?tests (?:check|hold|assert|verify|make sure|ensure|pin)"
                            r"|\btest suite\b", re.I)
# "chapter 4" / "equation (3)" in prose must be links ([chapter 4](04_x.ipynb), {eq}`label`).
_LINKED = re.compile(r"\[[^\]]*\]\([^)]*\)|\{[a-z:]+\}`[^`]*`|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", re.S)
UNLINKED_REF = re.compile(r"\b(?:chapters?|equations?|eqs?\.|figures?|fig\.|exercises?)[ \u00a0]\(?\d", re.I)
EXERCISE = re.compile(r"^```\{exercise\}[^\n]*\n(?::[a-z-]+:[^\n]*\n)*?:label:\s*(\S+)", re.M)
SOLUTION = re.compile(r"^```\{solution(?:-start)?\}\s+(\S+)", re.M)


def _image_outputs(cell):
    return [o for o in cell.get("outputs", [])
            if any(k.startswith("image/") for k in o.get("data", {}))]


def _output_lines(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            yield from str(out.get("text", "")).splitlines()
        elif "data" in out and not any(k.startswith("image/") for k in out["data"]):
            yield from str(out["data"].get("text/plain", "")).splitlines()


def reader_text_problems(nb):
    """What a reader should not see: placeholders, working-notes words, test
    plumbing, lines wider than the column, unlinked cross-references, figures
    without number, caption or alt text, exercises without a solution."""
    problems = []
    exercises, solutions = [], []
    for n, cell in enumerate(nb.cells):
        where = f"cell {n} ({cell.cell_type})"
        src = cell.source
        if cell.cell_type == "markdown":
            for para in re.split(r"\n\s*\n", src):
                if PLACEHOLDER_PARAGRAPH.match(para):
                    problems.append(f"{where}: placeholder paragraph {para.strip()!r}")
            plumbing = PLUMBING_PROSE
            prose = _LINKED.sub(" ", src)
            for m in UNLINKED_REF.finditer(prose):
                problems.append(f"{where}: {m.group(0)!r}... is plain text: make it a link "
                                "([chapter N](NN_name.ipynb), {eq}`label`, {numref}`label`)")
            for para in re.split(r"\n\s*\n", src):
                opened = 0  # single $ seen so far in this paragraph ($$ blocks excepted)
                for line in para.split("\n"):
                    if opened % 2 and re.match(r"\s*[-+*] ", line):
                        problems.append(f"{where}: a line inside $...$ starts with {line.strip()[:2]!r}, "
                                        "which Markdown reads as a list item: move the operator up a line")
                    opened += len(re.findall(r"(?<![$\\])\$(?!\$)", line))
            exercises += EXERCISE.findall(src)
            solutions += SOLUTION.findall(src)
        elif cell.cell_type == "code":
            plumbing = PLUMBING_CODE
            for i, line in enumerate(src.splitlines(), 1):
                if len(line) > MAX_COLUMNS:
                    problems.append(f"{where}: code line {i} has {len(line)} > {MAX_COLUMNS} characters")
            for i, line in enumerate(_output_lines(cell), 1):
                if len(line) > MAX_COLUMNS:
                    problems.append(f"{where}: output line {i} has {len(line)} > {MAX_COLUMNS} characters")
            images = _image_outputs(cell)
            if len(images) > 1:
                problems.append(f"{where}: {len(images)} figures in one cell (one per cell, each captioned)")
            if images:
                meta = cell.metadata.get("mystnb", {})
                fig, img = meta.get("figure", {}), meta.get("image", {})
                if not str(fig.get("caption", "")).strip() or not str(fig.get("name", "")).startswith("fig-"):
                    problems.append(f"{where}: figure without caption or name "
                                    "(metadata mystnb.figure.caption / .name 'fig-...')")
                if len(str(img.get("alt", "")).strip()) < 20:
                    problems.append(f"{where}: figure without alt text (metadata mystnb.image.alt)")
        else:
            continue
        for m in PLACEHOLDER_WORDS.finditer(src):
            problems.append(f"{where}: placeholder {m.group(0)!r}")
        for m in NOTES_WORDS.finditer(src):
            problems.append(f"{where}: {m.group(0)!r} refers to the working notes: cite the works instead")
        if n > 0:
            for m in plumbing.finditer(src):
                problems.append(f"{where}: test plumbing visible to readers: {m.group(0)!r}")
    if not exercises:
        problems.append("no exercises ({exercise} directives with :label:)")
    for label in exercises:
        if label not in solutions:
            problems.append(f"exercise {label} has no solution ({{solution}} {label})")
    for label in solutions:
        if label not in exercises:
            problems.append(f"solution for {label}, which is not an exercise of this chapter")
    starts = sum(c.source.count("```{solution-start}") for c in nb.cells if c.cell_type == "markdown")
    ends = sum(c.source.count("```{solution-end}") for c in nb.cells if c.cell_type == "markdown")
    if starts != ends:
        problems.append(f"{starts} solution-start but {ends} solution-end directives")
    return problems


def lint(path, toc_text=None):
    """Problems with one chapter, as a list of strings (empty when clean)."""
    problems = []
    nb = read(path)
    rel = path.relative_to(ROOT).with_suffix("").as_posix()
    if toc_text is None:
        toc_text = (ROOT / "_toc.yml").read_text()
    if not re.search(rf"^\s*-?\s*file:\s*{re.escape(rel)}\s*$", toc_text, re.M):
        problems.append(f"{rel} is not listed in _toc.yml")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != header_source():
        problems.append("the first code cell is not the standard Colab header (run: python tools/nbtools.py header)")
    if nb.cells and nb.cells[0] is not (code[0] if code else None):
        problems.append("the Colab header must be the very first cell")
    elif code and code[0].metadata.get("tags") != ["remove-cell"]:
        problems.append("the Colab header must carry the tag remove-cell (hidden in the HTML book)")
    if len(code) < 2 or not SEED_PATTERN.search(code[1].source) or "import d2lstab as d2l" not in code[1].source:
        problems.append("the second code cell must import d2lstab as d2l and call d2l.seed(0)")
    counts = []
    for i, cell in enumerate(code):
        if not cell.source.strip():
            problems.append(f"code cell {i} is empty")
            continue
        if cell.execution_count is None:
            problems.append(f"code cell {i} has no stored execution")
        counts.append(cell.execution_count)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"code cell {i} stored an error: {out.get('ename')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"code cell {i} stored stderr output (a warning?): {out.get('text', '')[:120]!r}")
    if counts and counts != list(range(1, len(counts) + 1)):
        problems.append(f"execution counts are {counts}, not 1..{len(counts)}: "
                        "the notebook was not run top to bottom in a fresh kernel")
    problems += reader_text_problems(nb)
    return problems


def cmd_check(args):
    bad = 0
    for path in chapter_paths(args):
        for p in lint(path):
            print(f"{path.relative_to(ROOT)}: {p}")
            bad += 1
    sys.exit(1 if bad else 0)


def main(argv):
    commands = {"header": cmd_header, "new": cmd_new, "execute": cmd_execute, "check": cmd_check}
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    commands[argv[1]](argv[2:])


if __name__ == "__main__":
    main(sys.argv)
