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
