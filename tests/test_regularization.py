"""Tests of d2lstab.regularization: penalties, dropout, early stopping, max-norm."""
import math

import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import regularization as reg
from d2lstab import train
from mxnet import autograd, gluon, init, np


def _weights(seed=0):
    rng = onp.random.default_rng(seed)
    return [rng.normal(size=(4, 3)), rng.normal(size=(5,)), rng.normal(size=(2, 3, 2, 2))]


# ---------------------------------------------------------------- penalties

def test_l2_penalty_closed_form_and_gradient():
    ws = _weights()
    arrays = [np.array(w, dtype="float64") for w in ws]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        pen = reg.l2_penalty(arrays)
    pen.backward()
    expected = sum((w ** 2).sum() for w in ws) / 2
    assert float(pen) == pytest.approx(expected, rel=1e-12)
    for a, w in zip(arrays, ws):  # d/dw (w^2 / 2) = w: the weight-decay term
        onp.testing.assert_allclose(a.grad.asnumpy(), w, rtol=1e-12)


def test_l1_penalty_closed_form_and_gradient():
    ws = _weights(1)
    arrays = [np.array(w, dtype="float64") for w in ws]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        pen = reg.l1_penalty(arrays)
    pen.backward()
    assert float(pen) == pytest.approx(sum(onp.abs(w).sum() for w in ws), rel=1e-12)
    for a, w in zip(arrays, ws):  # no exact zeros in Gaussian draws, so sign(w) is the gradient
        onp.testing.assert_array_equal(a.grad.asnumpy(), onp.sign(w))


def test_l1_l2_penalty_is_the_weighted_sum():
    ws = _weights(2)
    arrays = [np.array(w, dtype="float64") for w in ws]
    got = float(reg.l1_l2_penalty(arrays, l1=0.3, l2=0.05))
    expected = 0.3 * sum(onp.abs(w).sum() for w in ws) + 0.05 * sum((w ** 2).sum() for w in ws) / 2
    assert got == pytest.approx(expected, rel=1e-12)


def test_penalties_accept_gluon_parameters():
    d2l.seed(0)
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(init.Normal(1.0))
    w = net.weight.data().asnumpy().astype("float64")
    b = net.bias.data().asnumpy().astype("float64")
    assert float(reg.l2_penalty(net.collect_params().values())) == pytest.approx(
        ((w ** 2).sum() + (b ** 2).sum()) / 2, rel=1e-6)
    assert float(reg.l1_penalty(net.weight)) == pytest.approx(onp.abs(w).sum(), rel=1e-6)


def test_penalty_bad_arguments():
    with pytest.raises(ValueError, match="params"):
        reg.l2_penalty([])
    with pytest.raises(TypeError, match="params"):
        reg.l1_penalty([onp.ones(3)])
    with pytest.raises(ValueError, match="l1"):
        reg.l1_l2_penalty([np.ones(3)], l1=-1.0)
    with pytest.raises(ValueError, match="l2"):
        reg.l1_l2_penalty([np.ones(3)], l2=-0.1)


# ---------------------------------------------------------------- dropout

N = 200_000


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_kept_fraction_and_mean_within_sampling_error(p, inverted):
    d2l.seed(0)
    X = np.ones((N,), dtype="float32")
    Y = reg.dropout(X, p, training=True, inverted=inverted).asnumpy()
    kept = (Y != 0).mean()
    # kept ~ Binomial(N, 1-p) / N: standard error sqrt(p(1-p)/N); 5 standard errors
    # make a false failure a 1-in-a-million event.
    se = math.sqrt(p * (1 - p) / N)
    assert abs(kept - (1 - p)) < 5 * se
    # the kept entries are 1/(1-p) (inverted) or 1 (traditional), the others exactly 0
    value = 1 / (1 - p) if inverted else 1.0
    onp.testing.assert_allclose(onp.unique(Y), [0.0, value], rtol=1e-6)
    expected_mean = 1.0 if inverted else 1 - p
    assert abs(Y.mean() - expected_mean) < 5 * se * value


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_expectation_matches_prediction_mode(p):
    """E[training output] equals the prediction-mode output, for both variants."""
    d2l.seed(1)
    x = np.array(onp.linspace(0.5, 2.0, 8), dtype="float32")
    X = np.broadcast_to(x, (50_000, 8))
    for inverted in (True, False):
        train_mean = reg.dropout(X, p, training=True, inverted=inverted).mean(axis=0).asnumpy()
        test_out = reg.dropout(x, p, training=False, inverted=inverted).asnumpy()
        # per column: mean of 50,000 draws of x * Bernoulli(1-p) * scale
        scale = 1 / (1 - p) if inverted else 1.0
        se = x.asnumpy() * scale * math.sqrt(p * (1 - p) / 50_000)
        assert onp.all(onp.abs(train_mean - test_out) < 5 * se)


def test_dropout_prediction_mode_is_exact():
    X = np.array(onp.random.default_rng(0).normal(size=(7, 5)), dtype="float32")
    assert reg.dropout(X, 0.4, training=False) is X  # inverted: the identity
    onp.testing.assert_allclose(reg.dropout(X, 0.4, training=False, inverted=False).asnumpy(),
                                0.6 * X.asnumpy(), rtol=1e-6)


def test_dropout_p0_identity_and_p1_zeros_without_nan():
    X = np.array(onp.random.default_rng(0).normal(size=(6, 4)), dtype="float32")
    for inverted in (True, False):
        onp.testing.assert_array_equal(reg.dropout(X, 0.0, inverted=inverted).asnumpy(), X.asnumpy())
    X.attach_grad()
    with autograd.record():
        Y = reg.dropout(X, 1.0)
    Y.backward()
    assert (Y.asnumpy() == 0).all() and onp.isfinite(Y.asnumpy()).all()
    assert (X.grad.asnumpy() == 0).all()


def test_dropout_gradient_is_the_scaled_mask():
    d2l.seed(2)
    X = np.array(onp.random.default_rng(3).uniform(1, 2, size=(50, 20)), dtype="float32")
    X.attach_grad()
    with autograd.record():
        Y = reg.dropout(X, 0.3)
    Y.backward()
    mask = (Y.asnumpy() != 0) / 0.7
    onp.testing.assert_allclose(X.grad.asnumpy(), mask, rtol=1e-6)


def test_dropout_is_reproducible_with_seed():
    X = np.ones((100,))
    d2l.seed(5)
    a = reg.dropout(X, 0.5).asnumpy()
    d2l.seed(5)
    b = reg.dropout(X, 0.5).asnumpy()
    c = reg.dropout(X, 0.5).asnumpy()
    onp.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_block_follows_autograd_mode():
    d2l.seed(0)
    layer = reg.Dropout(0.5)
    X = np.ones((1000, 10))
    assert (layer(X).asnumpy() == 1).all()  # prediction: identity
    with autograd.record():
        Y = layer(X).asnumpy()
    assert set(onp.unique(Y)) == {0.0, 2.0}
    trad = reg.Dropout(0.5, inverted=False)
    onp.testing.assert_allclose(trad(X).asnumpy(), 0.5)


def test_dropout_bad_arguments():
    X = np.ones((3,))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="p must be in"):
            reg.dropout(X, p)
        with pytest.raises(ValueError, match="p must be in"):
            reg.Dropout(p)
    with pytest.raises(TypeError, match="X"):
        reg.dropout(onp.ones(3), 0.5)
    with pytest.raises(TypeError, match="training"):
        reg.dropout(X, 0.5, training="yes")
    with pytest.raises(TypeError, match="inverted"):
        reg.dropout(X, 0.5, inverted=1)


# ---------------------------------------------------------------- early stopping

class _Hist:
    def __init__(self):
        self.test_loss, self.test_acc, self.train_loss, self.train_acc = [], [], [], []


def _scripted(values, es, key="test_loss"):
    """Drive es by hand: at epoch e the weight is filled with e; returns (net, stop epoch)."""
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    hist = _Hist()
    es.on_train_begin(net, hist)
    stop = None
    for epoch, v in enumerate(values, start=1):
        net.weight.data()[:] = float(epoch)
        net.bias.data()[:] = -float(epoch)
        getattr(hist, key).append(v)
        if es.on_epoch_end(epoch, net, hist):
            stop = epoch
            break
    es.on_train_end(net, hist)
    return net, stop


def test_early_stopping_patience_and_exact_restore():
    es = reg.EarlyStopping(patience=3)
    w = None
    net, stop = _scripted([1.0, 0.8, 0.9, 0.7, 0.75, 0.74, 0.76, 0.1], es)
    w = net.weight.data()
    assert (es.best_epoch, es.best_value, stop, es.stopped_epoch) == (4, 0.7, 7, 7)
    assert es.restored
    assert (w.asnumpy() == 4.0).all() and (net.bias.data().asnumpy() == -4.0).all()
    assert w is net.weight.data()  # restored in place, into the array the caller holds


def test_early_stopping_min_delta_and_no_stop():
    es = reg.EarlyStopping(patience=2, min_delta=0.05)
    _, stop = _scripted([1.0, 0.97, 0.96, 0.5], es)  # 0.97, 0.96 are within min_delta of 1.0
    assert (stop, es.best_epoch) == (3, 1)
    es = reg.EarlyStopping(patience=5)
    net, stop = _scripted([1.0, 0.9, 0.95], es)
    assert stop is None and es.stopped_epoch == 0 and es.best_epoch == 2
    assert (net.weight.data().asnumpy() == 2.0).all()  # restored even without an early stop


def test_early_stopping_mode_max_and_no_restore():
    es = reg.EarlyStopping(patience=1, mode="max", monitor="test_acc")
    _, stop = _scripted([0.5, 0.6, 0.6], es, key="test_acc")  # an equal value is no improvement
    assert (stop, es.best_epoch, es.best_value) == (3, 2, 0.6)
    es = reg.EarlyStopping(patience=1, restore_best=False)
    net, stop = _scripted([0.5, 0.6], es)
    assert stop == 2 and not es.restored and (net.weight.data().asnumpy() == 2.0).all()


def test_early_stopping_nan_is_never_an_improvement():
    es = reg.EarlyStopping(patience=2)
    net, stop = _scripted([1.0, float("nan"), float("nan")], es)
    assert stop == 3 and es.best_epoch == 1 and (net.weight.data().asnumpy() == 1.0).all()


class _Recorder(train.Callback):
    """Copies every parameter after each epoch (runs before EarlyStopping in the list)."""

    def __init__(self):
        self.copies = []

    def on_epoch_end(self, epoch, net, history):
        self.copies.append({k: p.data().asnumpy().copy() for k, p in net.collect_params().items()})
        return False


def test_early_stopping_in_fit_restores_the_best_epochs_parameters():
    d2l.seed(0)
    rng = onp.random.default_rng(0)
    X = rng.normal(size=(40, 10)).astype("float32")
    y = rng.integers(0, 3, size=40).astype("int32")  # random labels: test loss soon rises
    Xt = rng.normal(size=(40, 10)).astype("float32")
    yt = rng.integers(0, 3, size=40).astype("int32")
    train_iter = d2l.data.load_array(X, y, 10)
    test_iter = d2l.data.load_array(Xt, yt, 20, shuffle=False)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(64, activation="relu"), gluon.nn.BatchNorm(), gluon.nn.Dense(3))
    net.initialize(init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    rec, es = _Recorder(), reg.EarlyStopping(patience=3)
    history = train.fit(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(),
                        trainer, 40, callbacks=[rec, es], progress=False)
    best = int(onp.argmin(history.test_loss)) + 1
    assert es.best_epoch == best and es.best_value == history.test_loss[best - 1]
    assert es.stopped_epoch == history.stopped_epoch == best + 3 < 40
    for k, p in net.collect_params().items():  # BN running statistics included
        onp.testing.assert_array_equal(p.data().asnumpy(), rec.copies[best - 1][k])
    assert train.evaluate_loss(net, test_iter, gluon.loss.SoftmaxCrossEntropyLoss()) == pytest.approx(
        history.test_loss[best - 1], rel=1e-6)


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="patience"):
        reg.EarlyStopping(0)
    with pytest.raises(TypeError, match="patience"):
        reg.EarlyStopping(2.5)
    with pytest.raises(ValueError, match="min_delta"):
        reg.EarlyStopping(2, min_delta=-1)
    with pytest.raises(ValueError, match="mode"):
        reg.EarlyStopping(2, mode="median")
    with pytest.raises(ValueError, match="monitor"):
        reg.EarlyStopping(2, monitor="val_loss")
    with pytest.raises(ValueError, match="mode"):
        reg.EarlyStopping(2, monitor="test_acc")  # an accuracy with the default mode='min'
    with pytest.raises(TypeError, match="restore_best"):
        reg.EarlyStopping(2, restore_best="yes")


# ---------------------------------------------------------------- max-norm

def test_max_norm_rows_bounded_untouched_and_parallel():
    rng = onp.random.default_rng(0)
    W0 = rng.normal(size=(50, 20)) * rng.uniform(0.1, 1.0, size=(50, 1))
    W = np.array(W0, dtype="float32")
    before = W.asnumpy().astype("float64")
    norms = onp.linalg.norm(before, axis=1)
    bound = float(onp.median(norms))
    count = reg.max_norm_([W], bound)
    after = W.asnumpy().astype("float64")
    new_norms = onp.linalg.norm(after, axis=1)
    assert count == int((norms > bound).sum()) > 0
    assert (new_norms <= bound * (1 + 1e-6)).all()  # float32 rounding only
    inside = norms <= bound
    onp.testing.assert_array_equal(after[inside], before[inside])
    onp.testing.assert_allclose(new_norms[~inside], bound, rtol=1e-6)
    onp.testing.assert_allclose(after[~inside], before[~inside] * (bound / norms[~inside])[:, None],
                                rtol=1e-6)


def test_max_norm_conv_weights_and_parameters():
    d2l.seed(0)
    net = gluon.nn.Conv2D(8, 3, in_channels=4)
    net.initialize(init.Normal(1.0))
    reg.max_norm_(net.weight, 1.5, axis=(1, 2, 3))
    w = net.weight.data().asnumpy().astype("float64").reshape(8, -1)
    assert (onp.linalg.norm(w, axis=1) <= 1.5 * (1 + 1e-6)).all()


def test_max_norm_bad_arguments():
    W = np.ones((3, 4))
    with pytest.raises(ValueError, match="max_norm"):
        reg.max_norm_([W], 0.0)
    with pytest.raises(ValueError, match="axis"):
        reg.max_norm_([W, np.ones((3,))], 1.0)  # a bias has no axis 1
    with pytest.raises(TypeError, match="axis"):
        reg.max_norm_([W], 1.0, axis="rows")
    with pytest.raises(ValueError, match="params"):
        reg.max_norm_([], 1.0)


# ---------------------------------------------------------------- proximal L1 and AfterStep

def test_soft_threshold_closed_form():
    w0 = onp.array([-2.0, -0.3, 0.0, 0.1, 0.5, 3.0])
    w = np.array(w0)
    zeros = reg.soft_threshold_([w], 0.5)
    onp.testing.assert_allclose(w.asnumpy(), [-1.5, 0.0, 0.0, 0.0, 0.0, 2.5])
    assert zeros == 4
    with pytest.raises(ValueError, match="threshold"):
        reg.soft_threshold_([w], -0.1)


def test_after_step_runs_fn_after_each_update_inside_fit():
    d2l.seed(0)
    rng = onp.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype("float32") * 5
    y = rng.integers(0, 2, size=30).astype("int32")
    it = d2l.data.load_array(X, y, 10)
    net = gluon.nn.Dense(2, in_units=4)
    net.initialize(init.Normal(3.0))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    norms = []

    def project():
        reg.max_norm_([net.weight], 0.5)
        norms.append(float(onp.linalg.norm(net.weight.data().asnumpy(), axis=1).max()))

    wrapped = reg.AfterStep(trainer, project)
    train.fit(net, it, it, gluon.loss.SoftmaxCrossEntropyLoss(), wrapped, 2, progress=False)
    assert wrapped.steps == len(norms) == 6  # 3 minibatches x 2 epochs
    assert max(norms) <= 0.5 * (1 + 1e-6)
    with pytest.raises(TypeError, match="fn"):
        reg.AfterStep(trainer, 3)
    with pytest.raises(TypeError, match="trainer"):
        reg.AfterStep(object(), project)
