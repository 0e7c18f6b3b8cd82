"""d2lstab._compat: MXNet 1.9.1 on NumPy 1.23 to 2.x and Python 3.10 to 3.13.

What it changes in NumPy (only names NumPy no longer has, each to what it
meant), what it refuses (with the versions named), and the boundary fix for
operator parameters on NumPy 2, checked both as a function and through the
MXNet operators that broke (``x[i, j] = v`` with NumPy integers, reshape,
a hybridized block).
"""
import subprocess
import sys
import types

import numpy as onp
import pytest

import d2lstab as d2l  # noqa: F401  (imports MXNet through the patch)
from d2lstab import _compat
from mxnet import gluon, np

NUMPY2 = _compat._major_minor(onp.__version__) >= (2, 0)


# --- 1. names restored only where NumPy lacks them -------------------------

def test_restores_only_missing_names():
    fake = types.ModuleType("fake_numpy")
    fake.int = "kept"  # present: must not be overwritten
    fake.all, fake.any, fake.sort, fake.isin, fake.prod, fake.round = (onp.all, onp.any, onp.sort,
                                                                     onp.isin, onp.prod, onp.round)
    fake.trapezoid, fake.asarray = onp.trapezoid if hasattr(onp, "trapezoid") else None, onp.asarray
    restored = _compat.restore_numpy_names(fake)
    assert fake.int == "kept" and "int" not in restored
    expected = (set(_compat.REMOVED_ALIASES) | set(_compat.REMOVED_CONSTANTS) | set(_compat.FINANCIAL)
                | {"alltrue", "sometrue", "msort", "in1d", "trapz", "product", "round_"}) - {"int"}
    assert set(restored) == expected
    import builtins

    for name in set(_compat.REMOVED_ALIASES) - {"int"}:
        # each alias meant the Python builtin of the same name (NumPy 1.24 release notes)
        assert getattr(fake, name) is _compat.REMOVED_ALIASES[name] is getattr(builtins, name)
    assert fake.PZERO == 0.0 and onp.signbit(fake.NZERO) and fake.NINF == -onp.inf
    assert fake.PINF == onp.inf == fake.Inf and onp.isnan(fake.NAN) and onp.isnan(fake.NaN)


def test_restored_functions_behave_like_their_replacements():
    funcs = _compat._removed_functions(onp)
    a = onp.array([[3, 1], [2, 4]])
    assert funcs["alltrue"]([True, False]) == onp.all([True, False])
    assert funcs["sometrue"]([False, True])
    assert (funcs["msort"](a) == onp.sort(a, axis=0)).all()
    assert (funcs["in1d"](a, [1, 4]) == onp.array([False, True, False, True])).all()
    assert funcs["product"]([2, 3]) == 6 and funcs["round_"](2.567, 1) == 2.6
    if hasattr(onp, "trapezoid"):
        assert funcs["trapz"]([0.0, 1.0, 2.0]) == 2.0
    with pytest.raises(RuntimeError, match="NEP 32.*mirr.*numpy_financial"):
        funcs["mirr"]([1.0], 0.1, 0.1)


def test_numpy_itself_unchanged():
    """Nothing NumPy still has is replaced, and NumPy prints as it always does."""
    # NumPy 2 has numpy.bool again (its own boolean type): it must not be replaced.
    assert onp.bool is (onp.bool_ if NUMPY2 else bool) and onp.dtype(onp.bool_) == onp.dtype("?")
    assert onp.array([1, 2]).dtype == onp.dtype("int64")
    assert onp.all is not getattr(onp, "alltrue")
    if NUMPY2:
        assert repr(onp.float64(1.5)) == "np.float64(1.5)"  # NEP 51 printing left alone
        assert onp.get_printoptions()["legacy"] is False


def test_import_in_fresh_interpreter():
    code = "import d2lstab, mxnet; from mxnet import np; print(float((np.ones(3) * 2).sum()))"
    out = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6.0"


# --- what is refused -------------------------------------------------------

@pytest.mark.parametrize("version", ["1.22.4", "3.0.0", "3.0.0rc1", "0.9"])
def test_unsupported_numpy_refused_clearly(version):
    with pytest.raises(_compat.IncompatibleNumPyError, match=r"Python 3\.10 to 3\.13 with NumPy 1\.23 "
                       rf"to 2\.x, but NumPy {version} is installed.*pip install numpy==2\.1\.3"):
        _compat.check_numpy(types.SimpleNamespace(__version__=version))


@pytest.mark.parametrize("version", ["1.23.5", "1.26.4", "2.0.2", "2.1.3", "2.5.5", "2.10.0"])
def test_supported_numpy_accepted(version):
    _compat.check_numpy(types.SimpleNamespace(__version__=version))


@pytest.mark.parametrize("version", [(3, 9, 18), (3, 14, 0), (4, 0, 0)])
def test_unsupported_python_refused_clearly(version):
    with pytest.raises(_compat.IncompatiblePythonError,
                       match=rf"this is Python {version[0]}\.{version[1]}.*Change runtime version"):
        _compat.check_python(version)


@pytest.mark.parametrize("minor", [10, 11, 12, 13])
def test_supported_python_accepted(minor):
    _compat.check_python((3, minor, 0))


def test_refusal_is_an_import_error():
    """So that `import d2lstab` fails as an import, with the message, not deep inside MXNet."""
    assert issubclass(_compat.IncompatibleNumPyError, ImportError)
    assert issubclass(_compat.IncompatiblePythonError, ImportError)


# --- 3. operator parameters ------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ((onp.int64(1), onp.int64(1)), "(1, 1)"),
    ((onp.int64(3),), "(3,)"),
    ([onp.int32(1), 2], "[1, 2]"),
    (((onp.int64(1), None), (2, onp.float32(0.5))), "((1, None), (2, 0.5))"),
    ((onp.bool_(True), "a"), "(True, 'a')"),
])
def test_legacy_param_writes_numpy1_repr(value, expected):
    assert _compat.legacy_param(value, onp.generic) == expected


@pytest.mark.parametrize("value", [(1, 2), [1.5], (), "abc", 3, onp.float32(0.1), onp.int64(7), None])
def test_legacy_param_leaves_the_rest_alone(value):
    assert _compat.legacy_param(value, onp.generic) is value


def test_python_tuple_and_numpy_tuple_give_the_same_string():
    python = (1, 2, None)
    numpy = (onp.int64(1), onp.int64(2), None)
    assert str(_compat.legacy_param(numpy, onp.generic)) == str(python)


def test_numpy_integer_index_assignment():
    """x[i, j] = v with NumPy integers goes through _slice_assign's string parameters."""
    x = np.zeros((3, 4))
    x[onp.int64(1), onp.int64(2)] = 5
    x[onp.int64(0):onp.int64(2), 0] = 1
    expected = onp.zeros((3, 4))
    expected[1, 2] = 5
    expected[0:2, 0] = 1
    assert (x.asnumpy() == expected).all()


def test_numpy_integer_shapes_imperative_and_hybridized():
    class Flatten(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.np.reshape(x, (onp.int64(-1), onp.int64(6)))

    block = Flatten()
    x = np.arange(12).reshape((onp.int64(2), onp.int64(6)))
    assert block(x).shape == (2, 6)
    block.hybridize()
    assert block(x).shape == (2, 6) and (block(x) == x).all()


def test_invokers_wrapped_once():
    from mxnet.ndarray import register

    if not NUMPY2:
        pytest.skip("NumPy 1 needs no wrapping")
    invoke = register._imperative_invoke
    assert getattr(invoke, "_d2lstab_legacy_params", False)
    assert _compat._wrap_vals(invoke, 3, onp.generic) is invoke


# --- 4. random draws into float64 arrays (MXNet's initializers) ---------------

def test_random_draw_into_float64_out():
    """The minimal reproduction: in MXNet 1.9.1's NumPy interface a draw into a float64
    ``out`` fails unless ``dtype`` is given; with the patch it takes out's dtype."""
    from mxnet import numpy as mx_np
    from mxnet.ndarray import numpy as nd_np  # mxnet.np.random calls into this one

    for draw, inner in ((mx_np.random.uniform, nd_np.random.uniform),
                        (mx_np.random.normal, nd_np.random.normal)):
        unpatched = inner.__wrapped__
        out = np.zeros((3, 4), dtype="float64")
        with pytest.raises(Exception, match="Expecting 0 got 1"):
            unpatched(0, 1, (3, 4), out=out)
            out.wait_to_read()
        draw(0, 1, (3, 4), out=out)
        assert out.dtype == onp.float64 and float(np.abs(out).sum()) > 0
        explicit = draw(0, 1, (2,), dtype="float32")  # an explicit dtype still wins
        assert explicit.dtype == onp.float32


@pytest.mark.parametrize("initializer", ["Uniform", "Normal", "Xavier", "MSRAPrelu", None])
def test_float64_gluon_parameters_initialize(initializer):
    from mxnet import init

    net = gluon.nn.Dense(3, dtype="float64")
    if initializer:
        net.initialize(getattr(init, initializer)())
    else:
        net.initialize()  # Gluon's default, Uniform(0.07)
    y = net(np.ones((2, 5), dtype="float64"))
    assert y.dtype == onp.float64 and net.weight.data().dtype == onp.float64
    assert float(np.abs(net.weight.data()).sum()) > 0
