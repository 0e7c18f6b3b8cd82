"""Minimal reproductions of what is wrong in MXNet 1.9.1's activation operators.

Chapter 3 reports each of these. Every test asserts the wrong behaviour
precisely, so it fails (and says so) the day an MXNet upgrade fixes it. Each
one rules out our own misuse first: the mode (forward recorded in training
and in prediction mode, and ``backward(train_mode=...)`` set explicitly both
ways, since MXNet's ``backward()`` defaults to training mode whatever mode
the forward pass ran in), the dtype (float32 and float64), and the API (the
NumPy interface ``npx.leaky_relu``, the legacy ``mx.nd.LeakyReLU`` and the
Gluon block where there is one). Only ``d2lstab`` is imported besides MXNet,
for the compatibility patch that lets MXNet 1.9.1 import on NumPy 2.

The kernels are in apache/mxnet ``src/operator/leaky_relu-inl.h`` and
``src/operator/mshadow_op.h``.
"""
import math
import subprocess
import sys
import textwrap

import numpy as onp
import pytest

import d2lstab  # noqa: F401  (first: it makes mxnet importable on current NumPy)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, np, npx  # noqa: E402

ALPHA = 1.6732632423543772848170429916717   # Klambauer et al. (2017)
LAMBDA = 1.0507009873554804934193349852946
MODES = [(True, True), (True, False), (False, True), (False, False)]
DTYPES = ["float32", "float64"]


def grad(f, x, record_train, backward_train):
    """d sum(f(x)) / dx with the forward and backward modes set explicitly."""
    x = x.copy()
    x.attach_grad()
    with autograd.record(train_mode=record_train):
        y = f(x)
    y.backward(train_mode=backward_train)
    return x.grad.asnumpy().astype(onp.float64)


def tol(dtype):
    return {"rtol": 1e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-14}


# ---------------------------------------------------------------- SELU


X_SELU = onp.array([-10.0, -5.0, -3.0, -1.0, -0.1, 0.5, 2.0])


def selu_apis():
    return {
        "npx.leaky_relu": lambda v: npx.leaky_relu(v, act_type="selu"),
        "gluon.nn.SELU": gluon.nn.SELU(),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("record_train,backward_train", MODES)
@pytest.mark.parametrize("api", ["npx.leaky_relu", "gluon.nn.SELU"])
def test_selu_gradient_is_lambda_times_output_plus_alpha(dtype, record_train, backward_train, api):
    """SELU's backward for x < 0 returns lambda * (y + alpha), y the output.

    The correct derivative is lambda * alpha * exp(x) = y + lambda * alpha.
    MXNet's ``selu_grad`` (mshadow_op.h) multiplies the ELU rule "output +
    alpha" by lambda although the output already contains lambda. The
    gradient is therefore too small for every x < 0 (31 times at x = -3) and
    negative below x = ln(1 - 1/lambda) = -3.03: lambda * alpha * (1 - lambda)
    = -0.089 at x = -10, where the true value is 8.0e-5. For x > 0 it is
    right (lambda). Same in every mode, dtype and API.
    """
    x = np.array(X_SELU, dtype=dtype)
    theirs = grad(selu_apis()[api], x, record_train, backward_train)
    y = LAMBDA * onp.where(X_SELU > 0, X_SELU, ALPHA * onp.expm1(onp.minimum(X_SELU, 0)))
    wrong = onp.where(X_SELU > 0, LAMBDA, LAMBDA * (y + ALPHA))
    correct = onp.where(X_SELU > 0, LAMBDA, LAMBDA * ALPHA * onp.exp(X_SELU))
    onp.testing.assert_allclose(theirs, wrong, **{"rtol": 1e-6, "atol": 1e-6})
    neg = X_SELU < 0
    assert onp.all(onp.abs(theirs[neg] - correct[neg]) > 5e-3)
    assert theirs[0] < 0 and theirs[1] < 0          # x = -10, -5: wrong sign
    onp.testing.assert_allclose(theirs[~neg], correct[~neg], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_selu_gradient_wrong_in_the_legacy_ndarray_api_too(dtype):
    """``mx.nd.LeakyReLU(act_type='selu')``: the same lambda * (y + alpha) for x < 0."""
    x = mx.nd.array(X_SELU, dtype=dtype)
    x.attach_grad()
    with autograd.record():
        y = mx.nd.LeakyReLU(x, act_type="selu")
    y.backward()
    yn = y.asnumpy().astype(onp.float64)
    onp.testing.assert_allclose(x.grad.asnumpy()[X_SELU < 0],
                                (LAMBDA * (yn + ALPHA))[X_SELU < 0], rtol=1e-5, atol=1e-6)


def test_selu_constants_are_float32():
    """SELU_ALPHA and SELU_LAMBDA are ``const float`` in mshadow_op.h.

    So even on float64 arrays selu(1) is float32(lambda) = 1.0507010221...,
    not lambda = 1.0507009873...; the correct float64 value is lambda.
    """
    x = np.array([1.0, -40.0], dtype="float64")
    y = npx.leaky_relu(x, act_type="selu").asnumpy()
    assert y[0] == float(onp.float32(LAMBDA)) != LAMBDA
    assert -y[1] == float(onp.float32(LAMBDA)) * float(onp.float32(ALPHA))


# ---------------------------------------------------------------- RReLU


X_RRELU = onp.array([-10.0, -3.0, -1.0, -0.1, 0.5, 2.0])
LOWER, UPPER = 1 / 8, 1 / 3


def rrelu(v):
    out, _mask = npx.leaky_relu(v, act_type="rrelu", lower_bound=LOWER, upper_bound=UPPER)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backward_train", [True, False])
def test_rrelu_prediction_mode_gradient_is_the_output(dtype, backward_train):
    """In prediction mode RReLU's gradient for x < 0 is the output a * x, not a.

    The prediction-mode forward uses the mean slope a = (lower + upper) / 2
    (correct), so the correct derivative for x < 0 is a = 0.2292. MXNet's
    backward (leaky_relu-inl.h: ``xelu_grad(output, mask)``) reads the slope
    from the random-slope mask, which only the training-mode forward fills;
    what comes out is a * x (-2.29 at x = -10). This is not the backward-mode
    default: it is the same with ``backward(train_mode=False)``. For x > 0
    it is right (1).
    """
    x = np.array(X_RRELU, dtype=dtype)
    theirs = grad(rrelu, x, record_train=False, backward_train=backward_train)
    out = rrelu(x).asnumpy().astype(onp.float64)
    a = (onp.float32(LOWER) + onp.float32(UPPER)) / onp.float32(2)
    onp.testing.assert_allclose(out, onp.where(X_RRELU > 0, X_RRELU, a * X_RRELU), rtol=1e-6)
    neg = X_RRELU < 0
    onp.testing.assert_allclose(theirs[neg], out[neg], **tol(dtype))
    assert onp.all(onp.abs(theirs[neg] - a) > 0.2)
    onp.testing.assert_array_equal(theirs[~neg], 1.0)


def run_python(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("recording", [False, True])
def test_rrelu_training_mode_forward_crashes_the_process(dtype, recording):
    """RReLU's forward pass in training mode kills the process (segfault) on CPU.

    It should draw a slope per element from U(lower, upper). The crash is
    in the forward pass itself: with or without recording, for float32 and
    float64. The same script in prediction mode runs to the end, so the
    set-up (import, array, call) is not the cause.
    """
    scope = "autograd.record()" if recording else "autograd.train_mode()"
    template = f"""
        import d2lstab
        from mxnet import autograd, np, npx
        x = np.array([-1.0, -2.0, 3.0], dtype="{dtype}")
        with {{scope}}:
            out, mask = npx.leaky_relu(x, act_type="rrelu", lower_bound=0.125,
                                       upper_bound=1 / 3)
            out.wait_to_read()
        print("survived", out)
    """
    control = run_python(template.format(scope="autograd.predict_mode()"))
    assert control.returncode == 0 and "survived" in control.stdout, control.stderr[-2000:]
    crashed = run_python(template.format(scope=scope))
    assert crashed.returncode != 0 and "survived" not in crashed.stdout
    assert "Segmentation fault" in crashed.stderr


# ---------------------------------------------------------------- float32 inside float64


def test_leaky_and_prelu_multiply_in_float32_on_float64_arrays():
    """'leaky' and 'prelu' compute slope * x in float32 even for float64 x.

    The ``xelu`` kernel (mshadow_op.h) casts both factors to float. With the
    slope 0.5, which float32 represents exactly, the output for x < 0 is
    exactly the float32 product, not the float64 one (correct: 0.5 * x in
    float64, exact).
    """
    xs = -onp.arange(1, 2001) / 7.0
    x = np.array(xs, dtype="float64")
    float32_product = (xs.astype(onp.float32) * onp.float32(0.5)).astype(onp.float64)
    leaky = npx.leaky_relu(x, act_type="leaky", slope=0.5).asnumpy()
    prelu = npx.leaky_relu(x, gamma=np.array([0.5], dtype="float64"), act_type="prelu").asnumpy()
    for out in (leaky, prelu):
        assert out.dtype == onp.float64
        onp.testing.assert_array_equal(out, float32_product)
        assert onp.abs(out - 0.5 * xs).max() > 1e-8


def test_leaky_slope_parameter_is_float32():
    """The operator's ``slope`` is a float field: 0.1 becomes float32(0.1).

    So the derivative for x < 0 is 0.10000000149011612, not 0.1, on float64
    arrays; the correct value is 0.1.
    """
    x = np.array([-2.0, -1.0, 3.0], dtype="float64")
    for record_train, backward_train in MODES:
        g = grad(lambda v: npx.leaky_relu(v, act_type="leaky", slope=0.1), x,
                 record_train, backward_train)
        assert g[0] == g[1] == float(onp.float32(0.1)) != 0.1
        assert g[2] == 1.0


def test_gelu_is_computed_in_float32_on_float64_arrays():
    """'gelu' casts its input to float32 and computes x Phi(x) in float32.

    The kernel (mshadow_op.h) is ``DType(0.5f * float(a) * (1.0f +
    erf(float(a) / SQRT_2)))``: on float64 arrays every output is a float32
    number, the float32 evaluation of the erf form (to a few float32 ulps of
    x, since MXNet's float erf and Python's rounded double erf may differ by
    an ulp), and off the float64 erf form by far more than float64 rounding.
    The correct float64 result is the erf form in float64.
    """
    xs = onp.arange(-1000, 1000) / 100.0 + 1 / 300
    out = npx.leaky_relu(np.array(xs, dtype="float64"), act_type="gelu").asnumpy()
    assert out.dtype == onp.float64
    onp.testing.assert_array_equal(out, out.astype(onp.float32).astype(onp.float64))
    xf = xs.astype(onp.float32)
    erf32 = onp.array([math.erf(float(v)) for v in xf / onp.float32(math.sqrt(2))],
                      dtype=onp.float32)
    in_float32 = (onp.float32(0.5) * xf * (onp.float32(1) + erf32)).astype(onp.float64)
    assert onp.all(onp.abs(out - in_float32) <= 4 * onp.abs(xs) * 2.0 ** -24)
    in_float64 = 0.5 * xs * (1 + onp.array([math.erf(v / math.sqrt(2)) for v in xs]))
    assert onp.abs(out - in_float64).max() > 1e-8
