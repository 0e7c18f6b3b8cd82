"""Tests of d2lstab.batchnorm against NumPy float64 references and gluon.nn.BatchNorm."""
import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import batchnorm as bn
from mxnet import autograd, gluon, init, np

SHAPES = {2: (16, 5), 4: (6, 5, 4, 3)}


def _reference(x, gamma, beta, mean_run, var_run, eps, momentum, training):
    """Batch norm in NumPy float64, written from the paper's formulas."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu = x.mean(axis=axes)
        var = x.var(axis=axes)  # biased (ddof=0)
        new_mean = momentum * mean_run + (1 - momentum) * mu
        new_var = momentum * var_run + (1 - momentum) * var
    else:
        mu, var, new_mean, new_var = mean_run, var_run, mean_run, var_run
    y = gamma.reshape(shape) * (x - mu.reshape(shape)) / onp.sqrt(var.reshape(shape) + eps) + beta.reshape(shape)
    return y, new_mean, new_var


@pytest.mark.parametrize("ndim", [2, 4])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_float64_reference(ndim, training):
    rng = onp.random.default_rng(ndim)
    x = rng.normal(3.0, 2.0, size=SHAPES[ndim])
    c = x.shape[1]
    g, b = rng.uniform(0.5, 2, c), rng.normal(size=c)
    m, v = rng.normal(size=c), rng.uniform(0.5, 3, c)
    Y, mm, mv = bn.batch_norm(*(np.array(a, dtype="float64") for a in (x, g, b, m, v)),
                              eps=1e-3, momentum=0.8, training=training)
    y_ref, m_ref, v_ref = _reference(x, g, b, m, v, 1e-3, 0.8, training)
    onp.testing.assert_allclose(Y.asnumpy(), y_ref, rtol=1e-10, atol=1e-12)
    onp.testing.assert_allclose(mm.asnumpy(), m_ref, rtol=1e-10, atol=1e-12)
    onp.testing.assert_allclose(mv.asnumpy(), v_ref, rtol=1e-10, atol=1e-12)


def test_batch_norm_training_output_is_standardized_and_inputs_unchanged():
    rng = onp.random.default_rng(0)
    X = np.array(rng.normal(5, 3, size=(64, 4, 2, 2)), dtype="float64")
    ones, zeros = np.ones((4,), dtype="float64"), np.zeros((4,), dtype="float64")
    m0 = zeros.copy()
    Y, mm, _ = bn.batch_norm(X, ones, zeros, m0, ones, training=True)
    y = Y.asnumpy()
    onp.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    # variance is var/(var + eps): 1 up to eps/var ~ 1e-5/9
    onp.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-5)
    assert (m0.asnumpy() == 0).all() and mm is not m0


def test_momentum_convention():
    """momentum is the weight of the OLD average (MXNet, Keras), not of the batch (PyTorch)."""
    X = np.array([[0.0], [2.0]])
    one, zero = np.ones((1,)), np.zeros((1,))
    _, m0, v0 = bn.batch_norm(X, one, zero, zero, one, momentum=0.0)
    _, m1, v1 = bn.batch_norm(X, one, zero, zero, one, momentum=1.0)
    _, m9, _ = bn.batch_norm(X, one, zero, zero, one, momentum=0.9)
    assert (float(m0[0]), float(v0[0])) == (1.0, 1.0)  # the batch: mean 1, biased var 1
    assert (float(m1[0]), float(v1[0])) == (0.0, 1.0)  # unchanged
    assert float(m9[0]) == pytest.approx(0.1)


def _pair(c, num_dims, momentum=0.9, eps=1e-5, seed=0):
    ours = bn.BatchNorm(c, num_dims, momentum=momentum, eps=eps)
    theirs = gluon.nn.BatchNorm(axis=1, momentum=momentum, epsilon=eps, in_channels=c)
    ours.initialize()
    theirs.initialize()
    rng = onp.random.default_rng(seed)
    g, b = np.array(rng.uniform(0.5, 2, c)), np.array(rng.normal(size=c))
    ours.gamma.set_data(g)
    theirs.gamma.set_data(g)
    ours.beta.set_data(b)
    theirs.beta.set_data(b)
    return ours, theirs


@pytest.mark.parametrize("ndim", [2, 4])
def test_block_matches_gluon_in_both_modes(ndim):
    c = SHAPES[ndim][1]
    ours, theirs = _pair(c, ndim, momentum=0.8, eps=1e-4)
    rng = onp.random.default_rng(1)
    for step in range(5):
        X = np.array(rng.normal(2.0, 1.5, size=SHAPES[ndim]), dtype="float32")
        dY = np.array(rng.normal(size=SHAPES[ndim]), dtype="float32")
        X1, X2 = X.copy(), X.copy()
        X1.attach_grad()
        X2.attach_grad()
        with autograd.record():
            Y1, Y2 = ours(X1), theirs(X2)
        Y1.backward(dY)
        Y2.backward(dY)  # MXNet 1.x updates its running statistics in backward()
        assert float(np.abs(Y1 - Y2).max()) < 1e-5
        assert float(np.abs(ours.moving_mean.data() - theirs.running_mean.data()).max()) < 1e-5
        assert float(np.abs(ours.moving_var.data() - theirs.running_var.data()).max()) < 1e-5
        # gradients: sums over up to 72 float32 terms, so compare relative to their size
        for g1, g2 in ((X1.grad, X2.grad), (ours.gamma.grad(), theirs.gamma.grad()),
                       (ours.beta.grad(), theirs.beta.grad())):
            scale = float(np.abs(g2).max()) + 1.0
            assert float(np.abs(g1 - g2).max()) < 1e-5 * scale
    X = np.array(rng.normal(2.0, 1.5, size=SHAPES[ndim]), dtype="float32")
    assert float(np.abs(ours(X) - theirs(X)).max()) < 1e-5  # inference: moving statistics
    # the moving statistics moved away from their initial values
    assert float(np.abs(ours.moving_mean.data()).min()) > 0.5


def test_block_parameters():
    layer = bn.BatchNorm(3, 4)
    layer.initialize()
    params = layer.collect_params()
    reqs = {k.split("_", 1)[1]: p.grad_req for k, p in params.items()}
    assert reqs == {"gamma": "write", "beta": "write", "moving_mean": "null", "moving_var": "null"}
    assert (layer.gamma.data().asnumpy() == 1).all() and (layer.moving_var.data().asnumpy() == 1).all()
    assert (layer.beta.data().asnumpy() == 0).all() and (layer.moving_mean.data().asnumpy() == 0).all()


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_fold_batch_norm_equals_layer_then_bn(kind):
    d2l.seed(0)
    if kind == "dense":
        layer, X = gluon.nn.Dense(6, in_units=5), np.random.normal(size=(8, 5))
        norm = gluon.nn.BatchNorm(in_channels=6)
    else:
        layer, X = gluon.nn.Conv2D(6, 3, in_channels=2, padding=1), np.random.normal(size=(4, 2, 5, 5))
        norm = gluon.nn.BatchNorm(in_channels=6)
    layer.initialize(init.Normal(0.5))
    norm.initialize()
    rng = onp.random.default_rng(0)
    for name, arr in (("gamma", rng.uniform(0.5, 2, 6)), ("beta", rng.normal(size=6)),
                      ("running_mean", rng.normal(size=6)), ("running_var", rng.uniform(0.2, 3, 6))):
        getattr(norm, name).set_data(np.array(arr))
    expected = norm(layer(X))
    w, b = bn.fold_batch_norm(layer.weight.data(), layer.bias.data(), norm.gamma.data(), norm.beta.data(),
                              norm.running_mean.data(), norm.running_var.data(), eps=1e-5)
    layer.weight.set_data(w)
    layer.bias.set_data(b)
    assert float(np.abs(layer(X) - expected).max()) < 1e-5


def test_fold_without_bias():
    w = np.ones((2, 3))
    one, zero = np.ones((2,)), np.zeros((2,))
    nw, nb = bn.fold_batch_norm(w, None, 2 * one, zero, one, 3 * one, eps=1.0)
    onp.testing.assert_allclose(nw.asnumpy(), 1.0)  # 2 / sqrt(3 + 1) = 1
    onp.testing.assert_allclose(nb.asnumpy(), -1.0)  # 1 * (0 - 1) + 0


def test_bad_arguments():
    c3, X = np.ones((3,)), np.ones((4, 3))
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        bn.batch_norm(np.ones((4, 3, 2)), c3, c3, c3, c3)
    with pytest.raises(ValueError, match="gamma"):
        bn.batch_norm(X, np.ones((4,)), c3, c3, c3)
    with pytest.raises(ValueError, match="beta"):
        bn.batch_norm(X, c3, np.ones((1, 3)), c3, c3)
    with pytest.raises(ValueError, match="moving_var"):
        bn.batch_norm(X, c3, c3, c3, np.ones((2,)))
    for eps in (0.0, -1e-5):
        with pytest.raises(ValueError, match="eps"):
            bn.batch_norm(X, c3, c3, c3, c3, eps=eps)
        with pytest.raises(ValueError, match="eps"):
            bn.BatchNorm(3, 2, eps=eps)
    with pytest.raises(ValueError, match="momentum"):
        bn.batch_norm(X, c3, c3, c3, c3, momentum=1.5)
    with pytest.raises(TypeError, match="training"):
        bn.batch_norm(X, c3, c3, c3, c3, training="no")
    with pytest.raises(TypeError, match="X"):
        bn.batch_norm(onp.ones((4, 3)), c3, c3, c3, c3)
    with pytest.raises(ValueError, match="X must hold at least 2"):
        bn.batch_norm(np.ones((1, 3)), c3, c3, c3, c3)
    with pytest.raises(ValueError, match="num_dims"):
        bn.BatchNorm(3, 3)
    with pytest.raises(ValueError, match="num_features"):
        bn.BatchNorm(0, 2)
    layer = bn.BatchNorm(3, 2)
    layer.initialize()
    with pytest.raises(ValueError, match="X must have shape"):
        layer(np.ones((2, 3, 4, 4)))  # wrong rank
    with pytest.raises(ValueError, match="X must have shape"):
        layer(np.ones((2, 4)))  # wrong number of channels
    with pytest.raises(ValueError, match="gamma"):
        bn.fold_batch_norm(np.ones((3, 2)), None, np.ones((2,)), c3, c3, c3)
    with pytest.raises(ValueError, match="bias"):
        bn.fold_batch_norm(np.ones((3, 2)), np.ones((2,)), c3, c3, c3, c3)
