"""The layer protocol every scratchnet layer follows.

A layer owns
- ``params``: trainable arrays by Keras name (``kernel``, ``bias``, ``gamma``, ``beta``,
  ``recurrent_kernel``, ``embeddings``), created by ``build`` from the input shape;
- ``grads``: one array per parameter, same name, same shape and dtype, *overwritten* by every
  ``backward`` call (not accumulated);
- ``state``: non-trainable arrays (``moving_mean``, ``moving_variance``), updated by training-mode
  forwards.

and implements
- ``compute_output_shape(input_shape) -> output_shape``: shapes exclude the batch axis; raises
  ``ValueError`` naming the layer when the input does not fit (this is also what the parity
  harness uses to infer shapes through a spec before anything is built);
- ``_build(input_shape, rng)``: create parameters with ``self.add_param``;
- ``_forward(x, training) -> (y, cache)`` and ``_backward(dy, cache) -> dx`` (filling
  ``self.grads``). The public ``forward`` / ``backward`` keep the cache between the two, so the
  backward reads what the forward stored instead of recomputing it.

float32 stays float32 and float64 stays float64: ``forward`` refuses a floating input whose dtype
differs from the layer's, rather than casting it silently.

Buffers and who owns what (the rule every layer follows):
- The array ``forward`` returns, and the arrays its cache keeps, are the layer's work buffers
  (``self._buffer``): allocated once per input shape and dtype, overwritten by the layer's NEXT
  ``forward``. Likewise the dx ``backward`` returns is valid until the layer's next ``backward``
  (forward and backward never share a buffer, so a forward does not clobber a dx).
  Copy what you keep across calls (``Sequential.predict`` returns a copy; the parity harness
  copies ``model.outputs`` and the gradients).
- ``grads`` arrays are written in place by every ``backward`` (the same arrays, so optimizers
  and ``Sequential.parameters()`` may hold them).
- A layer never writes into the arrays it is given, x or dy, unless the caller hands dy over
  with ``backward(dy, consume_dy=True)``: then the layer may overwrite dy (a ReLU's dz is
  written over it). ``Sequential`` does so for the gradients flowing between its layers (so
  after ``Sequential.backward`` an inner layer's dx buffer may hold the dz of the layer below),
  never for the dy it is given. Nothing here is thread-safe: one layer, one thread at a time.
- ``reuse_buffers = False`` (on a layer, or on the class) makes every call allocate fresh arrays.
- ``backward(dy, input_grad=False)`` skips dL/dx and returns None: what ``Sequential.train_step``
  asks of the first layer with parameters (torch's ``requires_grad=False`` input; the frameworks
  skip that product too).
"""
from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype: Any, what: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a numpy float32/float64 dtype or raise a ValueError naming ``what``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{what}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{what}: expected float32 or float64, got {dt}")
    return dt


def pair(value: Any, what: str) -> tuple[int, int]:
    """An int or an [h, w] pair of positive ints, as ``(h, w)``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{what}: expected a positive int or an [h, w] pair of them, got {value!r}")
    if min(value) < 1:
        raise ValueError(f"{what}: expected positive sizes, got {list(value)}")
    return int(value[0]), int(value[1])


def positive_int(value: Any, what: str) -> int:
    """``value`` as a positive int, or a ValueError naming ``what``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what}: expected a positive int, got {value!r}")
    return int(value)


class Layer:
    """Base class: parameters, gradients, state, build-on-first-call and the forward/backward
    cache. Subclasses implement ``compute_output_shape``, ``_build``, ``_forward``, ``_backward``.

    ``rng`` (a ``numpy.random.Generator``) is used for weight initialisation when the layer is
    built lazily by its first ``forward``; ``build(..., rng=...)`` overrides it. Without either,
    ``numpy.random.default_rng(0)`` is used, so an unseeded layer is still deterministic.
    ``name`` defaults to the class name in lower case; ``Sequential.add`` numbers a default name
    the model already has (dense, dense_1, ...), so names never depend on what else the process made.
    """

    def __init__(self, name: str | None = None, rng: np.random.Generator | None = None):
        # no name: the class's ("dense"); Sequential.add numbers it if the model has one already
        self.auto_named = not name
        self.name = name or type(self).__name__.lower()
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.built = False
        self.dtype: np.dtype | None = None
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self._rng = rng
        self._cache: Any = None
        self._y_shape: tuple[int, ...] | None = None  # the last forward's output shape
        self._buffers: dict[str, np.ndarray] = {}
        self._input_grad = True  # set by ``backward``: whether ``_backward`` must compute dL/dx
        self._consume_dy = False  # set by ``backward``: whether ``_backward`` may overwrite dy

    reuse_buffers = True
    integer_input = False  # True where integers are ids, taken as they are (Embedding); else cast

    def _buffer(self, key: str, shape, dtype=None, fill=None) -> np.ndarray:
        """A work array, the same one on every call with the same key, shape and dtype (the
        ownership rule is in the module docstring); fresh when ``reuse_buffers`` is off.
        Uninitialised, or filled with ``fill`` when (re)allocated: a caller that passes ``fill``
        keeps the array's content to itself (a ones vector, the zero border of a padded input)."""
        dtype = self.dtype if dtype is None else dtype
        buf = self._buffers.get(key) if self.reuse_buffers else None
        if buf is None or buf.shape != shape or buf.dtype != dtype:  # shape: a tuple
            buf = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
            if self.reuse_buffers:
                self._buffers[key] = buf
        return buf

    # -- building ---------------------------------------------------------------------------
    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without batch) for ``input_shape`` (without batch). Identity here."""
        return tuple(input_shape)

    def build(self, input_shape, dtype="float64", rng: np.random.Generator | None = None) -> "Layer":
        """Validate ``input_shape`` (no batch axis), fix the dtype and create the parameters."""
        input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        self.dtype = as_float_dtype(dtype, f"{self.name}: dtype")
        self.input_shape = input_shape
        rng = rng if rng is not None else (self._rng if self._rng is not None else np.random.default_rng(0))
        self.params, self.grads = {}, {}
        self._build(input_shape, rng)
        self.built = True
        return self

    def _build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create parameters with ``add_param``. Layers without parameters need not override."""

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a trainable parameter (cast once to the layer dtype) and its zero gradient."""
        value = np.array(value, dtype=self.dtype, order="C")  # a fresh, owned, C-contiguous copy
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def add_state(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a non-trainable array (running statistics)."""
        value = np.array(value, dtype=self.dtype, order="C")
        self.state[name] = value
        return value

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy arrays into parameters/state by name, asserting shape; the dtype stays the layer's."""
        for name, value in weights.items():
            target = self.params.get(name, self.state.get(name))
            if target is None:
                raise ValueError(f"{self.name}: no parameter or state named {name!r} "
                                 f"(has {sorted([*self.params, *self.state])})")
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(f"{self.name}.{name}: expected shape {target.shape}, got {value.shape}")
            target[...] = value

    # -- running ------------------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> None:
        if x.dtype.kind not in "fbiu":
            raise ValueError(f"{self.name}: expected a numeric input, got dtype {x.dtype}")
        if x.ndim < 1 or x.shape[1:] != self.input_shape:
            raise ValueError(f"{self.name}: expected input shape (N, {', '.join(map(str, self.input_shape))}), "
                             f"got {tuple(x.shape)}")
        if x.dtype.kind == "f" and x.dtype != self.dtype:
            raise ValueError(f"{self.name}: expected {self.dtype} input, got {x.dtype} "
                             "(scratchnet never casts silently; cast before calling)")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the output and keep what ``backward`` needs. Builds on first call (float64
        unless x is float32). Integer and bool inputs are cast to the layer dtype (they are
        values), except where ``integer_input`` (ids); a float input of the other dtype is refused."""
        x = np.asarray(x)
        if not self.built:
            self._build_for(x)
        self._check_input(x)
        if x.dtype.kind in "biu" and not self.integer_input:
            x = x.astype(self.dtype)
        return self.forward_trusted(x, training)

    __call__ = forward

    def _build_for(self, x: np.ndarray) -> None:
        if x.ndim < 1:
            raise ValueError(f"{self.name}: expected an input with a batch axis first, got a scalar")
        try:
            self.build(x.shape[1:], x.dtype if x.dtype.kind == "f" else np.float64)
        except ValueError as exc:  # the layer's rule speaks of shapes without the batch axis
            raise ValueError(f"{exc} (from an input of shape {tuple(x.shape)}, batch axis first)") from None

    def forward_trusted(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``forward`` without the input checks, for a caller that guarantees a built layer and
        an input of its built shape and dtype: ``Sequential`` for every layer after the first
        (its input is the output of the layer below; its build checked that they chain)."""
        y, self._cache = self._forward(x, training)
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray, input_grad: bool = True,
                 consume_dy: bool = False) -> np.ndarray | None:
        """Given dL/dy, fill ``self.grads`` and return dL/dx, using the last forward's cache.
        ``input_grad=False``: the caller needs no dL/dx; layers may skip computing it; returns None.
        ``consume_dy=True``: the caller will not read dy again; the layer may overwrite it."""
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        dy = np.asarray(dy)
        if dy.dtype != self.dtype:
            raise ValueError(f"{self.name}: expected {self.dtype} upstream gradient, got {dy.dtype}")
        if dy.shape != self._y_shape:  # numpy would broadcast a wrong batch size silently
            raise ValueError(f"{self.name}: expected an upstream gradient of the output's shape "
                             f"{self._y_shape}, got {dy.shape}")
        return self.backward_trusted(dy, input_grad, consume_dy)

    def backward_trusted(self, dy: np.ndarray, input_grad: bool = True,
                         consume_dy: bool = False) -> np.ndarray | None:
        """``backward`` without the checks, for a caller that guarantees a forward ran and dy is an
        array of the layer's dtype: ``Sequential`` for every layer below the last (dy is the dx of
        the layer above)."""
        self._input_grad = input_grad
        self._consume_dy = consume_dy and dy.flags.writeable
        dx = self._backward(dy, self._cache)
        return dx if input_grad else None

    def _dz_out(self, activation, dy) -> np.ndarray:
        """Where ``activation``'s backward writes dz: over dy when it was handed over and the
        activation allows it (relu, linear), else the layer's "dz" buffer."""
        if self._consume_dy and activation.dy_in_place:
            return dy
        return self._buffer("dz", dy.shape)

    def _forward(self, x: np.ndarray, training: bool):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward(self, dy: np.ndarray, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
