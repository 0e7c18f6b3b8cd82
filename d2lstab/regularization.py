"""Regularization from scratch: weight penalties, dropout, early stopping, max-norm.

* ``l2_penalty``, ``l1_penalty``, ``l1_l2_penalty``: terms added to the loss.
* ``dropout`` and the ``Dropout`` block: inverted (the standard) and traditional.
* ``EarlyStopping``: a ``d2lstab.train.Callback`` that stops ``fit`` after
  ``patience`` epochs without improvement and restores the best parameters.
* ``soft_threshold_``: the proximal step of L1, which makes exact zeros.
* ``max_norm_``: rescales each unit's incoming weight vector onto a ball.
* ``AfterStep``: wraps a trainer so a projection (``max_norm_``,
  ``soft_threshold_``) runs after every update inside ``train.fit``.

Chapter 6 derives and tests each one against MXNet's built-ins.
"""
from mxnet import autograd, gluon, np

from . import _validate as check
from .train import Callback

__all__ = ["l2_penalty", "l1_penalty", "l1_l2_penalty", "soft_threshold_", "dropout",
           "Dropout", "EarlyStopping", "max_norm_", "AfterStep"]


def _arrays(params):
    return check.params("params", params, need_grad=False)


def l2_penalty(params):
    r"""The squared-L2 penalty $\tfrac12\sum_i w_i^2$ over all ``params``.

    ``params``: an array, a Gluon ``Parameter`` or a list of either. The result
    is a scalar ``mxnet.np`` array, differentiable under ``autograd.record()``;
    its gradient is ``w`` itself, so adding ``lambd * l2_penalty(ws)`` to the
    loss adds ``lambd * w`` to each gradient (weight decay; Krogh and Hertz 1992).
    """
    arrays = _arrays(params)
    total = (arrays[0] ** 2).sum()
    for w in arrays[1:]:
        total = total + (w ** 2).sum()
    return total / 2


def l1_penalty(params):
    r"""The L1 penalty $\sum_i |w_i|$ over all ``params`` (Tibshirani 1996, the lasso).

    Its (sub)gradient is ``sign(w)``: a constant pull towards zero whatever the
    size of ``w``, which is why L1 drives weights to exactly zero.
    """
    arrays = _arrays(params)
    total = abs(arrays[0]).sum()
    for w in arrays[1:]:
        total = total + abs(w).sum()
    return total


def l1_l2_penalty(params, l1=0.01, l2=0.01):
    r"""The elastic-net penalty $\lambda_1\sum_i|w_i| + \tfrac{\lambda_2}{2}\sum_i w_i^2$
    (Zou and Hastie 2005), i.e. ``l1 * l1_penalty(params) + l2 * l2_penalty(params)``.

    Note the factor 1/2 on the L2 part (our ``l2_penalty``); Keras's ``L1L2``
    omits it, so its ``l2`` is half of ours for the same penalty.
    """
    l1 = check.non_negative("l1", l1)
    l2 = check.non_negative("l2", l2)
    return l1 * l1_penalty(params) + l2 * l2_penalty(params)


def soft_threshold_(params, threshold):
    r"""The proximal step of the L1 penalty, in place: $w \leftarrow \operatorname{sign}(w)\max(|w|-t, 0)$.

    After a gradient step on the data loss with learning rate $\eta$, calling
    this with $t = \eta\lambda$ is one step of proximal gradient descent
    (ISTA; Daubechies, Defrise and De Mol 2004) on loss + $\lambda\sum|w|$.
    Unlike the subgradient ``sign(w)``, it sets small weights to exactly zero.
    Returns the number of entries that are exactly zero afterwards.
    """
    arrays = _arrays(params)
    threshold = check.non_negative("threshold", threshold)
    zeros = 0
    for w in arrays:
        w[:] = np.sign(w) * np.maximum(abs(w) - threshold, 0)
        zeros += int((w == 0).sum())
    return zeros


def dropout(X, p, training=True, inverted=True):
    r"""Dropout (Srivastava et al. 2014): zero each element of ``X`` with probability ``p``.

    With a Bernoulli mask $m_i \sim \mathrm{Bernoulli}(1-p)$:

    * inverted (the default, as in every modern framework):
      training $y_i = m_i x_i / (1-p)$, otherwise $y_i = x_i$;
    * traditional (``inverted=False``, as in Hinton et al. 2012 and AlexNet):
      training $y_i = m_i x_i$, otherwise $y_i = (1-p)\,x_i$.

    Both keep the expected training output equal to the test output. ``p=0``
    returns ``X`` unchanged and ``p=1`` returns zeros (never ``0/0``). The mask
    is drawn with ``mxnet.np.random.uniform``, so ``d2l.seed`` fixes it.
    Differentiable with ``mxnet.autograd`` (the gradient is masked and scaled
    the same way).
    """
    check.array("X", X)
    p = check.in_range("p", p, 0, 1)
    training = check.boolean("training", training)
    inverted = check.boolean("inverted", inverted)
    if not training:
        return X if inverted else X * (1.0 - p)
    if p == 0.0:
        return X
    if p == 1.0:
        return X * 0  # zeros of X's shape and dtype, still on the autograd tape
    keep = np.random.uniform(0, 1, size=X.shape, ctx=X.ctx) >= p  # P(keep) = 1 - p
    mask = keep.astype(X.dtype)
    return X * mask / (1.0 - p) if inverted else X * mask


class Dropout(gluon.Block):
    """Our ``dropout`` as a Gluon block: ``Dropout(p, inverted=True)``.

    ``training`` is taken from ``autograd.is_training()``, exactly like
    ``gluon.nn.Dropout``: active under ``autograd.record()``; in prediction the
    identity (inverted) or a ``1 - p`` scaling (traditional).
    """

    def __init__(self, p, inverted=True, **kwargs):
        super().__init__(**kwargs)
        self.p = check.in_range("p", p, 0, 1)
        self.inverted = check.boolean("inverted", inverted)

    def forward(self, X):
        return dropout(X, self.p, training=autograd.is_training(), inverted=self.inverted)

    def __repr__(self):
        return f"Dropout(p={self.p}, {'inverted' if self.inverted else 'traditional'})"


_MONITORS = {"test_loss": "min", "train_loss": "min", "test_acc": "max", "train_acc": "max"}


class EarlyStopping(Callback):
    """Stop ``fit`` after ``patience`` epochs without improvement; restore the best weights.

    After each epoch the monitored value ``history.<monitor>[-1]`` is compared
    with the best so far: with ``mode='min'`` it improves when it is below
    ``best - min_delta``, with ``mode='max'`` when above ``best + min_delta``
    (a NaN never improves). On improvement the parameters are copied (every
    Gluon parameter, including running statistics with ``grad_req='null'``);
    after ``patience`` epochs in a row without one, training stops. At the end
    of training (stopped early or not) the copied values are written back into
    the network's own arrays when ``restore_best`` is true (Prechelt 1998;
    Keras's ``EarlyStopping(restore_best_weights=True)``).

    Attributes after ``fit``: ``best_epoch`` (1-based, as ``fit`` counts),
    ``best_value``, ``stopped_epoch`` (the epoch after which training was
    stopped, 0 if it ran to the end), ``restored`` (whether weights were
    written back).

    ``monitor`` is one of 'test_loss' (default), 'train_loss', 'test_acc',
    'train_acc'; losses need ``mode='min'``, accuracies ``mode='max'``.
    """

    def __init__(self, patience, min_delta=0.0, mode="min", restore_best=True, monitor="test_loss"):
        self.patience = check.integer("patience", patience, minimum=1)
        self.min_delta = check.non_negative("min_delta", min_delta)
        self.mode = check.one_of("mode", mode, {"min", "max"})
        self.restore_best = check.boolean("restore_best", restore_best)
        self.monitor = check.one_of("monitor", monitor, set(_MONITORS))
        if _MONITORS[monitor] != mode:
            raise ValueError(
                f"mode must be '{_MONITORS[monitor]}' to monitor {monitor!r} "
                f"(a {'loss' if 'loss' in monitor else 'accuracy'}), got {mode!r}")
        self._reset()

    def _reset(self):
        self.best_value = float("inf") if self.mode == "min" else float("-inf")
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.wait = 0
        self.restored = False
        self._best_params = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    @staticmethod
    def _snapshot(net):
        return {name: [d.copy() for d in p.list_data()]
                for name, p in net.collect_params().items()}

    def on_train_begin(self, net, history):
        self._reset()

    def on_epoch_end(self, epoch, net, history):
        value = float(getattr(history, self.monitor)[-1])
        if self._improved(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            self._best_params = self._snapshot(net)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, net, history):
        if not (self.restore_best and self._best_params is not None):
            return
        for name, p in net.collect_params().items():
            for data, saved in zip(p.list_data(), self._best_params[name]):
                data[:] = saved  # in place: arrays the caller holds see the best weights
        self.restored = True

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, "
                f"best_epoch={self.best_epoch}, stopped_epoch={self.stopped_epoch})")


def max_norm_(params, max_norm, axis=1):
    r"""Max-norm constraint (Srebro et al. 2005; Srivastava et al. 2014), in place.

    For each weight array $W$, every slice $w$ along ``axis`` whose L2 norm
    exceeds ``max_norm`` is rescaled to $w \cdot c/\|w\|_2$ with $c$ =
    ``max_norm``; slices already inside the ball are untouched. With MXNet's
    Dense weights of shape ``(out, in)`` and ``axis=1`` the slices are the
    rows, i.e. each unit's incoming weights. For convolution weights
    ``(out, in, kh, kw)`` pass ``axis=(1, 2, 3)``. Apply it after each update.
    Pass weights only (biases are not constrained). Returns the number of
    slices that were rescaled.
    """
    arrays = _arrays(params)
    max_norm = check.positive("max_norm", max_norm)
    axes = (axis,) if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (tuple, list)) or not axes:
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    for a in axes:
        check.integer("axis", a)
    rescaled = 0
    for i, w in enumerate(arrays):
        for a in axes:
            if not -w.ndim <= a < w.ndim:
                raise ValueError(
                    f"axis {a} is out of range for params[{i}] of shape {w.shape}; "
                    "pass weights (not biases) with axis in [-ndim, ndim)")
        norms = np.sqrt((w.astype("float64") ** 2).sum(axis=tuple(axes), keepdims=True))
        too_big = norms > max_norm
        scale = np.where(too_big, max_norm / np.maximum(norms, max_norm), 1.0)
        new = (w.astype("float64") * scale).astype(w.dtype)
        w[:] = new
        rescaled += int(too_big.sum())
    return rescaled


class AfterStep:
    """A trainer that runs ``fn()`` after every update: projections inside ``train.fit``.

    ``trainer`` is a ``gluon.Trainer`` or a ``d2lstab.optim`` optimizer. ``fit``
    treats this wrapper like a from-scratch optimizer: it differentiates the
    mean loss, then calls ``step()`` (here: ``trainer.step(1)`` for a Gluon
    trainer, since the gradient is already a mean, or ``trainer.step()``,
    followed by ``fn()``) and ``zero_grad()``. Example, max-norm after each
    minibatch update::

        AfterStep(trainer, lambda: max_norm_(weights, 3.0))
    """

    def __init__(self, trainer, fn):
        if not (isinstance(trainer, gluon.Trainer) or callable(getattr(trainer, "step", None))):
            raise TypeError(f"trainer must be a gluon.Trainer or an optimizer with step(), "
                            f"got {type(trainer).__name__}")
        self.trainer = trainer
        self.fn = check.callable_("fn", fn)
        self.steps = 0

    def step(self):
        if isinstance(self.trainer, gluon.Trainer):
            self.trainer.step(1)
        else:
            self.trainer.step()
        self.fn()
        self.steps += 1

    def zero_grad(self):
        if callable(getattr(self.trainer, "zero_grad", None)):
            self.trainer.zero_grad()
        # a gluon.Trainer's parameters have grad_req='write': backward overwrites them
