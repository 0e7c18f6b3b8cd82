"""Batch normalization from scratch (Ioffe and Szegedy 2015), checked against Gluon's.

* ``batch_norm``: the function, for dense ``(n, c)`` and convolutional
  ``(n, c, h, w)`` inputs, training and inference.
* ``BatchNorm``: a Gluon block with learnable ``gamma``/``beta`` and the
  moving statistics, matching ``gluon.nn.BatchNorm(axis=1)``.
* ``fold_batch_norm``: merges an inference-mode BN into the preceding Dense
  or convolution layer.

Momentum follows MXNet (and Keras/TensorFlow): ``moving = momentum * moving +
(1 - momentum) * batch``, so ``momentum=0.9`` keeps 90% of the old average.
PyTorch's ``momentum=0.1`` means the weight of the *new* batch: the same rule,
except that PyTorch's ``running_var`` accumulates the unbiased batch variance,
MXNet's and ours the biased one.
"""
from mxnet import autograd, gluon, init, np

from . import _validate as check

__all__ = ["batch_norm", "BatchNorm", "fold_batch_norm"]


def _stat_shape(X):
    """Shape that broadcasts a per-channel vector over X (channels on axis 1)."""
    return (1, X.shape[1]) + (1,) * (X.ndim - 2)


def _check_vectors(c, per_what, vectors):
    """Each of ``vectors`` (name -> array) must be an array of shape (c,)."""
    for name, v in vectors.items():
        check.array(name, v)
        if v.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), one entry per {per_what}, got {v.shape}")


def _check_channel_vectors(X, **vectors):
    _check_vectors(X.shape[1], f"channel of X (axis 1 of X.shape={X.shape})", vectors)


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.9, training=True):
    r"""Batch normalization over axis 1 of ``X``; returns ``(Y, moving_mean, moving_var)``.

    ``X`` has shape ``(n, c)`` (after a Dense layer) or ``(n, c, h, w)`` (after a
    convolution); ``gamma``, ``beta``, ``moving_mean``, ``moving_var`` have
    shape ``(c,)``. Statistics are per channel, over all other axes
    (for images: over the batch *and* the spatial positions).

    Training: $\mu_B$ and the biased variance $\sigma_B^2 = \operatorname{mean}((x-\mu_B)^2)$
    of the batch give $\hat x = (x-\mu_B)/\sqrt{\sigma_B^2+\epsilon}$,
    $y = \gamma \hat x + \beta$, and the returned moving statistics are
    ``momentum * moving + (1 - momentum) * batch`` (MXNet's convention; the
    biased variance, as MXNet uses). Inference: the moving statistics replace
    the batch's and are returned unchanged. The moving statistics are
    computed outside autograd; ``Y`` is differentiable in ``X``, ``gamma``
    and ``beta``. The inputs are not modified.
    """
    check.array("X", X)
    if X.ndim not in (2, 4):
        raise ValueError(
            f"X must have 2 dimensions (n, c) or 4 dimensions (n, c, h, w), got shape {X.shape}")
    _check_channel_vectors(X, gamma=gamma, beta=beta, moving_mean=moving_mean, moving_var=moving_var)
    eps = check.positive("eps", eps)
    momentum = check.in_range("momentum", momentum, 0, 1)
    training = check.boolean("training", training)
    shape = _stat_shape(X)
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    if training:
        if X.size // X.shape[1] < 2:
            raise ValueError(
                f"X must hold at least 2 values per channel in training (batch statistics of "
                f"one value are degenerate), got shape {X.shape}")
        mean = X.mean(axis=axes, keepdims=True)
        var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)
        X_hat = (X - mean) / np.sqrt(var + eps)
        with autograd.pause():
            new_mean = momentum * moving_mean + (1.0 - momentum) * mean.reshape(-1).detach()
            new_var = momentum * moving_var + (1.0 - momentum) * var.reshape(-1).detach()
    else:
        X_hat = (X - moving_mean.reshape(shape)) / np.sqrt(moving_var.reshape(shape) + eps)
        new_mean, new_var = moving_mean, moving_var
    Y = gamma.reshape(shape) * X_hat + beta.reshape(shape)
    return Y, new_mean, new_var


class BatchNorm(gluon.Block):
    """Batch normalization as a Gluon block (d2l's ``BatchNorm``, tested against Gluon's).

    ``num_features``: channels ``c`` (outputs of a Dense layer or channels of a
    convolution); ``num_dims``: 2 for ``(n, c)`` inputs, 4 for ``(n, c, h, w)``.
    Parameters: ``gamma`` (init 1) and ``beta`` (init 0), learned;
    ``moving_mean`` (init 0) and ``moving_var`` (init 1) with
    ``grad_req='null'``. Training mode (``autograd.record()``) normalizes with
    batch statistics and updates the moving ones; prediction uses the moving
    ones. Training-mode outputs and gradients equal those of
    ``gluon.nn.BatchNorm(axis=1, momentum=momentum, epsilon=eps)``; the moving
    statistics (and so the inference outputs) too once ``momentum`` is exact
    in float32, the type MXNet parses it as (0.875 is, 0.9 is not). The other
    difference is *when* the moving statistics change: ours in the forward
    pass, Gluon's during ``backward()`` (MXNet 1.9.1's CPU operator; its cuDNN
    GPU kernel updates them in the forward pass).
    """

    def __init__(self, num_features, num_dims, momentum=0.9, eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_features = check.integer("num_features", num_features, minimum=1)
        self.num_dims = check.one_of("num_dims", num_dims, {2, 4})
        self.momentum = check.in_range("momentum", momentum, 0, 1)
        self.eps = check.positive("eps", eps)
        shape = (self.num_features,)
        self.gamma = self.params.get("gamma", shape=shape, init=init.One())
        self.beta = self.params.get("beta", shape=shape, init=init.Zero())
        self.moving_mean = self.params.get("moving_mean", shape=shape, init=init.Zero(),
                                           grad_req="null")
        self.moving_var = self.params.get("moving_var", shape=shape, init=init.One(),
                                          grad_req="null")

    def forward(self, X):
        check.array("X", X)
        if X.ndim != self.num_dims or X.shape[1] != self.num_features:
            expected = "(n, c)" if self.num_dims == 2 else "(n, c, h, w)"
            raise ValueError(
                f"X must have shape {expected} with c={self.num_features} "
                f"(num_dims={self.num_dims}), got {X.shape}")
        training = autograd.is_training()
        Y, mean, var = batch_norm(X, self.gamma.data(X.ctx), self.beta.data(X.ctx),
                                  self.moving_mean.data(X.ctx), self.moving_var.data(X.ctx),
                                  eps=self.eps, momentum=self.momentum, training=training)
        if training:
            with autograd.pause():
                self.moving_mean.data(X.ctx)[:] = mean
                self.moving_var.data(X.ctx)[:] = var
        return Y

    def __repr__(self):
        return (f"BatchNorm(num_features={self.num_features}, num_dims={self.num_dims}, "
                f"momentum={self.momentum}, eps={self.eps})")


def fold_batch_norm(weight, bias, gamma, beta, moving_mean, moving_var, eps=1e-5):
    r"""Fold an inference-mode BN into the layer before it; returns ``(weight, bias)``.

    For a layer $z = Wx + b$ followed by $y = \gamma (z-\mu)/\sqrt{\sigma^2+\epsilon} + \beta$
    with fixed (moving) $\mu, \sigma^2$, the single layer with
    $W' = s\,W$ (row ``o`` scaled by $s_o$) and $b' = s\,(b-\mu) + \beta$, where
    $s = \gamma/\sqrt{\sigma^2+\epsilon}$, gives the same output. ``weight`` has
    shape ``(c, in)`` (Dense) or ``(c, in, kh, kw)`` (convolution); ``bias`` is
    ``None`` (a layer with ``use_bias=False``) or shape ``(c,)``. Computed in
    float64, returned in ``weight``'s dtype (the usual inference-time
    optimization of TensorRT, ONNX Runtime, PyTorch's ``fuse_conv_bn_eval``).
    """
    check.array("weight", weight)
    if weight.ndim < 2:
        raise ValueError(f"weight must have shape (c, in) or (c, in, kh, kw), got {weight.shape}")
    c = weight.shape[0]
    vectors = {"gamma": gamma, "beta": beta, "moving_mean": moving_mean, "moving_var": moving_var}
    if bias is not None:
        vectors["bias"] = bias
    _check_vectors(c, f"output of weight (shape {weight.shape})", vectors)
    eps = check.positive("eps", eps)
    f64 = {k: v.astype("float64") for k, v in vectors.items()}
    scale = f64["gamma"] / np.sqrt(f64["moving_var"] + eps)
    b = f64["bias"] if bias is not None else np.zeros((c,), dtype="float64", ctx=weight.ctx)
    new_w = weight.astype("float64") * scale.reshape((c,) + (1,) * (weight.ndim - 1))
    new_b = scale * (b - f64["moving_mean"]) + f64["beta"]
    return new_w.astype(weight.dtype), new_b.astype(weight.dtype)
