"""Run an experiment for several random seeds and say what the spread supports.

One training run on one seed is one draw: another seed gives another
initialization and another order of minibatches, and two methods whose
difference is smaller than that seed-to-seed variation can swap places.
So the book compares methods the way experimental papers should (Bouthillier
et al., "Accounting for variance in machine learning benchmarks", MLSys 2021;
Henderson et al., "Deep reinforcement learning that matters", AAAI 2018):

* ``repeat(run, seeds=5)`` calls ``run(seed)`` once per seed, after
  ``d2lstab.seed(seed)``, and collects what it returns: a number, a curve (a
  sequence of numbers, e.g. test accuracy per epoch), a dict of those, or a
  ``d2lstab.train.History``. Numbers and curves become a ``Spread``; dicts and
  histories a dict of ``Spread``s, one per key.
* A ``Spread`` holds one row per seed and reports the mean, the sample
  standard deviation, the minimum and the maximum (per column for curves).
* ``compare(a, b)`` pairs two ``Spread``s seed by seed (the same seed gives
  both methods the same data split and minibatch order, so the paired
  difference removes what they share) and states an order only when the 95%
  confidence interval of the mean difference (Student's t with n - 1 degrees
  of freedom) excludes zero; otherwise it says there is no clear order.
  With 5 seeds that is a strict test: it needs a difference that is large
  against its own seed-to-seed variation, not just a higher mean.
* ``table(spreads)`` prints them as rows that fit a 79-column page.
"""
import math
import numbers

import numpy as onp

from . import _validate as check

__all__ = ["Spread", "Comparison", "repeat", "compare", "table"]


def _seed_list(seeds):
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = check.integer("seeds", seeds, minimum=2)
        return list(range(seeds))
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be an int (how many, from 0) or a sequence of ints, "
                        f"got {type(seeds).__name__} {seeds!r}")
    seeds = [check.integer("seeds[i]", s, minimum=0, maximum=2**32 - 1) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"seeds must name at least 2 seeds (a spread needs two runs), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a seed, got {seeds!r}")
    return seeds


class Spread:
    """The results of one experiment over several seeds.

    ``values`` has one row per seed: shape ``(n,)`` for a number per run,
    ``(n, T)`` for a curve of length ``T`` per run. ``mean``, ``std`` (sample
    standard deviation, ``ddof=1``), ``min``, ``max`` and ``sem`` (standard
    error of the mean, ``std / sqrt(n)``) are floats for numbers and arrays of
    length ``T`` for curves; ``last`` is the ``Spread`` of a curve's final
    column. ``format(s, '.3f')`` gives ``'0.912 ± 0.008'``; ``str(s)`` adds
    the range and the number of seeds.
    """

    def __init__(self, values, seeds=None, name=None):
        try:
            arr = onp.asarray(values, dtype=onp.float64)
        except (TypeError, ValueError):
            raise TypeError("values must be numbers or equal-length sequences of numbers, "
                            f"one entry per seed, got {values!r}") from None
        if arr.ndim not in (1, 2):
            raise ValueError(f"values must have one row per seed (shape (n,) or (n, T)), "
                             f"got shape {arr.shape}")
        if arr.shape[0] < 2:
            raise ValueError(f"values must hold at least 2 runs, got {arr.shape[0]}")
        if seeds is None:
            seeds = list(range(arr.shape[0]))
        seeds = [int(s) for s in seeds]
        if len(seeds) != arr.shape[0]:
            raise ValueError(f"seeds must have one entry per row of values "
                             f"({arr.shape[0]}), got {len(seeds)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}")
        self.values = arr
        self.seeds = seeds
        self.name = name

    n = property(lambda self: self.values.shape[0], doc="The number of runs (seeds).")

    def _stat(self, fn, **kw):
        out = fn(self.values, axis=0, **kw)
        return float(out) if self.values.ndim == 1 else out

    @property
    def mean(self):
        return self._stat(onp.mean)

    @property
    def std(self):
        return self._stat(onp.std, ddof=1)

    @property
    def min(self):
        return self._stat(onp.min)

    @property
    def max(self):
        return self._stat(onp.max)

    @property
    def sem(self):
        return self._stat(onp.std, ddof=1) / math.sqrt(self.n)

    @property
    def last(self):
        """For a curve, the ``Spread`` of its last entry (e.g. the final epoch)."""
        if self.values.ndim == 1:
            return self
        return Spread(self.values[:, -1], self.seeds, self.name)

    def __len__(self):
        return self.n

    def __format__(self, spec):
        if self.values.ndim != 1:
            raise TypeError("format() needs a Spread of numbers; use .last for a curve's end")
        spec = spec or ".3f"
        return f"{self.mean:{spec}} ± {self.std:{spec}}"

    def __str__(self):
        if self.values.ndim != 1:
            return f"Spread of {self.n} curves of length {self.values.shape[1]}"
        return (f"{self:.3f} (min {self.min:.3f}, max {self.max:.3f}, "
                f"{self.n} seeds)")

    def __repr__(self):
        label = f"{self.name}: " if self.name else ""
        return f"<Spread {label}{self}>"


def _collect(results, seeds):
    first = results[0]
    if hasattr(first, "train_loss") and hasattr(first, "test_acc"):  # a History
        keys = [k for k in ("train_loss", "train_acc", "test_loss", "test_acc")
                if getattr(first, k, None)]
        results = [{k: list(getattr(r, k)) for k in keys} for r in results]
        first = results[0]
    if isinstance(first, dict):
        keys = list(first)
        for s, r in zip(seeds, results):
            if not isinstance(r, dict) or list(r) != keys:
                raise ValueError(f"run must return the same kind of result for every seed: "
                                 f"seed {seeds[0]} gave keys {keys}, seed {s} gave {r!r}")
        return {k: _spread([r[k] for r in results], seeds, k) for k in keys}
    return _spread(results, seeds, None)


def _spread(rows, seeds, name):
    rows = [r.item() if hasattr(r, "item") and getattr(r, "size", 2) == 1 else r for r in rows]
    rows = [r.asnumpy() if hasattr(r, "asnumpy") else r for r in rows]
    lengths = {onp.shape(r) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"run must return results of one shape for every seed"
                         f"{' (key ' + repr(name) + ')' if name else ''}, got shapes {sorted(lengths)}")
    return Spread(rows, seeds, name)


def repeat(run, seeds=5):
    """Call ``run(seed)`` for each seed, after ``d2lstab.seed(seed)``.

    ``seeds`` is how many (``5`` means seeds 0 to 4) or a sequence of
    distinct non-negative ints; at least 2. ``run`` returns a number, a
    curve, a dict of numbers/curves, or a ``History``. Returns a ``Spread``,
    or a dict of ``Spread``s (one per key; for a ``History``: ``train_loss``,
    ``train_acc``, ``test_loss``, ``test_acc``, each a curve over epochs).
    """
    from .utils import seed as _seed

    check.callable_("run", run)
    seeds = _seed_list(seeds)
    results = []
    for s in seeds:
        _seed(s)
        results.append(run(s))
    return _collect(results, seeds)


def _t_quantile(q, df):
    from scipy import stats

    return float(stats.t.ppf(q, df))


class Comparison:
    """The paired comparison of two ``Spread``s (see ``compare``).

    ``diff`` is the ``Spread`` of ``a - b`` seed by seed; ``wins`` how many
    seeds have ``a > b``; ``low``, ``high`` the confidence interval of the
    mean difference; ``order`` is ``'>'`` (a higher), ``'<'`` (b higher) or
    ``'~'`` (no clear order); ``verdict`` says it in words.
    """

    def __init__(self, a, b, names, level):
        self.a, self.b, self.names, self.level = a, b, names, level
        self.diff = Spread(a.values - b.values, a.seeds)
        self.wins = int(onp.sum(a.values > b.values))
        self.ties = int(onp.sum(a.values == b.values))
        n = self.diff.n
        half = _t_quantile(0.5 + level / 2, n - 1) * self.diff.sem
        self.low, self.high = self.diff.mean - half, self.diff.mean + half
        if self.low > 0:
            self.order = ">"
        elif self.high < 0:
            self.order = "<"
        else:
            self.order = "~"

    def verdict(self, digits=3):
        """A sentence: which is higher (if the interval says so), how often, by how much."""
        digits = check.integer("digits", digits, minimum=0, maximum=12)
        a, b = self.names
        n = self.diff.n
        d = f"{self.diff.mean:+.{digits}f}"
        ci = f"{self.level:.0%} interval {self.low:+.{digits}f} to {self.high:+.{digits}f}"
        if self.order == "~":
            head = f"no clear order between {a} and {b}"
        else:
            hi, lo = (a, b) if self.order == ">" else (b, a)
            head = f"{hi} higher than {lo}"
        return (f"{head}: {a} - {b} = {d} ({ci}); {a} higher on {self.wins} "
                f"of {n} seeds")

    def __str__(self):
        return self.verdict()

    def __repr__(self):
        return f"<Comparison {self.verdict()}>"


def _as_number_spread(name, value):
    if not isinstance(value, Spread):
        raise TypeError(f"{name} must be a Spread (from d2lstab.repeat), got {type(value).__name__}")
    if value.values.ndim != 1:
        raise ValueError(f"{name} must be a Spread of numbers, not of curves; use {name}.last")
    return value


def compare(a, b, names=("A", "B"), level=0.95):
    """Compare two ``Spread``s of numbers from the same seeds, seed by seed.

    Returns a ``Comparison``: the mean paired difference ``a - b``, its
    ``level`` confidence interval (Student's t, n - 1 degrees of freedom),
    how many seeds have ``a > b``, and an ``order`` that is ``'~'`` unless
    the interval excludes zero. ``names`` label the two in the verdict.
    """
    a = _as_number_spread("a", a)
    b = _as_number_spread("b", b)
    if a.seeds != b.seeds:
        raise ValueError(f"a and b must come from the same seeds to be paired, "
                         f"got {a.seeds} and {b.seeds}")
    if (not isinstance(names, (tuple, list)) or len(names) != 2
            or not all(isinstance(s, str) for s in names)):
        raise TypeError(f"names must be a pair of str, got {names!r}")
    level = check.in_range("level", level, 0, 1, low_closed=False, high_closed=False)
    return Comparison(a, b, tuple(names), level)


def table(spreads, digits=3, label="", width=79):
    """Rows ``name  mean  sd  min  max`` for a dict ``{name: Spread}``, as a str.

    Numbers with ``digits`` decimals; a curve's ``Spread`` reports its last
    entry. Raises ``ValueError`` if a row would be wider than ``width``.
    """
    if not isinstance(spreads, dict) or not spreads:
        raise TypeError(f"spreads must be a non-empty dict {{name: Spread}}, got {spreads!r}")
    digits = check.integer("digits", digits, minimum=0, maximum=12)
    width = check.integer("width", width, minimum=20)
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}")
    rows = []
    for name, s in spreads.items():
        if not isinstance(s, Spread):
            raise TypeError(f"spreads[{name!r}] must be a Spread, got {type(s).__name__}")
        s = s.last
        rows.append((str(name), [f"{v:.{digits}f}" for v in (s.mean, s.std, s.min, s.max)], s.n))
    ns = {n for _, _, n in rows}
    first = max(len(label), *(len(r[0]) for r in rows))
    col = max(4, *(len(v) for _, vals, _ in rows for v in vals))
    head = " ".join(h.rjust(col) for h in ("mean", "sd", "min", "max"))
    lines = [f"{label.ljust(first)}  {head}"]
    for name, vals, n in rows:
        lines.append(f"{name.ljust(first)}  " + " ".join(v.rjust(col) for v in vals))
    if len(ns) == 1:
        lines.append(f"({ns.pop()} seeds each; sd is the sample standard deviation)")
    else:
        lines.append("(seeds per row: " + ", ".join(f"{r[0]} {r[2]}" for r in rows) + ")")
    too_wide = [line for line in lines if len(line) > width]
    if too_wide:
        raise ValueError(f"a row is {len(too_wide[0])} characters, wider than width={width}; "
                         f"use shorter names or fewer digits")
    return "\n".join(lines)
