"""d2lstab runs MXNet 1.9.1 on each supported Python, installed as a reader installs it.

Each case starts from an empty venv and installs the way the README and the
Colab header do: NumPy first, then ``pip install --no-deps mxnet==1.9.1``
(its wheel declares ``numpy<2``, which would make pip replace NumPy), then
``pip install <checkout>`` with d2lstab's declared dependencies, so the
``setuptools; python_version >= '3.12'`` one that brings back ``distutils``
is itself under test. The checkout is a copy of this work tree (its tracked
and new, not ignored, files), so pip never builds inside the repository.

* Python 3.11, 3.12 and 3.13 (and 3.10 where pyenv has it) with the NumPy
  pip gives that Python by default (not pinned: on 3.13 that is NumPy 2.5.x
  at the time of writing, which ``d2lstab._compat`` supports). Installing
  MXNet and d2lstab must leave it unchanged; then one training step.
* Colab's Python with Colab's NumPy (both from colab/runtime.toml: 3.13 and
  2.1.3): the same installs leave NumPy at 2.1.3 and a small MLP is trained
  with ``d2l.train.fit`` on the digits for a few epochs.
* d2lstab installed without MXNet: ``import d2lstab`` raises the ImportError
  that says to run ``pip install --no-deps mxnet==1.9.1``.

A missing Python 3.11, 3.12 or 3.13 skips its case with the reason, except
under CI (``CI`` set), where it is a failure; 3.10 is optional.
"""
import glob
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

import nbtools

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORD = tomllib.loads((ROOT / "colab" / "runtime.toml").read_text())
COLAB_MINOR = int(RECORD["python"]["version"].split(".")[1])
COLAB_NUMPY = RECORD["preinstalled"]["numpy"]["version"]
MXNET_PIN = "mxnet==1.9.1"

ONE_STEP = r"""
import sys, warnings
warnings.simplefilter("error", FutureWarning)
import d2lstab as d2l
import mxnet, numpy
from mxnet import autograd, gluon, np
d2l.seed(0)
net = gluon.nn.Dense(2, in_units=3)
net.initialize()
x = np.ones((4, 3))
with autograd.record():
    l = (net(x) ** 2).sum()
l.backward()
print("%d.%d" % sys.version_info[:2], mxnet.__version__, numpy.__version__, float(net.weight.grad().sum()) != 0.0)
"""

FIT = r"""
import sys
import d2lstab as d2l
import mxnet, numpy
from mxnet import gluon, init
d2l.seed(0)
train_iter, test_iter = d2l.data.load_digits(batch_size=64)
net = gluon.nn.HybridSequential()
net.add(gluon.nn.Dense(64, activation="relu"), gluon.nn.Dense(10))
net.initialize(init.Xavier())
net.hybridize()
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
history = d2l.train.fit(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, 3,
                        progress=False)
print("%d.%d" % sys.version_info[:2], mxnet.__version__, numpy.__version__, len(history),
      history.train_loss[-1] < history.train_loss[0], history.test_acc[-1] > 0.8)
"""


def _missing(reason, required=True):
    if required and os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def _python(minor, required=True):
    if sys.version_info[:2] == (3, minor):
        return sys.executable
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")),
                   key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p)])
    if found:
        return found[-1]  # the newest patch release pyenv has
    on_path = shutil.which(f"python3.{minor}")
    if on_path:
        return on_path
    _missing(f"no Python 3.{minor} in ~/.pyenv/versions or on the PATH", required)


def _venv(python, path):
    subprocess.run([python, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin" / "python"


def _pip(py, *args, cwd=None):
    result = subprocess.run([str(py), "-m", "pip", "install", "-q", *args], capture_output=True, text=True,
                            timeout=1800, cwd=cwd, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def _numpy_version(py):
    out = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('numpy'))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _run(py, program, cwd):
    run = subprocess.run([str(py), "-c", program], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout.split()


def _supported_numpy(version):
    spec = importlib.util.spec_from_file_location("_compat_probe", ROOT / "d2lstab" / "_compat.py")
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    low, high = compat.SUPPORTED_NUMPY
    return low <= compat._major_minor(version) <= high


@pytest.mark.parametrize("minor", [10, 11, 12, 13], ids=lambda m: f"python3.{m}")
def test_default_numpy_kept_and_trains(minor, tmp_path):
    python = _python(minor, required=minor != 10)
    py = _venv(python, tmp_path / "venv")
    if minor >= 12:
        probe = subprocess.run([str(py), "-c", "import distutils"], capture_output=True)
        assert probe.returncode != 0, f"a bare 3.{minor} venv should not have distutils"
    _pip(py, "numpy")  # whatever pip picks for this Python today
    numpy_version = _numpy_version(py)
    assert _supported_numpy(numpy_version), f"pip gives Python 3.{minor} NumPy {numpy_version}"
    _pip(py, "--no-deps", MXNET_PIN)
    assert _numpy_version(py) == numpy_version, "installing MXNet changed NumPy"
    _pip(py, str(nbtools.copy_checkout(tmp_path / "d2lstab")))
    assert _numpy_version(py) == numpy_version, "installing d2lstab changed NumPy"
    assert _run(py, ONE_STEP, tmp_path) == [f"3.{minor}", "1.9.1", numpy_version, "True"]
    print(f"\nPython 3.{minor}: pip's NumPy {numpy_version}, kept; one step trained")


@pytest.fixture(scope="module")
def colab_numpy_venv(tmp_path_factory):
    """Colab's Python with Colab's NumPy, then d2lstab (``pip install .``), no MXNet yet."""
    python = _python(COLAB_MINOR)
    base = tmp_path_factory.mktemp("colab-numpy")
    py = _venv(python, base / "venv")
    _pip(py, f"numpy=={COLAB_NUMPY}")
    source = nbtools.copy_checkout(base / "d2lstab")
    _pip(py, ".", cwd=source)
    assert _numpy_version(py) == COLAB_NUMPY, "pip install . changed NumPy"
    return py, base


def test_import_without_mxnet_says_how_to_install_it(colab_numpy_venv):
    py, base = colab_numpy_venv
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "mxnet"], capture_output=True)
    run = subprocess.run([str(py), "-c", "import d2lstab"], capture_output=True, text=True, timeout=120, cwd=base)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: d2lstab needs MXNet 1.9.1, which is not installed."), last
    assert "`pip install --no-deps mxnet==1.9.1`" in last, last


def test_colab_numpy_kept_and_fit_trains(colab_numpy_venv):
    py, base = colab_numpy_venv
    _pip(py, "--no-deps", MXNET_PIN)
    assert _numpy_version(py) == COLAB_NUMPY, "installing MXNet changed NumPy"
    got = _run(py, FIT, base)
    assert got == [f"3.{COLAB_MINOR}", "1.9.1", COLAB_NUMPY, "3", "True", "True"], got
