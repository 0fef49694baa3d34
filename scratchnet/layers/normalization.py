"""Normalisation layers: BatchNormalization (statistics over the batch) and LayerNormalization
(statistics over the features of each sample).

Both standardise x over a set of reduced axes R (m = number of elements reduced over),

    mu = mean_R(x),  var = mean_R((x - mu)^2)  (biased),  xhat = (x - mu) / sqrt(var + eps),
    y = gamma * xhat + beta,

and share one backward. With g = dL/dxhat = gamma * dy and s = 1 / sqrt(var + eps):

    dx = s * (g - mean_R(g) - xhat * mean_R(g * xhat))

(the two mean terms are the paths through mu and var; for BatchNorm gamma is constant over R so
g can be replaced by dy inside the brackets and gamma pulled out, which is the same formula).
"""
from __future__ import annotations

import numpy as np

from scratchnet import checks
from scratchnet.layers._reduce import reduce_mean, reduce_sum
from scratchnet.layers.base import Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


# -- shared helpers ----------------------------------------------------------------------------
def _as_epsilon(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not value > 0:
        raise ValueError(f"{what}: expected a positive float, got {value!r}")
    return float(value)  # a Python float: a weak scalar, keeps float32 math in float32


def _resolve_axis(axis, rank: int, what: str) -> int:
    """A Keras axis (counting the batch axis 0) as a positive index in [1, rank)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{what}: expected an int axis, got {axis!r}")
    if not (-rank <= axis < rank) or axis % rank == 0:
        raise ValueError(f"{what}: expected a feature axis of the {rank}-d input (N, ...), in [1, {rank - 1}] "
                         f"or [{-(rank - 1)}, -1] (the batch axis 0 cannot be normalised), got {axis}")
    return int(axis) % rank


def normalize_backward(dxhat, xhat, inv_std, axes):
    """dx = inv_std * (dxhat - mean_R(dxhat) - xhat * mean_R(dxhat * xhat)), R = ``axes``.

    The gradient of xhat = (x - mean_R x) * inv_std, inv_std = 1/sqrt(var_R(x) + eps) (biased
    variance), given dL/dxhat. ``inv_std`` broadcasts against x (keepdims shape)."""
    mean_g = reduce_mean(dxhat, axes)
    mean_gx = reduce_mean(dxhat * xhat, axes)
    return inv_std * (dxhat - mean_g - xhat * mean_gx)


def _moments(x, axes):
    """Batch mean, biased variance and the sum of squared deviations (two-pass, like tf.nn.moments)."""
    mean = reduce_mean(x, axes)
    sq_dev = reduce_sum(np.square(x - mean), axes)
    m = int(np.prod([x.shape[a] for a in axes]))
    return mean, sq_dev / m, sq_dev, m


# -- batch normalisation -----------------------------------------------------------------------
def batch_norm_forward(x, gamma, beta, mean, var, epsilon, reduce_axes, training):
    """Training: y = gamma * (x - mu_B) / sqrt(var_B + eps) + beta, with the batch mean and biased
    variance over ``reduce_axes``; inference: the same with the given (running) ``mean``, ``var``.

    ``gamma``, ``beta`` (or None), ``mean``, ``var`` are already shaped to broadcast against x.
    Returns ``(y, cache, stats)``; ``stats = (mu_B, var_B_biased, sum_sq_dev, m)`` in training
    (keepdims shapes), None in inference."""
    stats = None
    if training:
        mean, var, sq_dev, m = _moments(x, reduce_axes)
        stats = (mean, var, sq_dev, m)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    xhat = (x - mean) * inv_std
    y = xhat if gamma is None else xhat * gamma
    if beta is not None:
        y = y + beta
    return y, (xhat, inv_std, gamma, reduce_axes, training), stats


def batch_norm_backward(dy, cache):
    """dx, dgamma, dbeta of batch normalisation (dgamma = sum_R dy * xhat, dbeta = sum_R dy).

    Training: dx = gamma * inv_std * (dy - mean_R(dy) - xhat * mean_R(dy * xhat));
    inference (constant running statistics): dx = gamma * inv_std * dy."""
    xhat, inv_std, gamma, axes, training = cache
    dxhat = dy if gamma is None else dy * gamma
    dx = normalize_backward(dxhat, xhat, inv_std, axes) if training else dxhat * inv_std
    return dx, reduce_sum(dy * xhat, axes, keepdims=False), reduce_sum(dy, axes, keepdims=False)


class BatchNormalization(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, per channel of ``axis`` (Keras's BatchNormalization).

    Shapes: x (N, ..., C, ...) -> y, same shape; ``axis`` (default -1, counting the batch axis
    0 like Keras) is the channel axis; gamma, beta, moving_mean, moving_variance are (C,).
    Statistics reduce over R = every other axis (m = N * prod(other feature dims) elements).

    Forward, training:  mu = mean_R(x),  var = mean_R((x - mu)^2) (biased),
                        xhat = (x - mu) / sqrt(var + eps),  y = gamma * xhat + beta,
        then   moving_mean     <- momentum * moving_mean     + (1 - momentum) * mu
               moving_variance <- momentum * moving_variance + (1 - momentum) * v,
        with v = var (``convention="keras"``) or v = var * m / (m - 1), the unbiased variance
        (``convention="torch"``). The normalisation itself uses the biased var in both.
    Forward, inference: mu, var = moving_mean, moving_variance; nothing is updated.
    Backward, training:  dx = gamma / sqrt(var + eps) * (dy - mean_R(dy) - xhat * mean_R(dy * xhat)),
    Backward, inference: dx = gamma / sqrt(var + eps) * dy;
    both:                dgamma = sum_R(dy * xhat),  dbeta = sum_R(dy).

    ``center=False`` drops beta, ``scale=False`` drops gamma (as if beta = 0, gamma = 1).

    NOTE: ``momentum`` is Keras's: the weight KEPT on the old running value. torch's
    ``BatchNorm1d/2d(momentum=...)`` is the weight of the NEW batch value: torch momentum =
    1 - Keras momentum (torch 0.1 = Keras 0.9; the defaults are torch 0.1 vs Keras 0.99).
    eps defaults differ: torch 1e-5, Keras 1e-3. torch updates running_var with the UNBIASED batch
    variance, Keras with the biased one; no setting of either framework reconciles them, so
    ``convention`` picks which one this layer follows. Names: torch ``weight, bias, running_mean,
    running_var`` (+ ``num_batches_tracked``) = Keras ``gamma, beta, moving_mean, moving_variance``,
    all (C,); torch's channel axis is 1 (NCHW / NCL), Keras's and ours -1 (NHWC / NLC). torch
    refuses a training batch with one value per channel (m = 1); so does ``convention="torch"``
    here (the unbiased variance divides by m - 1), while the Keras convention accepts it (batch
    variance 0), as Keras does. An empty training batch (m = 0) has no statistics at all and is
    refused in both (it would leave NaN in the running statistics for good); either error comes
    before any state changes. Inference mode takes any batch, an empty one included.
    Keras's ``trainable=False`` BN runs in inference mode even when called with ``training=True``.
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, axis=-1, center=True, scale=True,
                 convention="keras", name=None, rng=None):
        super().__init__(name, rng)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating, np.integer)) \
                or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{self.name}: momentum: expected a float in [0, 1] (Keras's weight on the old "
                             f"running value), got {momentum!r}")
        self.momentum = float(momentum)
        self.epsilon = _as_epsilon(epsilon, f"{self.name}: epsilon")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{self.name}: axis: expected an int, got {axis!r}")
        self.axis = int(axis)
        self.center = checks.boolean(center, f"{self.name}: center")
        self.scale = checks.boolean(scale, f"{self.name}: scale")
        if convention not in ("keras", "torch"):
            raise ValueError(f"{self.name}: convention: expected 'keras' or 'torch', got {convention!r}")
        self.convention = convention

    def compute_output_shape(self, input_shape):
        _resolve_axis(self.axis, len(input_shape) + 1, f"{self.name}: axis (input shape (N, "
                      f"{', '.join(map(str, input_shape))}))")
        return tuple(input_shape)

    def _build(self, input_shape, rng):
        rank = len(input_shape) + 1
        self._axis = _resolve_axis(self.axis, rank, f"{self.name}: axis")
        self._reduce_axes = tuple(a for a in range(rank) if a != self._axis)
        self._bshape = tuple(input_shape[self._axis - 1] if a == self._axis else 1 for a in range(rank))
        c = input_shape[self._axis - 1]
        if self.scale:
            self.add_param("gamma", np.ones(c))
        if self.center:
            self.add_param("beta", np.zeros(c))
        self.add_state("moving_mean", np.zeros(c))
        self.add_state("moving_variance", np.ones(c))

    def _shaped(self, name):
        value = self.params.get(name, self.state.get(name))
        return None if value is None else value.reshape(self._bshape)

    def _forward(self, x, training):
        training = bool(training)
        if training and x.size < (2 if self.convention == "torch" else 1) * x.shape[self._axis]:  # m = size / C
            if x.size == 0:
                raise ValueError(f"{self.name}: training mode needs values for the batch statistics, got an "
                                 f"empty batch of shape {x.shape}")
            raise ValueError(f"{self.name}: convention='torch' needs more than one value per channel in "
                             f"training (the unbiased variance divides by m - 1), got input shape {x.shape}")
        y, cache, stats = batch_norm_forward(x, self._shaped("gamma"), self._shaped("beta"),
                                             self._shaped("moving_mean"), self._shaped("moving_variance"),
                                             self.epsilon, self._reduce_axes, training)
        if training:
            mean, var, sq_dev, m = stats
            if self.convention == "torch":
                var = sq_dev / (m - 1)  # unbiased, as torch's running_var
            mom = self.momentum
            mm, mv = self.state["moving_mean"], self.state["moving_variance"]
            mm[...] = mm * mom + mean.reshape(-1) * (1.0 - mom)  # written as Keras writes it
            mv[...] = mv * mom + var.reshape(-1) * (1.0 - mom)
        return y, cache

    def _backward(self, dy, cache):
        dx, dgamma, dbeta = batch_norm_backward(dy, cache)
        if self.scale:
            self.grads["gamma"][...] = dgamma
        if self.center:
            self.grads["beta"][...] = dbeta
        return dx


# -- layer normalisation -----------------------------------------------------------------------
def layer_norm_forward(x, gamma, beta, epsilon, axes):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, mu and biased var over ``axes`` of each
    sample; ``gamma``, ``beta`` (or None) broadcast against x. Returns ``(y, cache)``."""
    mean, var, _, _ = _moments(x, axes)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    xhat = (x - mean) * inv_std
    y = xhat if gamma is None else xhat * gamma
    if beta is not None:
        y = y + beta
    return y, (xhat, inv_std, gamma, axes)


def layer_norm_backward(dy, cache):
    """dx = inv_std * (g - mean_R(g) - xhat * mean_R(g * xhat)), g = gamma * dy, R = the
    normalised axes; dgamma = sum over the other axes of dy * xhat, dbeta = sum of dy, both
    reduced to gamma's broadcast shape (keepdims)."""
    xhat, inv_std, gamma, axes = cache
    dxhat = dy if gamma is None else dy * gamma
    dx = normalize_backward(dxhat, xhat, inv_std, axes)
    other = tuple(a for a in range(dy.ndim) if a not in axes)
    return dx, reduce_sum(dy * xhat, other), reduce_sum(dy, other)


class LayerNormalization(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, statistics per sample over ``axis``.

    Shapes: x (N, ...) -> y, same shape. ``axis`` is an int or a list of ints counting the batch
    axis 0 like Keras (default -1; e.g. [-2, -1] for (N, T, C) normalises each sample's T*C
    values). Axes are sorted (as Keras does); gamma and beta have the shape of the normalised axes
    in that order, e.g. (T, C) for axis=[-2, -1], and broadcast against x.

    Forward:  mu = mean_R(x),  var = mean_R((x - mu)^2) (biased),  xhat = (x - mu)/sqrt(var + eps),
              y = gamma * xhat + beta               (R = the normalised axes, m elements)
    Backward: g = gamma * dy,
              dx = 1/sqrt(var + eps) * (g - mean_R(g) - xhat * mean_R(g * xhat)),
              dgamma = sum over N (and any unnormalised axes) of dy * xhat,  dbeta = same of dy.
    The same in training and inference (no running statistics).

    NOTE: torch's ``nn.LayerNorm(normalized_shape, eps=1e-5)`` always normalises the TRAILING dims:
    ``normalized_shape=(T, C)`` = Keras ``axis=[-2, -1]``; Keras can also normalise non-trailing
    axes (torch cannot). eps defaults differ: torch 1e-5, Keras 1e-3. Names: torch ``weight, bias``
    (shape normalized_shape) = Keras ``gamma, beta`` (shape of the axes). Keras computes
    ``x * inv + (beta - mean * inv)`` with ``inv = gamma * rsqrt(var + eps)``: the same math with
    a different rounding order (ulp-level in float32).
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, name=None, rng=None):
        super().__init__(name, rng)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ValueError(f"{self.name}: axis: expected an int or a non-empty list of ints, got {axis!r}")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = _as_epsilon(epsilon, f"{self.name}: epsilon")
        self.center = checks.boolean(center, f"{self.name}: center")
        self.scale = checks.boolean(scale, f"{self.name}: scale")

    def _axes(self, input_shape):
        rank = len(input_shape) + 1
        shape_txt = f"input shape (N, {', '.join(map(str, input_shape))})"
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        resolved = sorted(_resolve_axis(a, rank, f"{self.name}: axis {self.axis!r} ({shape_txt})") for a in axes)
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"{self.name}: axis: expected distinct axes, got {self.axis!r} for {shape_txt}")
        return tuple(resolved)

    def compute_output_shape(self, input_shape):
        self._axes(input_shape)
        return tuple(input_shape)

    def _build(self, input_shape, rng):
        self._norm_axes = self._axes(input_shape)
        rank = len(input_shape) + 1
        shape = tuple(input_shape[a - 1] for a in self._norm_axes)
        self._bshape = tuple(input_shape[a - 1] if a in self._norm_axes else 1 for a in range(rank))
        if self.scale:
            self.add_param("gamma", np.ones(shape))
        if self.center:
            self.add_param("beta", np.zeros(shape))

    def _forward(self, x, training):
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        gamma = None if gamma is None else gamma.reshape(self._bshape)  # (1, .., normalised dims, ..)
        beta = None if beta is None else beta.reshape(self._bshape)
        return layer_norm_forward(x, gamma, beta, self.epsilon, self._norm_axes)

    def _backward(self, dy, cache):
        dx, dgamma, dbeta = layer_norm_backward(dy, cache)
        if self.scale:
            self.grads["gamma"][...] = dgamma.reshape(self.grads["gamma"].shape)
        if self.center:
            self.grads["beta"][...] = dbeta.reshape(self.grads["beta"].shape)
        return dx
