"""Argument checks shared by every public function.

Each check raises ``TypeError`` for a value of the wrong kind and
``ValueError`` for a value out of range, and the message always names the
argument and what it accepts. Use these at the door of public functions so a
bad argument never reaches MXNet.
"""
import numbers

import numpy as onp


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real(name, value):
    """``value`` must be a real number (not a bool); returns it as float."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not onp.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def positive(name, value):
    """A real number > 0."""
    value = real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def non_negative(name, value):
    """A real number >= 0."""
    value = real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def in_range(name, value, low, high, low_closed=True, high_closed=True):
    """A real number in the interval from ``low`` to ``high``."""
    value = real(name, value)
    ok_low = value >= low if low_closed else value > low
    ok_high = value <= high if high_closed else value < high
    if not (ok_low and ok_high):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def integer(name, value, minimum=None, maximum=None):
    """An int (not a bool), optionally bounded; NumPy integers accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def one_of(name, value, options):
    """``value`` must be one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)!r}, got {value!r}")
    return value


def boolean(name, value):
    """A real bool (NumPy bools accepted)."""
    if not isinstance(value, (bool, onp.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def callable_(name, value):
    """A callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def shape(name, value, min_ndim=0):
    """A tuple/list of positive ints with at least ``min_ndim`` entries."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {type(value).__name__} {value!r}")
    for dim in value:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"{name} must contain positive ints, got {tuple(value)!r}")
    if len(value) < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions "
            f"(MXNet weights are (out, in, *kernel)), got {tuple(value)!r}"
        )
    return tuple(int(d) for d in value)


def array(name, value):
    """An ``mxnet.np.ndarray``."""
    from mxnet import np

    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be an mxnet.np.ndarray, got {type(value).__name__}; "
            "convert with mxnet.np.array(...)"
        )
    return value


def param_items(name, value):
    """``value`` as a non-empty list of items (arrays or Gluon ``Parameter``s).

    A single array or Parameter becomes a one-item list; a dict or Gluon
    ``ParameterDict`` contributes its values. The items themselves are not
    checked here (see ``params``).
    """
    from mxnet import gluon, np

    if isinstance(value, (np.ndarray, gluon.Parameter)):
        value = [value]
    if callable(getattr(value, "values", None)):  # dict or gluon ParameterDict
        value = list(value.values())
    try:
        items = list(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of arrays or gluon Parameters, got {type(value).__name__}"
        ) from None
    if not items:
        raise ValueError(f"{name} must not be empty")
    return items


def params(name, value, need_grad=True):
    """A non-empty list of arrays or Gluon ``Parameter``s.

    Returns the list of underlying arrays: for a ``Parameter`` its
    ``data()``, for an array the array itself (a dict or ``ParameterDict``
    contributes its values).
    With ``need_grad`` every array must have had ``attach_grad()`` (a
    ``Parameter`` with ``grad_req='null'`` is rejected too).
    """
    from mxnet import gluon, np

    items = param_items(name, value)
    arrays = []
    for i, item in enumerate(items):
        if isinstance(item, gluon.Parameter):
            if need_grad and item.grad_req == "null":
                raise ValueError(f"{name}[{i}] ({item.name}) has grad_req='null': no gradient to use")
            try:
                arr = item.data()
            except Exception as exc:  # deferred init, not initialized
                raise ValueError(
                    f"{name}[{i}] ({item.name}) is not initialized yet: run the network "
                    "once (or call net.initialize()) before building the optimizer"
                ) from exc
        elif isinstance(item, np.ndarray):
            arr = item
        else:
            raise TypeError(
                f"{name}[{i}] must be an mxnet.np.ndarray or gluon Parameter, got {type(item).__name__}"
            )
        if need_grad and arr.grad is None:
            raise ValueError(f"{name}[{i}] has no gradient attached: call attach_grad() on it first")
        arrays.append(arr)
    return arrays
