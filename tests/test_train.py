"""Tests of d2lstab.train: fit, History, callbacks, progress, evaluation."""
import nbformat
import numpy as onp
import pytest

import d2lstab as d2l
from d2lstab import train
from mxnet import autograd, gluon, init, np


def _net(seed=0):
    d2l.seed(seed)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(10))
    net.initialize(init.Xavier())
    return net


LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


class PlainSGD:
    """A minimal optimizer with the d2lstab.optim protocol (step / zero_grad)."""

    def __init__(self, params, lr):
        self.params, self.lr, self.steps, self.zeroed = list(params), lr, 0, 0

    def step(self):
        for p in self.params:
            p.data()[:] -= self.lr * p.grad()
        self.steps += 1

    def zero_grad(self):
        for p in self.params:
            p.grad()[:] = 0
        self.zeroed += 1


def test_fit_learns_digits_and_records_history():
    net = _net()
    train_iter, test_iter = d2l.data.load_digits(64)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    h = d2l.train.fit(net, train_iter, test_iter, LOSS, trainer, 4, progress=False)
    assert len(h) == 4 and h.stopped_epoch == 4
    assert all(len(v) == 4 for v in (h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.epoch_time))
    assert h.train_loss[-1] < h.train_loss[0] / 2
    assert h.test_acc[-1] > 0.85
    # the recorded test numbers are what the evaluation functions give
    assert h.test_acc[-1] == pytest.approx(d2l.train.evaluate_accuracy(net, test_iter))
    assert h.test_loss[-1] == pytest.approx(d2l.train.evaluate_loss(net, test_iter, LOSS), rel=1e-5)
    assert "4 epochs" in repr(h)


def test_fit_same_result_with_trainer_or_from_scratch_optimizer():
    """Gluon's sgd (sum of losses, step(batch_size)) equals plain SGD on the mean loss."""
    results = []
    for make in (lambda net: gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.3}),
                 lambda net: PlainSGD(net.collect_params().values(), 0.3)):
        net = _net(1)
        d2l.seed(5)
        train_iter, test_iter = d2l.data.load_digits(128)
        d2l.train.fit(net, train_iter, test_iter, LOSS, make(net), 2, progress=False)
        results.append([p.data().asnumpy() for p in net.collect_params().values()])
    for a, b in zip(*results):
        assert onp.abs(a - b).max() < 1e-5


def test_fit_calls_step_and_zero_grad_once_per_batch():
    net = _net()
    train_iter, test_iter = d2l.data.load_digits(256)
    opt = PlainSGD(net.collect_params().values(), 0.1)
    d2l.train.fit(net, train_iter, test_iter, LOSS, opt, 2, progress=False)
    batches = len(list(train_iter))
    assert opt.steps == opt.zeroed == 2 * batches


def test_evaluate_accuracy_by_hand():
    class Fixed(gluon.nn.Block):
        def forward(self, X):
            return X  # the features are the scores
    X = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 1, 1])
    loader = d2l.data.load_array(X, y, 3, shuffle=False)
    assert d2l.train.evaluate_accuracy(Fixed(), loader) == pytest.approx(3 / 4)
    # binary logits: one column, > 0 means class 1
    assert train.accuracy(np.array([[0.5], [-1.0], [2.0]]), np.array([1, 0, 0])) == 2.0


class StopAt(train.Callback):
    def __init__(self, epoch):
        self.epoch, self.seen, self.began, self.ended = epoch, [], False, False

    def on_train_begin(self, net, history):
        self.began = True

    def on_epoch_end(self, epoch, net, history):
        self.seen.append((epoch, len(history)))
        return epoch >= self.epoch

    def on_train_end(self, net, history):
        self.ended = True


def test_callbacks_can_stop():
    net = _net()
    train_iter, test_iter = d2l.data.load_digits(256)
    cb = StopAt(2)
    h = d2l.train.fit(net, train_iter, test_iter, LOSS,
                      gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), 10,
                      callbacks=[cb], progress=False)
    assert cb.began and cb.ended
    assert cb.seen == [(1, 1), (2, 2)]
    assert h.stopped_epoch == 2 and len(h) == 2


def test_terminal_progress_prints_a_line_per_epoch(capsys):
    net = _net()
    train_iter, test_iter = d2l.data.load_digits(256)
    d2l.train.fit(net, train_iter, test_iter, LOSS,
                  gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), 3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [l.split(":")[0] for l in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "test acc" in lines[-1]
    d2l.train.fit(net, train_iter, test_iter, LOSS,
                  gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), 2, progress=False)
    assert capsys.readouterr().out == ""


def test_notebook_progress_is_stable_under_nbval(tmp_path):
    """In a kernel, fit leaves an empty live slot, the final figure and a summary;
    the stored notebook then passes nbval (the live frames never reach it)."""
    import subprocess
    import sys

    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%matplotlib inline\nimport d2lstab as d2l\nfrom mxnet import gluon, init\nd2l.seed(0)\nd2l.use_svg_display()"),
        nbformat.v4.new_code_cell(
            "net = gluon.nn.Sequential(); net.add(gluon.nn.Dense(10)); net.initialize(init.Xavier())\n"
            "tr, te = d2l.data.load_digits(256)\n"
            "h = d2l.train.fit(net, tr, te, gluon.loss.SoftmaxCrossEntropyLoss(),\n"
            "                  gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5}), 3)"),
    ]
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outs = nb.cells[1].outputs
    assert [o.output_type for o in outs] == ["display_data", "display_data", "stream"]
    assert outs[0].data["text/html"] == ""
    assert "image/svg+xml" in outs[1].data
    assert outs[2].text.startswith("train loss ")
    path = tmp_path / "progress.ipynb"
    nbformat.write(nb, path)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                             "--nbval", "--nbval-current-env", str(path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("change, exc, name", [
    ({"net": None}, TypeError, "net"),
    ({"train_iter": 3}, TypeError, "train_iter"),
    ({"loss": "mse"}, TypeError, "loss"),
    ({"trainer": object()}, TypeError, "trainer"),
    ({"num_epochs": 0}, ValueError, "num_epochs"),
    ({"num_epochs": 1.0}, TypeError, "num_epochs"),
    ({"callbacks": [object()]}, TypeError, "callbacks"),
    ({"callbacks": 5}, TypeError, "callbacks"),
    ({"progress": "yes"}, TypeError, "progress"),
])
def test_fit_rejects(change, exc, name):
    net = _net()
    train_iter, test_iter = d2l.data.load_digits(256)
    args = dict(net=net, train_iter=train_iter, test_iter=test_iter, loss=LOSS,
                trainer=gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), num_epochs=1)
    args.update(change)
    with pytest.raises(exc, match=name):
        d2l.train.fit(**args)


def test_evaluate_rejects_empty():
    with pytest.raises(ValueError, match="no examples"):
        d2l.train.evaluate_accuracy(_net(), [])
    with pytest.raises(TypeError, match="data_iter"):
        d2l.train.evaluate_accuracy(_net(), 5)


# --- fit runs a hybridized net and a Gluon loss as one graph, with the same numbers ---

def _hybrid_net(kind, seed=0, warm_up=True):
    d2l.seed(seed)
    net = gluon.nn.HybridSequential()
    if kind == "dropout":
        net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dropout(0.3), gluon.nn.Dense(10))
    else:  # batch norm: running statistics are state the graph must update the same way
        net.add(gluon.nn.Dense(32), gluon.nn.BatchNorm(), gluon.nn.Activation("relu"), gluon.nn.Dense(10))
    net.initialize(init.Xavier())
    net.hybridize()
    if warm_up:
        net(np.zeros((1, 64)))
    return net


def _fit_run(kind, trainer_kind, fuse, monkeypatch, warm_up=True):
    net = _hybrid_net(kind, warm_up=warm_up)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    if trainer_kind == "gluon":
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.3})
    else:
        trainer = PlainSGD([p for p in net.collect_params().values() if p.grad_req != "null"], 0.3)
    fused = []
    real = train._net_and_loss
    monkeypatch.setattr(train, "_net_and_loss", lambda *a: fused.append(1) or real(*a))
    if not fuse:
        monkeypatch.setattr(train, "_fusable", lambda net, loss: False)
    d2l.seed(7)
    train_iter, test_iter = d2l.data.load_digits(100)
    h = d2l.train.fit(net, train_iter, test_iter, loss, trainer, 3, progress=False)
    monkeypatch.undo()
    params = [p.data().asnumpy() for p in net.collect_params().values()]  # names differ per net
    return h, params, len(fused), net, loss


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
@pytest.mark.parametrize("trainer_kind", ["gluon", "from scratch"])
def test_fit_fuses_net_and_loss_without_changing_a_number(kind, trainer_kind, monkeypatch):
    h1, p1, fused1, net, loss = _fit_run(kind, trainer_kind, True, monkeypatch)
    h2, p2, fused2, _, _ = _fit_run(kind, trainer_kind, False, monkeypatch)
    assert (fused1, fused2) == (1, 0)
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert getattr(h1, key) == getattr(h2, key), key  # exactly, not approximately
    assert len(p1) == len(p2) and all(onp.array_equal(a, b) for a, b in zip(p1, p2))  # and BN's running stats
    # neither block was changed: the loss is still imperative, the net keeps its own graph and flags
    assert not loss._active and net._active and net._flags == _hybrid_net(kind)._flags
    assert net(np.zeros((2, 64))).shape == (2, 10)


def test_fit_fuses_a_net_whose_parameters_are_not_yet_shaped(monkeypatch):
    h1, p1, fused, _, _ = _fit_run("dropout", "gluon", True, monkeypatch, warm_up=False)
    h2, p2, _, _, _ = _fit_run("dropout", "gluon", False, monkeypatch, warm_up=False)
    assert fused == 1 and h1.train_loss == h2.train_loss and h1.test_acc == h2.test_acc
    assert len(p1) == len(p2) and all(onp.array_equal(a, b) for a, b in zip(p1, p2))


def test_fit_does_not_fuse_what_a_graph_would_change():
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    hybrid = _hybrid_net("dropout")
    assert train._fusable(hybrid, loss)
    assert not train._fusable(_net(), loss)  # a Block, run imperatively
    assert not train._fusable(_hybrid_net("dropout").__class__(), loss)  # a HybridBlock never hybridized
    assert not train._fusable(hybrid, lambda y_hat, y: loss(y_hat, y))  # a loss that is a function
    calls = []
    hybrid.register_forward_hook(lambda block, inputs, output: calls.append(type(output).__name__))
    assert not train._fusable(hybrid, loss)  # inside a graph the hook would run once, on symbols
    train_iter, test_iter = d2l.data.load_digits(256)
    d2l.train.fit(hybrid, train_iter, test_iter, loss,
                  gluon.Trainer(hybrid.collect_params(), "sgd", {"learning_rate": 0.1}), 2, progress=False)
    assert len(calls) == 2 * (len(train_iter) + len(test_iter)) and set(calls) == {"ndarray"}


class _RecordingLoss(gluon.loss.SoftmaxCrossEntropyLoss):
    """Records whether each call got symbols (inside a graph) or arrays (one call per minibatch)."""

    def __init__(self):
        super().__init__()
        self.symbolic = []

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        import mxnet as mx

        self.symbolic.append(isinstance(pred, mx.sym.Symbol))
        return super().hybrid_forward(F, pred, label, sample_weight)


@pytest.mark.parametrize("hybridized", [True, False])
def test_fit_runs_the_loss_inside_a_hybridized_nets_graph(hybridized):
    net = _hybrid_net("dropout") if hybridized else _net()
    loss = _RecordingLoss()
    train_iter, test_iter = d2l.data.load_digits(256)
    d2l.train.fit(net, train_iter, test_iter, loss,
                  gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}), 2, progress=False)
    if hybridized:  # traced into the graph once, then never called from Python again
        assert loss.symbolic == [True]
    else:
        assert loss.symbolic == [False] * (2 * (len(train_iter) + len(test_iter)))
