"""A training loop that every chapter shares.

``fit`` trains a Gluon network for a few epochs and returns a ``History``.
It accepts either a ``gluon.Trainer`` or one of the from-scratch optimizers
of ``d2lstab.optim`` (anything with ``step()`` and ``zero_grad()``), and
callbacks such as ``d2lstab.regularization.EarlyStopping``.

Progress: in a notebook a live figure of the curves, replaced at the end by
the final figure; in a terminal one line per epoch. The live figure lives in
a display slot that starts and ends empty, so the stored notebook holds the
same outputs whether or not a front end saw the intermediate frames (the
regression tests depend on this).
"""
import math

import numpy as onp

from . import _validate as check

__all__ = ["History", "Callback", "fit", "evaluate_accuracy", "evaluate_loss",
           "accuracy", "in_notebook"]


class History:
    """Per-epoch records of a ``fit`` run.

    ``train_loss`` (mean loss over the epoch's minibatches, in training mode),
    ``train_acc`` (accuracy of those training-mode predictions), ``test_loss``
    and ``test_acc`` (on ``test_iter``, in prediction mode), ``epoch_time``
    (seconds, for benchmarks only) and ``stopped_epoch`` (the number of epochs
    run, fewer than asked when a callback stopped training).
    """

    def __init__(self):
        self.train_loss, self.train_acc = [], []
        self.test_loss, self.test_acc = [], []
        self.epoch_time = []
        self.stopped_epoch = 0

    def __len__(self):
        return len(self.train_loss)

    def last(self):
        """The final epoch's numbers as a dict."""
        return {"train_loss": self.train_loss[-1], "train_acc": self.train_acc[-1],
                "test_loss": self.test_loss[-1], "test_acc": self.test_acc[-1]}

    def __repr__(self):
        if not self:
            return "History(no epochs)"
        last = self.last()
        return (f"History({len(self)} epochs: train loss {last['train_loss']:.3f}, "
                f"train acc {last['train_acc']:.3f}, test acc {last['test_acc']:.3f})")


class Callback:
    """Hooks ``fit`` calls; override what you need.

    ``on_epoch_end`` returns True to stop training after that epoch.
    """

    def on_train_begin(self, net, history):
        pass

    def on_epoch_end(self, epoch, net, history):
        return False

    def on_train_end(self, net, history):
        pass


def in_notebook():
    """True inside a Jupyter kernel (where figures can be shown live)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _check_net(net):
    if not callable(net):
        raise TypeError(f"net must be a callable Gluon Block, got {type(net).__name__}")


def _check_iter(name, data_iter):
    if not hasattr(data_iter, "__iter__"):
        raise TypeError(f"{name} must be an iterable of (X, y) batches, got {type(data_iter).__name__}")


def _predicted(y_hat):
    """Predicted classes, on the device: the argmax of class scores, or logit > 0 for one column."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        return y_hat.argmax(axis=1)
    return y_hat.reshape(-1) > 0


def _flat(a):
    """``a`` as a vector (a reshape costs an MXNet call, so only when needed)."""
    return a if a.ndim == 1 else a.reshape(-1)


def _hits(y_hat, y):
    """Number of correct predictions, as an array on the device (no waiting)."""
    return (_predicted(y_hat).astype(y.dtype) == _flat(y)).sum()


def _join(arrays):
    from mxnet import np

    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def accuracy(y_hat, y):
    """Number of correct predictions (a float).

    ``y_hat`` holds class scores of shape (n, classes), or one logit per row
    (shape (n,) or (n, 1)) for a binary problem, where > 0 means class 1.
    """
    check.array("y_hat", y_hat)
    check.array("y", y)
    if y_hat.ndim == 0 or y_hat.shape[0] != y.size:
        raise ValueError(f"y_hat must have one row per label: y_hat has shape {y_hat.shape}, "
                         f"y has {y.size} labels")
    return float(_hits(y_hat, y))


class _Pass:
    """One pass over a data iterator, read in two steps so Python waits for MXNet
    once: ``add`` keeps each minibatch's results on the device, ``join`` queues
    the epoch's totals (a few operations on the joined minibatches, not one per
    minibatch), ``read`` copies them out and adds them up in NumPy.

    Loss: ``l`` is a minibatch's per-example losses (any shape; all entries are
    added) or one scalar standing for the mean over its ``n`` examples; the
    total is added in float64 (as exact as adding per-minibatch sums) and is nan
    if any loss is not finite. Accuracy: the predictions are made by MXNet, as
    in ``accuracy`` (so ties and nan are decided the same way), and compared
    with the labels in NumPy.
    """

    def __init__(self, name):
        self.name = name
        self.losses, self.outputs, self.count = [], [], 0
        self.joined = None

    def add(self, y_hat, l, y):
        n = y.shape[0]
        if l is not None:
            self.losses.append((l, n))
        self.outputs.append((y_hat, y))
        self.count += n

    def join(self):
        if self.joined is None and self.count:
            self.joined = (_join([_flat(l) for l, _ in self.losses]) if self.losses else None,
                           _predicted(_join([o for o, _ in self.outputs])),
                           _join([_flat(t) for _, t in self.outputs]))
        return self

    def read(self):
        """(mean per-example loss or None, accuracy); this waits for MXNet."""
        if self.count == 0:
            raise ValueError(f"{self.name} yielded no examples")
        losses, pred, y = self.join().joined
        mean_loss = None
        if losses is not None:
            weights = onp.concatenate([onp.full(l.size, 1.0 if l.ndim else n) for l, n in self.losses])
            total = float((losses.asnumpy().astype(onp.float64) * weights).sum())
            mean_loss = (total if math.isfinite(total) else float("nan")) / self.count
        y = y.asnumpy()
        hits = float((pred.asnumpy().astype(y.dtype) == y).sum())
        return mean_loss, hits / self.count


def _fusable(net, loss):
    """Whether ``net`` and ``loss`` can run as one graph with unchanged results:
    the reader hybridized the net, the loss is a HybridBlock, neither has hooks
    of its own (a hook on a block inside a graph would run once, on symbols)."""
    from mxnet import gluon

    blocks = (net, loss)
    return (isinstance(net, gluon.HybridBlock) and getattr(net, "_active", False)
            and isinstance(loss, gluon.HybridBlock)
            and not any(b._forward_hooks or b._forward_pre_hooks for b in blocks))


def _net_and_loss(net, loss):
    """``net`` and ``loss`` as one hybridized block, ``(X, y) -> (y_hat, l)``.

    For a hybridized net, the loss's operators then run inside the net's graph
    instead of one call at a time from Python: the same kernels on the same
    values (``fit``'s results are bit for bit those of calling the net, then the
    loss; tested), with fewer round trips. Neither block is changed: only the
    wrapper is switched to graph mode, with the net's own ``hybridize`` flags
    (``HybridBlock.hybridize`` would also hybridize, and reset, its children).
    """
    from mxnet import gluon

    class NetAndLoss(gluon.HybridBlock):
        def __init__(self):
            super().__init__(prefix="d2lstab_fit_")
            self.net, self.loss = net, loss

        def hybrid_forward(self, F, X, y):
            y_hat = self.net(X)
            return y_hat, self.loss(y_hat, y)

    block = NetAndLoss()
    block._active = True
    block._flags = list(net._flags)
    return block


def _forward(net, loss, fuse=False):
    """A function ``(X, y) -> (y_hat, per-example loss or None)``."""
    if loss is None:
        return lambda X, y: (net(X), None)
    if fuse and _fusable(net, loss):
        return _net_and_loss(net, loss)

    def forward(X, y):
        y_hat = net(X)
        return y_hat, loss(y_hat, y)
    return forward


def _predict(forward, data_iter, name):
    """Run ``forward`` over ``data_iter`` in prediction mode; a joined ``_Pass``, not read yet."""
    results = _Pass(name)
    for X, y in data_iter:
        results.add(*forward(X, y), y)
    return results.join()


def _evaluate(net, data_iter, loss=None):
    """(mean per-example loss or None, accuracy) in one pass, in prediction mode."""
    return _predict(_forward(net, loss), data_iter, "data_iter").read()


def evaluate_accuracy(net, data_iter):
    """Accuracy of ``net`` on ``data_iter`` in prediction mode, in [0, 1]."""
    _check_net(net)
    _check_iter("data_iter", data_iter)
    return _evaluate(net, data_iter)[1]


def evaluate_loss(net, data_iter, loss):
    """Mean per-example ``loss`` of ``net`` on ``data_iter`` in prediction mode."""
    _check_net(net)
    _check_iter("data_iter", data_iter)
    check.callable_("loss", loss)
    return _evaluate(net, data_iter, loss)[0]


def _is_gluon_trainer(trainer):
    from mxnet import gluon

    return isinstance(trainer, gluon.Trainer)


def _check_trainer(trainer):
    if _is_gluon_trainer(trainer):
        return
    if not (callable(getattr(trainer, "step", None)) and callable(getattr(trainer, "zero_grad", None))):
        raise TypeError(
            "trainer must be a gluon.Trainer or a d2lstab.optim optimizer "
            f"(with step() and zero_grad()), got {type(trainer).__name__}")


class _Progress:
    """Live curves in a notebook, a line per epoch elsewhere."""

    def __init__(self, num_epochs, enabled):
        self.num_epochs = num_epochs
        self.enabled = enabled
        self.notebook = enabled and in_notebook()
        self.handle = None
        self.fig = None

    def _blank(self):
        from IPython.display import HTML

        return HTML("")

    def _draw(self, history):
        from .plotting import set_axes

        ax = self.fig.axes[0]
        ax.cla()
        epochs = range(1, len(history) + 1)
        ax.plot(epochs, history.train_loss, "-", label="train loss")
        ax.plot(epochs, history.train_acc, "m--", label="train acc")
        ax.plot(epochs, history.test_acc, "g-.", label="test acc")
        set_axes(ax, "epoch", None, (1, max(self.num_epochs, 2)), None, "linear", "linear", None)
        ax.legend(loc="best")

    def begin(self):
        if not self.notebook:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .plotting import use_svg_display

        use_svg_display()
        self.fig = plt.figure(figsize=(3.5, 2.5))
        self.fig.add_subplot(1, 1, 1)
        plt.close(self.fig)  # shown explicitly, never by the inline backend
        self.handle = display(self._blank(), display_id=True)

    def epoch(self, epoch, history):
        if not self.enabled:
            return
        if self.notebook:
            self._draw(history)
            self.handle.update(self.fig)
        else:
            print(f"epoch {epoch}/{self.num_epochs}: " + _summary(history), flush=True)

    def end(self, history):
        if not self.notebook:
            return
        from IPython.display import display

        self.handle.update(self._blank())
        if len(history):
            self._draw(history)
            display(self.fig)
            print(_summary(history))


def _summary(history):
    last = history.last()
    return (f"train loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, "
            f"test loss {last['test_loss']:.3f}, test acc {last['test_acc']:.3f}")


def fit(net, train_iter, test_iter, loss, trainer, num_epochs, callbacks=(), progress=True):
    """Train ``net`` for ``num_epochs`` epochs; return a ``History``.

    Each minibatch: forward under ``autograd.record()`` (training mode, so
    dropout is active), backward, one update. With a ``gluon.Trainer`` the
    per-example losses are summed and ``trainer.step(batch_size)`` divides by
    the batch size; with a from-scratch optimizer the mean loss is
    differentiated and ``trainer.step()`` applies it, which is the same
    gradient. After each epoch the test loss and accuracy are measured in
    prediction mode, the callbacks run (any may stop training), and progress
    is shown unless ``progress=False``.

    Speed, without changing a result: the epoch's numbers are read from MXNet
    once, after both passes are dispatched; and when the net is hybridized and
    the loss is a Gluon loss, the two run as one graph.
    """
    import time

    from mxnet import autograd

    _check_net(net)
    _check_iter("train_iter", train_iter)
    _check_iter("test_iter", test_iter)
    check.callable_("loss", loss)
    _check_trainer(trainer)
    num_epochs = check.integer("num_epochs", num_epochs, minimum=1)
    if isinstance(callbacks, Callback):
        callbacks = (callbacks,)
    try:
        callbacks = tuple(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a sequence of Callback objects, got {type(callbacks).__name__}") from None
    for i, cb in enumerate(callbacks):
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"callbacks[{i}] must have an on_epoch_end(epoch, net, history) method")
    check.boolean("progress", progress)

    gluon_trainer = _is_gluon_trainer(trainer)
    forward = _forward(net, loss, fuse=True)
    history = History()
    shown = _Progress(num_epochs, progress)
    for cb in callbacks:
        getattr(cb, "on_train_begin", lambda *a: None)(net, history)
    shown.begin()
    try:
        for epoch in range(1, num_epochs + 1):
            tic = time.perf_counter()
            # Nothing is read until both passes are dispatched (see _Pass).
            train = _Pass("train_iter")
            for X, y in train_iter:
                n = y.shape[0]
                with autograd.record():
                    y_hat, l = forward(X, y)
                    objective = l if gluon_trainer else (l.mean() if l.ndim else l)
                objective.backward()
                if gluon_trainer:
                    trainer.step(n)
                else:
                    trainer.step()
                    trainer.zero_grad()
                train.add(y_hat, l, y)
            train.join()
            test = _predict(forward, test_iter, "test_iter")
            train_loss, train_acc = train.read()
            test_loss, test_acc = test.read()
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            history.epoch_time.append(time.perf_counter() - tic)
            history.stopped_epoch = epoch
            shown.epoch(epoch, history)
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(epoch, net, history)) or stop
            if stop:
                break
    finally:
        for cb in callbacks:
            getattr(cb, "on_train_end", lambda *a: None)(net, history)
        shown.end(history)
    return history
