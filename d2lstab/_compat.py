"""Make MXNet 1.9.1 importable on current NumPy and Python.

MXNet 1.9.1 (the last 1.x release) still refers to ``numpy.bool``,
``numpy.int`` and friends, aliases that NumPy deprecated in 1.20 and removed
in 1.24, and on Python 3.12 it imports ``distutils``, which the standard
library dropped (setuptools provides a drop-in copy).

``patch()`` restores exactly those removed aliases, each to the builtin it
always meant, and only when it is missing. It changes nothing else about
NumPy. It must run before the first ``import mxnet``; ``import d2lstab`` does
that for you.
"""
import sys
import warnings

# The aliases whose deprecation expired in NumPy 1.24 (NumPy 1.24 release
# notes, "Expired deprecations"); each meant the Python builtin of that name.
REMOVED_ALIASES = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}

SUPPORTED_NUMPY = "1.23 to 1.26"


class IncompatibleNumPyError(ImportError):
    """Raised when the installed NumPy cannot run MXNet 1.9.1."""


def _numpy_major_minor(version):
    parts = version.split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def check_numpy(np_module):
    """Raise a clear error if ``np_module`` is NumPy 2 or newer."""
    major, _ = _numpy_major_minor(np_module.__version__)
    if major >= 2:
        raise IncompatibleNumPyError(
            f"d2lstab runs on MXNet 1.9.1, which needs NumPy {SUPPORTED_NUMPY}, "
            f"but NumPy {np_module.__version__} is installed. Run "
            "`pip install numpy==1.26.4` and then restart Python "
            "(in Colab: Runtime > Restart session) before importing d2lstab."
        )


def restore_numpy_aliases(np_module):
    """Put back the removed aliases on ``np_module``; return the names set."""
    restored = []
    for name, builtin in REMOVED_ALIASES.items():
        if name in vars(np_module):
            continue
        with warnings.catch_warnings():
            # NumPy 1.24-1.26 warn that these names will return as scalar types.
            warnings.simplefilter("ignore", FutureWarning)
            try:
                getattr(np_module, name)
                continue
            except AttributeError:
                pass
        setattr(np_module, name, builtin)
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
            "install setuptools (`pip install setuptools`) to provide it."
        ) from exc


def patch():
    """Run every fix MXNet 1.9.1 needs before it is imported."""
    import numpy

    check_numpy(numpy)
    restore_numpy_aliases(numpy)
    ensure_distutils()
