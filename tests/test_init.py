"""Tests for d2lstab.init: fans, the variance-scaling family, VarianceScaling.

Statistical checks draw a few hundred thousand weights and compare the
sample variance with the formula. For n draws the sample variance has
relative standard error sqrt((kurtosis - 1) / n): sqrt(2 / n) for a normal,
less for uniform (kurtosis 1.8) and the truncated normal (about 2.4). We
allow 5 of the normal's standard errors, so a correct sampler fails with
probability under 1e-6 and a variance off by a factor like 2 (a wrong fan,
a missing factor 3 in the uniform limit, the forgotten truncation
correction of 0.88^2 = 0.77) fails for certain.
"""
import math

import numpy as onp
import pytest

import d2lstab as d2l  # first: it makes mxnet importable on current NumPy
import mxnet as mx  # noqa: E402
from d2lstab import init as I  # noqa: E402
from mxnet import gluon, np  # noqa: E402

SHAPES = [(300, 200), (64, 32, 3, 3), (128, 16, 5), (40, 8, 3, 3, 3)]


def conv_fans(shape):
    r = int(onp.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * r, shape[0] * r


def draw_many(fn, shape, at_least=200_000):
    """Concatenate draws of fn(shape) until there are at least `at_least` values."""
    out, total = [], 0
    while total < at_least:
        w = fn(shape)
        out.append(w.asnumpy().astype(onp.float64).ravel())
        total += w.size
    return onp.concatenate(out)


def assert_variance(sample, var, label=""):
    n = sample.size
    se_var = var * math.sqrt(2.0 / n)
    assert abs(sample.var() - var) < 5 * se_var, (label, sample.var(), var)
    assert abs(sample.mean()) < 5 * math.sqrt(var / n), (label, sample.mean())


# ---------------------------------------------------------------- fans


@pytest.mark.parametrize("shape", SHAPES + [(7, 3)])
def test_fans_closed_form(shape):
    assert I.fans(shape) == conv_fans(shape)


def test_fans_examples_by_hand():
    assert I.fans((10, 5)) == (5, 10)                 # Dense(10, in_units=5)
    assert I.fans((64, 3, 7, 7)) == (3 * 49, 64 * 49)  # Conv2D(64, 7) on RGB


@pytest.mark.parametrize("bad", [(5,), 5, ()])
def test_fans_needs_two_dims(bad):
    with pytest.raises(ValueError, match="shape"):
        I.fans(bad)


def test_fans_rejects_non_shapes():
    with pytest.raises(TypeError, match="shape"):
        I.fans("10x5")
    with pytest.raises(ValueError, match="shape"):
        I.fans((10, 0))


# ---------------------------------------------------------------- variance_scaling


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_variance_scaling_variance(shape, mode, distribution):
    d2l.seed(0)
    scale = 1.7
    fin, fout = conv_fans(shape)
    n = {"fan_in": fin, "fan_out": fout, "fan_avg": (fin + fout) / 2}[mode]
    sample = draw_many(lambda s: I.variance_scaling(s, scale, mode, distribution), shape)
    assert_variance(sample, scale / n, (shape, mode, distribution))


@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_variance_scaling_returns_mxnet_float32(distribution):
    w = I.variance_scaling((6, 4, 3), 2.0, "fan_in", distribution)
    assert isinstance(w, np.ndarray)
    assert w.shape == (6, 4, 3) and w.dtype == onp.float32


def test_uniform_support_is_sqrt_3_var():
    d2l.seed(1)
    var = 3.0 / 100
    limit = math.sqrt(3 * var)
    sample = draw_many(lambda s: I.variance_scaling(s, 3.0, "fan_in", "uniform"), (100, 100))
    assert sample.min() >= -limit and sample.max() <= limit
    # with 2e5 draws the extremes lie within 1e-4 of the ends (prob. of a gap of
    # 1e-4 * 2 * limit / (2 * limit) at one end is (1 - 5e-5)^2e5 = e^-10)
    assert sample.max() > limit * (1 - 2e-4) and sample.min() < -limit * (1 - 2e-4)


def test_truncated_normal_cut_at_two_stds():
    d2l.seed(2)
    var = 1.0 / 50
    std = math.sqrt(var) / I.TRUNCATED_NORMAL_STD   # the underlying normal's sigma
    sample = draw_many(lambda s: I.variance_scaling(s, 1.0, "fan_in", "truncated_normal"), (200, 50))
    assert onp.abs(sample).max() <= 2 * std * (1 + 1e-6)
    # a plain normal with this variance would have 4.6% beyond 2 sqrt(var); the cut one
    # has P(|z| > 2 * 0.8796) / P(|z| < 2) = 3.3%, a difference of ~30 standard errors
    frac = (onp.abs(sample) > 2 * math.sqrt(var)).mean()
    expected = (math.erf(2 / math.sqrt(2)) - math.erf(2 * I.TRUNCATED_NORMAL_STD / math.sqrt(2))) \
        / math.erf(2 / math.sqrt(2))
    assert abs(frac - expected) < 5 * math.sqrt(expected * (1 - expected) / sample.size)


def test_truncated_normal_std_constant():
    # Var of N(0,1) truncated to [-2, 2] = 1 - 2 * 2 * phi(2) / (2 Phi(2) - 1), computed here
    # by numerical integration, independent of the module's closed form.
    z = onp.linspace(-2, 2, 400_001)
    dens = onp.exp(-z ** 2 / 2)
    var = onp.trapz(z ** 2 * dens, z) / onp.trapz(dens, z)
    assert abs(I.TRUNCATED_NORMAL_STD - math.sqrt(var)) < 1e-8
    assert abs(I.TRUNCATED_NORMAL_STD - 0.87962566103423978) < 1e-12  # Keras' constant


def test_normal_tail_fraction():
    d2l.seed(3)
    var = 2.0 / 100
    sample = draw_many(lambda s: I.variance_scaling(s, 2.0, "fan_in", "normal"), (64, 100))
    frac = (onp.abs(sample) > 2 * math.sqrt(var)).mean()
    p = 1 - math.erf(2 / math.sqrt(2))  # 4.55%
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / sample.size)


def test_seed_fixes_draws():
    d2l.seed(7)
    a = I.variance_scaling((5, 4)).asnumpy()
    d2l.seed(7)
    b = I.variance_scaling((5, 4)).asnumpy()
    c = I.variance_scaling((5, 4)).asnumpy()
    assert onp.array_equal(a, b) and not onp.array_equal(b, c)


@pytest.mark.parametrize("mode", ["fan", "FAN_IN", "avg", None])
def test_unknown_mode(mode):
    with pytest.raises(ValueError, match="mode"):
        I.variance_scaling((3, 3), mode=mode)


@pytest.mark.parametrize("distribution", ["gaussian", "Normal", "laplace"])
def test_unknown_distribution(distribution):
    with pytest.raises(ValueError, match="distribution"):
        I.variance_scaling((3, 3), distribution=distribution)


@pytest.mark.parametrize("scale", [0, -1.0, float("inf")])
def test_non_positive_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        I.variance_scaling((3, 3), scale=scale)


def test_scale_must_be_a_number():
    with pytest.raises(TypeError, match="scale"):
        I.variance_scaling((3, 3), scale="2")


@pytest.mark.parametrize("fn", [I.variance_scaling, I.xavier_normal, I.xavier_uniform, I.he_normal,
                                I.he_uniform, I.lecun_normal, I.lecun_uniform, I.orthogonal])
def test_one_dim_shapes_rejected(fn):
    with pytest.raises(ValueError, match="shape"):
        fn((10,))


# ---------------------------------------------------------------- named initializers


@pytest.mark.parametrize("shape", [(300, 200), (32, 16, 3, 3)])
def test_xavier(shape):
    fin, fout = conv_fans(shape)
    for fn in (I.xavier_normal, I.xavier_uniform):
        d2l.seed(4)
        for gain in (1.0, math.sqrt(2)):
            sample = draw_many(lambda s: fn(s, gain=gain), shape)
            assert_variance(sample, gain ** 2 * 2 / (fin + fout), (fn.__name__, gain))


def test_xavier_uniform_limit():
    d2l.seed(5)
    w = I.xavier_uniform((400, 600)).asnumpy()
    limit = math.sqrt(6 / 1000)
    assert onp.abs(w).max() <= limit and onp.abs(w).max() > 0.999 * limit


@pytest.mark.parametrize("gain", [0, -2.0])
def test_xavier_gain_positive(gain):
    with pytest.raises(ValueError, match="gain"):
        I.xavier_normal((3, 3), gain=gain)


@pytest.mark.parametrize("shape", [(300, 200), (16, 32, 3, 3)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_he(shape, mode):
    d2l.seed(6)
    fin, fout = conv_fans(shape)
    n = fin if mode == "fan_in" else fout
    for fn in (I.he_normal, I.he_uniform):
        sample = draw_many(lambda s: fn(s, mode=mode), shape)
        assert_variance(sample, 2.0 / n, (fn.__name__, mode))


def test_he_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        I.he_normal((3, 3), mode="in")


@pytest.mark.parametrize("shape", [(300, 200), (16, 32, 3, 3)])
def test_lecun(shape):
    d2l.seed(8)
    fin, _ = conv_fans(shape)
    for fn in (I.lecun_normal, I.lecun_uniform):
        assert_variance(draw_many(fn, shape), 1.0 / fin, fn.__name__)


@pytest.mark.parametrize("shape", [(20, 50), (50, 20), (8, 4, 3, 3)])
def test_orthogonal(shape):
    d2l.seed(9)
    w = I.orthogonal(shape, gain=1.5).asnumpy().astype(onp.float64).reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    assert onp.allclose(gram, 1.5 ** 2 * onp.eye(small), atol=1e-5)


@pytest.mark.parametrize("gain", [0, -1.0])
def test_orthogonal_gain_positive(gain):
    with pytest.raises(ValueError, match="gain"):
        I.orthogonal((4, 4), gain=gain)


def test_variance_scaling_bad_dtype_and_ctx():
    with pytest.raises(ValueError, match="dtype"):
        I.variance_scaling((3, 3), dtype="int32")
    with pytest.raises(TypeError, match="ctx"):
        I.variance_scaling((3, 3), ctx="cpu")


def test_our_xavier_matches_mxnet_xavier_statistics():
    # MXNet's Xavier(uniform, avg, magnitude=3) draws U(-sqrt(3/n_avg), +...), the Glorot
    # uniform; both samples must have the formula's variance.
    d2l.seed(10)
    shape = (256, 512)
    net = gluon.nn.Dense(256, in_units=512)
    net.initialize(mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3))
    theirs = net.weight.data().asnumpy().astype(onp.float64).ravel()
    ours = I.xavier_uniform(shape).asnumpy().astype(onp.float64).ravel()
    var = 2 / (256 + 512)
    assert_variance(theirs, var, "mxnet")
    assert_variance(ours, var, "ours")
    assert abs(onp.abs(theirs).max() - onp.abs(ours).max()) < 1e-4


# ---------------------------------------------------------------- VarianceScaling


def test_variance_scaling_is_an_mxnet_initializer():
    assert isinstance(I.VarianceScaling(), mx.init.Initializer)


@pytest.mark.parametrize("scale,mode,distribution",
                         [(2.0, "fan_in", "normal"), (1.0, "fan_avg", "uniform"),
                          (1.0, "fan_out", "truncated_normal")])
def test_variance_scaling_dense_deferred(scale, mode, distribution):
    d2l.seed(11)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(400, activation="relu"), gluon.nn.Dense(300))
    net.initialize(I.VarianceScaling(scale, mode, distribution))
    net(np.ones((2, 500)))  # deferred initialization happens here
    for layer, (fout, fin) in zip(net, [(400, 500), (300, 400)]):
        w = layer.weight.data().asnumpy().astype(onp.float64).ravel()
        n = {"fan_in": fin, "fan_out": fout, "fan_avg": (fin + fout) / 2}[mode]
        assert_variance(w, scale / n, (scale, mode, distribution))
        assert onp.all(layer.bias.data().asnumpy() == 0)


def test_variance_scaling_conv2d():
    d2l.seed(12)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Conv2D(64, kernel_size=5, in_channels=32), gluon.nn.Conv2D(32, kernel_size=3))
    net.initialize(I.VarianceScaling(2.0, "fan_in", "normal"))
    net(np.ones((1, 32, 12, 12)))
    for layer, fin in zip(net, [32 * 25, 64 * 9]):
        w = layer.weight.data().asnumpy().astype(onp.float64).ravel()
        assert_variance(w, 2.0 / fin, layer.name)
        assert onp.all(layer.bias.data().asnumpy() == 0)


def test_variance_scaling_follows_the_seed():
    def weights():
        d2l.seed(13)
        net = gluon.nn.Dense(8, in_units=4)
        net.initialize(I.VarianceScaling(2.0))
        return net.weight.data().asnumpy()

    assert onp.array_equal(weights(), weights())


@pytest.mark.parametrize("kwargs,name", [({"scale": 0}, "scale"), ({"mode": "avg"}, "mode"),
                                         ({"distribution": "gaussian"}, "distribution")])
def test_variance_scaling_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        I.VarianceScaling(**kwargs)


def test_variance_scaling_rejects_vector_weights():
    init = I.VarianceScaling()
    with pytest.raises(ValueError, match="2 dimensions"):
        init._init_weight("x_weight", np.zeros((5,)))
