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


def _hits(y_hat, y):
    """Number of correct predictions, as an array on the device (no waiting)."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        pred = y_hat.argmax(axis=1)
    else:
        pred = (y_hat.reshape(-1) > 0)
    return (pred.astype(y.dtype) == (y if y.ndim == 1 else y.reshape(-1))).sum()


def _total_hits(outputs):
    """Correct predictions over a list of (y_hat, y) minibatches: one count, read once."""
    from mxnet import np

    if len(outputs) == 1:
        return float(_hits(*outputs[0]))
    y_hat = np.concatenate([o for o, _ in outputs])
    y = np.concatenate([t if t.ndim == 1 else t.reshape(-1) for _, t in outputs])
    return float(_hits(y_hat, y))


def _batch_loss(l, n):
    """The sum of a minibatch's per-example losses, as a Python float (this waits)."""
    return float(l.sum()) if l.ndim else float(l) * n


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


def _evaluate(net, data_iter, loss=None):
    """(mean per-example loss or None, accuracy) in one pass, in prediction mode.

    The per-minibatch results stay on the device until the pass is over and
    are then read and added in order: the same numbers as reading each one at
    once, without making Python wait for MXNet inside the loop.
    """
    losses, outputs, count = [], [], 0
    for X, y in data_iter:
        y_hat = net(X)
        n = y.shape[0]
        if loss is not None:
            losses.append((loss(y_hat, y), n))
        outputs.append((y_hat, y))
        count += n
    if count == 0:
        raise ValueError("data_iter yielded no examples")
    mean_loss = None if loss is None else sum(_batch_loss(l, n) for l, n in losses) / count
    return mean_loss, _total_hits(outputs) / count


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
    history = History()
    shown = _Progress(num_epochs, progress)
    for cb in callbacks:
        getattr(cb, "on_train_begin", lambda *a: None)(net, history)
    shown.begin()
    try:
        for epoch in range(1, num_epochs + 1):
            tic = time.perf_counter()
            # Minibatch results are read once the epoch is done (see _evaluate).
            losses, outputs, count = [], [], 0
            for X, y in train_iter:
                n = y.shape[0]
                with autograd.record():
                    y_hat = net(X)
                    l = loss(y_hat, y)
                    objective = l if gluon_trainer else (l.mean() if l.ndim else l)
                objective.backward()
                if gluon_trainer:
                    trainer.step(n)
                else:
                    trainer.step()
                    trainer.zero_grad()
                losses.append((l, n))
                outputs.append((y_hat, y))
                count += n
            if count == 0:
                raise ValueError("train_iter yielded no examples")
            loss_sum = 0.0
            for l, n in losses:
                batch_loss = _batch_loss(l, n)
                if not math.isfinite(batch_loss):
                    loss_sum = float("nan")
                loss_sum += batch_loss
            history.train_loss.append(loss_sum / count)
            history.train_acc.append(_total_hits(outputs) / count)
            test_loss, test_acc = _evaluate(net, test_iter, loss)
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
