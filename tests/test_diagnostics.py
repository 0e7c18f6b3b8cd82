"""Tests of d2lstab.diagnostics against hand computations."""
import math

import numpy as onp
import pytest

import d2lstab as d2l
from mxnet import autograd, gluon, init, np


def _mlp(act="relu", widths=(8, 6), seed=0):
    d2l.seed(seed)
    net = gluon.nn.Sequential()
    for w in widths:
        net.add(gluon.nn.Dense(w, activation=act))
    net.add(gluon.nn.Dense(3))
    net.initialize(init.Normal(0.5))
    return net


def _batch(n=16, d=5, seed=0):
    rng = onp.random.default_rng(seed)
    return np.array(rng.normal(size=(n, d)).astype(onp.float32)), np.array(rng.integers(0, 3, n).astype(onp.int32))


LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


def test_layer_grad_norms_match_autograd_by_hand():
    net = _mlp()
    X, y = _batch()
    norms = d2l.diagnostics.layer_grad_norms(net, X, y, LOSS)
    # names follow Gluon's global counter (dense0, dense1, ... in a fresh process)
    assert [name for name, _ in norms] == [layer.name for layer in net]
    # by hand: gradient of the mean loss
    with autograd.record():
        l = LOSS(net(X), y).mean()
    l.backward()
    for (name, value), layer in zip(norms, net):
        g = layer.weight.grad().asnumpy()
        assert value == pytest.approx(float(onp.linalg.norm(g)), rel=1e-5)


def test_layer_grad_norms_show_vanishing_sigmoid():
    net = _mlp("sigmoid", widths=(16,) * 8)
    X, y = _batch()
    norms = [v for _, v in d2l.diagnostics.layer_grad_norms(net, X, y, LOSS)]
    assert norms[0] < norms[-1] / 100


def test_activation_stats_by_hand():
    net = _mlp("sigmoid", widths=(4,))
    net[0].weight.set_data(np.full((4, 5), 3.0))  # all pre-activations = 3 * row sum
    net[0].bias.set_data(np.array([0.0, 0.0, 100.0, -100.0]))
    X = np.array(onp.random.default_rng(1).normal(size=(10, 5)).astype(onp.float32))
    stats = d2l.diagnostics.activation_stats(net, X)
    assert [s["activation"] for s in stats] == ["sigmoid", None]
    out = 1 / (1 + onp.exp(-(3 * X.asnumpy().sum(1, keepdims=True) + onp.array([0, 0, 100, -100]))))
    assert stats[0]["mean"] == pytest.approx(out.mean(), rel=1e-5)
    assert stats[0]["std"] == pytest.approx(out.std(), rel=1e-4)
    assert stats[0]["input_std"] == pytest.approx(out.std(axis=0).mean(), rel=1e-4)
    expected = ((out < 0.0025) | (out > 0.9975)).mean()
    assert stats[0]["saturated"] == pytest.approx(expected)
    assert stats[0]["saturated"] >= 0.5  # the two units with +-100 bias are saturated
    assert stats[1]["saturated"] is None


def test_dead_unit_fraction_counts_units_not_elements():
    d2l.seed(0)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(4, activation="relu"), gluon.nn.Dense(2))
    net.initialize(init.Normal(0.1))
    net[0].bias.set_data(np.array([-100.0, -100.0, 0.0, 100.0]))  # two dead units, one half alive
    X = np.array(onp.random.default_rng(0).normal(size=(50, 3)).astype(onp.float32))
    assert d2l.diagnostics.dead_unit_fraction(net, X) == pytest.approx(0.5)
    leaky = gluon.nn.Sequential()
    leaky.add(gluon.nn.Dense(4), gluon.nn.LeakyReLU(0.01), gluon.nn.Dense(2))
    leaky.initialize(init.Normal(0.1))
    leaky[0].bias.set_data(np.array([-100.0, -100.0, 0.0, 100.0]))
    assert d2l.diagnostics.dead_unit_fraction(leaky, X) == 0.0
    assert d2l.diagnostics.activation_name(leaky[1]) == "leaky"
    with pytest.raises(ValueError, match="no ReLU-family layer"):
        d2l.diagnostics.dead_unit_fraction(_mlp("tanh"), X)


def test_flatten_layers_nested():
    inner = gluon.nn.Sequential()
    inner.add(gluon.nn.Dense(3), gluon.nn.Activation("tanh"))
    outer = gluon.nn.Sequential()
    outer.add(gluon.nn.Dense(4), inner, gluon.nn.Dense(2))
    layers = d2l.diagnostics.flatten_layers(outer)
    assert [type(l).__name__ for l in layers] == ["Dense", "Dense", "Activation", "Dense"]
    assert d2l.diagnostics.activation_name(layers[2]) == "tanh"


def _params_with_grads(values):
    params = []
    for v in values:
        a = np.array(v)
        a.attach_grad()
        a.grad[:] = np.array(v)
        params.append(a)
    return params


def test_clip_grad_norm_rescales_globally():
    params = _params_with_grads([[3.0, 0.0], [[0.0, 4.0]]])  # global norm 5
    total = d2l.diagnostics.clip_grad_norm(params, 1.0)
    assert total == pytest.approx(5.0)
    assert onp.allclose(params[0].grad.asnumpy(), [0.6, 0.0], atol=1e-6)
    assert onp.allclose(params[1].grad.asnumpy(), [[0.0, 0.8]], atol=1e-6)
    assert d2l.diagnostics.grad_norm(params) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_and_nonfinite_alone():
    params = _params_with_grads([[0.3, 0.4]])
    assert d2l.diagnostics.clip_grad_norm(params, 1.0) == pytest.approx(0.5)
    assert onp.allclose(params[0].grad.asnumpy(), [0.3, 0.4])
    params = _params_with_grads([[float("inf"), 1.0]])
    assert not math.isfinite(d2l.diagnostics.clip_grad_norm(params, 1.0))  # MXNet's compensated sum gives nan
    assert params[0].grad.asnumpy()[1] == 1.0


def test_clip_grad_norm_on_gluon_parameters():
    net = _mlp()
    X, y = _batch()
    with autograd.record():
        l = LOSS(net(X), y).mean()
    l.backward()
    before = d2l.diagnostics.grad_norm(net.collect_params().values())
    assert d2l.diagnostics.clip_grad_norm(net.collect_params().values(), before / 2) == pytest.approx(before)
    assert d2l.diagnostics.grad_norm(net.collect_params().values()) == pytest.approx(before / 2, rel=1e-4)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: d2l.diagnostics.clip_grad_norm(_params_with_grads([[1.0]]), 0), ValueError, "max_norm"),
    (lambda: d2l.diagnostics.clip_grad_norm(_params_with_grads([[1.0]]), "1"), TypeError, "max_norm"),
    (lambda: d2l.diagnostics.clip_grad_norm([], 1.0), ValueError, "params"),
    (lambda: d2l.diagnostics.clip_grad_norm([np.ones(2)], 1.0), ValueError, "params"),
    (lambda: d2l.diagnostics.layer_grad_norms(gluon.nn.Dense(2), *_batch(), LOSS), TypeError, "net"),
    (lambda: d2l.diagnostics.layer_grad_norms(_mlp(), onp.ones((2, 5)), _batch()[1], LOSS), TypeError, "X"),
    (lambda: d2l.diagnostics.layer_grad_norms(_mlp(), *_batch(), "ce"), TypeError, "loss"),
    (lambda: d2l.diagnostics.activation_stats(_mlp(), np.ones((0, 5))), ValueError, "X"),
    (lambda: d2l.diagnostics.dead_unit_fraction("net", np.ones((2, 5))), TypeError, "net"),
])
def test_diagnostics_reject(call, exc, name):
    with pytest.raises(exc, match=name):
        call()
