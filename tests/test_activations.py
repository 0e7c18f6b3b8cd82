"""Tests for d2lstab.activations: values and derivatives against closed forms
computed in NumPy float64, agreement with MXNet's built-ins, the random
slopes of RReLU, maxout, the blocks, and argument errors.

Tolerances: our functions run in float32, whose relative precision is
6e-8; values are compared with atol=1e-6, rtol=1e-5 (a few float32 ulps
for outputs of order 1 up to 50).
"""
import math

import numpy as onp
import pytest

import d2lstab as d2l  # first: it makes mxnet importable on current NumPy
from d2lstab import activations as A  # noqa: E402
from mxnet import autograd, gluon, np, npx  # noqa: E402

XS = onp.concatenate([onp.linspace(-8, 8, 161), [-100.0, -50.0, -1e-4, 0.0, 1e-4, 50.0, 100.0]])
ERF = onp.vectorize(math.erf)


def mx(x):
    return np.array(x, dtype="float32")


def close(a, b, atol=1e-6, rtol=1e-5):
    a = a.asnumpy() if hasattr(a, "asnumpy") else a
    assert onp.all(onp.isfinite(a)), "non-finite values"
    onp.testing.assert_allclose(a.astype(onp.float64), b, atol=atol, rtol=rtol)


def sig64(x):
    return 1 / (1 + onp.exp(-x))


def phi(x):
    return onp.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)


def Phi(x):
    return 0.5 * (1 + ERF(x / math.sqrt(2)))


a_, l_ = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
CASES = {
    # name: (f, value(x), derivative(x)) in float64
    "sigmoid": (A.sigmoid, sig64, lambda x: sig64(x) * (1 - sig64(x))),
    "tanh": (A.tanh, onp.tanh, lambda x: 1 - onp.tanh(x) ** 2),
    "relu": (A.relu, lambda x: onp.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky_relu": (lambda x: A.leaky_relu(x, 0.2), lambda x: onp.where(x > 0, x, 0.2 * x),
                   lambda x: onp.where(x > 0, 1.0, 0.2)),
    "elu": (lambda x: A.elu(x, 0.7), lambda x: onp.where(x > 0, x, 0.7 * onp.expm1(onp.minimum(x, 0))),
            lambda x: onp.where(x > 0, 1.0, 0.7 * onp.exp(onp.minimum(x, 0)))),
    "selu": (A.selu, lambda x: l_ * onp.where(x > 0, x, a_ * onp.expm1(onp.minimum(x, 0))),
             lambda x: l_ * onp.where(x > 0, 1.0, a_ * onp.exp(onp.minimum(x, 0)))),
    "gelu": (A.gelu, lambda x: x * Phi(x), lambda x: Phi(x) + x * phi(x)),
    "swish": (lambda x: A.swish(x, 1.5), lambda x: x * sig64(1.5 * x),
              lambda x: sig64(1.5 * x) + 1.5 * x * sig64(1.5 * x) * (1 - sig64(1.5 * x))),
    "rrelu_eval": (lambda x: A.rrelu(x, 0.1, 0.3), lambda x: onp.where(x > 0, x, 0.2 * x),
                   lambda x: onp.where(x > 0, 1.0, 0.2)),
    "prelu_scalar": (lambda x: A.prelu(x, 0.25), lambda x: onp.where(x > 0, x, 0.25 * x),
                     lambda x: onp.where(x > 0, 1.0, 0.25)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_against_closed_form(name):
    f, value, _ = CASES[name]
    out = f(mx(XS))
    assert isinstance(out, np.ndarray) and out.shape == XS.shape
    close(out, value(XS.astype(onp.float32).astype(onp.float64)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivatives_against_closed_form(name):
    f, _, deriv = CASES[name]
    # the closed forms are evaluated at the float32 inputs; at 0 the one-sided
    # conventions agree with MXNet's (relu'(0) = 0, elu'(0) = alpha)
    x32 = XS.astype(onp.float32).astype(onp.float64)
    close(A.derivative(f, mx(XS)), deriv(x32), atol=2e-6)


def test_derivative_at_zero_conventions():
    zero = mx([0.0])
    assert float(A.derivative(A.sigmoid, zero)[0]) == 0.25
    assert float(A.derivative(A.tanh, zero)[0]) == 1.0
    assert float(A.derivative(A.relu, zero)[0]) == 0.0
    assert float(A.derivative(A.gelu, zero)[0]) == 0.5


def test_no_overflow_far_out():
    x = mx([-1e4, -90.0, 90.0, 1e4])
    for name, (f, _, _) in CASES.items():
        assert onp.all(onp.isfinite(f(x).asnumpy())), name
        assert onp.all(onp.isfinite(A.derivative(f, x).asnumpy())), name


def test_tanh_is_a_shifted_sigmoid():
    x = mx(XS)
    close(A.tanh(x), (2 * A.sigmoid(2 * x) - 1).asnumpy().astype(onp.float64), atol=2e-7)


def test_derivative_leaves_input_untouched():
    x = mx([1.0, -2.0])
    A.derivative(A.relu, x)
    assert x.grad is None
    assert onp.array_equal(x.asnumpy(), [1.0, -2.0])


# ---------------------------------------------------------------- against MXNet


@pytest.mark.parametrize("ours,act_type,kwargs", [
    (lambda x: A.leaky_relu(x, 0.1), "leaky", {"slope": 0.1}),
    (lambda x: A.elu(x, 0.5), "elu", {"slope": 0.5}),
    (A.selu, "selu", {}),
    (A.gelu, "gelu", {}),
])
def test_match_mxnet_leaky_relu(ours, act_type, kwargs):
    x = mx(XS[onp.abs(XS) < 60])
    theirs = npx.leaky_relu(x, act_type=act_type, **kwargs)
    close(ours(x), theirs.asnumpy().astype(onp.float64), atol=1e-6)
    if act_type == "selu":  # MXNet's SELU gradient is wrong for x < 0, see below
        x = mx(XS[(XS > 0) & (XS < 60)])
    close(A.derivative(ours, x),
          A.derivative(lambda v: npx.leaky_relu(v, act_type=act_type, **kwargs), x)
          .asnumpy().astype(onp.float64), atol=1e-6)


def test_mxnet_selu_gradient_bug_is_still_there():
    # MXNet 1.9.1's SELU backward returns lambda * (y + alpha) for x < 0, with y the
    # SELU output, instead of lambda * alpha * exp(x) = y + lambda * alpha. The
    # chapter reports this; if an MXNet upgrade fixes it, this test says so.
    x = mx([-8.0, -1.0, -0.1])
    xn = x.asnumpy().astype(onp.float64)
    y = l_ * a_ * onp.expm1(xn)
    theirs = A.derivative(lambda v: npx.leaky_relu(v, act_type="selu"), x)
    close(theirs, l_ * (y + a_), atol=1e-5)
    assert onp.abs(theirs.asnumpy() - l_ * a_ * onp.exp(xn)).max() > 0.05


def test_match_mxnet_sigmoid_tanh_relu():
    x = mx(XS)
    for ours, theirs in ((A.sigmoid, npx.sigmoid), (A.tanh, np.tanh), (A.relu, npx.relu)):
        close(ours(x), theirs(x).asnumpy().astype(onp.float64), atol=2e-7)


def test_prelu_per_channel_matches_mxnet_and_grads_alpha():
    d2l.seed(0)
    x = np.random.normal(size=(4, 3, 5, 5))
    alpha = mx([0.1, 0.25, 0.5])
    theirs = npx.leaky_relu(x, gamma=alpha, act_type="prelu")
    close(A.prelu(x, alpha), theirs.asnumpy().astype(onp.float64))
    alpha.attach_grad()
    with autograd.record():
        y = A.prelu(x, alpha)
    y.backward()
    xn = x.asnumpy().astype(onp.float64)
    expected = onp.where(xn > 0, 0, xn).sum(axis=(0, 2, 3))  # dPReLU/dalpha_c
    close(alpha.grad, expected, atol=1e-4)


def test_swish_matches_gluon():
    x = mx(XS[onp.abs(XS) < 60])
    block = gluon.nn.Swish(beta=1.0)
    close(A.swish(x), block(x).asnumpy().astype(onp.float64), atol=1e-6)


def test_rrelu_eval_matches_mxnet_prediction_mode():
    x = mx(XS)
    # in prediction mode MXNet returns [output, mask]; its training mode crashes MXNet
    # 1.9.1's CPU build (a segfault), so only the mean-slope mode is compared
    theirs = npx.leaky_relu(x, act_type="rrelu", lower_bound=0.125, upper_bound=1 / 3)[0]
    close(A.rrelu(x), theirs.asnumpy().astype(onp.float64))


def test_mxnet_rrelu_prediction_gradient_bug_is_still_there():
    # MXNet 1.9.1's RReLU backward in prediction mode returns slope * x (the output) for
    # x < 0 instead of the slope; the chapter reports it. Ours is the slope.
    x = mx([-2.0, -1.0, 0.5])
    f = lambda v: npx.leaky_relu(v, act_type="rrelu", lower_bound=0.125, upper_bound=1 / 3)[0]  # noqa: E731
    mean = (0.125 + 1 / 3) / 2
    theirs = A.derivative(f, x, train_mode=False).asnumpy()
    close(theirs, [-2 * mean, -mean, 1.0])
    close(A.derivative(A.rrelu, x), [mean, mean, 1.0])


# ---------------------------------------------------------------- RReLU randomness


def test_rrelu_training_slopes_uniform():
    d2l.seed(1)
    lower, upper = 0.1, 0.4
    x = -np.ones((200_000,))
    slopes = -A.rrelu(x, lower, upper, training=True).asnumpy().astype(onp.float64)
    assert slopes.min() >= lower and slopes.max() <= upper
    n = slopes.size
    # U(l, u): mean (l+u)/2, variance (u-l)^2/12; 5 standard errors
    var = (upper - lower) ** 2 / 12
    assert abs(slopes.mean() - (lower + upper) / 2) < 5 * math.sqrt(var / n)
    assert abs(slopes.var() - var) < 5 * var * math.sqrt(0.8 / n)  # kurtosis 1.8
    pos = A.rrelu(np.ones((10,)), lower, upper, training=True)
    assert onp.array_equal(pos.asnumpy(), onp.ones(10))


def test_rrelu_training_derivative_is_the_drawn_slope():
    d2l.seed(2)
    x = -np.ones((1000,)) * 2
    d2l.seed(3)
    y = A.rrelu(x, training=True)
    d2l.seed(3)
    g = A.derivative(lambda v: A.rrelu(v, training=True), x)
    close(g, (y / x).asnumpy().astype(onp.float64))


def test_rrelu_equal_bounds_is_leaky():
    x = mx(XS)
    close(A.rrelu(x, 0.2, 0.2, training=True), onp.where(XS > 0, XS, 0.2 * XS))


def test_rrelu_block_modes():
    d2l.seed(4)
    block = A.RReLU(0.1, 0.5)
    x = -np.ones((5000,))
    pred = block(x)  # prediction mode: the mean slope
    close(pred, -0.3 * onp.ones(5000))
    with autograd.record():  # training mode: random slopes
        train = block(x)
    s = -train.asnumpy()
    assert s.min() >= 0.1 and s.max() <= 0.5 and s.std() > 0.1
    assert d2l.diagnostics.activation_name(block) == "rrelu"


def test_selu_block_matches_selu_and_its_derivative():
    x64 = np.array(XS, dtype="float64")
    y64 = l_ * onp.where(XS > 0, XS, a_ * onp.expm1(onp.minimum(XS, 0)))
    d64 = onp.where(XS > 0, l_, l_ * a_ * onp.exp(onp.minimum(XS, 0)))
    for hybrid in (False, True):
        block = A.SELU()
        if hybrid:
            block.hybridize()
        assert onp.array_equal(block(x64).asnumpy(), A.selu(x64).asnumpy())
        onp.testing.assert_allclose(block(x64).asnumpy(), y64, rtol=1e-13, atol=1e-13)
        onp.testing.assert_allclose(A.derivative(block, x64).asnumpy(), d64,
                                    rtol=1e-12, atol=1e-13)
        close(block(mx(XS)), y64)
    assert d2l.diagnostics.activation_name(A.SELU()) == "selu"
    assert repr(A.SELU()) == "SELU()"


def test_selu_block_trains_in_a_hybridized_network():
    d2l.seed(5)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8), A.SELU(), gluon.nn.Dense(1))
    net.initialize(d2l.init.VarianceScaling(1.0))
    net.hybridize()
    x = np.random.normal(size=(16, 4))
    with autograd.record():
        out = net(x).sum()
    out.backward()
    assert net[0].weight.grad().shape == (8, 4)
    assert float(np.abs(net[0].weight.grad()).sum()) > 0


def test_derivative_runs_backward_in_the_recording_mode(monkeypatch):
    # MXNet's backward() defaults to train_mode=True whatever mode the forward
    # pass was recorded in; derivative() must pass its mode to both.
    seen = []
    original = np.ndarray.backward

    def spy(self, *args, **kwargs):
        seen.append((autograd.is_training(), kwargs.get("train_mode")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(np.ndarray, "backward", spy)
    for mode in (True, False):
        A.derivative(A.relu, mx([1.0, -2.0]), train_mode=mode)
    assert [m for _, m in seen] == [True, False]


# ---------------------------------------------------------------- maxout


def test_maxout_against_numpy():
    d2l.seed(5)
    x = np.random.normal(size=(4, 12, 3))
    xn = x.asnumpy()
    close(A.maxout(x, 3, axis=1), xn.reshape(4, 4, 3, 3).max(axis=2).astype(onp.float64))
    close(A.maxout(x, 3, axis=-1), xn.max(axis=-1, keepdims=True).astype(onp.float64))
    close(A.maxout(x, 2, axis=0), xn.reshape(2, 2, 12, 3).max(axis=1).astype(onp.float64))


def test_maxout_gradient_goes_to_the_argmax():
    x = mx([[1.0, 5.0, -2.0, 0.5, 0.3, 0.4]])
    x.attach_grad()
    with autograd.record():
        y = A.maxout(x, 3)
    y.backward()
    assert onp.array_equal(x.grad.asnumpy(), [[0, 1, 0, 1, 0, 0]])


def test_maxout_special_cases():
    x = mx(XS)
    pieces = np.stack([x, np.zeros_like(x)], axis=-1).reshape(-1)
    close(A.maxout(pieces, 2), onp.maximum(XS, 0))                    # ReLU
    pieces = np.stack([x, 0.1 * x], axis=-1).reshape(-1)
    close(A.maxout(pieces, 2), onp.where(XS > 0, XS, 0.1 * XS))      # leaky ReLU
    pieces = np.stack([x, -x], axis=-1).reshape(-1)
    close(A.maxout(pieces, 2), onp.abs(XS))                           # |x|


def test_maxout_block():
    d2l.seed(6)
    block = A.Maxout(5, 3, in_units=4)
    block.initialize()
    x = np.random.normal(size=(7, 4))
    out = block(x)
    assert out.shape == (7, 5)
    W = block.dense.weight.data().asnumpy().astype(onp.float64)
    b = block.dense.bias.data().asnumpy().astype(onp.float64)
    z = x.asnumpy().astype(onp.float64) @ W.T + b
    close(out, z.reshape(7, 5, 3).max(axis=2), atol=1e-5)
    n_params = sum(p.data().size for p in block.collect_params().values())
    assert n_params == 3 * 5 * (4 + 1)   # k times a Dense(5)
    assert d2l.diagnostics.activation_name(block) is None


# ---------------------------------------------------------------- bad arguments


def test_rrelu_lower_above_upper():
    with pytest.raises(ValueError, match="lower"):
        A.rrelu(mx([1.0]), lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="lower"):
        A.RReLU(lower=0.5, upper=0.1)


def test_rrelu_negative_bounds_and_training_flag():
    with pytest.raises(ValueError, match="lower"):
        A.rrelu(mx([1.0]), lower=-0.1)
    with pytest.raises(TypeError, match="training"):
        A.rrelu(mx([1.0]), training="yes")


@pytest.mark.parametrize("k", [5, 7])
def test_maxout_non_dividing(k):
    with pytest.raises(ValueError, match="num_pieces"):
        A.maxout(np.zeros((2, 12)), k)


def test_maxout_bad_pieces_and_axis():
    with pytest.raises(ValueError, match="num_pieces"):
        A.maxout(np.zeros((2, 12)), 0)
    with pytest.raises(TypeError, match="num_pieces"):
        A.maxout(np.zeros((2, 12)), 2.0)
    with pytest.raises(ValueError, match="axis"):
        A.maxout(np.zeros((2, 12)), 2, axis=2)
    with pytest.raises(ValueError, match="units"):
        A.Maxout(0, 2)


@pytest.mark.parametrize("f", [A.sigmoid, A.tanh, A.relu, A.leaky_relu, A.elu, A.selu, A.gelu,
                               A.swish, A.rrelu])
def test_non_array_input(f):
    with pytest.raises(TypeError, match="x"):
        f([1.0, 2.0])


def test_prelu_and_maxout_non_array_input():
    with pytest.raises(TypeError, match="x"):
        A.prelu([1.0], 0.25)
    with pytest.raises(TypeError, match="x"):
        A.maxout([1.0, 2.0], 2)
    with pytest.raises(TypeError, match="alpha"):
        A.prelu(mx([1.0]), "0.25")


def test_bad_slopes():
    with pytest.raises(ValueError, match="alpha"):
        A.leaky_relu(mx([1.0]), alpha=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        A.elu(mx([1.0]), alpha=-1.0)
    with pytest.raises(TypeError, match="beta"):
        A.swish(mx([1.0]), beta="1")
    with pytest.raises(ValueError, match="alpha"):
        A.prelu(np.zeros((2, 3)), mx([0.1, 0.2]))


def test_derivative_train_mode():
    x = -np.ones((2000,))
    d2l.seed(0)
    block = A.RReLU(0.1, 0.5)
    g_pred = A.derivative(block, x, train_mode=False)
    g_train = A.derivative(block, x)
    close(g_pred, onp.full(2000, 0.3))
    assert g_train.asnumpy().std() > 0.1   # U(0.1, 0.5) slopes have std 0.115


def test_derivative_bad_arguments():
    with pytest.raises(TypeError, match="train_mode"):
        A.derivative(A.relu, mx([1.0]), train_mode=1)
    with pytest.raises(TypeError, match="f"):
        A.derivative(3, mx([1.0]))
    with pytest.raises(TypeError, match="x"):
        A.derivative(A.relu, [1.0])
    with pytest.raises(ValueError, match="elementwise"):
        A.derivative(lambda v: v.sum(), mx([1.0, 2.0]))
