"""How fast are d2lstab's from-scratch optimizers? (Run by hand; not a test.)

    python benchmarks/bench_optim.py [--repeats 30]

Prints, from one run on this machine:

1. the time of one ``step()`` of each ``d2lstab.optim`` optimizer on an MLP
   of about 1.1 million parameters (64-1024-1024-10), against MXNet's fused
   update kernel for the same rule applied to the same arrays (``sgd_update``,
   ``sgd_mom_update``, ``nag_mom_update``, ``rmsprop_update``,
   ``adam_update``; AdaGrad has no dense fused kernel in MXNet 1.9.1, so its
   reference is ``mx.optimizer.AdaGrad``'s own update), and against a full
   ``gluon.Trainer.step``;
2. the time per epoch of ``d2lstab.train.fit`` on the digits with our Adam
   (readable and fused) and with ``gluon.Trainer('adam')``.

Every timing waits for MXNet's asynchronous engine (``npx.waitall()``), and
reports the median over ``--repeats`` blocks. Takes about a minute.
"""
import argparse
import statistics
import time

import d2lstab as d2l
from d2lstab import optim
import mxnet as mx
from mxnet import autograd, gluon, np, npx


def make_net():
    d2l.seed(0)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(1024, activation="relu"), gluon.nn.Dense(1024, activation="relu"),
            gluon.nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net(np.zeros((1, 64)))
    return net


def fill_grads(net):
    """Gradients of one real minibatch, so the adaptive rules see realistic magnitudes."""
    X = np.random.uniform(size=(64, 64))
    y = np.random.randint(0, 10, size=(64,))
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y).mean()
    loss.backward()


def median_ms(fn, repeats, inner=5):
    for _ in range(3):
        fn()
    npx.waitall()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for _ in range(inner):
            fn()
        npx.waitall()
        times.append((time.perf_counter() - tic) / inner * 1e3)
    return statistics.median(times)


def fused_kernel(name, arrays, hyper):
    """One pass of MXNet's fused kernel ``name`` over every (weight, grad) pair."""
    nd = [(w.as_nd_ndarray(), g.as_nd_ndarray()) for w, g in arrays]
    states = [tuple(mx.nd.zeros(w.shape) for _ in range({"sgd_update": 0, "sgd_mom_update": 1,
                                                          "nag_mom_update": 1, "rmsprop_update": 1,
                                                          "adam_update": 2}[name])) for w, _ in nd]
    op = getattr(mx.nd, name)

    def run():
        for (w, g), s in zip(nd, states):
            op(w, g, *s, out=w, **hyper)
    return run


def python_updater(optimizer, arrays):
    """MXNet's optimizer object applied the way Trainer applies it (for AdaGrad: Python ops)."""
    updater = mx.optimizer.get_updater(optimizer)
    nd = [(w.as_nd_ndarray(), g.as_nd_ndarray()) for w, g in arrays]

    def run():
        for i, (w, g) in enumerate(nd):
            updater(i, g, w)
    return run


def trainer_step(net, name, hyper):
    """A full gluon.Trainer.step (kvstore bookkeeping, scheduler, fused kernels)."""
    trainer = gluon.Trainer(net.collect_params(), name, hyper)
    data = [p.data() for p in net.collect_params().values()]

    def run():
        for d in data:  # Trainer skips "stale" gradients; we re-use one backward pass
            d._fresh_grad = True
        trainer.step(1)
    return run


def bench_steps(repeats):
    net = make_net()
    params = list(net.collect_params().values())
    n_params = sum(p.data().size for p in params)
    fill_grads(net)
    arrays = [(p.data(), p.grad()) for p in params]
    lr = 1e-4  # small, so hundreds of timed updates leave the weights sane
    cases = [
        ("SGD", optim.SGD(params, lr=lr), fused_kernel("sgd_update", arrays, dict(lr=lr)),
         ("sgd", dict(learning_rate=lr))),
        ("SGD momentum", optim.SGD(params, lr=lr, momentum=0.9),
         fused_kernel("sgd_mom_update", arrays, dict(lr=lr, momentum=0.9)),
         ("sgd", dict(learning_rate=lr, momentum=0.9))),
        ("SGD Nesterov", optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
         fused_kernel("nag_mom_update", arrays, dict(lr=lr, momentum=0.9)),
         ("nag", dict(learning_rate=lr, momentum=0.9))),
        ("AdaGrad", optim.AdaGrad(params, lr=lr),
         python_updater(mx.optimizer.AdaGrad(learning_rate=lr), arrays),
         ("adagrad", dict(learning_rate=lr))),
        ("RMSProp", optim.RMSProp(params, lr=lr),
         fused_kernel("rmsprop_update", arrays, dict(lr=lr, gamma1=0.9, epsilon=1e-8)),
         ("rmsprop", dict(learning_rate=lr))),
        ("RMSProp Nesterov", optim.RMSProp(params, lr=lr, momentum=0.9, nesterov=True),
         fused_kernel("rmsprop_update", arrays, dict(lr=lr, gamma1=0.9, epsilon=1e-8)),
         ("rmsprop", dict(learning_rate=lr))),
        ("Adam", optim.Adam(params, lr=lr),
         fused_kernel("adam_update", arrays, dict(lr=lr)), ("adam", dict(learning_rate=lr))),
        ("Adam fused=True", optim.Adam(params, lr=lr, fused=True),
         fused_kernel("adam_update", arrays, dict(lr=lr)), ("adam", dict(learning_rate=lr))),
    ]
    print(f"1. One step() on an MLP 64-1024-1024-10 ({n_params:,} parameters in {len(params)} arrays),"
          f" median of {repeats} blocks")
    print(f"{'optimizer':<18} {'ours ms':>8} {'MXNet kernel ms':>16} {'ratio':>6} {'Trainer.step ms':>16} {'ratio':>6}")
    results = {}
    for name, ours, kernel, (tname, thyper) in cases:
        t_ours = median_ms(ours.step, repeats)
        t_kernel = median_ms(kernel, repeats)
        t_trainer = median_ms(trainer_step(net, tname, thyper), repeats)
        results[name] = (t_ours, t_kernel, t_trainer)
        note = " (MXNet: Python ops)" if name == "AdaGrad" else (
            " (MXNet: plain rmsprop_update)" if name == "RMSProp Nesterov" else "")
        print(f"{name:<18} {t_ours:8.2f} {t_kernel:16.2f} {t_ours / t_kernel:6.2f} "
              f"{t_trainer:16.2f} {t_ours / t_trainer:6.2f}{note}")
    return results


def bench_fit(epochs=3):
    train_iter, test_iter = d2l.data.load_digits(batch_size=64)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    print(f"\n2. fit on the digits ({len(train_iter)} updates per epoch, same MLP), "
          f"median seconds per epoch over {epochs} epochs")
    setups = [
        ("ours Adam", lambda net: optim.Adam(net.collect_params().values(), lr=1e-3)),
        ("ours Adam fused=True", lambda net: optim.Adam(net.collect_params().values(), lr=1e-3, fused=True)),
        ("gluon.Trainer adam", lambda net: gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})),
    ]
    times = {}
    for name, make in setups:
        net = make_net()
        history = d2l.train.fit(net, train_iter, test_iter, loss, make(net), epochs, progress=False)
        times[name] = statistics.median(history.epoch_time)
        print(f"{name:<22} {times[name]:.3f} s/epoch   test acc {history.test_acc[-1]:.3f}")
    base = times["gluon.Trainer adam"]
    for name in times:
        print(f"{name:<22} {times[name] / base:.2f}x the Trainer's epoch time")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    tic = time.perf_counter()
    bench_steps(args.repeats)
    bench_fit()
    print(f"\n(total {time.perf_counter() - tic:.0f} s; MXNet {mx.__version__}, "
          f"{mx.context.num_gpus() if hasattr(mx.context, 'num_gpus') else 0} GPUs)")


if __name__ == "__main__":
    main()
