"""Tests added where tools/bad_input.py or tools/mutate.py found a gap.

Bad input: public functions that validate their arguments but that no
test called with a bad one (``python tools/bad_input.py --gaps``). Each
test asserts the exception type and that the message names the argument.
"""
import pytest

import d2lstab as d2l
from mxnet import gluon, np


def _dense_net():
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(3, activation="relu"), gluon.nn.Dense(2))
    net.initialize()
    net(np.ones((2, 4)))
    return net


def _data():
    return d2l.data.load_array(np.ones((4, 4)), np.zeros((4,), dtype="int32"), batch_size=2, shuffle=False)


@pytest.mark.parametrize("params, exc", [([], ValueError), ([3.0], TypeError), (np.ones(3), ValueError)])
def test_grad_norm_rejects_bad_params(params, exc):
    # an empty list, a non-array, and an array with no gradient attached
    with pytest.raises(exc, match=r"^params\b"):
        d2l.diagnostics.grad_norm(params)


@pytest.mark.parametrize("net", [None, gluon.nn.Dense(2), [gluon.nn.Dense(2)]])
def test_flatten_layers_rejects_non_sequential(net):
    with pytest.raises(TypeError, match=r"^net\b"):
        d2l.diagnostics.flatten_layers(net)


def test_evaluate_loss_rejects_bad_arguments():
    net, data = _dense_net(), _data()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with pytest.raises(TypeError, match=r"^net\b"):
        d2l.train.evaluate_loss("net", data, loss)
    with pytest.raises(TypeError, match=r"^data_iter\b"):
        d2l.train.evaluate_loss(net, 5, loss)
    with pytest.raises(TypeError, match=r"^loss\b"):
        d2l.train.evaluate_loss(net, data, "cross-entropy")
    with pytest.raises(ValueError, match=r"^data_iter\b"):
        d2l.train.evaluate_loss(net, [], loss)


def test_check_gradients_rejects_bad_arguments():
    x = np.ones(3, dtype="float64")

    def f(arrays):
        return (arrays[0] ** 2).sum()

    with pytest.raises(TypeError, match=r"^f\b"):
        d2l.gradcheck.check_gradients("f", [x])
    with pytest.raises(ValueError, match=r"^eps\b"):
        d2l.gradcheck.check_gradients(f, [x], eps=0)
    with pytest.raises(ValueError, match=r"^samples_per_param\b"):
        d2l.gradcheck.check_gradients(f, [x], samples_per_param=0)
    with pytest.raises(TypeError, match=r"^training\b"):
        d2l.gradcheck.check_gradients(f, [x], training="yes")
    with pytest.raises(ValueError, match=r"^params\b"):
        d2l.gradcheck.check_gradients(f, [])


# Mutants of d2lstab.train that the unit tests let through (tools/mutate.py):
# `train-binary-argmax` and `train-eval-loss-mean`.

def test_accuracy_binary_logits_by_hand():
    """One logit per row, shape (n, 1) or (n,): class 1 where the logit is > 0."""
    logits = np.array([[2.0], [-1.0], [0.5], [-3.0], [0.0], [1.0]])
    y = np.array([1, 0, 1, 1, 0, 1], dtype="int32")
    # predictions 1, 0, 1, 0, 0, 1 (0 is not > 0) -> correct: all rows but row 3.
    # (Predicting class 0 everywhere, e.g. an argmax over the single column, gets 2.)
    assert d2l.train.accuracy(logits, y) == 5.0
    assert d2l.train.accuracy(logits.reshape(-1), y) == 5.0
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert d2l.train.accuracy(scores, np.array([1, 1, 1], dtype="int32")) == 2.0


def test_evaluate_loss_is_the_mean_over_examples_not_batches():
    """Batches of 3, 3 and 1 examples: the mean per-example loss weighs each example once."""
    import numpy as onp

    net = gluon.nn.Dense(1, in_units=1, use_bias=False)
    net.initialize()
    net.weight.set_data(np.ones((1, 1)))
    X = onp.arange(7, dtype=onp.float32).reshape(7, 1)
    y = onp.zeros(7, dtype=onp.float32)
    data = d2l.data.load_array(X, y, batch_size=3, shuffle=False)
    loss = gluon.loss.L2Loss()  # (y_hat - y)^2 / 2 = x^2 / 2 per example
    expected = float((X[:, 0] ** 2 / 2).mean())  # 91 / 14
    assert d2l.train.evaluate_loss(net, data, loss) == pytest.approx(expected, rel=1e-6)


def test_fit_numbers_equal_separate_evaluations_when_nothing_learns():
    """With lr = 0 the network never changes, so fit's per-epoch training loss and
    accuracy must equal evaluate_loss/evaluate_accuracy on the training set (up to
    float32 rounding: the training loader shuffles, so each minibatch's float32 sum
    covers other examples; 1e-6 relative is a few float32 ulps), and its test
    numbers must equal them on the test set exactly. Guards fit's deferred reads."""
    d2l.seed(0)
    train_iter, test_iter = d2l.data.load_digits(batch_size=100)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(16, activation="relu", in_units=64), gluon.nn.Dense(10, in_units=16))
    net.initialize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    opt = d2l.optim.SGD(net.collect_params().values(), lr=0.0)
    history = d2l.train.fit(net, train_iter, test_iter, loss, opt, 2, progress=False)
    train_loss = d2l.train.evaluate_loss(net, train_iter, loss)
    train_acc = d2l.train.evaluate_accuracy(net, train_iter)
    for epoch in range(2):
        assert history.train_loss[epoch] == pytest.approx(train_loss, rel=1e-6)
        assert history.train_acc[epoch] == train_acc
        assert history.test_loss[epoch] == d2l.train.evaluate_loss(net, test_iter, loss)
        assert history.test_acc[epoch] == d2l.train.evaluate_accuracy(net, test_iter)


def test_fit_reports_nan_when_a_minibatch_loss_is_not_finite():
    d2l.seed(0)
    X = np.ones((6, 2))
    y = np.zeros((6,), dtype="int32")
    data = d2l.data.load_array(X, y, batch_size=2, shuffle=False)
    net = gluon.nn.Dense(2, in_units=2)
    net.initialize()
    base = gluon.loss.SoftmaxCrossEntropyLoss()
    calls = []

    def loss(y_hat, y):
        """A scalar (mean) loss, +inf on the second training minibatch, with a finite gradient.
        Scalar, because MXNet sums an array [inf, inf] to nan, which would hide the rule."""
        calls.append(1)
        l = base(y_hat, y).mean()
        return l + np.array(float("inf")) if len(calls) == 2 else l

    history = d2l.train.fit(net, data, data, loss, d2l.optim.SGD(net.collect_params().values(), lr=0.0),
                            1, progress=False)
    import math
    assert math.isnan(history.train_loss[0])
    assert math.isfinite(history.test_loss[0])


def test_max_norm_counts_only_rows_outside_the_ball():
    """A row exactly on the ball (norm 5 = max_norm, exact in float32 and float64) is
    neither changed nor counted as rescaled; one outside is (mutant
    `subtle-max-norm-at-boundary`)."""
    w = np.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])
    rescaled = d2l.regularization.max_norm_([w], 5.0)
    assert rescaled == 1
    assert w.asnumpy().tolist() == [[3.0, 4.0], [3.0, 4.0], [0.0, 1.0]]


def test_accuracy_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"^y_hat\b"):
        d2l.train.accuracy([[0.2, 0.8]], np.array([1]))
    with pytest.raises(TypeError, match=r"^y\b"):
        d2l.train.accuracy(np.array([[0.2, 0.8]]), [1])
    with pytest.raises(ValueError, match=r"^y_hat\b"):
        d2l.train.accuracy(np.ones((3, 2)), np.array([1, 0]))
