"""Tests for d2lstab.gradcheck: closed forms, exact restoration, bad arguments."""
import math

import numpy as onp
import pytest

import d2lstab as d2l  # noqa: F401  (patches NumPy for MXNet, sets np mode)
from d2lstab import gradcheck as gc
from mxnet import autograd, gluon, np


def f64(a):
    return np.array(onp.asarray(a, dtype=onp.float64), dtype="float64")


# ---------------------------------------------------------------- numerical_grad

def test_numerical_grad_cubic_central_is_exact_up_to_eps_squared():
    # ((x+h)^3 - (x-h)^3) / (2h) = 3x^2 + h^2 exactly; rounding adds ~1e-16/h.
    x = f64([1.0, -2.0, 0.5])
    h = 1e-2
    g = gc.numerical_grad(lambda v: (v ** 3).sum(), x, eps=h).asnumpy()
    onp.testing.assert_allclose(g, 3 * x.asnumpy() ** 2 + h ** 2, rtol=0, atol=1e-11)


def test_numerical_grad_cubic_forward_has_order_eps_error():
    # ((x+h)^3 - x^3) / h = 3x^2 + 3xh + h^2 exactly.
    x = f64([1.0, -2.0, 0.5])
    h = 1e-2
    g = gc.numerical_grad(lambda v: (v ** 3).sum(), x, eps=h, method="forward").asnumpy()
    xn = x.asnumpy()
    onp.testing.assert_allclose(g, 3 * xn ** 2 + 3 * xn * h + h ** 2, rtol=0, atol=1e-11)


def test_numerical_grad_against_closed_forms():
    rng = onp.random.default_rng(0)
    # sum(sin x) -> cos x; truncation error h^2/6 * |cos'''| <= 1.7e-13 at h=1e-6,
    # rounding about 1e-16 * |f| / h ~ 1e-10 for |f| ~ 1: tolerance 1e-8.
    x = rng.normal(size=(3, 4))
    g = gc.numerical_grad(lambda v: np.sin(v).sum(), f64(x)).asnumpy()
    onp.testing.assert_allclose(g, onp.cos(x), rtol=0, atol=1e-8)
    # quadratic form x^T A x -> (A + A^T) x; central differences are exact for quadratics,
    # so only rounding remains (|f| ~ 10: tolerance 1e-7).
    A = rng.normal(size=(5, 5))
    v = rng.normal(size=5)
    g = gc.numerical_grad(lambda z: np.dot(z, np.dot(f64(A), z)), f64(v)).asnumpy()
    onp.testing.assert_allclose(g, (A + A.T) @ v, rtol=0, atol=1e-7)


def test_numerical_grad_shape_dtype_and_x_untouched():
    x = f64(onp.arange(6.0).reshape(2, 3))
    before = x.asnumpy().copy()
    seen = []

    def f(v):
        seen.append((v.shape, str(v.dtype)))
        return (v * v).sum()

    g = gc.numerical_grad(f, x)
    assert g.shape == (2, 3) and str(g.dtype) == "float64"
    assert isinstance(g, np.ndarray)
    onp.testing.assert_array_equal(x.asnumpy(), before)
    assert set(seen) == {((2, 3), "float64")}
    assert len(seen) == 12  # two evaluations per element


def test_numerical_grad_float32_sees_float32_rounding():
    # f is called in x's dtype: at eps=1e-6 float32 cannot represent 1 + eps
    # finely (spacing 1.2e-7), so the quotient is far worse than in float64.
    f = lambda v: (v ** 2).sum()  # noqa: E731
    g32 = gc.numerical_grad(f, np.array([1.0], dtype="float32"), eps=1e-6).asnumpy()
    g64 = gc.numerical_grad(f, f64([1.0]), eps=1e-6).asnumpy()
    assert abs(g64[0] - 2) < 1e-8
    assert abs(g32[0] - 2) > 1e-3


def test_numerical_grad_accepts_numbers_and_numpy():
    g = gc.numerical_grad(lambda v: v ** 2, 3.0)
    assert abs(float(g) - 6.0) < 1e-8
    g = gc.numerical_grad(lambda v: (v ** 2).sum(), onp.array([1.0, 2.0]))
    onp.testing.assert_allclose(g.asnumpy(), [2.0, 4.0], atol=1e-8)


@pytest.mark.parametrize("eps", [0, -1e-6, float("nan"), float("inf")])
def test_numerical_grad_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        gc.numerical_grad(lambda v: v.sum(), f64([1.0]), eps=eps)


def test_numerical_grad_bad_arguments():
    with pytest.raises(TypeError, match="eps"):
        gc.numerical_grad(lambda v: v.sum(), f64([1.0]), eps="1e-6")
    with pytest.raises(TypeError, match="f"):
        gc.numerical_grad("not a function", f64([1.0]))
    with pytest.raises(ValueError, match="f must return a scalar"):
        gc.numerical_grad(lambda v: v * 2, f64([1.0, 2.0]))
    with pytest.raises(TypeError, match="f must return a scalar"):
        gc.numerical_grad(lambda v: "loss", f64([1.0]))
    with pytest.raises(ValueError, match="f returned nan"):
        gc.numerical_grad(lambda v: np.log(v - 5).sum(), f64([1.0]))
    with pytest.raises(TypeError, match="x"):
        gc.numerical_grad(lambda v: v.sum(), np.array([1, 2], dtype="int32"))
    with pytest.raises(TypeError, match="x"):
        gc.numerical_grad(lambda v: v.sum(), [1.0, 2.0])
    with pytest.raises(ValueError, match="method"):
        gc.numerical_grad(lambda v: v.sum(), f64([1.0]), method="backward")


# ---------------------------------------------------------------- relative_difference

def test_relative_difference_closed_forms():
    assert gc.relative_difference(f64([1.0, 2.0]), f64([1.0, 2.0])) == 0.0
    assert gc.relative_difference(f64([0.0, 0.0]), f64([0.0, 0.0])) == 0.0
    assert gc.relative_difference(f64([3.0, 4.0]), f64([0.0, 0.0])) == 1.0
    assert gc.relative_difference(f64([3.0, 4.0]), f64([-3.0, -4.0])) == 1.0
    # ||(1,-1)|| / (1 + 1) = sqrt(2)/2
    assert math.isclose(gc.relative_difference(onp.array([1.0, 0.0]), onp.array([0.0, 1.0])),
                        math.sqrt(2) / 2, rel_tol=1e-15)
    # b = 2a: ||a|| / (3 ||a||) = 1/3
    assert math.isclose(gc.relative_difference(onp.array([1.0, 2.0]), onp.array([2.0, 4.0])),
                        1 / 3, rel_tol=1e-15)
    with pytest.raises(ValueError, match="same shape"):
        gc.relative_difference(onp.zeros(2), onp.zeros(3))
    with pytest.raises(TypeError, match="a"):
        gc.relative_difference("x", onp.zeros(3))


def test_verdict_thresholds():
    assert gc.verdict(1e-7) == "fine"
    assert gc.verdict(0.0) == "fine"
    assert gc.verdict(1e-5) == "look closer"
    assert gc.verdict(1e-3) == "bug"
    assert gc.verdict(0.5) == "bug"
    with pytest.raises(ValueError, match="rel_diff"):
        gc.verdict(-1.0)


# ---------------------------------------------------------------- grad_check on arrays

def _mlp_problem(seed=0):
    rng = onp.random.default_rng(seed)
    X = f64(rng.normal(size=(6, 4)))
    params = [f64(rng.normal(size=(5, 4)) * 0.5), f64(rng.normal(size=5) * 0.1),
              f64(rng.normal(size=(3, 5)) * 0.5), f64(rng.normal(size=3) * 0.1)]
    t = f64(rng.normal(size=(6, 3)))

    def f(p):
        h = np.tanh(np.dot(X, p[0].T) + p[1])
        out = np.dot(h, p[2].T) + p[3]
        return ((out - t) ** 2).mean()

    return X, t, params, f


def _mlp_grads(X, t, p):
    """Hand-written backward pass of _mlp_problem's loss, in NumPy float64."""
    X, t = X.asnumpy(), t.asnumpy()
    W1, b1, W2, b2 = (a.asnumpy() for a in p)
    h = onp.tanh(X @ W1.T + b1)
    out = h @ W2.T + b2
    d_out = 2 * (out - t) / out.size
    dW2, db2 = d_out.T @ h, d_out.sum(0)
    dz = (d_out @ W2) * (1 - h ** 2)
    dW1, db1 = dz.T @ X, dz.sum(0)
    return [dW1, db1, dW2, db2]


def test_grad_check_small_for_autograd_on_smooth_function():
    X, t, params, f = _mlp_problem()
    rel = gc.grad_check(f, params)
    # float64 central differences at eps=1e-7: rounding ~1e-16/1e-7 = 1e-9 relative.
    assert rel < 1e-7


def test_grad_check_hand_written_backward():
    X, t, params, f = _mlp_problem()
    grads = _mlp_grads(X, t, params)
    assert gc.grad_check(f, params, grads=grads) < 1e-7
    # a wrong gradient: every entry doubled gives ||g|| / (3 ||g||) = 1/3 up to the
    # finite-difference error (1e-7 relative, far below the 1e-6 tolerance)
    wrong = [2 * g for g in grads]
    assert abs(gc.grad_check(f, params, grads=wrong) - 1 / 3) < 1e-6


def test_check_gradients_locates_the_wrong_parameter():
    X, t, params, f = _mlp_problem()
    grads = _mlp_grads(X, t, params)
    grads[1] = grads[1] + onp.array([0.0, 0.0, 0.3, 0.0, 0.0])  # corrupt b1[2]
    result = gc.check_gradients(f, params, grads=grads)
    assert result.rel_diff > 1e-3 and result.verdict() == "bug"
    assert result.worst == 1
    assert result.per_param[1]["argmax"] == (2,)
    assert abs(result.per_param[1]["max_abs_err"] - 0.3) < 1e-6
    for i in (0, 2, 3):
        assert result.per_param[i]["rel_diff"] < 1e-7
    assert result.evaluations == 2 * sum(p.size for p in params)


def test_grad_check_float32_params_are_checked_in_float64():
    X, t, params, f = _mlp_problem()
    p32 = [p.astype("float32") for p in params]
    before = [p.asnumpy().copy() for p in p32]
    seen = set()

    def g(p):
        seen.update(str(a.dtype) for a in p)
        return f(p)

    # in float32 at eps=1e-7 it would be about 0.5: most quotients come out 0
    assert gc.grad_check(g, p32) < 1e-7
    assert seen == {"float64"}
    for p, b in zip(p32, before):
        assert str(p.dtype) == "float32"
        onp.testing.assert_array_equal(p.asnumpy(), b)


def test_grad_check_leaves_array_params_exactly_untouched():
    X, t, params, f = _mlp_problem()
    params[0].attach_grad()
    params[0].grad[:] = f64(onp.full((5, 4), 7.0))
    before = [p.asnumpy().copy() for p in params]
    gc.grad_check(f, params)
    for p, b in zip(params, before):
        onp.testing.assert_array_equal(p.asnumpy(), b)  # bitwise
    onp.testing.assert_array_equal(params[0].grad.asnumpy(), onp.full((5, 4), 7.0))


def test_samples_per_param_checks_a_subset():
    X, t, params, f = _mlp_problem()
    d2l.seed(1)
    result = gc.check_gradients(f, params, samples_per_param=3)
    sizes = [min(3, p.size) for p in params]
    assert [len(c) for c in result.coords] == sizes
    assert result.evaluations == 2 * sum(sizes)
    for c, p in zip(result.coords, params):
        assert len(set(c.tolist())) == len(c) and c.max() < p.size
        assert (onp.diff(c) > 0).all(), "sampled coordinates are checked and reported in increasing order"
    assert result.rel_diff < 1e-7
    # the checked coordinates are those of the full gradient
    full = gc.check_gradients(f, params)
    for c, g_sub, g_full in zip(result.coords, result.grads, full.grads):
        onp.testing.assert_array_equal(g_sub, g_full[c])


# ---------------------------------------------------------------- grad_check on Gluon nets

def _gluon_net(dropout=0.0):
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(6, activation="tanh"))
    if dropout:
        net.add(gluon.nn.Dropout(dropout))
    net.add(gluon.nn.Dense(3))
    d2l.seed(0)
    net.initialize()
    X = np.random.normal(size=(5, 4))
    net(X)
    net.cast("float64")
    return net, X.astype("float64"), np.array([0, 1, 2, 1, 0])


def test_grad_check_gluon_net_and_exact_restoration():
    net, X, y = _gluon_net()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    params = list(net.collect_params().values())
    for p in params:
        p.grad()[:] = np.ones(p.shape, dtype="float64") * 3
    data = [p.data().asnumpy().copy() for p in params]
    objects = [p.data() for p in params]
    rel = gc.grad_check(lambda _: loss(net(X), y).mean(), params)
    assert rel < 1e-7
    for p, d, obj in zip(params, data, objects):
        onp.testing.assert_array_equal(p.data().asnumpy(), d)  # bitwise
        onp.testing.assert_array_equal(p.grad().asnumpy(), onp.full(p.shape, 3.0))
        assert p.data() is obj  # the same array object, so optimizers holding it still work


def test_grad_check_gluon_autograd_matches_hand_computed_gradient():
    # the autograd gradient grad_check uses equals a NumPy backward pass
    net, X, y = _gluon_net()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    params = list(net.collect_params().values())
    result = gc.check_gradients(lambda _: loss(net(X), y).mean(), params)
    W1, b1, W2, b2 = (p.data().asnumpy() for p in params)
    Xn, yn = X.asnumpy(), y.asnumpy().astype(int)
    h = onp.tanh(Xn @ W1.T + b1)
    o = h @ W2.T + b2
    s = onp.exp(o - o.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    d = s.copy()
    d[onp.arange(len(yn)), yn] -= 1
    d /= len(yn)
    dz = (d @ W2) * (1 - h ** 2)
    expected = [dz.T @ Xn, dz.sum(0), d.T @ h, d.sum(0)]
    for g, e in zip(result.grads, expected):
        onp.testing.assert_allclose(g, e.reshape(-1), rtol=1e-10, atol=1e-12)


def test_grad_check_dropout_only_agrees_in_prediction_mode():
    net, X, y = _gluon_net(dropout=0.5)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    params = list(net.collect_params().values())
    f = lambda _: loss(net(X), y).mean()  # noqa: E731
    assert gc.grad_check(f, params) < 1e-7
    # a fresh mask at every evaluation: the difference quotient is noise of size
    # |f(mask1) - f(mask2)| / 2e-7, so the relative difference is close to 1
    d2l.seed(0)
    assert gc.grad_check(f, params, training=True) > 0.5


def test_grad_check_rejects_float32_parameters():
    net = gluon.nn.Dense(2)
    net.initialize()
    net(np.ones((1, 3)))
    with pytest.raises(TypeError, match=r"params\[0\].*float32.*cast"):
        gc.grad_check(lambda _: net(np.ones((1, 3))).sum(), list(net.collect_params().values()))


def test_grad_check_rejects_float32_computation():
    net, X, y = _gluon_net()
    p = [f64([1.0, 2.0])]
    with pytest.raises(TypeError, match="f returned a float32"):
        gc.grad_check(lambda a: a[0].astype("float32").sum(), p)


# ---------------------------------------------------------------- bad arguments

def test_grad_check_bad_arguments():
    X, t, params, f = _mlp_problem()
    with pytest.raises(ValueError, match="eps"):
        gc.grad_check(f, params, eps=0)
    with pytest.raises(ValueError, match="eps"):
        gc.grad_check(f, params, eps=-1e-7)
    with pytest.raises(TypeError, match="f"):
        gc.grad_check(None, params)
    with pytest.raises(ValueError, match="f must return a scalar"):
        gc.grad_check(lambda p: p[0] * 2, params)
    with pytest.raises(ValueError, match="params"):
        gc.grad_check(f, [])
    with pytest.raises(TypeError, match="params"):
        gc.grad_check(f, 3.0)
    with pytest.raises(TypeError, match=r"params\[1\]"):
        gc.grad_check(f, [params[0], onp.zeros(5)])
    with pytest.raises(TypeError, match=r"params\[0\]"):
        gc.grad_check(f, [np.array([1, 2], dtype="int32")])
    with pytest.raises(ValueError, match="grads"):
        gc.grad_check(f, params, grads=[onp.zeros((5, 4))])
    with pytest.raises(ValueError, match=r"grads\[2\]"):
        gc.grad_check(f, params, grads=[onp.zeros((5, 4)), onp.zeros(5), onp.zeros((5, 3)), onp.zeros(3)])
    with pytest.raises(TypeError, match="grads"):
        gc.grad_check(f, params, grads=5)
    with pytest.raises(ValueError, match="samples_per_param"):
        gc.grad_check(f, params, samples_per_param=0)
    with pytest.raises(TypeError, match="training"):
        gc.grad_check(f, params, training=1)
    with pytest.raises(TypeError, match="autograd"):
        gc.grad_check(lambda p: 1.0, params)
    with pytest.raises(ValueError, match="f returned -inf"):
        gc.grad_check(lambda p: (p[0] * 0).sum() + np.log(f64(0.0)), params)


def test_grad_check_rejects_null_grad_parameters_without_grads():
    net = gluon.nn.BatchNorm()
    net.initialize()
    net(np.ones((2, 3)))
    net.cast("float64")
    stats = [p for p in net.collect_params().values() if p.grad_req == "null"]
    with pytest.raises(ValueError, match="grad_req='null'"):
        gc.grad_check(lambda _: net(np.ones((2, 3), dtype="float64")).sum(), stats)


def test_grad_check_restores_parameters_when_f_raises():
    net, X, y = _gluon_net()
    params = list(net.collect_params().values())
    before = [p.data().asnumpy().copy() for p in params]
    calls = []

    def f(_):
        calls.append(1)
        if len(calls) > 3:  # fail in the middle of the finite differences
            raise RuntimeError("boom")
        return net(X).sum()

    with pytest.raises(RuntimeError, match="boom"):
        gc.grad_check(f, params)
    for p, b in zip(params, before):
        onp.testing.assert_array_equal(p.data().asnumpy(), b)


def test_grad_check_accepts_a_parameter_dict():
    """net.collect_params() itself (a ParameterDict) is accepted, like a list of its values."""
    net, X, y = _gluon_net()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    f = lambda _: loss(net(X), y).mean()
    assert gc.grad_check(f, net.collect_params()) == gc.grad_check(f, list(net.collect_params().values()))
    with pytest.raises(ValueError, match="params must not be empty"):
        gc.grad_check(f, {})


def _bn_net():
    d2l.seed(0)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(6, in_units=4), gluon.nn.BatchNorm(in_channels=6),
            gluon.nn.Activation("tanh"), gluon.nn.Dense(3, in_units=6))
    net.initialize()
    net.cast("float64")
    X = f64(onp.random.default_rng(1).normal(size=(8, 4)))
    # non-trivial moving statistics, so prediction and training mode differ
    bn = net[1]
    bn.running_mean.set_data(f64(onp.linspace(-0.3, 0.4, 6)))
    bn.running_var.set_data(f64(onp.linspace(0.5, 2.0, 6)))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    return net, X, y


@pytest.mark.parametrize("training", [False, True])
def test_grad_check_passes_gluon_batchnorm_in_either_mode(training):
    """Forward and backward in the same mode: MXNet's own BatchNorm is right in both."""
    net, X, y = _bn_net()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    result = gc.check_gradients(lambda _: loss(net(X), y).mean(), params, training=training)
    assert result.rel_diff < 1e-7, result


def test_backward_runs_in_training_mode_unless_told():
    """The mismatch the checker avoids, as a minimal reproduction: a forward pass
    recorded in prediction mode, then ``backward()`` without ``train_mode``,
    runs the training-mode backward pass over it: not the gradient of the
    output recorded."""
    net, X, y = _bn_net()
    w = net[0].weight
    grads = {}
    for label, kwargs in (("default", {}), ("predict", {"train_mode": False})):
        with autograd.record(train_mode=False):
            out = net(X).sum()
        out.backward(**kwargs)
        grads[label] = w.grad().asnumpy().copy()
    num = gc.numerical_grad(lambda v: _with_weight(net, w, v, X), w.data()).asnumpy()
    assert onp.abs(grads["predict"] - num).max() < 1e-7
    assert onp.abs(grads["default"] - num).max() > 1e-2


def _with_weight(net, w, v, X):
    saved = w.data().copy()
    w.set_data(v)
    with autograd.predict_mode():
        out = net(X).sum()
    w.set_data(saved)
    return out
