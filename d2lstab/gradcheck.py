"""Gradient checking: compare a gradient with finite differences.

A backward pass, hand-written or produced by autograd, is checked against the
two-sided difference quotient

    g_num[i] = (f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps),

whose error is O(eps^2) (the one-sided quotient's is O(eps)), and the two are
compared by the relative difference

    ||g - g_num|| / (||g|| + ||g_num||)

(Ng's thresholds: about 1e-7 or less: fine; around 1e-5: look closer;
1e-3 or more: almost surely a bug). References: Andrew Ng, *Deep Learning
Specialization*, "Gradient checking" (deeplearning.ai, 2017), for this
relative difference and its thresholds; Karpathy, CS231n notes "Neural
Networks 3: gradient checks" (2016), whose relative error divides by the
larger of the two norms and has other thresholds; Nocedal and Wright,
*Numerical Optimization*, 2nd ed. (2006), section 8.1.

What ``f`` receives
-------------------
``numerical_grad(f, x)`` calls ``f(x_perturbed)`` with an array of ``x``'s
shape and dtype. ``check_gradients(f, params)`` and ``grad_check(f, params)``
call ``f(arrays)`` with a list of float64 arrays, one per entry of
``params``, in the same order:

* for an ``mxnet.np.ndarray`` in ``params`` the list holds a float64 *copy*
  (the caller's array is never written to, whatever its dtype);
* for a Gluon ``Parameter`` (which must already be float64: call
  ``net.cast('float64')`` first) it holds the parameter's own data array,
  perturbed in place during the check and restored exactly afterwards, values
  and gradient buffer alike; so ``f`` may ignore its argument and simply run
  the network, e.g. ``lambda _: loss(net(X64), y).mean()``.

``f`` must compute in float64 and return one number (an array with one
element or a Python float). Both the autograd pass and the finite
differences run in prediction mode (dropout off, batch normalization on its
moving statistics) unless ``training=True``. Two caveats: with
``training=True`` every evaluation of ``f`` draws a new dropout mask (the
check then fails although nothing is wrong) and updates batch
normalization's moving statistics. The mode must be the same for the
forward and the backward pass: MXNet's ``backward()`` runs in training mode
unless it is called with ``train_mode=False``, whatever mode the forward
pass was recorded in, and for a layer whose two modes differ (batch
normalization) the training-mode backward pass then runs over a
prediction-mode forward pass, which gives the gradient of neither mode's
output. The check passes the mode to both, so ``gluon.nn.BatchNorm`` and
``d2lstab.batchnorm.BatchNorm`` pass in either mode (chapter 8 shows what
the mismatch looks like).
"""
import numbers

import numpy as onp

from . import _validate as check

__all__ = ["relative_difference", "numerical_grad", "check_gradients", "grad_check",
           "verdict", "GradCheck", "THRESHOLDS"]

# The rule of thumb for the relative difference at eps = 1e-7 (Ng's course):
# about 1e-7 is fine, about 1e-5 deserves a closer look, 1e-3 is a bug. The
# boundaries between the verdicts sit halfway (in log scale) between those
# landmarks: below 1e-6 "fine", below 1e-4 "look closer", otherwise "bug".
THRESHOLDS = {"fine": 1e-6, "look closer": 1e-4}

_FLOAT_DTYPES = ("float16", "float32", "float64")


def _to_numpy(name, value):
    """An mxnet/NumPy array or a real number as a float64 NumPy array."""
    from mxnet import np

    if isinstance(value, np.ndarray):
        return value.asnumpy().astype(onp.float64)
    if isinstance(value, onp.ndarray) or check._is_real(value):
        arr = onp.asarray(value)
        if not (onp.issubdtype(arr.dtype, onp.floating) or onp.issubdtype(arr.dtype, onp.integer)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        return arr.astype(onp.float64)
    raise TypeError(f"{name} must be an mxnet.np.ndarray, a NumPy array or a real number, "
                    f"got {type(value).__name__}")


def relative_difference(a, b):
    """``||a - b|| / (||a|| + ||b||)`` with Euclidean norms, in float64.

    0 when both are zero. Bounded by 1 (reached when ``b = -a`` or one of
    them is zero). ``a`` and ``b`` are arrays (MXNet or NumPy) of one shape,
    or real numbers.
    """
    a, b = _to_numpy("a", a), _to_numpy("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    denom = onp.linalg.norm(a) + onp.linalg.norm(b)
    if denom == 0:
        return 0.0
    return float(onp.linalg.norm(a - b) / denom)


def _scalar(out, dtype_required=None):
    """The one number ``f`` returned, as a Python float (checked)."""
    from mxnet import np

    if isinstance(out, (np.ndarray, onp.ndarray)):
        if out.size != 1:
            raise ValueError(f"f must return a scalar (one element), got an array of shape {out.shape}")
        if dtype_required is not None and onp.dtype(out.dtype) != onp.dtype(dtype_required):
            raise TypeError(
                f"f returned a {onp.dtype(out.dtype).name} value; the check runs in {dtype_required}, "
                "so f must compute in it too (cast its inputs, e.g. X.astype('float64'))")
        value = float(out.item())
    elif check._is_real(out):
        value = float(out)
    else:
        raise TypeError(f"f must return a scalar (a one-element array or a real number), "
                        f"got {type(out).__name__}")
    if not onp.isfinite(value):
        raise ValueError(f"f returned {value}: finite differences need finite values")
    return value


def _check_x(x):
    from mxnet import np

    if isinstance(x, np.ndarray):
        if onp.dtype(x.dtype).name not in _FLOAT_DTYPES:
            raise TypeError(f"x must be a floating-point array ({', '.join(_FLOAT_DTYPES)}), "
                            f"got dtype {onp.dtype(x.dtype).name}")
        return x
    if isinstance(x, onp.ndarray) or check._is_real(x):
        arr = onp.asarray(x)
        if not (onp.issubdtype(arr.dtype, onp.floating) or onp.issubdtype(arr.dtype, onp.integer)):
            raise TypeError(f"x must hold real numbers, got dtype {arr.dtype}")
        return np.array(arr.astype(onp.float64), dtype="float64")
    raise TypeError(f"x must be an mxnet.np.ndarray, a NumPy array or a real number, got {type(x).__name__}")


def _set(arr, idx, value):
    """``arr[idx] = value`` exactly (MXNet rounds Python-scalar assignments)."""
    from mxnet import np

    arr[idx] = np.array(onp.asarray(value, dtype=arr.dtype), dtype=arr.dtype)


def numerical_grad(f, x, eps=1e-6, method="central"):
    """Finite-difference gradient of the scalar function ``f`` at ``x``.

    ``method='central'`` (the default) uses the two-sided quotient
    ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, whose truncation error is
    O(eps^2); ``method='forward'`` the one-sided ``(f(x + eps e_i) - f(x)) /
    eps``, whose error is O(eps). ``f`` is called with a perturbed copy of
    ``x`` of the same shape and dtype (``x`` itself is never modified), so a
    float32 ``x`` shows float32 rounding; the quotients are formed in float64.
    ``x`` is an ``mxnet.np.ndarray`` (a NumPy array or real number is
    converted to a float64 one). Returns a float64 ``mxnet.np.ndarray``
    shaped like ``x``. Costs 2 evaluations of ``f`` per element (central) or
    1 per element plus 1 (forward).
    """
    from mxnet import np

    check.callable_("f", f)
    x = _check_x(x)
    eps = check.positive("eps", eps)
    check.one_of("method", method, {"central", "forward"})
    work = x.copy()
    base = x.asnumpy()
    grad = onp.zeros(base.shape, dtype=onp.float64)
    f0 = _scalar(f(work)) if method == "forward" else None
    for idx in onp.ndindex(*base.shape):
        _set(work, idx, base[idx] + eps)
        f_plus = _scalar(f(work))
        if method == "central":
            _set(work, idx, base[idx] - eps)
            f_minus = _scalar(f(work))
            grad[idx] = (f_plus - f_minus) / (2 * eps)
        else:
            grad[idx] = (f_plus - f0) / eps
        _set(work, idx, base[idx])
    return np.array(grad, dtype="float64")


def verdict(rel_diff):
    """'fine' below 1e-6, 'look closer' below 1e-4, otherwise 'bug'.

    The landmarks of the rule of thumb are 1e-7 (fine), 1e-5 (look closer)
    and 1e-3 (a bug); the boundaries are the geometric midpoints (``THRESHOLDS``).
    """
    rel_diff = check.non_negative("rel_diff", rel_diff)
    if rel_diff < THRESHOLDS["fine"]:
        return "fine"
    if rel_diff < THRESHOLDS["look closer"]:
        return "look closer"
    return "bug"


class GradCheck:
    """The outcome of ``check_gradients``.

    Attributes: ``rel_diff`` (the relative difference over every checked
    coordinate of every parameter), ``per_param`` (one dict per entry of
    ``params``: ``rel_diff`` of that parameter alone, ``max_abs_err`` the
    largest ``|g - g_num|`` and ``argmax`` its index in the parameter),
    ``grads`` and ``num_grads`` (float64 NumPy vectors of the checked
    coordinates, per parameter), ``coords`` (the flat indices checked,
    per parameter) and ``evaluations`` (how many times ``f`` was called for
    the finite differences).
    """

    def __init__(self, rel_diff, per_param, grads, num_grads, coords, evaluations):
        self.rel_diff = rel_diff
        self.per_param = per_param
        self.grads = grads
        self.num_grads = num_grads
        self.coords = coords
        self.evaluations = evaluations

    @property
    def worst(self):
        """Index (into ``params``) of the parameter with the largest ``max_abs_err``."""
        return int(onp.argmax([p["max_abs_err"] for p in self.per_param]))

    def verdict(self):
        """``verdict(self.rel_diff)``."""
        return verdict(self.rel_diff)

    def __repr__(self):
        n = sum(len(c) for c in self.coords)
        return f"GradCheck(rel_diff={self.rel_diff:.3e}, coordinates={n}, worst=params[{self.worst}])"


def _resolve(params, need_grad):
    """(items, arrays, kinds) from ``params``: arrays copied to float64, Parameters as is."""
    from mxnet import gluon, np

    items = check.param_items("params", params)
    for i, item in enumerate(items):
        if isinstance(item, gluon.Parameter):
            if need_grad and item.grad_req == "null":
                raise ValueError(f"params[{i}] ({item.name}) has grad_req='null': no gradient to check")
            try:
                data = item.list_data()
            except Exception as exc:
                raise ValueError(f"params[{i}] ({item.name}) is not initialized yet: run the network "
                                 "once (or call net.initialize()) first") from exc
            if len(data) != 1:
                raise ValueError(f"params[{i}] ({item.name}) lives on {len(data)} devices; "
                                 "check gradients on one device")
            if onp.dtype(data[0].dtype) != onp.float64:
                raise TypeError(
                    f"params[{i}] ({item.name}) is {onp.dtype(data[0].dtype).name}: gradient checks run "
                    "in float64; call net.cast('float64') first and feed f float64 inputs")
        elif isinstance(item, np.ndarray):
            if onp.dtype(item.dtype).name not in _FLOAT_DTYPES:
                raise TypeError(f"params[{i}] must be a floating-point array, got dtype "
                                f"{onp.dtype(item.dtype).name}")
        else:
            raise TypeError(f"params[{i}] must be an mxnet.np.ndarray or gluon Parameter, "
                            f"got {type(item).__name__}")
    return items


def _check_grads(grads, items):
    if grads is None:
        return None
    try:
        grads = list(grads)
    except TypeError:
        raise TypeError(f"grads must be a list of arrays, one per parameter, "
                        f"got {type(grads).__name__}") from None
    if len(grads) != len(items):
        raise ValueError(f"grads must have one array per parameter ({len(items)}), got {len(grads)}")
    out = []
    for i, (g, item) in enumerate(zip(grads, items)):
        g = _to_numpy(f"grads[{i}]", g)
        shape = item.shape
        if g.shape != tuple(shape):
            raise ValueError(f"grads[{i}] must have the shape of params[{i}], {tuple(shape)}, got {g.shape}")
        out.append(g)
    return out


def check_gradients(f, params, eps=1e-7, grads=None, training=False, samples_per_param=None):
    """Compare a gradient with two-sided finite differences, in float64.

    ``f(arrays)`` returns a scalar loss computed from ``arrays``, the float64
    working arrays of ``params`` (see the module docstring for what they
    are). The gradient checked is autograd's (``f`` run under
    ``autograd.record``), or ``grads`` (a list of arrays shaped like
    ``params``) when you pass your own backward pass. Each checked coordinate
    ``i`` gets ``g_num[i] = (f(theta + eps e_i) - f(theta - eps e_i)) /
    (2 eps)``; ``samples_per_param`` checks only that many coordinates of each
    parameter, drawn without replacement by NumPy's global generator (so
    ``d2l.seed`` fixes them) and checked and reported in increasing order,
    which keeps the check cheap on big layers.
    ``training`` runs both passes in training mode (dropout on); the default
    runs both in prediction mode. ``params`` is left exactly as it was.
    Returns a ``GradCheck``; its ``rel_diff`` is
    ``||g - g_num|| / (||g|| + ||g_num||)`` over all checked coordinates.
    """
    from mxnet import autograd, gluon, np

    check.callable_("f", f)
    eps = check.positive("eps", eps)
    training = check.boolean("training", training)
    if samples_per_param is not None:
        samples_per_param = check.integer("samples_per_param", samples_per_param, minimum=1)
    items = _resolve(params, need_grad=grads is None)
    given = _check_grads(grads, items)

    saved = []  # (parameter, exact copy of its data, copy of its grad or None)
    try:
        work = []
        for item in items:
            if isinstance(item, gluon.Parameter):
                data = item.data()
                grad = item.grad() if item.grad_req != "null" else None
                saved.append((item, data.copy(), None if grad is None else grad.copy()))
                work.append(data)
            else:
                w = item.astype("float64", copy=True)
                if given is None:
                    w.attach_grad()
                work.append(w)
        bases = [w.asnumpy().copy() for w in work]

        if given is None:
            for item in items:
                if isinstance(item, gluon.Parameter):  # grad_req='add' would accumulate
                    np.zeros_like(item.grad()).copyto(item.grad())
            with autograd.record(train_mode=training):
                out = f(work)
            _scalar(out, "float64")
            if not isinstance(out, np.ndarray):
                raise TypeError("f must return an mxnet.np.ndarray computed from its arguments "
                                "(autograd cannot differentiate a Python float)")
            # backward() runs in training mode unless told otherwise, whatever
            # mode the forward pass was recorded in: pass the same mode.
            out.backward(train_mode=training)
            analytic = []
            for item, w in zip(items, work):
                g = item.grad() if isinstance(item, gluon.Parameter) else w.grad
                analytic.append(g.asnumpy().astype(onp.float64))
        else:
            analytic = given

        def evaluate():
            with autograd.pause(train_mode=training):
                return _scalar(f(work), "float64")

        coords, g_checked, g_num, evaluations = [], [], [], 0
        for w, base, g in zip(work, bases, analytic):
            size = base.size
            if samples_per_param is None or samples_per_param >= size:
                flat = onp.arange(size)
            else:
                flat = onp.sort(onp.random.choice(size, samples_per_param, replace=False))
            num = onp.zeros(len(flat))
            for j, k in enumerate(flat):
                idx = onp.unravel_index(k, base.shape)
                _set(w, idx, base[idx] + eps)
                f_plus = evaluate()
                _set(w, idx, base[idx] - eps)
                f_minus = evaluate()
                _set(w, idx, base[idx])
                num[j] = (f_plus - f_minus) / (2 * eps)
                evaluations += 2
            coords.append(flat)
            g_checked.append(g.reshape(-1)[flat])
            g_num.append(num)
    finally:
        for item, data, grad in saved:
            item.set_data(data)
            if grad is not None:
                grad.copyto(item.grad())

    per_param = []
    for flat, a, b, w in zip(coords, g_checked, g_num, work):
        err = onp.abs(a - b)
        k = int(onp.argmax(err)) if err.size else 0
        per_param.append({"rel_diff": relative_difference(a, b),
                          "max_abs_err": float(err.max()) if err.size else 0.0,
                          "argmax": tuple(int(i) for i in onp.unravel_index(flat[k], w.shape))})
    total = relative_difference(onp.concatenate(g_checked), onp.concatenate(g_num))
    return GradCheck(total, per_param, g_checked, g_num, coords, evaluations)


def grad_check(f, params, eps=1e-7, grads=None, training=False, samples_per_param=None):
    """Relative difference ``||g - g_num|| / (||g|| + ||g_num||)`` in float64.

    ``g`` is autograd's gradient of the scalar ``f(arrays)`` with respect to
    ``params`` (or ``grads`` if given), ``g_num`` its two-sided finite
    difference with step ``eps``. Rule of thumb at eps = 1e-7: below about
    1e-7 the gradient is right, around 1e-5 look closer, 1e-3 or more is a
    bug. Arguments as in ``check_gradients``, which also reports which
    parameter is worst.
    """
    return check_gradients(f, params, eps=eps, grads=grads, training=training,
                           samples_per_param=samples_per_param).rel_diff
