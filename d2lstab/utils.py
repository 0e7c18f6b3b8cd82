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
