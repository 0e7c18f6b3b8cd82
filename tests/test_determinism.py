"""The same numbers on every machine: every chapter under emulated CPUs.

A stored output must not depend on the CPU it was computed on. MXNet's
bundled libraries choose their kernels by CPU, so one machine can compute
as another would:

- ``OPENBLAS_CORETYPE`` selects OpenBLAS's kernels (MXNet's and NumPy's
  copies both read it): ``Nehalem`` (SSE4.2 only), ``Sandybridge`` (AVX),
  ``Zen`` (AMD's AVX2 kernels), ``SkylakeX`` (AVX-512);
- ``DNNL_MAX_CPU_ISA`` caps the instruction set oneDNN (MKLDNN, used by
  MXNet's Dense, convolution and BatchNorm layers) may use: ``SSE41``,
  ``AVX``, ``AVX2``, ``AVX512_CORE``;
- ``OMP_NUM_THREADS`` changes how MXNet's OpenMP loops and reductions split
  their work (1 or 2 threads).

Each setting below changes the last digits of a 100-matrix product and of a
gradient on this project's machines (see ``test_settings_change_the_arithmetic``).
The test re-executes every chapter under each setting with nbval, exactly
as ``make test`` does natively (the same sanitizer, the same figure
comparison, see ``tools/nbval_figures.py``), and requires every output to
equal the stored one. A setting needs the instructions it selects: one the
CPU lacks (an AVX-512 kernel on a CPU without AVX-512) would crash with an
illegal instruction, so it is skipped with the reason (and the reason names
the missing flag); on this project's Intel and AMD machines all four run.

The runs go two at a time (the machine has two cores); the chapters of one
setting run in one pytest process. ``OMP_WAIT_POLICY=PASSIVE`` is set in
every run: it changes how idle OpenMP threads wait, not what they compute,
and without it two runs with two threads each on two cores spin against each
other several times slower. ``D2LSTAB_DETERMINISM_SETTINGS`` (names,
comma-separated) runs some of the settings only, ``D2LSTAB_DETERMINISM_CHAPTERS``
(file names, comma-separated) some of the chapters, for working on a chapter.

When this test fails, a printed number or a figure depends on rounding: do
not re-execute the chapter and commit, print only the digits that survive
(or the order of magnitude, or the verdict the number supports) and say so
in the text. README.md, "Machine-independent outputs", says how.
"""
import concurrent.futures
import configparser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import nbtools

ROOT = nbtools.ROOT

# name: (environment, CPU flags the kernels need)
SETTINGS = {
    "sse4-1thread": ({"OPENBLAS_CORETYPE": "Nehalem", "DNNL_MAX_CPU_ISA": "SSE41",
                      "OMP_NUM_THREADS": "1"}, {"sse4_2"}),
    "avx-2threads": ({"OPENBLAS_CORETYPE": "Sandybridge", "DNNL_MAX_CPU_ISA": "AVX",
                      "OMP_NUM_THREADS": "2"}, {"avx"}),
    "avx2-zen-1thread": ({"OPENBLAS_CORETYPE": "Zen", "DNNL_MAX_CPU_ISA": "AVX2",
                          "OMP_NUM_THREADS": "1"}, {"avx2", "fma"}),
    "avx512-2threads": ({"OPENBLAS_CORETYPE": "SkylakeX", "DNNL_MAX_CPU_ISA": "AVX512_CORE",
                         "OMP_NUM_THREADS": "2"}, {"avx512f", "avx512dq", "avx512bw", "avx512vl"}),
}


def cpu_flags():
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", text, re.M)
    return set(match.group(1).split()) if match else set()


def runnable(names=None):
    """(name, env) of the settings this CPU can run; skip reasons for the others."""
    chosen = os.environ.get("D2LSTAB_DETERMINISM_SETTINGS")
    names = names or (chosen.split(",") if chosen else list(SETTINGS))
    flags = cpu_flags()
    run, skipped = [], []
    for name in names:
        env, needs = SETTINGS[name]
        missing = sorted(needs - flags)
        if missing:
            skipped.append(f"{name}: this CPU lacks {', '.join(missing)}")
        else:
            run.append((name, env))
    return run, skipped


def environment(setting_env):
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env.update(setting_env)
    env.update(nbtools.nbval_env(ROOT))
    return env


def nbval(paths, setting_env, cwd=ROOT, timeout=1800):
    """Run nbval (strict, as make test does) on ``paths`` under ``setting_env``."""
    # --rootdir: nbval's absolute sanitizer path would otherwise pull the rootdir up, and with
    # it the names of the cells that failing_cells reads.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "--rootdir", str(cwd), *nbtools.nbval_args(ROOT), *map(str, paths)]
    return subprocess.run(cmd, cwd=cwd, env=environment(setting_env), capture_output=True,
                          text=True, timeout=timeout)


def failing_cells(output):
    """The nbval items that failed, e.g. 'chapters/01_x.ipynb::Cell 6'."""
    return sorted(set(re.findall(r"^FAILED (\S+::Cell \d+)", output, re.M)))


def check(paths, settings, cwd=ROOT):
    """Run every setting (two at a time); return {name: (returncode, failing cells, output)}."""
    def one(item):
        name, env = item
        result = nbval(paths, env, cwd=cwd)
        return name, (result.returncode, failing_cells(result.stdout), result.stdout + result.stderr)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, settings))


def _report(results):
    lines = []
    for name, (code, cells, output) in results.items():
        if code != 0:
            env = " ".join(f"{k}={v}" for k, v in SETTINGS[name][0].items())
            lines.append(f"{name} ({env}): exit {code}, differing: {', '.join(cells) or '?'}")
            lines.append(output[-6000:])
    return "\n".join(lines)


def test_every_chapter_under_emulated_cpus():
    settings, skipped = runnable()
    if skipped:
        print("skipped settings:", "; ".join(skipped))
    assert settings, "no setting can run on this CPU: " + "; ".join(skipped)
    chapters = nbtools.chapter_paths()
    chosen = os.environ.get("D2LSTAB_DETERMINISM_CHAPTERS")
    if chosen:
        chapters = [p for p in chapters if p.name in chosen.split(",")]
        assert chapters, f"no chapter named in D2LSTAB_DETERMINISM_CHAPTERS={chosen}"
    results = check([p.relative_to(ROOT) for p in chapters], settings)
    failed = {name: r for name, r in results.items() if r[0] != 0}
    assert not failed, "stored outputs differ under emulated CPUs:\n" + _report(failed)


PROBE = """\
import d2lstab as d2l
from mxnet import np
d2l.seed(0)
M = np.random.normal(size=(4, 4))
for i in range(100):
    M = np.dot(M, np.random.normal(size=(4, 4)))
W = np.random.normal(size=(64, 64))
print(f"{float(M.sum()):.17g}", f"{float(np.dot(W, W.T).sum()):.17g}")
"""


def _probe_notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(path))
    nbtools.execute(path)
    return path


def test_settings_change_the_arithmetic(tmp_path):
    """Each setting really changes rounding: a 100-matrix product printed to 17 digits
    (the unstable print the chapters must not have) differs from the native run under
    at least one setting, and the same probe rounded to 3 digits never does."""
    settings, _ = runnable()
    unstable = _probe_notebook(tmp_path / "unstable.ipynb", PROBE)
    results = check([unstable.name], settings, cwd=tmp_path)
    differs = [name for name, (code, cells, _) in results.items() if code != 0]
    assert differs, "no setting changed a 17-digit product: the emulation does not emulate"
    assert all(cells == ["unstable.ipynb::Cell 0"] for code, cells, _ in results.values() if code)

    stable = _probe_notebook(tmp_path / "stable.ipynb", PROBE.replace(":.17g", ":.3g"))
    results = check([stable.name], settings, cwd=tmp_path)
    assert all(code == 0 for code, _, _ in results.values()), _report(results)


def test_a_chapter_with_an_unstable_print_fails(tmp_path):
    """Plant the unstable print in a real chapter: the determinism check must fail on that
    cell, and only there (the rest of the chapter is stable)."""
    source = nbtools.chapter_paths()[0]
    nb = nbformat.read(str(source), 4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells = nb.cells[: code[3] + 1]  # the header, the imports and two cells of the chapter
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.split("d2l.seed(0)\n", 1)[1]))
    planted = tmp_path / source.name
    nbformat.write(nb, str(planted))
    nbtools.execute(planted)
    settings, _ = runnable()
    results = check([planted.name], settings, cwd=tmp_path)
    planted_cell = f"{planted.name}::Cell {len(code[:4])}"
    failing = {name: cells for name, (code_, cells, _) in results.items() if code_ != 0}
    assert failing, "the planted 17-digit print passed under every setting"
    assert all(cells == [planted_cell] for cells in failing.values()), failing


def test_sanitizer_masks_only_durations_and_addresses():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    rules = [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]

    def clean(text):
        for regex, replace in rules:
            text = regex.sub(replace, text)
        return text

    a = clean("took  1.25 sec, 3 ms at 0x7f00deadbeef; loss 0.125")
    b = clean("took 11.75 sec, 40 ms at 0x7f00cafe0000; loss 0.125")
    assert a == b  # durations (with their padding) and addresses are masked
    assert "loss 0.125" in a and "1.25" not in a and "deadbeef" not in a
    assert clean("loss 0.125") != clean("loss 0.126")  # numbers are not


def test_comparison_catches_an_unseeded_cell(tmp_path):
    """nbval under the native setting fails on a cell that prints unseeded randomness."""
    probe = _probe_notebook(tmp_path / "unseeded.ipynb", "import os\nprint(os.urandom(8).hex())")
    result = nbval([probe.name], {}, cwd=tmp_path)
    assert result.returncode != 0 and failing_cells(result.stdout) == ["unseeded.ipynb::Cell 0"]
