"""Plotting helpers with d2l's signatures, made reproducible.

The notebooks store their figures as SVG; the regression tests compare them
by what they show (``tools/nbval_figures.py``: the same structure and texts,
coordinates within 0.1 pt), and the determinism test as text. So
``use_svg_display()`` fixes the two things that would make the same figure
differ between runs, the random ids matplotlib derives for clip paths and
markers (``svg.hashsalt``) and the creation date it writes into the
metadata, and turns off path simplification, which lets rounding decide
which vertices of a curve are written.
"""
import numbers

import numpy as onp

from . import _validate as check

SVG_HASHSALT = "d2lstab"


def use_svg_display():
    """Show figures in notebooks as SVG, byte-identical from run to run.

    Besides the fixed hash salt and the dropped date, path simplification
    (``path.simplify``) is turned off: matplotlib drops the vertices of a
    curve that deviate less than 1/9 pt from a straight segment, so a
    perturbation of the data at float rounding level decides which vertices
    survive. Measured on a 1000-point curve, relative noise of 1e-6 on the
    data (coordinates moving by 1e-4 pt) changed the number of vertices in
    a third of the figures, and kept other vertices (up to 14 pt apart) in
    some with the same number, so the same figure computed on two CPUs
    could not be compared point by point (``tools/nbval_figures.py``).
    Without simplification every data point is one vertex and rounding
    moves it by the rounding, nothing more; the SVG is somewhat larger.
    """
    import matplotlib as mpl

    mpl.rcParams["svg.hashsalt"] = SVG_HASHSALT
    mpl.rcParams["path.simplify"] = False
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - very old IPython
        from IPython.display import set_matplotlib_formats
    # kwargs reach Figure.savefig: no date in the metadata, a fixed dpi.
    set_matplotlib_formats("svg", metadata={"Date": None})


def _figsize(name, figsize):
    if (not isinstance(figsize, (tuple, list)) or len(figsize) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in figsize)):
        raise ValueError(f"{name} must be a pair of positive numbers (width, height), got {figsize!r}")
    return tuple(float(v) for v in figsize)


def set_figsize(figsize=(3.5, 2.5)):
    """Set the default figure size in inches (and switch to SVG output)."""
    import matplotlib.pyplot as plt

    figsize = _figsize("figsize", figsize)
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set labels, limits, scales and legend of a matplotlib ``Axes``."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _to_numpy(values):
    """An MXNet array, a list or a NumPy array as a 1-D NumPy array."""
    if hasattr(values, "asnumpy"):
        values = values.asnumpy()
    return onp.asarray(values, dtype=float).ravel()


def _has_one_axis(values):
    if hasattr(values, "ndim"):
        return values.ndim == 1
    return isinstance(values, (list, tuple)) and (len(values) == 0 or not hasattr(values[0], "__len__"))


def _check_style(xscale, yscale, fmts):
    """The axis scales and line formats that plot() and plot_spread() accept."""
    check.one_of("xscale", xscale, {"linear", "log", "symlog", "logit"})
    check.one_of("yscale", yscale, {"linear", "log", "symlog", "logit"})
    if not isinstance(fmts, (tuple, list)) or not fmts:
        raise ValueError(f"fmts must be a non-empty tuple of format strings, got {fmts!r}")


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale='linear', yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'),
         figsize=(3.5, 2.5), axes=None):
    """Plot one or several curves (d2l's ``plot``).

    ``X`` and ``Y`` may each be one sequence or a list of sequences (MXNet or
    NumPy arrays, lists). With ``Y=None`` the values in ``X`` are plotted
    against their index. Like d2l's, it returns None (so a cell ending in
    ``d2l.plot(...)`` shows the figure and no ``<Axes>`` repr); pass ``axes``
    to draw into an ``Axes`` you hold.
    """
    import matplotlib.pyplot as plt

    _check_style(xscale, yscale, fmts)
    if legend is None:
        legend = []
    if X is None:
        raise TypeError("X must be a sequence of values or a list of sequences, got None")
    figsize = _figsize("figsize", figsize)
    set_figsize(figsize)
    if axes is None:
        axes = plt.gca()
    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    if len(X) != len(Y):
        raise ValueError(f"X and Y must hold the same number of curves, got {len(X)} and {len(Y)}")
    axes.cla()
    for i, (x, y) in enumerate(zip(X, Y)):
        fmt = fmts[i % len(fmts)]
        y = _to_numpy(y)
        if len(x):
            x = _to_numpy(x)
            if x.shape != y.shape:
                raise ValueError(f"curve {i}: X has {x.size} points but Y has {y.size}")
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)


def plot_spread(x, spreads, xlabel=None, ylabel=None, xlim=None, ylim=None,
                xscale='linear', yscale='linear', fmts=('-', 'm--', 'g-.', 'r:'),
                figsize=(3.5, 2.5), axes=None, band='minmax'):
    """Curves over several seeds: the mean of each, with a band around it.

    ``spreads`` is a dict ``{label: Spread}`` of curves (from
    ``d2lstab.repeat``), all of length ``len(x)``. ``band='minmax'`` shades
    from the lowest to the highest seed at each point (what every seed did);
    ``band='std'`` shades the mean plus or minus one standard deviation;
    ``band='all'`` draws every seed as a thin line instead. The legend names
    each label once.
    """
    import matplotlib.pyplot as plt

    from .repeats import Spread

    check.one_of("band", band, {"minmax", "std", "all"})
    _check_style(xscale, yscale, fmts)
    if not isinstance(spreads, dict) or not spreads:
        raise TypeError(f"spreads must be a non-empty dict {{label: Spread}}, got {spreads!r}")
    x = _to_numpy(x)
    for label, s in spreads.items():
        if not isinstance(s, Spread) or s.values.ndim != 2:
            raise TypeError(f"spreads[{label!r}] must be a Spread of curves, got {s!r}")
        if s.values.shape[1] != x.size:
            raise ValueError(f"spreads[{label!r}] has curves of length {s.values.shape[1]} "
                             f"but x has {x.size} points")
    figsize = _figsize("figsize", figsize)
    set_figsize(figsize)
    if axes is None:
        axes = plt.gca()
    axes.cla()
    for i, (label, s) in enumerate(spreads.items()):
        line, = axes.plot(x, s.mean, fmts[i % len(fmts)], label=str(label))
        color = line.get_color()
        if band == "minmax":
            axes.fill_between(x, s.min, s.max, color=color, alpha=0.2, linewidth=0)
        elif band == "std":
            axes.fill_between(x, s.mean - s.std, s.mean + s.std, color=color, alpha=0.2,
                              linewidth=0)
        else:
            for row in s.values:
                axes.plot(x, row, color=color, linewidth=0.5, alpha=0.5)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, None)
    axes.legend()
