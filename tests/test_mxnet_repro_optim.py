"""Minimal reproductions of MXNet 1.9.1 optimizer and scheduler behaviour.

Chapters 4 and 5 state what MXNet 1.9.1 gets wrong (or documents wrongly).
Each test here reproduces one such statement with nothing of ours in the
loop: MXNet's own optimizer or scheduler objects, called the way
``gluon.Trainer`` calls them, in both float32 and float64 where the dtype
could matter. Each test asserts the wrong behaviour exactly, so it fails
(and the chapter text must change) the day MXNet behaves as documented.
"""
import math

import numpy as onp
import pytest

import d2lstab  # noqa: F401  (installs the NumPy 2 compatibility shim before mxnet)
import mxnet as mx
from mxnet import autograd, gluon, init, lr_scheduler, nd

pytestmark = pytest.mark.skipif(not mx.__version__.startswith("1.9."),
                                reason="reproductions pinned to MXNet 1.9.x")

W0 = onp.array([1.0, -2.0, 0.5])
G = onp.array([0.3, 0.1, -0.4])
LR, MU, WD = 0.125, 0.875, 0.5  # exact in float32, so no parsing error


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nag_with_weight_decay_uses_the_updated_weight_in_its_momentum(dtype):
    """mx.optimizer.NAG with wd > 0: the momentum state is built from the new weight.

    Documented: the kernel's own arithmetic when its output is a separate
    array gives state = mu * state - lr * (g + wd * w_old), which, up to the
    factor -lr that MXNet folds into its state, is NAG's docstring
    (state = momentum * state + grad + wd * weight). What 1.9.1 does: NAG calls
    ``nag_mom_update(weight, grad, mom, out=weight, ...)``; the kernel
    (NAGMomKernel in src/operator/optimizer_op-inl.h) first writes the new
    weight into ``out`` and then reads ``weight`` again for the wd term of
    the state, so the state gets -lr * (g + wd * w_new). The weight of this
    first step is the kernel's formula, w - lr * (g + wd * w + mu * v) (the
    docstring's weight line omits the wd * w term); the state, and so every
    later step, is wrong.
    Not our misuse: the optimizer object makes the call itself; the dtype
    of weight, gradient and state agree; rescale_grad is 1; lr, momentum and
    wd are exact in float32.
    """
    opt = mx.optimizer.NAG(learning_rate=LR, momentum=MU, wd=WD)
    w = nd.array(W0, dtype=dtype)
    state = opt.create_state(0, w)
    opt.update(0, w, nd.array(G, dtype=dtype), state)
    w_new, mom = w.asnumpy().astype("float64"), state.asnumpy().astype("float64")

    # The weight is the documented one: w - lr * (g + wd*w + mu * v), v = g + wd*w.
    v = G + WD * W0
    onp.testing.assert_allclose(w_new, W0 - LR * (G + WD * W0 + MU * v), rtol=1e-6)
    # ... which is not the weight line of NAG's docstring, w - lr * (g + mu * v):
    assert onp.abs(w_new - (W0 - LR * (G + MU * v))).max() > 1e-3
    # The state is not -lr * (g + wd * w_old) ...
    assert onp.abs(mom - (-LR * v)).max() > 1e-3
    # ... but exactly -lr * (g + wd * w_new).
    onp.testing.assert_allclose(mom, -LR * (G + WD * w_new), rtol=1e-6)


def test_nag_kernel_state_is_right_when_out_is_a_separate_array():
    """The same kernel call with a separate output array gives the right state,
    which pins the cause on out=weight aliasing, not on the formula."""
    w, mom = nd.array(W0, dtype="float64"), nd.zeros(3, dtype="float64")
    out = nd.zeros(3, dtype="float64")
    nd.nag_mom_update(w, nd.array(G, dtype="float64"), mom, out=out,
                      lr=LR, momentum=MU, wd=WD)
    onp.testing.assert_allclose(mom.asnumpy(), -LR * (G + WD * W0), rtol=1e-12)


def test_nag_without_weight_decay_is_unaffected():
    """With wd = 0 the re-read weight does not enter, and two steps match
    the documented update exactly."""
    opt = mx.optimizer.NAG(learning_rate=LR, momentum=MU)
    w = nd.array(W0, dtype="float64")
    state = opt.create_state(0, w)
    ref_w, ref_v = W0.copy(), onp.zeros(3)
    for _ in range(2):
        opt.update(0, w, nd.array(G, dtype="float64"), state)
        ref_v = MU * ref_v + G
        ref_w = ref_w - LR * (G + MU * ref_v)
    onp.testing.assert_allclose(w.asnumpy(), ref_w, rtol=1e-12)


@pytest.mark.parametrize("name", ["adagrad", "rmsprop"])
def test_adagrad_rmsprop_state_is_float32_for_float64_weights(name):
    """MXNet 1.9.1's AdaGrad and RMSProp cannot train float64 weights.

    Their ``create_state`` calls ``zeros(weight.shape, weight.context,
    stype=weight.stype)`` without ``dtype``, so the state is float32 (MXNet's
    default) whatever the weight's dtype; SGD, NAG and Adam pass
    ``dtype=weight.dtype``. The update then mixes float32 state with the
    float64 weight and gradient and fails with "Incompatible attr". Right
    would be state in the weight's dtype. Not our misuse: the same calls
    with float32 weights work, and ``gluon.Trainer`` fails the same way.
    """
    opt = mx.optimizer.create(name, learning_rate=LR)
    w64 = nd.array(W0, dtype="float64")
    state = opt.create_state(0, w64)
    states = state if isinstance(state, tuple) else (state,)
    assert all(s.dtype == onp.float32 for s in states)
    with pytest.raises(mx.base.MXNetError, match="Incompatible attr"):
        opt.update(0, w64, nd.array(G, dtype="float64"), state)
        nd.waitall()
    w32 = nd.array(W0, dtype="float32")  # the same call in float32 works
    opt.update(0, w32, nd.array(G, dtype="float32"), opt.create_state(0, w32))
    assert onp.isfinite(w32.asnumpy()).all()
    for ok in ("sgd", "nag", "adam"):  # the other optimizers follow the weight
        s = mx.optimizer.create(ok, learning_rate=LR, momentum=MU) if ok != "adam" \
            else mx.optimizer.create(ok, learning_rate=LR)
        st = s.create_state(0, w64)
        st = st if isinstance(st, tuple) else (st,)
        assert all(x.dtype == onp.float64 for x in st)


@pytest.mark.parametrize("name", ["adagrad", "rmsprop"])
def test_float64_adagrad_rmsprop_fail_through_gluon_trainer(name):
    """The same failure through the public path, gluon.Trainer."""
    p = gluon.Parameter("w", shape=(3,), init=init.One(), dtype="float64")
    p.initialize()
    trainer = gluon.Trainer([p], name, {"learning_rate": 0.1})
    with autograd.record():
        loss = (p.data() * p.data()).sum()
    loss.backward()
    with pytest.raises(mx.base.MXNetError, match="Incompatible attr"):
        trainer.step(1)
        nd.waitall()


def rates_applied_by_trainer(scheduler, num_updates):
    """The rate gluon.Trainer applies in each update (loss w, gradient 1, SGD)."""
    w = gluon.Parameter("w", shape=(1,), init=init.Zero(), dtype="float64")
    w.initialize()
    trainer = gluon.Trainer([w], "sgd", {"learning_rate": 1.0,
                                         "lr_scheduler": scheduler})
    rates = []
    for _ in range(num_updates):
        before = float(w.data().asnumpy()[0])
        with autograd.record():
            loss = w.data().sum()
        loss.backward()
        trainer.step(1)
        rates.append(before - float(w.data().asnumpy()[0]))
    return rates


def test_trainer_asks_the_scheduler_with_num_update_from_1():
    """gluon.Trainer (via Optimizer._update_count) increments num_update before
    asking the scheduler, so update k (0 for the first) gets scheduler(k + 1)."""

    class Spy(lr_scheduler.LRScheduler):
        def __init__(self):
            super().__init__(base_lr=1.0)
            self.asked = []

        def __call__(self, num_update):
            self.asked.append(num_update)
            return 1.0

    spy = Spy()
    rates_applied_by_trainer(spy, 4)
    assert sorted(set(spy.asked)) == [1, 2, 3, 4]


def test_factor_scheduler_code_lags_its_docstring_by_one_update():
    """FactorScheduler's docstring: base_lr * factor ** floor(num_update / step).

    Its code lowers the rate only once ``num_update > count + step``, i.e. it
    returns base_lr * factor ** floor((num_update - 1) / step) for
    num_update >= 1. With step=4: num_update 4 gives 1.0 (docstring: 0.5).
    Not our misuse: a fresh scheduler, asked in increasing order from 1, as
    the Optimizer asks it; warm-up off; factor 0.5 exact.
    """
    sched = lr_scheduler.FactorScheduler(step=4, factor=0.5, base_lr=1.0)
    got = [sched(k) for k in range(1, 13)]
    docstring = [0.5 ** math.floor(k / 4) for k in range(1, 13)]
    code = [0.5 ** math.floor((k - 1) / 4) for k in range(1, 13)]
    assert got == code
    assert got != docstring
    assert got[3] == 1.0 and docstring[3] == 0.5  # num_update = step
    # Through gluon.Trainer (which asks at k + 1) the two off-by-ones cancel:
    # update k (from 0) gets factor ** floor(k / step).
    applied = rates_applied_by_trainer(
        lr_scheduler.FactorScheduler(step=4, factor=0.5, base_lr=1.0), 10)
    assert applied == [0.5 ** (k // 4) for k in range(10)]


def test_multifactor_scheduler_code_lags_its_docstring_by_one_update():
    """MultiFactorScheduler's docstring: if step[k] <= num_update <
    step[k+1], the rate is base_lr * factor ** (k + 1). Its code cuts only
    once ``num_update > step[k]``: at num_update == step[0] it still returns
    base_lr."""
    sched = lr_scheduler.MultiFactorScheduler(step=[3, 6], factor=0.5,
                                              base_lr=1.0)
    got = [sched(k) for k in range(1, 9)]
    assert got == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    docstring = [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert got != docstring
