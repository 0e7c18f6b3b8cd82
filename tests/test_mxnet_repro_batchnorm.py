"""Minimal reproductions of MXNet 1.9.1 BatchNorm behaviour used in chapter 7.

Each test pins what MXNet does on the CPU, so that it fails (and the chapter
text and ``d2lstab.batchnorm``'s docstrings must change) if a later MXNet
behaves differently.
"""
import numpy as onp
import pytest

import d2lstab  # noqa: F401  (MXNet importable on current NumPy; NumPy mode)
import mxnet as mx
from mxnet import autograd, gluon, np


def _gluon_bn(dtype, momentum=0.9, channels=3):
    layer = gluon.nn.BatchNorm(axis=1, momentum=momentum, in_channels=channels)
    layer.initialize(ctx=mx.cpu())
    layer.cast(dtype)
    return layer


def _batch(dtype, shape=(8, 3)):
    rng = onp.random.RandomState(0)
    return np.array(rng.normal(2.0, 3.0, size=shape), dtype=dtype,
                    ctx=mx.cpu())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gluon_batch_norm_updates_moving_statistics_in_backward(dtype):
    """Gluon's BatchNorm (CPU) updates its moving statistics in backward().

    What is surprising: a training-mode forward pass (``autograd.record()``)
    normalizes with the batch statistics but leaves ``running_mean`` and
    ``running_var`` untouched; they move only when ``backward()`` runs the
    operator's backward pass (MXNet 1.9.1 on the CPU, for float64 and float32
    alike). PyTorch, Keras and d2lstab's
    ``BatchNorm`` update them in the forward pass, and so does MXNet's own
    cuDNN GPU kernel (it hands them to cudnnBatchNormalizationForwardTraining),
    so a forward pass without backward (to inspect activations, say) moves
    their averages but not this one's.
    """
    assert mx.__version__ == "1.9.1"
    layer = _gluon_bn(dtype)
    X = _batch(dtype)
    mean0 = layer.running_mean.data().asnumpy().copy()
    var0 = layer.running_var.data().asnumpy().copy()
    onp.testing.assert_array_equal(mean0, onp.zeros(3))
    onp.testing.assert_array_equal(var0, onp.ones(3))
    with autograd.record():
        Y = layer(X)
    # the forward pass did use the batch statistics ...
    assert onp.abs(Y.asnumpy().mean(axis=0)).max() < 1e-5
    # ... but did not touch the moving ones
    onp.testing.assert_array_equal(layer.running_mean.data().asnumpy(), mean0)
    onp.testing.assert_array_equal(layer.running_var.data().asnumpy(), var0)
    Y.backward()
    x = X.asnumpy().astype("float64")
    m = float(onp.float32(0.9))
    expected_mean = (1 - m) * x.mean(axis=0)
    expected_var = m * 1.0 + (1 - m) * x.var(axis=0)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    onp.testing.assert_allclose(layer.running_mean.data().asnumpy(),
                                expected_mean, rtol=rtol)
    onp.testing.assert_allclose(layer.running_var.data().asnumpy(),
                                expected_var, rtol=rtol)


def _one_update(momentum):
    """Moving statistics of a float64 Gluon BatchNorm after one training step,
    and the batch's mean and biased variance (float64)."""
    layer = _gluon_bn("float64", momentum=momentum)
    X = _batch("float64", shape=(16, 3, 2, 2))
    with autograd.record():
        Y = layer(X)
    Y.backward()
    x = X.asnumpy()
    return (layer.running_mean.data().asnumpy(),
            layer.running_var.data().asnumpy(),
            x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)))


def test_gluon_batch_norm_momentum_is_float32_in_float64():
    """The momentum is parsed as float32 even for a float64 network.

    What is surprising: ``BatchNormParam::momentum`` is a C++ ``float``, so
    ``momentum=0.9`` becomes 0.899999976... and a float64 network's moving
    statistics are ``0.9f * old + (1 - 0.9f) * batch``. That differs from the
    float64 update ``0.9 * old + 0.1 * batch`` by about 2.4e-8 of the batch
    statistic, far more than float64 rounding. A momentum that float32
    represents exactly (0.875) gives the float64 update. The batch variance
    accumulated is the biased one (divided by n, not n - 1), unlike PyTorch's
    running_var.
    """
    assert mx.__version__ == "1.9.1"
    run_mean, run_var, mu, var = _one_update(0.9)
    m32 = float(onp.float32(0.9))
    assert m32 != 0.9
    onp.testing.assert_allclose(run_mean, (1 - m32) * mu, rtol=1e-13, atol=0)
    onp.testing.assert_allclose(run_var, m32 + (1 - m32) * var,
                                rtol=1e-13, atol=0)
    gap_mean = onp.abs(run_mean - 0.1 * mu)
    gap_var = onp.abs(run_var - (0.9 + 0.1 * var))
    assert (gap_mean > 1e-9 * onp.abs(mu)).all()
    assert (gap_mean > 1000 * onp.finfo(onp.float64).eps * onp.abs(mu)).all()
    assert gap_var.max() > 1e-8
    run_mean, run_var, mu, var = _one_update(0.875)
    onp.testing.assert_allclose(run_mean, 0.125 * mu, rtol=1e-14, atol=0)
    onp.testing.assert_allclose(run_var, 0.875 + 0.125 * var,
                                rtol=1e-14, atol=0)
    n = 16 * 2 * 2
    unbiased = 0.875 + 0.125 * var * n / (n - 1)
    assert onp.abs(run_var - unbiased).min() > 1e-4
