"""Unit tests of the package core: seeding, devices, Timer, plotting (the compat shim: test_compat.py)."""
import random
import subprocess
import sys
import time
import types

import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import _compat, _validate
from mxnet import np


# --- seed, devices, Timer ---------------------------------------------------

def _draws():
    return (random.random(), float(onp.random.rand()), float(np.random.normal(size=(1,))[0]),
            float(np.random.uniform(size=(3,)).sum()))


def test_seed_reproduces_all_three_generators():
    d2l.seed(7)
    a = _draws()
    d2l.seed(7)
    b = _draws()
    d2l.seed(8)
    c = _draws()
    assert a == b
    assert all(x != y for x, y in zip(a, c))


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError), (2**32, ValueError)])
def test_seed_rejects(bad, exc):
    with pytest.raises(exc, match="n must"):
        d2l.seed(bad)


def test_devices():
    import mxnet as mx

    assert d2l.cpu() == mx.cpu()
    assert d2l.try_gpu() == mx.cpu()  # no GPU here: silent fallback
    assert d2l.try_gpu(3) == mx.cpu()
    with pytest.raises(ValueError, match="i must"):
        d2l.try_gpu(-1)


def test_timer():
    t = d2l.Timer()
    time.sleep(0.01)
    first = t.stop()
    t.start()
    time.sleep(0.02)
    second = t.stop()
    assert first >= 0.01 and second >= 0.02
    assert t.sum() == pytest.approx(first + second)
    assert t.avg() == pytest.approx((first + second) / 2)
    assert t.cumsum() == pytest.approx([first, first + second])
    assert d2l.Timer().avg() == 0.0 or len(d2l.Timer().times) == 0


# --- plotting ---------------------------------------------------------------

def _svg(draw):
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    draw()
    buf = io.StringIO()
    plt.gcf().savefig(buf, format="svg", metadata={"Date": None})
    plt.close("all")
    return buf.getvalue()


def test_plot_svg_is_deterministic():
    x = onp.linspace(-3, 3, 50)
    draw = lambda: d2l.plot(x, [onp.sin(x), onp.cos(x)], legend=["sin", "cos"], xlabel="x")
    a, b = _svg(draw), _svg(draw)
    assert a == b
    assert "<dc:date>" not in a
    import matplotlib as mpl
    assert mpl.rcParams["svg.hashsalt"] == d2l.plotting.SVG_HASHSALT


def test_plot_draws_the_curves():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    x = np.arange(5.0)
    assert d2l.plot(x, [x, x * x], axes=ax, yscale="log", legend=["a", "b"]) is None
    lines = ax.get_lines()
    assert len(lines) == 2
    assert onp.allclose(lines[1].get_ydata(), onp.arange(5.0) ** 2)
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    # Y=None plots X against its index
    d2l.plot([3.0, 1.0, 2.0], axes=ax)
    assert onp.allclose(ax.get_lines()[0].get_xdata(), [0, 1, 2])
    plt.close("all")


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"xscale": "cubic"}, ValueError, "xscale"),
    ({"yscale": None}, ValueError, "yscale"),
    ({"figsize": (3, -1)}, ValueError, "figsize"),
    ({"fmts": ()}, ValueError, "fmts"),
])
def test_plot_rejects(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        d2l.plot([1, 2, 3], **kwargs)


def test_plot_mismatched_lengths():
    with pytest.raises(ValueError, match="points"):
        d2l.plot([1, 2, 3], [1, 2])


def test_set_figsize_rejects():
    with pytest.raises(ValueError, match="figsize"):
        d2l.set_figsize("big")


# --- the validation helpers themselves ---------------------------------------

def test_validate_messages_name_the_argument():
    with pytest.raises(ValueError, match=r"lr must be > 0, got -1\.0"):
        _validate.positive("lr", -1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        _validate.positive("lr", "0.1")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        _validate.in_range("p", 1.5, 0, 1)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        _validate.in_range("beta", 1.0, 0, 1, high_closed=False)
    with pytest.raises(ValueError, match="mode must be one of"):
        _validate.one_of("mode", "fan", {"fan_in", "fan_out"})
    with pytest.raises(ValueError, match="eps must be finite"):
        _validate.positive("eps", float("nan"))
    with pytest.raises(ValueError, match="shape must have at least 2"):
        _validate.shape("shape", (3,), min_ndim=2)


def test_validate_params():
    from mxnet import gluon

    a = np.ones(3)
    with pytest.raises(ValueError, match="params must not be empty"):
        _validate.params("params", [])
    with pytest.raises(ValueError, match=r"params\[0\] has no gradient"):
        _validate.params("params", [a])
    a.attach_grad()
    assert _validate.params("params", [a])[0] is a
    with pytest.raises(TypeError, match=r"params\[1\]"):
        _validate.params("params", [a, [1.0]])
    net = gluon.nn.Dense(2, in_units=3)
    with pytest.raises(ValueError, match="not initialized"):
        _validate.params("params", net.collect_params().values())
    net.initialize()
    assert len(_validate.params("params", net.collect_params())) == 2


# --- below: printing rounding-level quantities --------------------------------

@pytest.mark.parametrize("x, bound, expected", [
    (3e-16, 1e-12, "< 1e-12"), (-3e-16, 1e-12, "< 1e-12"), (0.0, 1e-6, "< 1e-06"),
    (2e-5, 1e-12, "2.0e-05"), (-2.5e-3, 1e-6, "-2.5e-03"), (1e-12, 1e-12, "1.0e-12"),
])
def test_below(x, bound, expected):
    assert d2l.below(x, bound) == expected


def test_below_takes_one_element_arrays():
    assert d2l.below(np.array([1e-17], dtype="float64").max(), 1e-12) == "< 1e-12"
    assert d2l.below(onp.float64(0.5), 1e-3) == "5.0e-01"


@pytest.mark.parametrize("x, bound, exc", [
    ("1", 1e-3, TypeError), (float("nan"), 1e-3, ValueError), (1e-9, 0.0, ValueError),
    (1e-9, -1.0, ValueError), (np.zeros(2), 1e-3, ValueError), (True, 1e-3, TypeError),
])
def test_below_rejects(x, bound, exc):
    with pytest.raises(exc, match="x must|bound must"):
        d2l.below(x, bound)


def test_use_svg_display_makes_figures_comparable():
    """No path simplification (rounding would decide which vertices are written), a fixed
    hash salt for ids, and no date: what the figure comparison (tools/nbval_figures.py) needs."""
    import matplotlib

    matplotlib.rcParams["path.simplify"] = True
    d2l.use_svg_display()
    assert matplotlib.rcParams["path.simplify"] is False
    assert matplotlib.rcParams["svg.hashsalt"]
