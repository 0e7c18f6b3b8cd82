"""d2lstab makes MXNet 1.9.1 import on each supported Python, in a fresh venv.

For Python 3.10, 3.11 (this machine's) and 3.12 (what Colab runs): create an empty
venv, `pip install` this checkout with its declared dependencies (so the
`setuptools; python_version >= '3.12'` dependency that brings back
`distutils` is itself under test), then import d2lstab and train one step.
NumPy is pinned to 1.26.4 as in the book; pip resolves the rest.
"""
import glob
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

PROGRAM = r"""
import sys, warnings
warnings.simplefilter("error", FutureWarning)
import d2lstab as d2l
import mxnet, numpy
from mxnet import autograd, gluon, np
assert numpy.bool is bool
d2l.seed(0)
net = gluon.nn.Dense(2, in_units=3)
net.initialize()
x = np.ones((4, 3))
with autograd.record():
    l = (net(x) ** 2).sum()
l.backward()
print(sys.version_info[:2], mxnet.__version__, numpy.__version__, float(net.weight.grad().sum()) != 0.0)
"""


def _python(minor):
    if sys.version_info[:2] == (3, minor):
        return sys.executable
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}*/bin/python3.{minor}")))
    if not found:
        pytest.skip(f"no Python 3.{minor} on this machine")  # never skipped here: pyenv has both
    return found[-1]


@pytest.mark.parametrize("minor", [10, 11, 12])
def test_fresh_venv_imports_and_trains(minor, tmp_path):
    venv = tmp_path / f"py3{minor}"
    subprocess.run([_python(minor), "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    if minor >= 12:
        probe = subprocess.run([str(py), "-c", "import distutils"], capture_output=True)
        assert probe.returncode != 0, "a bare 3.12 venv should not have distutils"
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy==1.26.4", str(ROOT)],
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-4000:]
    run = subprocess.run([str(py), "-c", PROGRAM], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.strip() == f"(3, {minor}) 1.9.1 1.26.4 True"
