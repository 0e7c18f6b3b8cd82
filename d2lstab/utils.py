"""Seeding, devices and a timer: the small things every chapter needs."""
import random
import time

import numpy as onp

from . import _validate as check


def seed(n):
    """Seed Python's ``random``, NumPy's global generator and MXNet.

    After ``seed(n)`` a notebook that draws its randomness from these three
    (Gluon's ``DataLoader`` shuffles with NumPy's global generator,
    initializers and ``mxnet.np.random`` use MXNet's) reruns identically on
    the same machine.
    """
    import mxnet as mx

    n = check.integer("n", n, minimum=0, maximum=2**32 - 1)
    random.seed(n)
    onp.random.seed(n)
    mx.random.seed(n)
    return n


def num_gpus():
    """How many GPUs MXNet can see (0 on a CPU-only build)."""
    import mxnet as mx

    try:
        return mx.context.num_gpus()
    except Exception:  # the CPU wheel may raise instead of returning 0
        return 0


def cpu():
    """The CPU context."""
    import mxnet as mx

    return mx.cpu()


def try_gpu(i=0):
    """GPU ``i`` if it exists, otherwise the CPU, silently."""
    import mxnet as mx

    i = check.integer("i", i, minimum=0)
    if num_gpus() >= i + 1:
        return mx.gpu(i)
    return mx.cpu()


class Timer:
    """Record several running times (d2l's ``Timer``)."""

    def __init__(self):
        self.times = []
        self._tik = None
        self.start()

    def start(self):
        """Start (or restart) the timer."""
        self._tik = time.perf_counter()

    def stop(self):
        """Stop the timer, record the time since ``start()`` and return it in seconds."""
        self.times.append(time.perf_counter() - self._tik)
        return self.times[-1]

    def avg(self):
        """The average recorded time (0.0 before the first ``stop()``)."""
        return sum(self.times) / len(self.times) if self.times else 0.0

    def sum(self):
        """The total recorded time."""
        return sum(self.times)

    def cumsum(self):
        """Running totals of the recorded times."""
        return onp.cumsum(self.times).tolist()


def below(x, bound):
    """``'< bound'`` when ``|x| < bound``, otherwise ``x`` itself: for printing
    quantities that are rounding error by nature.

    A difference between two float64 computations of the same thing (ours and
    MXNet's, a formula and its autograd gradient) is rounding error: its
    digits, even its order of magnitude, change with the CPU, the BLAS kernel
    and the thread count. Printing it would make the page differ from machine
    to machine; what is stable, and what the reader needs, is that it is far
    below a bound. Choose ``bound`` well above the rounding level (at least
    100 times what you see), so that only a real discrepancy prints a number:
    ``below(3e-16, 1e-12)`` is ``'< 1e-12'``, ``below(2e-5, 1e-12)`` is
    ``'2.0e-05'``.
    """
    if hasattr(x, "shape") and hasattr(x, "item"):  # a one-element MXNet or NumPy array
        if x.size != 1:
            raise ValueError(f"x must be a single number, got an array of shape {x.shape}")
        x = x.item()
    x = check.real("x", x)
    bound = check.positive("bound", bound)
    if abs(x) < bound:
        return f"< {bound:.0e}"
    return f"{x:.1e}"
