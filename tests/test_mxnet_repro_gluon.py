"""Minimal reproductions of MXNet 1.9.1 Gluon behaviour that chapters 8 and 9 rely on.

Each test pins what MXNet does, so that it fails (and the chapter text must
change) if a later MXNet behaves differently.
"""
import numpy as onp
import pytest

import d2lstab  # noqa: F401  (makes MXNet importable on current NumPy, sets NumPy mode)
import mxnet as mx
from mxnet import autograd, gluon, np, npx


def _dense_with_gradient():
    net = gluon.nn.Dense(3, in_units=2)
    net.initialize(mx.init.Constant(0.5))
    net.cast("float64")
    with autograd.record():
        loss = net(np.ones((4, 2), dtype="float64")).sum()
    loss.backward()
    return net


def test_parameter_zero_grad_fails_in_numpy_mode():
    """``Parameter.zero_grad()`` raises TypeError in NumPy mode (npx.set_np()).

    What is wrong: in MXNet 1.9.1, python/mxnet/gluon/parameter.py,
    ``Parameter.zero_grad`` zeroes each gradient buffer with the legacy
    operator ``ndarray.zeros_like(i, out=i)``; in NumPy mode the buffers are
    ``mxnet.numpy.ndarray``s, which legacy operators refuse. The dict-level
    ``net.collect_params().zero_grad()`` has a NumPy-mode branch (it assigns
    ``g[()] = 0``, apache/mxnet PR #16716) and works. The Parameter method
    still calls ``ndarray.zeros_like`` in the master branch's parameter.py
    that we could read. Not our misuse: the network is created, initialized
    and run through Gluon's own API, and the gradient buffer is the one
    Gluon allocated.
    """
    assert mx.__version__ == "1.9.1"
    assert mx.util.is_np_array()
    net = _dense_with_gradient()
    assert isinstance(net.weight.grad(), np.ndarray)
    assert float(np.abs(net.weight.grad()).sum()) > 0
    with pytest.raises(TypeError, match="legacy operator"):
        net.weight.zero_grad()
    # the workaround: the ParameterDict method (or assigning 0 to the buffer)
    net.collect_params().zero_grad()
    assert float(np.abs(net.weight.grad()).sum()) == 0.0
    assert float(np.abs(net.bias.grad()).sum()) == 0.0


def _batch_norm_case():
    onp.random.seed(0)
    x = np.array(onp.random.normal(size=(4, 3)), dtype="float64")
    gamma = np.ones(3, dtype="float64")
    beta = np.zeros(3, dtype="float64")
    mean = np.zeros(3, dtype="float64")
    var = np.full((3,), 4.0, dtype="float64")
    # a non-constant head gradient, so that dy - mean(dy) does not vanish
    dy = np.array(onp.random.normal(size=(4, 3)), dtype="float64")
    return x, gamma, beta, mean, var, dy


def _bn_input_grad(backward_train_mode):
    x, gamma, beta, mean, var, dy = _batch_norm_case()
    x.attach_grad()
    with autograd.record(train_mode=False):
        out = npx.batch_norm(x, gamma, beta, mean, var, eps=1e-5, fix_gamma=False)
    if backward_train_mode is None:
        out.backward(dy)
    else:
        out.backward(dy, train_mode=backward_train_mode)
    return x.asnumpy(), out.asnumpy(), x.grad.asnumpy(), dy.asnumpy()


def test_backward_defaults_to_training_mode_for_batch_norm():
    """``backward()`` runs in training mode whatever mode the forward pass used.

    This is MXNet's documented default (``NDArray.backward(..., train_mode=True)``),
    not a bug, but a gradient check that forgets it runs the training-mode
    backward pass over a prediction-mode forward pass, which gives the
    gradient of neither mode's loss. For batch
    normalization recorded in prediction mode (moving mean 0, moving variance
    4), ``backward()`` applies the training-mode formula, which treats the
    mean and variance as functions of the batch, evaluated at the moving
    statistics: ``dx = g/s * (dy - mean(dy) - xhat * mean(dy * xhat))`` with
    ``s = sqrt(var + eps)`` and ``xhat = (x - mean) / s``. With
    ``backward(train_mode=False)`` the gradient is the prediction-mode one,
    ``g * dy / s``. The head gradient ``dy`` is not constant (for a constant
    one the term ``dy - mean(dy)`` would vanish).
    """
    assert mx.__version__ == "1.9.1"
    x, out, grad_default, dy = _bn_input_grad(None)
    s = onp.sqrt(4.0 + 1e-5)
    onp.testing.assert_allclose(out, x / s, rtol=0, atol=1e-12)  # forward: prediction mode
    xhat = x / s
    training_formula = (dy - dy.mean(axis=0) - xhat * (dy * xhat).mean(axis=0)) / s
    assert onp.abs(dy - dy.mean(axis=0)).max() > 0.5  # the term is there
    onp.testing.assert_allclose(grad_default, training_formula, rtol=0, atol=1e-12)
    assert onp.abs(grad_default - dy / s).max() > 0.2  # far from the right one
    _, _, grad_explicit_train, _ = _bn_input_grad(True)
    onp.testing.assert_array_equal(grad_default, grad_explicit_train)
    _, _, grad_predict, _ = _bn_input_grad(False)
    onp.testing.assert_allclose(grad_predict, dy / s, rtol=0, atol=1e-12)
    # nor is it the training-mode gradient, which uses the batch statistics
    xb, gamma, beta, mean, var, dyb = _batch_norm_case()
    xb.attach_grad()
    with autograd.record(train_mode=True):
        out = npx.batch_norm(xb, gamma, beta, mean, var, eps=1e-5,
                             fix_gamma=False)
    out.backward(dyb)
    assert onp.abs(grad_default - xb.grad.asnumpy()).max() > 0.2
