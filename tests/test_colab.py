"""Colab as it is today, simulated: Python 3.12 with NumPy 2 already loaded.

What a reader does in Colab, and what we do here:

1. Colab's runtime is a Python 3.12 kernel whose environment already has
   NumPy 2, matplotlib and scikit-learn, and NumPy is imported before the
   first cell runs. We build that once per test session: a fresh venv from
   ``~/.pyenv/versions/3.12*`` with ``COLAB_PREINSTALLED`` installed by pip
   from PyPI (nothing else), and an IPython startup file that registers a
   stand-in ``google.colab`` module (the header's test for Colab) and imports
   NumPy, exactly as Colab's kernel has done before the reader's first cell.
2. The reader runs the chapter's own first cell (the generated header, read
   from the chapter file). It pip-installs MXNet 1.9.1, NumPy 1.26.4 and
   d2lstab. ``D2LSTAB_SOURCE`` (set only by this test, in the kernel's
   environment) points the last at a copy of this checkout instead of the
   git URL. NumPy 2 is already in memory, so the header must stop with the
   message that the runtime has to be restarted; we assert that message.
3. The reader restarts (a new kernel: same startup, NumPy now imported at
   1.26.4) and runs the notebook again from the top: the header finds
   everything in place and the chapter must run to the end without an error.

The header flow (1-3 up to the chapter's import cell) runs for every
chapter in ``_toc.yml``: it is the part that differs between chapters (each
has its own copy of the header, and its own imports). Before each chapter
the venv's NumPy is put back to 2.x, so every chapter meets the hard case.

The full run (every cell to the end) runs for two chapters, the first and
the last in ``_toc.yml``: the first is where every Colab reader starts; the
last ("a recipe") trains with the most of the package (``fit`` with live
progress, optimizers, schedules, regularization, batch norm), so the two
together exercise the package code a Python 3.12 runtime could break. The
other chapters import the same modules and are executed on every commit by
nbval on Python 3.11; a full Colab run of all of them would add several
minutes to CI for little more coverage. ``D2LSTAB_COLAB_FULL=all`` runs all
of them in full.

Without Python 3.12 the tests skip with the reason, except under CI (``CI``
set), where that is a failure.
"""
import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

# What Colab's Python 3.12 runtime ships, as far as the book is concerned.
COLAB_NUMPY = "numpy==2.0.2"
COLAB_PREINSTALLED = [COLAB_NUMPY, "matplotlib==3.11.2", "scikit-learn==1.9.1", "ipykernel==7.4.0"]
NUMPY_WANTED = nbtools.NUMPY_PIN.split("==")[1]

STARTUP = '''\
# Colab's kernel has imported google.colab (and NumPy) before the first cell.
import sys, types
_google = sys.modules.setdefault("google", types.ModuleType("google"))
_google.colab = sys.modules["google.colab"] = types.ModuleType("google.colab")
import numpy
'''

# After the chapter's import cell: what the reader's runtime now has.
PROBE = 'import numpy, mxnet, d2lstab\nprint(numpy.__version__, mxnet.__version__, "google.colab" in sys.modules)'


def _toc_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", []) if "file" in entry]
    return [f for f in files if (ROOT / f).with_suffix(".ipynb").exists()]


CHAPTERS = _toc_chapters()
if os.environ.get("D2LSTAB_COLAB_FULL") == "all":
    FULL = set(CHAPTERS)
else:
    FULL = set(CHAPTERS[:1] + CHAPTERS[-1:])
CASES = [(c, "full" if c in FULL else "header") for c in CHAPTERS]


def _missing(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def _pip(py, *args, timeout=1800):
    result = subprocess.run([str(py), "-m", "pip", "install", "-q", *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


@pytest.fixture(scope="session")
def colab(tmp_path_factory):
    """The simulated Colab runtime: venv, kernel spec, startup file, package source."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    if not found:
        _missing("no Python 3.12 in ~/.pyenv/versions")
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    subprocess.run([found[-1], "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    _pip(py, *COLAB_PREINSTALLED)

    ipython_dir = base / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(STARTUP)

    # What `pip install git+<url>@<branch>` would see: a copy of the checkout.
    source = base / "d2lstab-src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "_build", ".mutation", "__pycache__", "*.egg-info", "build", "dist",
        ".pytest_cache", "chapters", "benchmarks", "docs"))

    kernels = base / "kernels"
    (kernels / "colab312").mkdir(parents=True)
    (kernels / "colab312" / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (simulated Colab)",
        "language": "python",
        "env": {"IPYTHONDIR": str(ipython_dir), "D2LSTAB_SOURCE": str(source),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    }))
    workdir = base / "content"  # Colab's /content: nothing of the repository in it
    workdir.mkdir()
    return {"py": py, "kernels": kernels, "workdir": workdir}


def _run(colab, cells, allow_errors=False, timeout=900):
    """Execute ``cells`` (source strings) in a new simulated-Colab kernel; return the notebook."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    ksm = KernelSpecManager(kernel_dirs=[str(colab["kernels"])])
    km = KernelManager(kernel_name="colab312", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(colab["workdir"])}})
    client.execute()
    return nb


def _errors(nb):
    return [out for cell in nb.cells for out in cell.outputs if out.output_type == "error"]


def _text(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


@pytest.mark.parametrize("chapter,mode", CASES, ids=[f"{pathlib.Path(c).name}-{m}" for c, m in CASES])
def test_colab(colab, chapter, mode):
    nb = nbformat.read(str((ROOT / chapter).with_suffix(".ipynb")), 4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code[0] == nbtools.header_source(), "the chapter's first cell is not the generated header"

    # The hard case: NumPy 2 installed and loaded when the reader arrives.
    _pip(colab["py"], COLAB_NUMPY)
    first = _run(colab, [code[0], PROBE], allow_errors=True)
    errors = _errors(first)
    assert errors, "the header did not stop although NumPy 2 was already loaded"
    stop = errors[0]
    assert stop.ename == "SystemExit", (stop.ename, stop.evalue)
    assert first.cells[0].outputs and any(o.output_type == "error" for o in first.cells[0].outputs), \
        "the header itself must stop, not a later cell"
    assert f"NumPy {COLAB_NUMPY.split('==')[1]} was already loaded" in stop.evalue, stop.evalue
    assert "Restart the runtime" in stop.evalue and "Runtime > Restart session" in stop.evalue, stop.evalue

    # After "Restart session": the header is satisfied and the chapter runs.
    cells = code if mode == "full" else code[:2]
    second = _run(colab, cells + [PROBE], allow_errors=False)
    assert _errors(second) == []
    assert _text(second.cells[-1]).split() == [NUMPY_WANTED, "1.9.1", "True"]
