"""d2lstab.optim against hand-computed NumPy float64 references.

Each optimizer runs three updates on float64 arrays whose gradients we set by
hand, and is compared with the same formulas written out in NumPy float64
(so the tolerance is float64 round-off, 1e-12 relative). The fused Adam path
goes through MXNet's kernel, which parses its hyper-parameters as float32, so
it is held to 1e-6 relative (float32 has 24 bits, about 6e-8, and a few
such roundings add up).
"""
import math

import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import optim
from mxnet import autograd, gluon, np

P0 = onp.array([1.0, -2.0, 0.5, 3.0])
GRADS = [onp.array([0.3, -0.1, 0.8, -1.2]),
         onp.array([-0.5, 0.2, 0.1, 0.7]),
         onp.array([0.05, -0.9, 0.4, 0.3])]
RTOL = 1e-12


def make_param():
    p = np.array(P0, dtype="float64")
    p.attach_grad()
    return p


def run(opt, p, grads=GRADS):
    """Set each gradient by hand, step, and record the parameter after each update."""
    out = []
    for g in grads:
        p.grad[:] = np.array(g, dtype="float64")
        opt.step()
        out.append(p.asnumpy().copy())
    return out


# ---------------------------------------------------------------- references
def ref_sgd(lr, momentum=0.0, nesterov=False, wd=0.0):
    p, v, out = P0.copy(), onp.zeros_like(P0), []
    for g in GRADS:
        g = g + wd * p
        if momentum:
            v = momentum * v + g
            p = p - lr * ((g + momentum * v) if nesterov else v)
        else:
            p = p - lr * g
        out.append(p.copy())
    return out


def ref_adagrad(lr, eps, init, wd=0.0):
    p, s, out = P0.copy(), onp.full_like(P0, init), []
    for g in GRADS:
        g = g + wd * p
        s = s + g * g
        p = p - lr * g / (onp.sqrt(s) + eps)
        out.append(p.copy())
    return out


def ref_rmsprop(lr, rho, eps, momentum=0.0, nesterov=False, wd=0.0):
    p, s, b, out = P0.copy(), onp.zeros_like(P0), onp.zeros_like(P0), []
    for g in GRADS:
        g = g + wd * p
        s = rho * s + (1 - rho) * g * g
        u = g / (onp.sqrt(s) + eps)
        if momentum:
            b = momentum * b + u
            p = p - lr * ((u + momentum * b) if nesterov else b)
        else:
            p = p - lr * u
        out.append(p.copy())
    return out


def ref_adam(lr, b1, b2, eps, wd=0.0):
    p, m, v, out = P0.copy(), onp.zeros_like(P0), onp.zeros_like(P0), []
    for t, g in enumerate(GRADS, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (onp.sqrt(v_hat) + eps)
        out.append(p.copy())
    return out


def assert_steps(ours, ref, rtol=RTOL):
    assert len(ours) == len(ref)
    for k, (a, b) in enumerate(zip(ours, ref)):
        onp.testing.assert_allclose(a, b, rtol=rtol, atol=0, err_msg=f"after update {k + 1}")


# ---------------------------------------------------------------- three-step references
@pytest.mark.parametrize("momentum,nesterov,wd", [
    (0.0, False, 0.0), (0.0, False, 0.1), (0.9, False, 0.0), (0.9, False, 0.1),
    (0.9, True, 0.0), (0.5, True, 0.1)])
def test_sgd_three_steps(momentum, nesterov, wd):
    p = make_param()
    opt = optim.SGD([p], lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd)
    assert_steps(run(opt, p), ref_sgd(0.1, momentum, nesterov, wd))
    assert opt.t == 3


@pytest.mark.parametrize("init,wd", [(0.0, 0.0), (0.1, 0.0), (0.1, 0.2)])
def test_adagrad_three_steps(init, wd):
    p = make_param()
    opt = optim.AdaGrad([p], lr=0.3, eps=1e-6, initial_accumulator_value=init, weight_decay=wd)
    assert_steps(run(opt, p), ref_adagrad(0.3, 1e-6, init, wd))


@pytest.mark.parametrize("momentum,nesterov,wd", [
    (0.0, False, 0.0), (0.0, False, 0.1), (0.9, False, 0.0), (0.9, True, 0.0), (0.8, True, 0.1)])
def test_rmsprop_three_steps(momentum, nesterov, wd):
    p = make_param()
    opt = optim.RMSProp([p], lr=0.05, rho=0.8, eps=1e-3, momentum=momentum, nesterov=nesterov,
                        weight_decay=wd)
    assert_steps(run(opt, p), ref_rmsprop(0.05, 0.8, 1e-3, momentum, nesterov, wd))


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_three_steps(wd, fused):
    # eps = 0.1 is large on purpose: it makes eps's placement visible in the result
    p = make_param()
    opt = optim.Adam([p], lr=0.01, beta1=0.8, beta2=0.9, eps=0.1, weight_decay=wd, fused=fused)
    assert_steps(run(opt, p), ref_adam(0.01, 0.8, 0.9, 0.1, wd), rtol=1e-6 if fused else RTOL)


def test_adam_fused_float32_matches_readable():
    rng = onp.random.default_rng(0)
    p0 = rng.normal(size=(50, 20)).astype("float32")
    grads = [rng.normal(size=(50, 20)).astype("float32") for _ in range(5)]
    results = []
    for fused in (False, True):
        p = np.array(p0)
        p.attach_grad()
        opt = optim.Adam([p], lr=0.01, weight_decay=0.01, fused=fused)
        for g in grads:
            p.grad[:] = np.array(g)
            opt.step()
        results.append(p.asnumpy())
    # the kernel reads beta2 = 0.999 as float32 (1 - beta2 off by 1.3e-5 relative), so each
    # update of size <= lr = 0.01 may differ by ~1e-7; 5 updates stay below 1e-6
    onp.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- the seeds' scalar examples, by hand
def scalar_var():
    var = np.array([1.0], dtype="float64")
    var.attach_grad()
    return var


def minimize(opt, var):
    """One update on loss var**2 / 2 (gradient = var), via autograd."""
    with autograd.record():
        loss = (var ** 2 / 2).sum()
    loss.backward()
    opt.step()
    opt.zero_grad()
    return float(var[0])


def test_seed_examples_by_hand():
    var = scalar_var()
    assert minimize(optim.SGD([var], lr=0.1), var) == pytest.approx(0.9, abs=1e-15)
    var = scalar_var()
    opt = optim.SGD([var], lr=0.1, momentum=0.9)
    v1 = minimize(opt, var)
    v2 = minimize(opt, var)
    # step sizes 0.1 then 0.1 * (0.9 * 1 + 0.9) = 0.18
    assert (1 - v1, v1 - v2) == (pytest.approx(0.1, abs=1e-15), pytest.approx(0.18, abs=1e-15))
    var = scalar_var()
    opt = optim.AdaGrad([var], lr=0.1, initial_accumulator_value=0.1, eps=1e-7)
    assert minimize(opt, var) == pytest.approx(1 - 0.1 / (math.sqrt(1.1) + 1e-7), abs=1e-15)
    var = scalar_var()
    # s = 0.1 * 1, so the step is 0.1 / sqrt(0.1) = sqrt(0.1)
    assert minimize(optim.RMSProp([var], lr=0.1, eps=1e-7), var) == pytest.approx(
        1 - 0.1 / (math.sqrt(0.1) + 1e-7), abs=1e-15)
    var = scalar_var()
    # bias correction makes m_hat = g and v_hat = g**2 at t = 1: the step is lr * 1 / (1 + eps)
    assert minimize(optim.Adam([var], lr=0.1), var) == pytest.approx(1 - 0.1 / (1 + 1e-8), abs=1e-15)


# ---------------------------------------------------------------- lr, lr_schedule, zero_grad
def test_lr_schedule_is_called_with_updates_done_and_its_value_used():
    p = make_param()
    calls = []
    rates = [0.1, 0.02, 0.3]

    def schedule(step):
        calls.append(step)
        return rates[step]

    opt = optim.SGD([p], lr=5.0, lr_schedule=schedule)
    got = run(opt, p)
    expected, q = [], P0.copy()
    for lr, g in zip(rates, GRADS):
        q = q - lr * g
        expected.append(q.copy())
    assert calls == [0, 1, 2]
    assert_steps(got, expected)
    assert opt.lr == 0.3


def test_schedules_module_drives_step():
    from d2lstab import schedules

    p = make_param()
    sched = schedules.piecewise_constant([0, 1], [0.5, 0.25, 0.125])
    opt = optim.SGD([p], lr=1.0, lr_schedule=sched)
    got = run(opt, p)
    q, expected = P0.copy(), []
    for lr, g in zip([0.5, 0.25, 0.125], GRADS):
        q = q - lr * g
        expected.append(q.copy())
    assert_steps(got, expected)


def test_lr_is_settable_between_steps():
    p = make_param()
    opt = optim.SGD([p], lr=0.1)
    p.grad[:] = np.array(GRADS[0])
    opt.step()
    opt.lr = 0.5
    p.grad[:] = np.array(GRADS[1])
    opt.step()
    onp.testing.assert_allclose(p.asnumpy(), P0 - 0.1 * GRADS[0] - 0.5 * GRADS[1], rtol=RTOL)


def test_zero_grad_zeroes_every_gradient():
    a, b = make_param(), make_param()
    a.grad[:] = 1.0
    b.grad[:] = 2.0
    optim.Adam([a, b]).zero_grad()
    assert float(np.abs(a.grad).sum()) == 0 and float(np.abs(b.grad).sum()) == 0


# ---------------------------------------------------------------- Gluon Parameters
def dense_net(dtype="float64"):
    d2l.seed(1)
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    net.cast(dtype)
    return net


def backward(net, X):
    with autograd.record():
        loss = (net(X) ** 2).mean()
    loss.backward()


@pytest.mark.parametrize("as_dict", [False, True])
def test_gluon_parameters_are_updated_in_place(as_dict):
    net = dense_net()
    X = np.array(onp.arange(8.0).reshape(2, 4) / 8, dtype="float64")
    params = net.collect_params() if as_dict else list(net.collect_params().values())
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    w0, b0 = net.weight.data().asnumpy().copy(), net.bias.data().asnumpy().copy()
    backward(net, X)
    gw, gb = net.weight.grad().asnumpy().copy(), net.bias.grad().asnumpy().copy()
    opt.step()
    onp.testing.assert_allclose(net.weight.data().asnumpy(), w0 - 0.1 * gw, rtol=RTOL)
    onp.testing.assert_allclose(net.bias.data().asnumpy(), b0 - 0.1 * gb, rtol=RTOL)
    opt.zero_grad()
    assert float(np.abs(net.weight.grad()).sum()) == 0


def test_gluon_parameters_survive_reinitialization():
    net = dense_net("float32")  # MXNet's initializers cannot re-initialize float64 arrays
    X = np.ones((2, 4))
    opt = optim.SGD(net.collect_params().values(), lr=0.1)
    backward(net, X)
    opt.step()
    net.initialize(force_reinit=True)  # new arrays behind the same Parameters
    w0 = net.weight.data().asnumpy().copy()
    backward(net, X)
    gw = net.weight.grad().asnumpy().copy()
    opt.step()
    # float32 arithmetic against a float64 reference: a few ulps (6e-8 each)
    onp.testing.assert_allclose(net.weight.data().asnumpy(), w0 - 0.1 * gw, rtol=1e-6)


def test_matches_gluon_trainer_sgd_momentum_and_adam():
    """Ours and MXNet's built-ins through gluon.Trainer on the same net and data."""
    X = np.array(onp.linspace(-1, 1, 24).reshape(6, 4), dtype="float64")
    for ours_cls, kwargs, name, mx_kwargs in [
            (optim.SGD, dict(lr=0.1, momentum=0.9), "sgd", dict(learning_rate=0.1, momentum=0.9)),
            # betas exact in float32 (MXNet parses them as float32: 0.999 would become
            # 0.99900001, and 1 - beta2 would be off by 1.3e-5 relative)
            (optim.Adam, dict(lr=0.01, beta1=0.875, beta2=1 - 2**-10, eps=1e-12), "adam",
             dict(learning_rate=0.01, beta1=0.875, beta2=1 - 2**-10, epsilon=1e-12))]:
        nets = [dense_net(), dense_net()]
        ours = ours_cls(nets[0].collect_params().values(), **kwargs)
        theirs = gluon.Trainer(nets[1].collect_params(), name, mx_kwargs)
        for _ in range(5):
            backward(nets[0], X)
            ours.step()
            backward(nets[1], X)
            theirs.step(1)
        # MXNet parses hyper-parameters as float32 (relative 6e-8 each): 1e-6 after 5 updates
        onp.testing.assert_allclose(nets[0].weight.data().asnumpy(), nets[1].weight.data().asnumpy(),
                                    rtol=1e-6, atol=1e-9, err_msg=name)


def test_fit_drives_our_optimizer():
    d2l.seed(0)
    train_iter, test_iter = d2l.data.load_digits(batch_size=64)
    net = gluon.nn.Dense(10)
    net.initialize()
    net(np.zeros((1, 64)))
    opt = optim.Adam(net.collect_params().values(), lr=0.01)
    history = d2l.train.fit(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(),
                            opt, num_epochs=2, progress=False)
    assert opt.t == 2 * len(train_iter)
    # softmax regression on digits from a near-zero start: loss ln(10) = 2.3 at first, far lower after 2 epochs
    assert history.train_loss[1] < history.train_loss[0] < math.log(10)


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("cls", [optim.SGD, optim.AdaGrad, optim.RMSProp, optim.Adam])
def test_negative_lr_rejected(cls):
    with pytest.raises(ValueError, match="lr"):
        cls([make_param()], lr=-0.1)
    opt = cls([make_param()], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    with pytest.raises(TypeError, match="lr"):
        opt.lr = "0.1"


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([make_param()], lr=0.1, momentum=momentum)
    with pytest.raises(ValueError, match="momentum"):
        optim.RMSProp([make_param()], momentum=momentum)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([make_param()], lr=0.1, nesterov=True)


@pytest.mark.parametrize("name,value", [("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.0), ("beta2", 2.0)])
def test_betas_outside_unit_interval(name, value):
    with pytest.raises(ValueError, match=name):
        optim.Adam([make_param()], **{name: value})


def test_rho_outside_unit_interval():
    with pytest.raises(ValueError, match="rho"):
        optim.RMSProp([make_param()], rho=1.0)


@pytest.mark.parametrize("cls", [optim.AdaGrad, optim.RMSProp, optim.Adam])
@pytest.mark.parametrize("eps", [0.0, -1e-8])
def test_eps_must_be_positive(cls, eps):
    with pytest.raises(ValueError, match="eps"):
        cls([make_param()], eps=eps)


def test_negative_weight_decay_and_accumulator():
    with pytest.raises(ValueError, match="weight_decay"):
        optim.SGD([make_param()], lr=0.1, weight_decay=-0.1)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optim.AdaGrad([make_param()], initial_accumulator_value=-1.0)


def test_empty_params():
    with pytest.raises(ValueError, match="params"):
        optim.SGD([], lr=0.1)


def test_param_without_gradient():
    with pytest.raises(ValueError, match="params"):
        optim.Adam([make_param(), np.ones(3)])
    net = gluon.nn.Dense(2, in_units=2)
    net.initialize()
    net.weight.grad_req = "null"
    with pytest.raises(ValueError, match="params"):
        optim.SGD(net.collect_params().values(), lr=0.1)


def test_params_of_wrong_type():
    with pytest.raises(TypeError, match="params"):
        optim.SGD([onp.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="params"):
        optim.SGD(3.0, lr=0.1)


def test_uninitialized_parameters():
    net = gluon.nn.Dense(2)
    net.initialize()  # deferred: shapes unknown until the first forward pass
    with pytest.raises(ValueError, match="params"):
        optim.SGD(net.collect_params().values(), lr=0.1)


def test_bad_lr_schedule():
    with pytest.raises(TypeError, match="lr_schedule"):
        optim.SGD([make_param()], lr=0.1, lr_schedule=0.1)
    p = make_param()
    opt = optim.SGD([p], lr=0.1, lr_schedule=lambda step: -0.5)
    with pytest.raises(ValueError, match="lr_schedule"):
        opt.step()
    onp.testing.assert_array_equal(p.asnumpy(), P0)  # nothing was updated


def test_bad_flags():
    with pytest.raises(TypeError, match="nesterov"):
        optim.SGD([make_param()], lr=0.1, momentum=0.9, nesterov=1)
    with pytest.raises(TypeError, match="fused"):
        optim.Adam([make_param()], fused="yes")
