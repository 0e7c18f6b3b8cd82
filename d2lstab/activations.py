"""Activation functions from scratch, differentiable with ``mxnet.autograd``.

Each function is written with ``mxnet.np`` operations so autograd can
differentiate it, and in a form that never overflows: the branch of a
piecewise definition that is not selected is evaluated on a harmless input
(an unselected ``exp`` of a large number would give ``inf``, and
``0 * inf = nan`` in the backward pass). ``derivative(f, x)`` returns the
elementwise derivative by autograd. ``SELU``, ``RReLU`` and ``Maxout`` are
Gluon blocks for use in networks (``SELU`` because MXNet 1.9.1's own SELU,
``gluon.nn.SELU``, back-propagates a wrong gradient for negative inputs).
"""
import math

from mxnet import autograd, gluon, np, npx

from . import _validate as check

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "prelu", "rrelu",
           "gelu", "swish", "maxout", "derivative", "SELU", "RReLU", "Maxout",
           "SELU_ALPHA", "SELU_LAMBDA"]

# Klambauer et al. (2017), eq. (14): the fixed point (mean 0, variance 1).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def _pos_neg(x):
    """x where x > 0 (else 0), and x where x <= 0 (else 0): safe branch inputs."""
    zero = np.zeros_like(x)
    return np.where(x > 0, x, zero), np.where(x > 0, zero, x)


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)), in (0, 1).

    Computed as 1 / (1 + exp(-x)) for x > 0 and exp(x) / (1 + exp(x)) for
    x <= 0, so no exp ever overflows. sigma'(x) = sigma(x) (1 - sigma(x)).
    """
    check.array("x", x)
    pos, neg = _pos_neg(x)
    e_neg = np.exp(neg)
    return np.where(x > 0, 1 / (1 + np.exp(-pos)), e_neg / (1 + e_neg))


def tanh(x):
    """tanh(x) = (1 - exp(-2x)) / (1 + exp(-2x)) = 2 sigma(2x) - 1, in (-1, 1).

    Written with ``expm1`` (exact near 0) on the non-positive side of |x|
    only. tanh'(x) = 1 - tanh(x)^2.
    """
    check.array("x", x)
    pos, neg = _pos_neg(x)
    m_pos = np.expm1(-2 * pos)  # in (-1, 0]
    m_neg = np.expm1(2 * neg)
    return np.where(x > 0, -m_pos / (2 + m_pos), m_neg / (2 + m_neg))


def relu(x):
    """ReLU(x) = max(x, 0) (Nair and Hinton, 2010); derivative 1 for x > 0, 0 otherwise (0 at 0, as MXNet)."""
    check.array("x", x)
    return np.where(x > 0, x, np.zeros_like(x))


def leaky_relu(x, alpha=0.01):
    """LeakyReLU(x) = x for x > 0, alpha * x otherwise (Maas et al., 2013)."""
    check.array("x", x)
    alpha = check.non_negative("alpha", alpha)
    return np.where(x > 0, x, alpha * x)


def elu(x, alpha=1.0):
    """ELU(x) = x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al., 2016).

    Its negative part saturates at -alpha; the derivative there is
    alpha exp(x) = ELU(x) + alpha, continuous at 0 when alpha = 1.
    """
    check.array("x", x)
    alpha = check.non_negative("alpha", alpha)
    _, neg = _pos_neg(x)
    return np.where(x > 0, x, alpha * np.expm1(neg))


def selu(x):
    """SELU(x) = lambda * ELU(x, alpha), alpha = 1.6732632, lambda = 1.0507010 (Klambauer et al., 2017).

    The constants make mean 0 and variance 1 a stable fixed point of a
    layer with LeCun-normal weights (variance 1 / fan_in).
    """
    check.array("x", x)
    return SELU_LAMBDA * elu(x, SELU_ALPHA)


def prelu(x, alpha):
    """PReLU(x) = x for x > 0, alpha_c * x otherwise, alpha learned (He et al., 2015).

    ``alpha`` is a number, an array of one element, or an array of shape
    ``(C,)`` broadcast over axis 1 (the channels of ``(N, C, ...)``), as
    MXNet's ``npx.leaky_relu(act_type='prelu')``. The gradient reaches
    ``alpha`` too: d PReLU / d alpha_c = x where x <= 0, else 0.
    """
    check.array("x", x)
    if not isinstance(alpha, np.ndarray):
        alpha = np.array(check.real("alpha", alpha), dtype=x.dtype)
    if alpha.size != 1:
        if alpha.ndim != 1 or x.ndim < 2 or alpha.shape[0] != x.shape[1]:
            raise ValueError(
                f"alpha must be a number or have shape (C,) with C = x.shape[1]; "
                f"got alpha of shape {alpha.shape} for x of shape {x.shape}")
        alpha = alpha.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, alpha * x)


def _check_bounds(lower, upper):
    lower = check.non_negative("lower", lower)
    upper = check.non_negative("upper", upper)
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower!r} > upper={upper!r}")
    return lower, upper


def rrelu(x, lower=1/8, upper=1/3, training=False):
    """Randomized leaky ReLU (Xu et al., 2015): x for x > 0, a * x otherwise.

    In training each element draws its own slope a ~ U(lower, upper) (with
    MXNet's generator); otherwise a = (lower + upper) / 2, the mean slope,
    as dropout uses the mean mask at test time. The defaults 1/8 and 1/3
    are PyTorch's. Xu et al.'s experiments (after the NDSB winner) divide
    instead, x / a with a ~ U(3, 8) and x / 5.5 at test time: the same range
    of slopes, 1/8 to 1/3, but not uniformly distributed (mean ln(8/3)/5 =
    0.196) and a test slope of 1/5.5 = 0.182 instead of 0.229.
    """
    check.array("x", x)
    lower, upper = _check_bounds(lower, upper)
    training = check.boolean("training", training)
    if training and upper > lower:
        slope = np.random.uniform(lower, upper, size=x.shape, ctx=x.ctx, dtype=x.dtype)
    else:
        slope = (lower + upper) / 2
    return np.where(x > 0, x, slope * x)


def gelu(x):
    """GELU(x) = x Phi(x) = x / 2 (1 + erf(x / sqrt(2))), the exact form (Hendrycks and Gimpel, 2016)."""
    check.array("x", x)
    return 0.5 * x * (1 + npx.erf(x / math.sqrt(2.0)))


def swish(x, beta=1.0):
    """Swish(x) = x sigma(beta x) (Ramachandran et al., 2017); beta = 1 is SiLU."""
    check.array("x", x)
    beta = check.real("beta", beta)
    return x * sigmoid(beta * x)


def maxout(x, num_pieces, axis=-1):
    """Maximum over consecutive groups of ``num_pieces`` along ``axis`` (Goodfellow et al., 2013).

    With ``k = num_pieces`` the output along ``axis`` is ``size / k`` long:
    ``out[..., j, ...] = max(x[..., j*k : (j+1)*k, ...])``. ``size`` must
    be divisible by ``k``.
    """
    check.array("x", x)
    k = check.integer("num_pieces", num_pieces, minimum=1)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension for maxout")
    axis = check.integer("axis", axis, minimum=-x.ndim, maximum=x.ndim - 1) % x.ndim
    size = x.shape[axis]
    if size % k:
        raise ValueError(
            f"num_pieces must divide the size of x along axis {axis} ({size}), got {k}")
    grouped = x.reshape(x.shape[:axis] + (size // k, k) + x.shape[axis + 1:])
    return grouped.max(axis=axis + 1)


def derivative(f, x, train_mode=True):
    """Elementwise df/dx of an elementwise ``f`` at ``x``, by autograd.

    Back-propagates ``sum(f(x))`` (ones as head gradient); for an
    elementwise f that gives f'(x_i) in position i. ``x`` is copied, so the
    caller's array is untouched. The forward pass is recorded, and the
    backward pass run, in training mode unless ``train_mode=False`` (MXNet's
    ``backward()`` defaults to training mode whatever mode the forward pass
    was recorded in, so both are set). Prediction mode is what MXNet's own
    RReLU needs: its training mode crashes MXNet 1.9.1 on CPU.
    """
    check.callable_("f", f)
    check.array("x", x)
    train_mode = check.boolean("train_mode", train_mode)
    x = x.copy()
    x.attach_grad()
    with autograd.record(train_mode=train_mode):
        y = f(x)
    if not isinstance(y, np.ndarray) or y.shape != x.shape:
        raise ValueError(
            f"f must be elementwise: f(x) should have shape {x.shape}, "
            f"got {getattr(y, 'shape', type(y).__name__)}")
    y.backward(train_mode=train_mode)
    return x.grad


class SELU(gluon.HybridBlock):
    """SELU as a block (Klambauer et al., 2017), with the correct gradient.

    Computes ``selu`` (the same values, to the last bit) with operations that
    also work hybridized, so a network built with it can be
    ``hybridize()``d. Use it instead of MXNet 1.9.1's ``gluon.nn.SELU``,
    whose backward pass gives lambda * (y + alpha) for x < 0 instead of
    y + lambda * alpha (y the output).
    """

    activation_name = "selu"

    def hybrid_forward(self, F, x):
        neg = SELU_ALPHA * F.np.expm1(F.np.minimum(x, 0))
        return SELU_LAMBDA * F.np.where(x > 0, x, neg)

    def __repr__(self):
        return "SELU()"


class RReLU(gluon.Block):
    """Randomized leaky ReLU as a block: random slopes under ``autograd.record()``
    in training mode, the mean slope (lower + upper) / 2 in prediction."""

    activation_name = "rrelu"

    def __init__(self, lower=1/8, upper=1/3, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper = _check_bounds(lower, upper)

    def forward(self, x):
        return rrelu(x, self.lower, self.upper, training=autograd.is_training())

    def __repr__(self):
        return f"RReLU(lower={self.lower:.4g}, upper={self.upper:.4g})"


class Maxout(gluon.Block):
    """A Dense layer with ``units * num_pieces`` outputs followed by maxout.

    Each of the ``units`` outputs is the maximum of ``num_pieces`` affine
    functions of the input, so it costs ``num_pieces`` times the weights of
    a Dense layer of ``units`` outputs (Goodfellow et al., 2013). Extra
    keyword arguments (``in_units``, ``weight_initializer``, ...) go to the
    Dense layer.
    """

    activation_name = None

    def __init__(self, units, num_pieces, **kwargs):
        units = check.integer("units", units, minimum=1)
        num_pieces = check.integer("num_pieces", num_pieces, minimum=1)
        dense_kwargs = {k: kwargs.pop(k) for k in list(kwargs)
                        if k in ("in_units", "use_bias", "flatten", "dtype",
                                 "weight_initializer", "bias_initializer")}
        super().__init__(**kwargs)
        self.units, self.num_pieces = units, num_pieces
        with self.name_scope():
            self.dense = gluon.nn.Dense(units * num_pieces, **dense_kwargs)

    def forward(self, x):
        return maxout(self.dense(x), self.num_pieces, axis=-1)

    def __repr__(self):
        return f"Maxout(units={self.units}, num_pieces={self.num_pieces})"

