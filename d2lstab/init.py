"""Weight initializers: the variance-scaling family, from scratch.

Glorot and Bengio (2010) asked that a layer keep the variance of the signal
in both directions. With ``n_in`` inputs of variance gamma^2 and weights of
variance sigma^2, an output has variance ``n_in * sigma^2 * gamma^2``; the
forward pass wants ``n_in * sigma^2 = 1``, the backward pass
``n_out * sigma^2 = 1``, and Xavier takes the compromise
``sigma^2 = 2 / (n_in + n_out)``. He et al. (2015) redo the forward argument
for ReLU, which halves the variance, and get ``2 / n_in``; LeCun et al.
(1998) use ``1 / n_in``. All of them are one family,
``variance = scale / n`` with ``n`` one of the fans (Caffe's FAN_IN /
FAN_OUT / AVERAGE ``variance_norm``, Keras' ``VarianceScaling``), drawn from
a normal, a uniform or a truncated normal distribution.

Weight shapes follow MXNet: Dense ``(out, in)``, Conv ``(out, in, *kernel)``.
Every sample is drawn with MXNet's generator (``mxnet.np.random``), so
``d2lstab.seed`` fixes it, and returned as an ``mxnet.np`` array.
"""
import math

import mxnet as _mx

from . import _validate as check

__all__ = ["fans", "variance_scaling", "xavier_normal", "xavier_uniform",
           "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal",
           "VarianceScaling", "MODES", "DISTRIBUTIONS", "TRUNCATED_NORMAL_STD"]

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "uniform", "truncated_normal")

# Standard deviation of a standard normal truncated to [-2, 2]:
# sqrt(1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2))) = 0.87962566...
_PHI2 = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
_MASS2 = math.erf(2.0 / math.sqrt(2.0))
TRUNCATED_NORMAL_STD = math.sqrt(1.0 - 4.0 * _PHI2 / _MASS2)


def _weight_shape(shape):
    return check.shape("shape", shape, min_ndim=2)


def fans(shape):
    """``(fan_in, fan_out)`` of a weight of MXNet shape ``(out, in, *kernel)``.

    With receptive field ``r = prod(kernel)`` (1 for a Dense layer),
    ``fan_in = in * r`` and ``fan_out = out * r``: each output of a
    convolution sums over ``in * r`` inputs, and each input feeds ``out * r``
    outputs (Glorot and Bengio, 2010; MXNet's ``init.Xavier``, Keras'
    ``_compute_fans``). Shapes with fewer than two dimensions have no fans
    and raise ``ValueError``.
    """
    shape = _weight_shape(shape)
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    fan_in, fan_out = fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _check_ctx(ctx, dtype):
    import mxnet as mx

    if ctx is not None and not isinstance(ctx, mx.Context):
        raise TypeError(f"ctx must be an mxnet Context such as mx.cpu(), got {type(ctx).__name__}")
    check.one_of("dtype", str(dtype), {"float16", "float32", "float64"})
    return ctx, str(dtype)


def _truncated_standard_normal(shape, ctx, dtype):
    """N(0, 1) restricted to [-2, 2], by redrawing the values outside."""
    from mxnet import np

    z = np.random.normal(0.0, 1.0, size=shape, ctx=ctx, dtype=dtype)
    outside = np.abs(z) > 2
    while bool(outside.any()):  # each round keeps 95.4% of the rest
        fresh = np.random.normal(0.0, 1.0, size=shape, ctx=ctx, dtype=dtype)
        z = np.where(outside, fresh, z)
        outside = np.abs(z) > 2
    return z


def variance_scaling(shape, scale=1.0, mode='fan_in', distribution='normal', ctx=None,
                     dtype='float32'):
    """A weight of ``shape`` with mean 0 and variance ``scale / n``.

    ``n`` is ``fan_in``, ``fan_out`` or ``fan_avg = (fan_in + fan_out) / 2``
    (see ``fans``): Caffe's ``variance_norm`` FAN_IN / FAN_OUT / AVERAGE.
    ``distribution``:

    * ``'normal'``: N(0, scale / n);
    * ``'uniform'``: U(-a, a) with ``a = sqrt(3 * scale / n)``, whose variance
      is ``a^2 / 3 = scale / n``;
    * ``'truncated_normal'``: a normal cut at two standard deviations, with
      its standard deviation divided by 0.8796 (the standard deviation of
      N(0, 1) truncated to [-2, 2]) so the variance is still ``scale / n``.

    ``scale=1, mode='fan_in'`` is LeCun, ``scale=2, mode='fan_in'`` is He,
    ``scale=1, mode='fan_avg'`` is Xavier/Glorot. Reference: Keras'
    ``VarianceScaling``; Glorot and Bengio (2010); He et al. (2015).
    """
    from mxnet import np

    shape = _weight_shape(shape)
    scale = check.positive("scale", scale)
    check.one_of("mode", mode, set(MODES))
    check.one_of("distribution", distribution, set(DISTRIBUTIONS))
    ctx, dtype = _check_ctx(ctx, dtype)
    var = scale / _fan(shape, mode)
    if distribution == "normal":
        return np.random.normal(0.0, math.sqrt(var), size=shape, ctx=ctx, dtype=dtype)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * var)
        return np.random.uniform(-limit, limit, size=shape, ctx=ctx, dtype=dtype)
    std = math.sqrt(var) / TRUNCATED_NORMAL_STD
    return _truncated_standard_normal(shape, ctx, dtype) * std


def xavier_normal(shape, gain=1.0):
    """Glorot/Xavier normal: N(0, gain^2 * 2 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    gain = check.positive("gain", gain)
    return variance_scaling(shape, gain ** 2, "fan_avg", "normal")


def xavier_uniform(shape, gain=1.0):
    """Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).

    Its variance a^2 / 3 is ``gain^2 * 2 / (fan_in + fan_out)`` (Glorot and Bengio, 2010).
    """
    gain = check.positive("gain", gain)
    return variance_scaling(shape, gain ** 2, "fan_avg", "uniform")


def he_normal(shape, mode='fan_in'):
    """He/MSRA normal: N(0, 2 / n), n the chosen fan (He et al., 2015)."""
    return variance_scaling(shape, 2.0, mode, "normal")


def he_uniform(shape, mode='fan_in'):
    """He uniform: U(-a, a) with a = sqrt(6 / n), variance 2 / n (He et al., 2015)."""
    return variance_scaling(shape, 2.0, mode, "uniform")


def lecun_normal(shape):
    """LeCun normal: N(0, 1 / fan_in) (LeCun et al., 1998; the SELU init of Klambauer et al., 2017)."""
    return variance_scaling(shape, 1.0, "fan_in", "normal")


def lecun_uniform(shape):
    """LeCun uniform: U(-a, a) with a = sqrt(3 / fan_in), variance 1 / fan_in (LeCun et al., 1998)."""
    return variance_scaling(shape, 1.0, "fan_in", "uniform")


def orthogonal(shape, gain=1.0):
    """A (semi-)orthogonal weight times ``gain`` (Saxe et al., 2014).

    The weight is viewed as a matrix ``(out, in * prod(kernel))``; a Gaussian
    matrix of that shape (drawn with MXNet's generator) is factored ``QR``
    in float64 and the signs of Q's columns fixed by ``diag(R)`` so Q is
    Haar-distributed (Mezzadri, 2007). Rows are orthonormal when
    ``out <= in * prod(kernel)``, columns otherwise; every singular value is
    ``gain``.
    """
    import numpy as onp
    from mxnet import np

    shape = _weight_shape(shape)
    gain = check.positive("gain", gain)
    rows, cols = shape[0], math.prod(shape[1:])
    a = np.random.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols))).asnumpy()
    q, r = onp.linalg.qr(a.astype(onp.float64))
    q = q * onp.sign(onp.diag(r))
    if rows < cols:
        q = q.T
    return np.array((gain * q).reshape(shape), dtype="float32")


class VarianceScaling(_mx.init.Initializer):
    """``net.initialize(VarianceScaling(scale, mode, distribution))``.

    Fills every weight with ``variance_scaling(weight.shape, scale, mode,
    distribution)``; biases are zeroed by ``mxnet.init.Initializer``.
    ``VarianceScaling(2.0)`` is He, ``VarianceScaling(1.0, 'fan_avg')``
    Xavier, ``VarianceScaling()`` LeCun. Works for Dense ``(out, in)`` and
    Conv ``(out, in, *kernel)`` weights, with deferred initialization.
    """

    def __init__(self, scale=1.0, mode='fan_in', distribution='normal'):
        scale = check.positive("scale", scale)
        check.one_of("mode", mode, set(MODES))
        check.one_of("distribution", distribution, set(DISTRIBUTIONS))
        super().__init__(scale=scale, mode=mode, distribution=distribution)
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def _init_weight(self, name, arr):
        import numpy as onp

        if arr.ndim < 2:
            raise ValueError(
                f"VarianceScaling needs a weight with at least 2 dimensions "
                f"(out, in, *kernel); {name} has shape {arr.shape}")
        arr[:] = variance_scaling(arr.shape, self.scale, self.mode, self.distribution,
                                  ctx=arr.ctx, dtype=onp.dtype(arr.dtype).name)

    def __repr__(self):
        return (f"VarianceScaling(scale={self.scale}, mode={self.mode!r}, "
                f"distribution={self.distribution!r})")
