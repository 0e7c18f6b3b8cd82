"""Today's Colab, simulated from its record (colab/runtime.toml): every chapter runs in one step.

What a reader does in Colab, and what we do here:

1. Colab's runtime is a Python 3.13 kernel whose environment already has
   NumPy 2.1.3, matplotlib, scikit-learn and the rest of the record's
   ``[preinstalled]`` table, with ``google.colab`` and NumPy imported before
   the first cell runs. We build that once per test session, from the record
   alone: a fresh venv from the newest ``~/.pyenv/versions/3.13.*`` (the
   record's minor version), into which pip installs exactly the record's
   packages from PyPI (``name==version``; pip picks what those need in
   turn), an IPython startup
   file that registers a stand-in ``google.colab`` module and imports NumPy,
   a kernel spec, and a working directory with nothing of the repository in
   it (Colab's ``/content``). ``D2LSTAB_SOURCE`` (set only here, in the
   kernel's environment) points the header at ``git+file://<copy>@main``: a
   git repository made from a copy of this checkout (its tracked and new,
   not ignored, files as they are now), so pip clones and builds d2lstab just
   as it does from the GitHub URL.
2. For every chapter in ``_toc.yml``, in that order and in the same venv,
   the reader runs the chapter's own first cell, the generated header. It
   must succeed in one step (no restart), install MXNet 1.9.1 and d2lstab,
   print nothing (it captures pip's output and shows it only if pip fails,
   which is tested too), and leave NumPy at the record's version: both
   ``numpy.__version__`` (what is loaded) and the installed distribution
   (``importlib.metadata``). Then the whole chapter runs to the end in the
   same kernel, and each code cell's text outputs must equal the stored
   ones: its stdout and stderr streams (merged as nbval merges them) and its
   ``text/plain`` result, after nbval's own sanitizing with
   ``tests/nbval_sanitize.cfg``. So a Colab reader sees the book's numbers.
   Figures (SVG) and other rich outputs are not compared here; the nbval run
   of ``make test`` compares what it compares, in the book's environment.
   That this comparison can fail is tested on chapter 1 with one stored
   digit changed.
3. A header run under a Python the book does not serve (3.14 and 3.9, stood
   in for by setting ``sys.version_info`` in the kernel before the header)
   must stop with the "Change runtime version" message and install nothing:
   pip is never called (``subprocess.run`` is replaced by a recorder) and the
   venv's installed distributions are unchanged. Where ``~/.pyenv`` has a real
   Python 3.9, the header runs there too, in a plain process.

How long the header's install takes, and what that measures:

* Every chapter's header is timed (the cell's wall time in the kernel). The
  first chapter's header does the real install (download MXNet, clone and
  build d2lstab); the later ones find MXNet installed and d2lstab at its
  version, so pip only clones and reads d2lstab's metadata. Each must be under
  60 s.
* The cold install is measured once more on its own (``cold_header_install``,
  also the benchmark row "Colab header install (simulation, cold)"): a fresh
  venv with the record's packages, pip's cache switched off
  (``PIP_NO_CACHE_DIR``) so MXNet's wheel (about 50 MB) and d2lstab's build
  requirement (setuptools) really come from PyPI, and the header's cell timed. It must be
  under 60 s. What it cannot measure: Colab's network and disk (this machine's
  link to PyPI may be faster or slower), and the clone of the GitHub
  repository (here a local ``git+file://`` clone, which takes well under a
  second; the repository is small).

Without the record's Python (3.13) the tests skip with the reason, except
under CI (``CI`` set), where that is a failure.

``D2LSTAB_COLAB_CHAPTERS=<folder>`` compares against the notebooks of that
folder (same file names) instead of ``chapters/``: for checking the
simulation against chapters executed elsewhere (``tools/nbtools.py execute``
on copies), never needed to run the tests.
"""
import copy
import difflib
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import tomllib

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

RECORD_PATH = ROOT / "colab" / "runtime.toml"
RECORD = tomllib.loads(RECORD_PATH.read_text())
PYTHON_MINOR = ".".join(RECORD["python"]["version"].split(".")[:2])  # "3.13"
PREINSTALLED = {name: entry["version"] for name, entry in RECORD["preinstalled"].items()}
COLAB_NUMPY = PREINSTALLED["numpy"]
D2LSTAB_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
HEADER_SECONDS_LIMIT = 60.0
# requirements.txt must pin these exactly as Colab has them.
SHARED_PINS = ("numpy", "matplotlib", "scikit-learn", "scipy", "setuptools")

STARTUP = '''\
# Colab's kernel has imported google.colab (and NumPy) before the first cell.
import sys, types
_google = sys.modules.setdefault("google", types.ModuleType("google"))
_google.colab = sys.modules["google.colab"] = types.ModuleType("google.colab")
del _google
import numpy
'''

# Right after the header: NumPy loaded and installed is still Colab's; MXNet and d2lstab are installed.
PROBE_AFTER_HEADER = '''\
import importlib.metadata as _md, sys as _sys
print(_sys.modules["numpy"].__version__, _md.version("numpy"), _md.version("mxnet"), _md.version("d2lstab"))
del _md, _sys'''

# After the chapter: what the reader's runtime ran it with.
PROBE_END = '''\
import importlib.metadata as _md, sys as _sys, numpy as _np, mxnet as _mx, d2lstab as _d2l
print(_np.__version__, _md.version("numpy"), _mx.__version__,
      _d2l.__file__.startswith(_sys.prefix), "google.colab" in _sys.modules)'''


def _toc_chapters():
    return [f for f in nbtools.toc_files(ROOT) if (ROOT / f).with_suffix(".ipynb").exists()]


CHAPTERS = _toc_chapters()


def _missing(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def _natural(path):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def find_python(minor=PYTHON_MINOR):
    """The newest Python ``minor`` (e.g. "3.13") under ~/.pyenv/versions or on the PATH, or None."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}.*/bin/python{minor}")),
                        key=_natural, reverse=True)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(on_path)
    for python in candidates:
        probe = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == minor:
            return python
    return None


def _pip(py, *args, env=None, timeout=1800):
    result = subprocess.run([str(py), "-m", "pip", "install", "-q", *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=colab-simulation", "-c", "user.email=colab@localhost",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True, timeout=300)


def checkout_copy(dest):
    """A git repository at ``dest`` holding this checkout as it is now, on the branch of
    ``_config.yml``; returns the ``git+file://`` URL the header is pointed at."""
    nbtools.copy_checkout(dest)
    branch = nbtools.repository()[1]
    _git(dest, "init", "-q", "-b", branch)
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "the checkout under test")
    return f"git+{dest.as_uri()}@{branch}"


def build_runtime(base, python, extra_env=None):
    """The simulated Colab runtime under ``base``: venv with the record's packages, IPython
    startup, kernel spec, empty working directory, d2lstab source. Returns a dict."""
    venv = base / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    packages = dict(PREINSTALLED)
    pip_version = packages.pop("pip", None)
    if pip_version:
        _pip(py, f"pip=={pip_version}")
    _pip(py, *[f"{name}=={version}" for name, version in packages.items()])

    ipython_dir = base / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(STARTUP)

    source = base / "d2lstab-src"
    source.mkdir()
    url = checkout_copy(source)

    env = {"IPYTHONDIR": str(ipython_dir), "D2LSTAB_SOURCE": url, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PYTHONNOUSERSITE": "1", "PYTHONPATH": "",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # debugpy's note on frozen modules, on the kernel's stderr
    env.update(extra_env or {})
    kernel_name = "colab" + PYTHON_MINOR.replace(".", "")
    kernels = base / "kernels"
    (kernels / kernel_name).mkdir(parents=True)
    (kernels / kernel_name / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {PYTHON_MINOR} (simulated Colab)",
        "language": "python",
        "env": env,
    }))
    workdir = base / "content"  # Colab's /content: nothing of the repository in it
    workdir.mkdir()
    return {"py": py, "venv": venv, "kernels": kernels, "kernel_name": kernel_name, "workdir": workdir}


def run_cells(runtime, cells, allow_errors=False, timeout=900):
    """Run ``cells`` (source strings) in order in one new kernel of ``runtime``.
    Returns the executed notebook and each cell's wall seconds."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    ksm = KernelSpecManager(kernel_dirs=[str(runtime["kernels"])])
    km = KernelManager(kernel_name=runtime["kernel_name"], kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(runtime["workdir"])}})
    seconds = []
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                tic = time.perf_counter()
                client.execute_cell(cell, index)
                seconds.append(time.perf_counter() - tic)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb, seconds


def installed(runtime):
    out = subprocess.run([str(runtime["py"]), "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                         check=True)
    return sorted(out.stdout.splitlines())


def cold_header_install(base, python=None):
    """Seconds the header's cell takes in a fresh simulated runtime, pip's cache off."""
    python = python or find_python()
    runtime = build_runtime(base, python, extra_env={"PIP_NO_CACHE_DIR": "1"})
    nb, seconds = run_cells(runtime, [nbtools.header_source(), PROBE_AFTER_HEADER])
    got = _stdout(nb.cells[1]).split()
    assert got[:2] == [COLAB_NUMPY, COLAB_NUMPY] and got[2] == "1.9.1", got
    return seconds[0]


def _errors(cell):
    return [out for out in cell.outputs if out.output_type == "error"]


def _stdout(cell):
    return "".join(out.get("text", "") for out in cell.outputs
                   if out.output_type == "stream" and out.name == "stdout")


def _sanitizer():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text
    return sanitize


def text_outputs(outputs, sanitize):
    """{"stdout", "stderr", "text/plain"} of one cell's outputs, as nbval compares them."""
    from nbval.plugin import coalesce_streams

    merged = coalesce_streams([copy.deepcopy(nbformat.from_dict(o)) for o in outputs])
    texts = {}
    for out in merged:
        if out.output_type == "stream":
            texts[out.name] = sanitize(out.text)
        elif out.output_type == "execute_result" and "text/plain" in out.get("data", {}):
            texts["text/plain"] = sanitize(out["data"]["text/plain"])
    return texts


def text_differences(stored_cells, executed_cells):
    """The text outputs of ``executed_cells`` that differ from ``stored_cells`` (pairwise),
    each as a short description with a diff; numbered as code cells of the chapter (1 = the
    cell after the header)."""
    sanitize = _sanitizer()
    differences = []
    for index, (want, got) in enumerate(zip(stored_cells, executed_cells), start=1):
        want_texts = text_outputs(want.get("outputs", []), sanitize)
        got_texts = text_outputs(got.outputs, sanitize)
        for kind in sorted(set(want_texts) | set(got_texts)):
            if want_texts.get(kind, "") != got_texts.get(kind, ""):
                differences.append(f"code cell {index} ({kind}):\n"
                                   + _diff(want_texts.get(kind, ""), got_texts.get(kind, "")))
    return differences


def _diff(stored, got, limit=12):
    lines = list(difflib.unified_diff(stored.splitlines(), got.splitlines(), "stored", "Colab", lineterm="", n=0))
    return "\n".join(lines[:limit] + (["..."] if len(lines) > limit else []))


# ---------------------------------------------------------------- the record itself


def _pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_requirements_pin_colab():
    """requirements.txt pins Colab's numpy, matplotlib, scikit-learn, scipy and setuptools."""
    pins = _pins(ROOT / "requirements.txt")
    for name in SHARED_PINS:
        assert pins.get(name) == PREINSTALLED[name], (
            f"requirements.txt pins {name}=={pins.get(name)}, colab/runtime.toml records {PREINSTALLED[name]}")


def test_header_installs_only_what_colab_lacks():
    """The header installs MXNet and d2lstab with --no-deps, so every dependency of d2lstab
    must be preinstalled in Colab at a version it accepts; MXNet's pin is requirements-mxnet.txt's;
    the Pythons the header serves are those d2lstab._compat supports."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = {"python_version": PYTHON_MINOR, "python_full_version": RECORD["python"]["version"]}
    for spec in project["dependencies"]:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate(env):
            continue
        version = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in PREINSTALLED.items()}.get(req.name.lower())
        assert version is not None, f"d2lstab needs {req}, which colab/runtime.toml does not list"
        assert req.specifier.contains(version), f"d2lstab needs {req}; Colab has {version}"
    assert nbtools.MXNET_PIN in (ROOT / "requirements-mxnet.txt").read_text().splitlines()
    compat = {}
    exec(compile((ROOT / "d2lstab" / "_compat.py").read_text(), "_compat.py", "exec"), compat)
    assert nbtools.PYTHON_RANGE == compat["SUPPORTED_PYTHON"]
    low, high = nbtools.PYTHON_RANGE
    assert low <= tuple(int(p) for p in PYTHON_MINOR.split(".")) <= high


def test_record_says_where_it_comes_from():
    source = RECORD["source"]
    assert source["repository"] == "https://github.com/googlecolab/backend-info"
    assert set(source["files"]) == {"os-info.txt", "pip-freeze.txt"}
    assert source["commit_date"] and source["announced"] and RECORD["recorded"]
    assert all(entry["from"] for entry in RECORD["preinstalled"].values())


# ---------------------------------------------------------------- the simulation


@pytest.fixture(scope="session")
def colab(tmp_path_factory):
    """The simulated Colab runtime, built once per test session."""
    python = find_python()
    if python is None:
        _missing(f"no Python {PYTHON_MINOR} (Colab's, colab/runtime.toml) in ~/.pyenv/versions or on the PATH")
    return build_runtime(tmp_path_factory.mktemp("colab"), python)


# Just past either end of the Pythons the header serves: 3.14 and 3.9.
_LOW, _HIGH = nbtools.PYTHON_RANGE
UNSUPPORTED = [(_HIGH[0], _HIGH[1] + 1), (_LOW[0], _LOW[1] - 1)]


@pytest.mark.parametrize("version", UNSUPPORTED, ids=lambda v: "python%d.%d" % v)
def test_header_refuses_unsupported_python(colab, version):
    before = installed(colab)
    cells = [
        "import subprocess, sys\n_calls, _real_version = [], sys.version_info\n"
        "subprocess.run = lambda *a, **k: _calls.append(a)\n"
        f"sys.version_info = ({version[0]}, {version[1]}, 0, 'final', 0)",
        nbtools.header_source(),
        "sys.version_info = _real_version\nprint(len(_calls))",
    ]
    nb, _ = run_cells(colab, cells, allow_errors=True)
    errors = _errors(nb.cells[1])
    assert errors and errors[0].ename == "SystemExit", nb.cells[1].outputs
    message = errors[0].evalue
    assert f"this runtime has Python {version[0]}.{version[1]}" in message, message
    assert "'Change runtime version'" in message and "the Python %d.%d runtime" % _HIGH in message, message
    assert "command palette" in message, message
    assert _stdout(nb.cells[2]).split() == ["0"], "the header called subprocess.run (pip) before refusing"
    assert installed(colab) == before


def test_header_shows_why_pip_failed(colab):
    """pip's output is captured (Colab may not show a subprocess's output): on failure the
    header prints it and stops."""
    before = installed(colab)
    cells = ['import os\nos.environ["D2LSTAB_SOURCE"] = "/nonexistent/d2lstab"', nbtools.header_source()]
    nb, _ = run_cells(colab, cells, allow_errors=True)
    errors = _errors(nb.cells[1])
    assert errors and errors[0].ename == "SystemExit", nb.cells[1].outputs
    assert "pip could not install MXNet and d2lstab" in errors[0].evalue
    assert "/nonexistent/d2lstab" in _stdout(nb.cells[1]), nb.cells[1].outputs
    assert installed(colab) == before


def test_header_refuses_a_real_python_39(tmp_path):
    """Where a real Python 3.9 exists: the header, with a stand-in google.colab, stops with the message."""
    python = find_python("3.9")
    if python is None:
        pytest.skip("no Python 3.9 on this machine (the kernel test above stands in for it)")
    program = (STARTUP.replace("import numpy\n", "")
               + "import subprocess\nsubprocess.run = lambda *a, **k: sys.exit('pip was called')\n"
               + nbtools.header_source())
    result = subprocess.run([python, "-c", program], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "this runtime has Python 3.9" in result.stderr and "'Change runtime version'" in result.stderr
    assert "pip was called" not in result.stderr


HEADER_TIMES = {}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[pathlib.Path(c).name for c in CHAPTERS])
def test_chapter_runs_in_colab(colab, chapter):
    folder = pathlib.Path(os.environ.get("D2LSTAB_COLAB_CHAPTERS", ROOT / "chapters"))
    stored = nbformat.read(str(folder / (pathlib.Path(chapter).name + ".ipynb")), 4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert code[0].source == nbtools.header_source(), "the chapter's first cell is not the generated header"

    cells = [code[0].source, PROBE_AFTER_HEADER] + [c.source for c in code[1:]] + [PROBE_END]
    nb, seconds = run_cells(colab, cells)  # any error in any cell fails here, with its traceback
    header, after_header, chapter_cells, end = nb.cells[0], nb.cells[1], nb.cells[2:-1], nb.cells[-1]

    HEADER_TIMES[chapter] = seconds[0]
    print(f"\n{chapter}: header {seconds[0]:.1f} s, chapter {sum(seconds[2:-1]):.1f} s")
    assert header.outputs == [], f"the header printed: {header.outputs}"
    assert seconds[0] < HEADER_SECONDS_LIMIT, f"the header took {seconds[0]:.1f} s"
    assert _stdout(after_header).split() == [COLAB_NUMPY, COLAB_NUMPY, "1.9.1", D2LSTAB_VERSION], \
        "after the header: NumPy loaded, NumPy installed, MXNet, d2lstab"
    assert _stdout(end).split() == [COLAB_NUMPY, COLAB_NUMPY, "1.9.1", "True", "True"], \
        "after the chapter: NumPy loaded, installed, MXNet, d2lstab from the venv, google.colab present"

    differences = text_differences(code[1:], chapter_cells)
    assert not differences, (f"{len(differences)} text outputs differ from the stored chapter:\n\n"
                             + "\n\n".join(differences))


def test_comparison_catches_a_changed_number(colab):
    """The comparison has teeth: chapter 1 up to its first printed number, run in the
    simulated runtime, matches the stored cells and fails once one stored digit is changed."""
    stored = nbformat.read(str((ROOT / CHAPTERS[0]).with_suffix(".ipynb")), 4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    stop = next(i for i, c in enumerate(code) for o in c.get("outputs", [])
                if o.get("output_type") == "stream" and re.search(r"\d\.\d", o.get("text", "")))
    nb, _ = run_cells(colab, [nbtools.header_source()] + [c.source for c in code[1:stop + 1]])
    assert text_differences(code[1:stop + 1], nb.cells[1:]) == []
    tampered = copy.deepcopy(code[1:stop + 1])
    for out in tampered[-1].outputs:
        match = out.get("output_type") == "stream" and re.search(r"\d\.(\d)", out["text"])
        if match:
            digit = str((int(match.group(1)) + 1) % 10)
            out["text"] = out["text"][:match.start(1)] + digit + out["text"][match.end(1):]
            break
    found = text_differences(tampered, nb.cells[1:])
    assert len(found) == 1 and f"code cell {stop}" in found[0], found


def test_cold_header_install_under_60_seconds(tmp_path_factory):
    """A fresh runtime, pip's cache off: the header's install (download MXNet, clone and
    build d2lstab) in under 60 s."""
    python = find_python()
    if python is None:
        _missing(f"no Python {PYTHON_MINOR} (Colab's, colab/runtime.toml) in ~/.pyenv/versions or on the PATH")
    seconds = cold_header_install(tmp_path_factory.mktemp("colab-cold"), python)
    print(f"\ncold header install: {seconds:.1f} s")
    assert seconds < HEADER_SECONDS_LIMIT, f"the header's cold install took {seconds:.1f} s"
