"""Gradient-descent optimizers from scratch (chapter "Gradient-descent optimizers").

Every optimizer here is a small class with the interface of PyTorch's
optimizers and of ``d2lstab.train.fit``: ``step()`` reads each parameter's
gradient and updates the parameter in place, ``zero_grad()`` zeroes the
gradients. They share one base class, ``Optimizer``, which owns the loop
over the parameters, the learning rate ``lr`` (a settable attribute), the
optional ``lr_schedule`` (a callable ``step -> lr`` asked before every
update with the number of updates done so far, 0 for the first), the update
counter ``t``, L2 weight decay and the per-parameter state. A subclass only
says what state it keeps (``_init_state``) and how one array is updated
(``_update``), written as the formula in its docstring with in-place array
operations (``*=``, ``+=``, ``-=``) so no more temporaries are made than the
formula needs.

``params`` is a list of arrays that had ``attach_grad()``, or Gluon
``Parameter``s (``net.collect_params().values()``, or the ``ParameterDict``
itself). For a ``Parameter`` the array and its gradient are looked up at
every step, so re-initializing the network does not leave the optimizer
holding stale arrays.

Notation: ``g`` is the gradient (plus ``weight_decay * p`` when weight decay
is on), ``lr`` the learning rate of the current update, ``t`` the number of
updates done including the current one (1 for the first).
"""
import math

from . import _validate as check

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSProp", "Adam"]


def _param_list(params):
    """``params`` as a list, accepting a Gluon ``ParameterDict`` too."""
    from mxnet import gluon, np

    if isinstance(params, (np.ndarray, gluon.Parameter)):
        return [params]
    if hasattr(params, "values") and callable(params.values):  # dict or ParameterDict
        return list(params.values())
    try:
        return list(params)
    except TypeError:
        raise TypeError(
            f"params must be a list of arrays or gluon Parameters, got {type(params).__name__}"
        ) from None


class Optimizer:
    """Base class: the loop over parameters, ``lr``, ``lr_schedule``, ``t``, state.

    ``step()`` does, for the update number ``t`` (0-based before it runs)::

        if lr_schedule: lr = lr_schedule(t)
        for each parameter p with gradient g:
            g = g + weight_decay * p          (only if weight_decay > 0)
            _update(p, g, state[p])           (in place)
        t += 1
    """

    def __init__(self, params, lr, weight_decay=0.0, lr_schedule=None):
        items = _param_list(params)
        check.params("params", items)  # non-empty, initialized, gradients attached
        self._items = items
        self.lr = lr
        self.weight_decay = check.non_negative("weight_decay", weight_decay)
        if lr_schedule is not None:
            check.callable_("lr_schedule", lr_schedule)
        self.lr_schedule = lr_schedule
        self.t = 0  # updates done so far
        self.state = {}  # index of the parameter -> tuple of state arrays

    # -- the learning rate -------------------------------------------------
    @property
    def lr(self):
        """The learning rate of the next update (overwritten by ``lr_schedule`` if set)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check.non_negative("lr", value)

    # -- parameters ----------------------------------------------------------
    def _arrays(self):
        """Yield ``(index, array, gradient)``, resolving Parameters now."""
        from mxnet import gluon

        for i, item in enumerate(self._items):
            if isinstance(item, gluon.Parameter):
                data, grad = item.data(), item.grad()
            else:
                data, grad = item, item.grad
            if grad is None:
                raise ValueError(f"params[{i}] has no gradient attached: call attach_grad() on it first")
            yield i, data, grad

    def _state_for(self, i, p):
        state = self.state.get(i)
        if state is None:
            state = self.state[i] = self._init_state(p)
        elif state and state[0].shape != p.shape:
            raise ValueError(
                f"params[{i}] changed shape from {state[0].shape} to {p.shape}; "
                "build a new optimizer for a new network")
        return state

    # -- the public interface ------------------------------------------------
    def step(self):
        """Apply one update to every parameter, in place; return the lr used."""
        from mxnet import autograd

        if self.lr_schedule is not None:
            value = self.lr_schedule(self.t)
            try:
                self.lr = value
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"lr_schedule({self.t}) returned {value!r}: {exc}") from None
        with autograd.pause():
            for i, p, g in self._arrays():
                if self.weight_decay and not self._update_adds_weight_decay:
                    g = g + self.weight_decay * p
                self._update(p, g, self._state_for(i, p))
        self.t += 1
        return self.lr

    def zero_grad(self):
        """Set every gradient to zero, in place."""
        for _, _, g in self._arrays():
            g[:] = 0

    # -- what a subclass provides ----------------------------------------------
    _update_adds_weight_decay = False  # True when _update applies weight decay itself

    def _init_state(self, p):
        """The state arrays kept for parameter ``p`` (a tuple, maybe empty)."""
        return ()

    def _update(self, p, g, state):
        """Update ``p`` in place from gradient ``g`` and ``state``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr:g}, {len(self._items)} parameters, t={self.t})"


def _zeros_like(p):
    from mxnet import np

    return np.zeros_like(p)


def _check_momentum(momentum, nesterov):
    momentum = check.in_range("momentum", momentum, 0, 1, high_closed=False)
    nesterov = check.boolean("nesterov", nesterov)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum in (0, 1), got momentum=0")
    return momentum, nesterov


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``p -= lr * g``. With momentum ``mu`` (Polyak, 1964),
    a velocity ``v`` (zero at first) accumulates the gradients::

        v = mu * v + g
        p -= lr * v                       (heavy ball)
        p -= lr * (g + mu * v)            (nesterov=True)

    The Nesterov form is that of MXNet's ``NAG`` and PyTorch's ``SGD``
    (Bengio et al., 2013); after the change of variables
    ``p_lookahead = p - lr * mu * v`` it is Sutskever et al.'s (2013)
    look-ahead form of Nesterov's (1983) method. ``weight_decay`` adds
    ``weight_decay * p`` to ``g`` (L2 regularization).

    MXNet's ``SGD`` stores ``-lr * v`` instead of ``v`` (the same updates while
    ``lr`` is constant, not when it changes). MXNet 1.9.1's ``NAG`` with
    ``wd > 0`` differs from this rule: its kernel, called with
    ``out=weight``, computes the momentum's weight-decay term from the
    already-updated weight (chapter "Gradient-descent optimizers").
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, *, lr_schedule=None):
        self.momentum, self.nesterov = _check_momentum(momentum, nesterov)
        super().__init__(params, lr, weight_decay, lr_schedule)

    def _init_state(self, p):
        return (_zeros_like(p),) if self.momentum else ()

    def _update(self, p, g, state):
        if not self.momentum:
            p -= self.lr * g
            return
        (v,) = state
        v *= self.momentum                         # v = mu * v + g
        v += g
        if self.nesterov:
            p -= self.lr * (g + self.momentum * v)  # p -= lr * (g + mu * v)
        else:
            p -= self.lr * v                        # p -= lr * v


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan and Singer, 2011): per-coordinate rates from summed squares.

    ::

        s += g * g                         (s starts at initial_accumulator_value)
        p -= lr * g / (sqrt(s) + eps)

    MXNet's ``mx.optimizer.AdaGrad`` divides by ``sqrt(s + eps)`` instead (its
    ``eps`` is inside the root); ``initial_accumulator_value=eps_mxnet`` and a
    tiny ``eps`` here reproduce it.
    """

    def __init__(self, params, lr=0.01, eps=1e-10, initial_accumulator_value=0.0,
                 weight_decay=0.0, *, lr_schedule=None):
        self.eps = check.positive("eps", eps)
        self.initial_accumulator_value = check.non_negative(
            "initial_accumulator_value", initial_accumulator_value)
        super().__init__(params, lr, weight_decay, lr_schedule)

    def _init_state(self, p):
        from mxnet import np

        return (np.full_like(p, self.initial_accumulator_value),)

    def _update(self, p, g, state):
        from mxnet import np

        (s,) = state
        s += g * g                            # s += g^2
        denom = np.sqrt(s)
        denom += self.eps                     # sqrt(s) + eps
        p -= self.lr * g / denom              # p -= lr * g / (sqrt(s) + eps)


class RMSProp(Optimizer):
    """RMSProp (Tieleman and Hinton, 2012), optionally with (Nesterov) momentum.

    ::

        s = rho * s + (1 - rho) * g * g
        u = g / (sqrt(s) + eps)
        p -= lr * u                        (momentum = 0)
        b = momentum * b + u               (momentum > 0)
        p -= lr * b                        (heavy ball)
        p -= lr * (u + momentum * b)       (nesterov=True)

    The momentum version is the one of PyTorch's ``RMSprop`` and of
    Goodfellow, Bengio and Courville (2016, Algorithm 8.6 for Nesterov).
    MXNet's ``rmsprop_update`` puts ``eps`` inside the root,
    ``g / sqrt(s + eps)``; its ``centered=True`` variant (Graves, 2013) is a
    different algorithm.
    """

    def __init__(self, params, lr=0.01, rho=0.9, eps=1e-8, momentum=0.0, nesterov=False,
                 weight_decay=0.0, *, lr_schedule=None):
        self.rho = check.in_range("rho", rho, 0, 1, high_closed=False)
        self.eps = check.positive("eps", eps)
        self.momentum, self.nesterov = _check_momentum(momentum, nesterov)
        super().__init__(params, lr, weight_decay, lr_schedule)

    def _init_state(self, p):
        return (_zeros_like(p), _zeros_like(p)) if self.momentum else (_zeros_like(p),)

    def _update(self, p, g, state):
        from mxnet import np

        s = state[0]
        s *= self.rho                         # s = rho * s + (1 - rho) * g^2
        s += (1 - self.rho) * g * g
        u = np.sqrt(s)
        u += self.eps
        u = g / u                             # u = g / (sqrt(s) + eps)
        if not self.momentum:
            p -= self.lr * u
            return
        b = state[1]
        b *= self.momentum                    # b = momentum * b + u
        b += u
        if self.nesterov:
            p -= self.lr * (u + self.momentum * b)
        else:
            p -= self.lr * b


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): momentum on g and RMSProp's scaling, bias-corrected.

    ::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
        p -= lr * m_hat / (sqrt(v_hat) + eps)

    ``weight_decay`` is L2 added to ``g`` (Adam's original coupling, as in
    MXNet's ``Adam``), not decoupled AdamW.

    ``fused=True`` computes the same formula with MXNet's fused
    ``adam_update`` kernel (one pass over the memory instead of a dozen).
    That kernel does ``p -= lr' * m / (sqrt(v) + eps')`` with no bias
    correction, so we pass ``lr' = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``
    and ``eps' = eps * sqrt(1 - beta2**t)``; multiplying out shows the two are
    the formula above (MXNet's own ``Adam`` passes ``eps' = eps``, which moves
    its eps by the factor ``sqrt(1 - beta2**t)``). One difference remains:
    the kernel parses its hyper-parameters as float32, so ``beta2=0.999``
    becomes 0.99900001 and ``1 - beta2`` is off by 1.3e-5 relative; the fused
    update then agrees with the readable one to about 1e-5 relative (exactly,
    up to round-off, for betas representable in float32 such as 0.875 or
    ``1 - 2**-10``).
    """

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 *, lr_schedule=None, fused=False):
        self.beta1 = check.in_range("beta1", beta1, 0, 1, high_closed=False)
        self.beta2 = check.in_range("beta2", beta2, 0, 1, high_closed=False)
        self.eps = check.positive("eps", eps)
        self.fused = check.boolean("fused", fused)
        super().__init__(params, lr, weight_decay, lr_schedule)

    def _init_state(self, p):
        return (_zeros_like(p), _zeros_like(p))

    @property
    def _update_adds_weight_decay(self):
        return self.fused  # the fused kernel adds weight_decay * p itself

    def _update(self, p, g, state):
        from mxnet import np

        m, v = state
        t = self.t + 1
        c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t
        if self.fused:
            import mxnet as mx

            root_c2 = math.sqrt(c2)
            mx.nd.adam_update(p.as_nd_ndarray(), g.as_nd_ndarray(), m.as_nd_ndarray(),
                              v.as_nd_ndarray(), out=p.as_nd_ndarray(),
                              lr=self.lr * root_c2 / c1, epsilon=self.eps * root_c2,
                              beta1=self.beta1, beta2=self.beta2, wd=self.weight_decay)
            return
        m *= self.beta1                       # m = beta1 * m + (1 - beta1) * g
        m += (1 - self.beta1) * g
        v *= self.beta2                       # v = beta2 * v + (1 - beta2) * g^2
        v += (1 - self.beta2) * g * g
        denom = np.sqrt(v / c2)
        denom += self.eps                     # sqrt(v_hat) + eps
        p -= (self.lr / c1) * m / denom       # p -= lr * m_hat / (sqrt(v_hat) + eps)
