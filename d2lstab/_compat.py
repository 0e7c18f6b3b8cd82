"""Make MXNet 1.9.1 run on current NumPy and Python.

MXNet 1.9.1 (2022, the last 1.x release) was written for NumPy 1.x and
Python <= 3.11. Its wheel declares ``numpy<2``, so it is installed with
``pip install --no-deps mxnet==1.9.1`` (plus its two small dependencies,
``requests`` and ``graphviz<0.9``); this module does the rest. Every change
it makes is listed here, with the reason, and each is made only where the
NumPy or Python in use lacks what MXNet needs:

1. **Names NumPy removed that MXNet reads when it is imported.** MXNet binds
   them at module level (``mxnet/numpy/utils.py``, ``mxnet/numpy/fallback.py``),
   so without them ``import mxnet`` fails.

   - NumPy 1.24 removed the aliases ``numpy.bool``, ``int``, ``float``,
     ``complex``, ``object``, ``str`` (NumPy 1.24 release notes, "Expired
     deprecations"); each meant the Python builtin of that name and is
     restored to it.
   - NumPy 2.0 removed the constants ``PZERO``, ``NZERO``, ``PINF``,
     ``NINF``, ``NAN``, ``NaN``, ``Inf`` (NEP 52, the NumPy 2.0 migration
     guide); restored to ``0.0``, ``-0.0``, ``inf``, ``-inf`` and ``nan``.
   - NumPy 2.0 removed ``alltrue``, ``sometrue``, ``msort``, ``product``
     and ``round_``; NumPy 2.4 removed ``in1d`` and ``trapz``. MXNet binds
     them in ``mxnet/numpy/fallback.py`` or looks them up to register its
     ``__array_function__`` overrides (``numpy_dispatch_protocol.py``).
     Restored as thin functions over the replacements NumPy names (``all``,
     ``any``, ``sort(a, axis=0)``, ``prod``, ``round``, ``isin``,
     ``trapezoid``), with the old signatures.
   - ``mirr``, ``npv``, ``pmt``, ``ppmt``, ``pv`` and ``rate`` left NumPy in
     1.20 (NEP 32); NumPy 1.20 to 1.26 still answered ``numpy.mirr`` with a
     function that raises ``RuntimeError`` pointing to ``numpy-financial``,
     and MXNet binds that. Restored the same way: calling one raises the same
     message.

   NumPy's own functions and printing are not changed: a name is set only
   where NumPy no longer has it.

2. **``distutils`` on Python >= 3.12.** MXNet imports
   ``distutils.version``, which Python 3.12 removed from the standard
   library; setuptools (a dependency of d2lstab there) provides a drop-in
   copy, which ``ensure_distutils`` loads.

3. **Operator parameters written with NumPy 2's scalar repr.** MXNet passes
   every operator parameter to its C++ core as a string, made by ``str()``.
   For a tuple that calls ``repr()`` on each element, and NumPy 2 writes
   ``repr(numpy.int64(1))`` as ``np.int64(1)`` (NEP 51) where NumPy 1 wrote
   ``1``: ``(np.int64(1), np.int64(1))`` then fails to parse, for instance
   in the ``_slice_assign`` behind ``x[i, j] = v``. ``patch_mxnet`` wraps
   the two functions through which every such string goes (imperative
   calls and symbol creation) so that NumPy scalars inside tuples and lists
   are written as NumPy 1 wrote them (their ``str()``). A bare NumPy scalar
   is left alone (its ``str()`` did not change). Nothing else about NumPy's
   printing changes, so a reader's ``print(numpy.float64(1))`` is not
   affected.

4. **Random draws into a float64 array.** In MXNet's NumPy interface,
   ``mxnet.np.random.uniform(..., out=x)`` and ``normal(..., out=x)`` create
   float32 unless ``dtype`` is given, and fail when ``x`` is float64 (the
   operator's output type check: "0-th output has invalid shape. Expecting
   0 got 1"). MXNet's own initializers (``Uniform``, ``Normal``, ``Xavier``,
   the default one) call them exactly so, which makes every float64 Gluon
   parameter fail to initialize (``tests/test_compat.py`` has the minimal
   reproduction). ``patch_mxnet`` makes the two functions take their
   ``dtype`` from ``out`` when ``dtype`` is not given, as NumPy's own
   ``out=`` arguments do. Nothing changes for a call that names ``dtype``
   or has no ``out``.

``import d2lstab`` runs all of this (``import_mxnet``) before MXNet is
first imported. What it cannot run it refuses with a message naming the
versions (``check_versions``): Python outside 3.10 to 3.13 and NumPy
outside 1.23 to 2.x.
"""
import functools
import sys
import warnings

# What this module has been tested with (tests/test_compat.py and the fresh
# venvs of tests/test_python_versions.py).
SUPPORTED_PYTHON = ((3, 10), (3, 13))
SUPPORTED_NUMPY = ((1, 23), (2, 99))
SUPPORTED_TEXT = "Python 3.10 to 3.13 with NumPy 1.23 to 2.x"

# 1. Names NumPy removed that MXNet 1.9.1 reads when it is imported.
# NumPy 1.24, "Expired deprecations": each alias meant the Python builtin.
REMOVED_ALIASES = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}
# NumPy 2.0 (NEP 52): constants with their values.
REMOVED_CONSTANTS = {
    "PZERO": 0.0,
    "NZERO": -0.0,
    "PINF": float("inf"),
    "NINF": float("-inf"),
    "NAN": float("nan"),
    "NaN": float("nan"),
    "Inf": float("inf"),
}
# NEP 32 (NumPy 1.20): financial functions MXNet binds in mxnet/numpy/fallback.py.
FINANCIAL = ("mirr", "npv", "pmt", "ppmt", "pv", "rate")
FINANCIAL_MESSAGE = (
    "In accordance with NEP 32, the function {name} was removed from NumPy version 1.20. "
    "A replacement for this function is available in the numpy_financial library: "
    "https://pypi.org/project/numpy-financial")


class IncompatibleNumPyError(ImportError):
    """Raised when the installed NumPy cannot run MXNet 1.9.1."""


class IncompatiblePythonError(ImportError):
    """Raised on a Python that MXNet 1.9.1 with d2lstab is not known to run on."""


def _major_minor(version):
    parts = version.split(".")
    minor = "".join(ch for ch in parts[1] if ch.isdigit()) if len(parts) > 1 else ""
    return int(parts[0]), int(minor or 0)


def check_python(version_info=None):
    """Raise ``IncompatiblePythonError`` outside Python 3.10 to 3.13."""
    version = tuple((version_info or sys.version_info)[:2])
    low, high = SUPPORTED_PYTHON
    if not low <= version <= high:
        raise IncompatiblePythonError(
            f"d2lstab runs MXNet 1.9.1 on {SUPPORTED_TEXT}; this is Python "
            f"{version[0]}.{version[1]}. Use Python 3.13 (in Colab: open the command "
            "palette, choose \"Change runtime version\" and pick the Python 3.13 runtime).")


def check_numpy(np_module):
    """Raise ``IncompatibleNumPyError`` unless ``np_module`` is NumPy 1.23 to 2.x."""
    version = _major_minor(np_module.__version__)
    low, high = SUPPORTED_NUMPY
    if not low <= version <= high:
        raise IncompatibleNumPyError(
            f"d2lstab runs MXNet 1.9.1 on {SUPPORTED_TEXT}, but NumPy "
            f"{np_module.__version__} is installed. Install a supported NumPy, for "
            "instance `pip install numpy==2.1.3` (the version of Google Colab's runtime).")


def check_versions(np_module, version_info=None):
    check_python(version_info)
    check_numpy(np_module)


def _missing(np_module, name):
    """True if ``np_module`` no longer has ``name`` (NumPy 1.24-1.26 warn on some)."""
    if name in vars(np_module):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning/DeprecationWarning of 1.2x
        try:
            getattr(np_module, name)
            return False
        except AttributeError:
            return True


def _removed_functions(np_module):
    """Thin replacements for removed functions, over what NumPy has now."""
    def alltrue(a, axis=None, out=None, keepdims=False):
        return np_module.all(a, axis=axis, out=out, keepdims=keepdims)

    def msort(a):
        return np_module.sort(a, axis=0)

    def in1d(ar1, ar2, assume_unique=False, invert=False):
        return np_module.isin(np_module.asarray(ar1).ravel(), ar2,
                              assume_unique=assume_unique, invert=invert)

    def trapz(y, x=None, dx=1.0, axis=-1):
        return np_module.trapezoid(y, x=x, dx=dx, axis=axis)

    def sometrue(a, axis=None, out=None, keepdims=False):
        return np_module.any(a, axis=axis, out=out, keepdims=keepdims)

    functions = {"alltrue": alltrue, "sometrue": sometrue, "msort": msort, "in1d": in1d,
                 "trapz": trapz, "product": np_module.prod, "round_": np_module.round}
    for name in FINANCIAL:
        def expired(*args, _name=name, **kwargs):
            raise RuntimeError(FINANCIAL_MESSAGE.format(name=_name))
        expired.__name__ = name
        functions[name] = expired
    return functions


def restore_numpy_names(np_module):
    """Put back on ``np_module`` the removed names MXNet reads; return those set."""
    restored = []
    names = dict(REMOVED_ALIASES)
    names.update(REMOVED_CONSTANTS)
    names.update(_removed_functions(np_module))
    for name, value in names.items():
        if _missing(np_module, name):
            setattr(np_module, name, value)
            restored.append(name)
    return restored


def ensure_distutils():
    """Make ``import distutils`` work on Python >= 3.12 via setuptools."""
    try:
        import distutils  # noqa: F401
        return
    except ImportError:
        pass
    try:
        import setuptools  # noqa: F401  (registers its bundled distutils)
        import distutils  # noqa: F401,F811
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "MXNet 1.9.1 imports `distutils`, which Python "
            f"{sys.version_info.major}.{sys.version_info.minor} no longer ships; "
            "install setuptools (`pip install setuptools`) to provide it.") from exc


# 3. Operator parameters.
def _holds_scalar(value, generic):
    return isinstance(value, generic) or (
        isinstance(value, (tuple, list)) and any(_holds_scalar(v, generic) for v in value))


def _numpy1_repr(value, generic):
    """``repr(value)`` as NumPy 1 wrote it: a NumPy scalar as its ``str()``."""
    if isinstance(value, generic):
        return str(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_numpy1_repr(v, generic) for v in value)
        if isinstance(value, list):
            return "[" + inner + "]"
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def legacy_param(value, generic):
    """``value`` such that MXNet's ``str(value)`` reads as it did under NumPy 1.

    A tuple or list holding NumPy scalars (instances of ``generic``) is
    returned as the string Python would have made of it under NumPy 1; any
    other value (a bare NumPy scalar included) is returned unchanged.
    """
    if isinstance(value, (tuple, list)) and _holds_scalar(value, generic):
        return _numpy1_repr(value, generic)
    return value


def _wrap_vals(function, position, generic):
    """Wrap an MXNet invoker so its ``vals`` argument gets ``legacy_param``."""
    if getattr(function, "_d2lstab_legacy_params", False):
        return function

    @functools.wraps(function)
    def invoke(*args, **kwargs):
        args = list(args)
        args[position] = [legacy_param(v, generic) for v in args[position]]
        return function(*args, **kwargs)

    invoke._d2lstab_legacy_params = True
    return invoke


def _dtype_from_out(function):
    """Wrap ``mxnet.np.random.uniform``/``normal``: no ``dtype`` but an ``out`` means out's dtype."""
    if getattr(function, "_d2lstab_dtype_from_out", False):
        return function

    @functools.wraps(function)
    def draw(*args, **kwargs):
        out = kwargs.get("out")
        if out is not None and kwargs.get("dtype") is None and len(args) < 4:
            kwargs["dtype"] = out.dtype
        return function(*args, **kwargs)

    draw._d2lstab_dtype_from_out = True
    return draw


def patch_random_out(mx):
    """Item 4 above: float64 ``out=`` arrays for MXNet's NumPy-interface random draws."""
    from mxnet import numpy as mx_np
    from mxnet.ndarray import numpy as nd_np

    for module in (mx_np.random, nd_np.random):
        for name in ("uniform", "normal"):
            setattr(module, name, _dtype_from_out(getattr(module, name)))


def patch_mxnet(mx, np_module):
    """Items 3 and 4 above; return whether the operator parameters were rerouted."""
    patch_random_out(mx)
    if _major_minor(np_module.__version__) < (2, 0):
        return False
    from mxnet._ctypes import ndarray as c_ndarray, symbol as c_symbol
    from mxnet.ndarray import _internal as nd_internal, register as nd_register
    from mxnet.symbol import _internal as sym_internal, register as sym_register

    invoke = _wrap_vals(c_ndarray._imperative_invoke, 3, np_module.generic)
    for module in (c_ndarray, nd_internal, nd_register):
        module._imperative_invoke = invoke  # generated operators look it up here
    create = _wrap_vals(c_symbol._symbol_creator, 4, np_module.generic)
    for module in (c_symbol, sym_internal, sym_register):
        module._symbol_creator = create
    return True


def patch():
    """Everything MXNet 1.9.1 needs before it is imported (1 and 2 above)."""
    import numpy

    check_versions(numpy)
    restore_numpy_names(numpy)
    ensure_distutils()


def import_mxnet():
    """Patch, import MXNet 1.9.1, fix its operator parameters (3); return it."""
    import numpy

    patch()
    try:
        import mxnet
    except ImportError as exc:
        if getattr(exc, "name", None) != "mxnet":
            raise
        raise ImportError(
            "d2lstab needs MXNet 1.9.1, which is not installed. Its wheel declares "
            "numpy<2, so install it without its dependencies: "
            "`pip install --no-deps mxnet==1.9.1`.") from exc
    patch_mxnet(mxnet, numpy)
    return mxnet
