"""d2lstab: the companion package of the book on training deep networks stably.

``import d2lstab as d2l`` first makes MXNet 1.9.1 run on current NumPy and
Python (Python 3.10 to 3.13, NumPy 1.23 to 2.x; see ``d2lstab._compat``), switches MXNet to its NumPy interface
(``npx.set_np()``), and then exposes the helpers every chapter uses. The
topic modules (``d2l.init``, ``d2l.activations``, ``d2l.optim``, ...) mirror
the chapters.
"""
from . import _compat

_mx = _compat.import_mxnet()

from mxnet import npx as _npx  # noqa: E402  (after the compatibility patch)

_npx.set_np()

from .utils import Timer, below, cpu, num_gpus, seed, try_gpu  # noqa: E402
from .plotting import plot, plot_spread, set_axes, set_figsize, use_svg_display  # noqa: E402
from .repeats import Spread, compare, repeat, table  # noqa: E402
from . import (activations, batchnorm, data, diagnostics, gradcheck, init, optim,  # noqa: E402
               regularization, repeats, schedules, train)

__version__ = "0.1.0"

__all__ = [
    "Timer", "below", "cpu", "num_gpus", "seed", "try_gpu",
    "plot", "plot_spread", "set_axes", "set_figsize", "use_svg_display",
    "Spread", "compare", "repeat", "table",
    "activations", "batchnorm", "data", "diagnostics", "gradcheck", "init", "optim",
    "regularization", "repeats", "schedules", "train",
]
