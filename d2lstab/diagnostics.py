"""Look inside a network: gradient norms, activation statistics, dead units,
and gradient clipping.

The layer-by-layer functions walk a ``gluon.nn.(Hybrid)Sequential`` (nested
ones are flattened) in order, input to output.
"""
import math

from . import _validate as check

__all__ = ["layer_grad_norms", "activation_stats", "dead_unit_fraction",
           "clip_grad_norm", "grad_norm", "flatten_layers", "activation_name"]

# Output thresholds for "saturated": where the derivative is below about 1%
# of its peak. sigmoid'(x) = y(1 - y) < 0.01 * 0.25 when y < 0.0025 or
# y > 0.9975; tanh'(x) = 1 - y^2 < 0.01 when |y| > 0.995.
SIGMOID_SATURATION = 0.0025
TANH_SATURATION = 0.995
RELU_FAMILY = ("relu", "leaky", "prelu", "rrelu", "elu", "selu", "gelu", "swish", "softrelu")


def _check_sequential(net):
    from mxnet import gluon

    if not isinstance(net, (gluon.nn.Sequential, gluon.nn.HybridSequential)):
        raise TypeError(
            f"net must be a gluon.nn.Sequential or HybridSequential, got {type(net).__name__}")


def flatten_layers(net):
    """The leaf layers of a (nested) Sequential, in order."""
    from mxnet import gluon

    _check_sequential(net)
    layers = []
    for child in net._children.values():
        child = child() if callable(child) and not isinstance(child, gluon.Block) else child
        if isinstance(child, (gluon.nn.Sequential, gluon.nn.HybridSequential)):
            layers.extend(flatten_layers(child))
        else:
            layers.append(child)
    return layers


def activation_name(layer):
    """The activation a layer applies ('relu', 'sigmoid', 'leaky', ...) or None."""
    from mxnet.gluon import nn

    act = getattr(layer, "act", None)
    if isinstance(layer, nn.Dense) or (act is not None and not isinstance(layer, nn.Activation)):
        layer = act
        if layer is None:
            return None
    if isinstance(layer, nn.Activation):
        return layer._act_type
    named = {"LeakyReLU": "leaky", "PReLU": "prelu", "ELU": "elu", "SELU": "selu",
             "GELU": "gelu", "Swish": "swish", "SiLU": "swish", "RReLU": "rrelu"}
    name = type(layer).__name__
    if name in named:
        return named[name]
    act_name = getattr(layer, "activation_name", None)  # d2lstab blocks may declare it
    return act_name if isinstance(act_name, str) else None


def _check_data(name, X):
    from mxnet import np

    check.array(name, X)
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row")
    return X


def layer_grad_norms(net, X, y, loss):
    """Gradient norm of each layer's weight after one backward pass on (X, y).

    Runs ``loss(net(X), y)`` under ``autograd.record()`` (training mode),
    back-propagates its mean, and returns ``[(layer_name, ||dL/dW||_F), ...]``
    from the input layer to the output layer, for every parameter whose name
    ends in ``weight`` (biases are left out; they follow the same pattern).
    The gradients it leaves behind are those of this pass.
    """
    from mxnet import autograd

    _check_sequential(net)
    _check_data("X", X)
    check.array("y", y)
    check.callable_("loss", loss)
    with autograd.record():
        l = loss(net(X), y)
        l = l.mean() if l.ndim else l
    l.backward()
    norms = []
    for name, param in net.collect_params().items():
        if not name.endswith("weight") or param.grad_req == "null":
            continue
        g = param.grad()
        layer = name[: -len("weight")].rstrip("_.")
        norms.append((layer or name, float((g * g).sum()) ** 0.5))
    if not norms:
        raise ValueError("net has no trainable weight parameters")
    return norms


def _layer_name(layer, index):
    name = getattr(layer, "name", None) or getattr(layer, "_name", None)
    return name if isinstance(name, str) and name else f"{type(layer).__name__.lower()}{index}"


def _inactive_fraction(out, act):
    """Fraction of outputs in the flat part of the activation."""
    if act == "sigmoid":
        flat = (out < SIGMOID_SATURATION) + (out > 1 - SIGMOID_SATURATION)
    elif act == "tanh":
        flat = abs(out) > TANH_SATURATION
    elif act in ("relu", "softrelu"):
        flat = out <= 0
    else:
        return None
    return float((flat > 0).mean())


def activation_stats(net, X):
    """Statistics of each layer's output for a forward pass of X (prediction mode).

    Returns a list, input to output, of dicts with keys ``layer``,
    ``activation`` (or None), ``mean`` and ``std`` (over all outputs),
    ``input_std`` (each unit's standard deviation across the rows of X,
    averaged over units: how much the layer's output still depends on the
    input) and ``saturated``: for
    sigmoid the fraction of outputs below 0.0025 or above 0.9975, for tanh
    the fraction with |y| > 0.995 (in both the derivative is under 1% of its
    peak), for ReLU the fraction that are exactly 0 (no gradient); None for
    activations that have no flat region.
    """
    _check_sequential(net)
    h = _check_data("X", X)
    stats = []
    for i, layer in enumerate(flatten_layers(net)):
        h = layer(h)
        act = activation_name(layer)
        stats.append({
            "layer": _layer_name(layer, i),
            "activation": act,
            "mean": float(h.mean()),
            "std": float(h.std()),
            "input_std": float(h.reshape(h.shape[0], -1).std(axis=0).mean()),
            "saturated": _inactive_fraction(h, act),
        })
    return stats


def dead_unit_fraction(net, X):
    """Fraction of ReLU-family units that output 0 for every row of X.

    A unit is a column of a layer's (flattened) output; only layers whose
    activation is in the ReLU family count (``relu``, leaky, PReLU, RReLU,
    ELU, SELU, GELU, Swish). A dead ReLU outputs exactly 0 for all inputs,
    so no gradient reaches its weights and it never recovers; the leaky
    variants almost never output exactly 0, which is the point of them.
    Raises ``ValueError`` if ``net`` has no such layer.
    """
    _check_sequential(net)
    h = _check_data("X", X)
    dead, total = 0, 0
    for layer in flatten_layers(net):
        h = layer(h)
        if activation_name(layer) not in RELU_FAMILY:
            continue
        flat = h.reshape(h.shape[0], -1)
        dead += int(((flat != 0).sum(axis=0) == 0).sum())
        total += flat.shape[1]
    if total == 0:
        raise ValueError("net has no ReLU-family layer to inspect")
    return dead / total


def _grads(params):
    arrays = check.params("params", params, need_grad=True)
    return [a.grad for a in arrays]


def grad_norm(params):
    """The global L2 norm of the gradients of ``params``."""
    return math.sqrt(sum(float((g * g).sum()) for g in _grads(params)))


def clip_grad_norm(params, max_norm):
    """Rescale the gradients of ``params`` so their global L2 norm is at most ``max_norm``.

    g <- g * min(1, max_norm / ||g||) with ||g|| the norm over all gradients
    together (Pascanu et al., 2013; ``torch.nn.utils.clip_grad_norm_``), in
    place. Returns the norm before clipping, so a caller can log it. A
    non-finite norm is returned as is and the gradients are left untouched.
    """
    max_norm = check.positive("max_norm", max_norm)
    grads = _grads(params)
    total = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-12)
        for g in grads:
            g[:] = g * scale
    return total
