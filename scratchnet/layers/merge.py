"""Merge layers: several tensors in, one out (Keras's ``Add``, ``Subtract``, ``Multiply``,
``Average``, ``Maximum``, ``Minimum``, ``Concatenate``). They take a LIST of inputs and their
backward returns a list of input gradients, one per input, in order; ``scratchnet.Model`` wires
them into a graph (``Sequential`` is a chain of one-input layers and has no place for them).

Shapes (batch axis excluded, as everywhere): every input has the same shape, and so has the
output, except for Concatenate, whose inputs agree on every axis but ``axis``. Broadcasting, which
Keras allows for some merges, is refused: a mismatch is a ValueError naming the layer.

Forward and backward, for inputs x_1 .. x_k and upstream gradient dy (elementwise):
    Add          y = sum_i x_i                 dx_i = dy
    Subtract     y = x_1 - x_2   (k = 2)       dx_1 = dy, dx_2 = -dy
    Multiply     y = prod_i x_i                dx_i = dy * prod_{j != i} x_j   (no division by x_i,
                                                      which may be 0)
    Average      y = (1/k) sum_i x_i           dx_i = dy / k
    Maximum      y = max_i x_i                 dx_i = dy * w_i, w the tie rule below
    Minimum      y = min_i x_i                 as Maximum
    Concatenate  y = [x_1, .., x_k] on axis    dx_i = dy[.., o_i : o_i + s_i, ..] on that axis,
                                                      o_i = s_1 + .. + s_{i-1}

Ties of maximum and minimum (several inputs equal to y at one element), where the derivative is
not defined and the frameworks choose:
- ``convention="keras"`` (the default): the whole dy goes to the FIRST input attaining y (w_i = 1
  for i = the first argmax, 0 for the others). Keras's ``Maximum`` is a chain of ``ops.maximum``,
  and TensorFlow's MaximumGrad gives dy to x where x >= y (MinimumGrad: x <= y), so the first one
  wins at every link of the chain.
- ``convention="torch"``: dy is split equally among the inputs attaining y (w_i = 1/t for each of
  the t tied inputs): what ``torch.maximum`` does for two inputs and ``torch.amax`` over a stack
  for any number.
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers.base import Layer, as_float_dtype

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


def _shape_text(shape) -> str:
    return f"(N, {', '.join(map(str, shape))})" if len(shape) else "(N,)"


class Merge(Layer):
    """Base of the merge layers: a list of inputs, each checked like a one-input layer's, and a
    list of input gradients. ``arity``: the exact number of inputs, or None for any number >= 2.
    ``input_shape`` is the tuple of the inputs' shapes."""

    arity: int | None = None

    def _check_shapes(self, input_shapes) -> tuple[tuple[int, ...], ...]:
        if not isinstance(input_shapes, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shapes):
            raise ValueError(f"{self.name}: expected a list of input shapes, got {input_shapes!r}")
        shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
        if self.arity is not None and len(shapes) != self.arity:
            raise ValueError(f"{self.name}: expected {self.arity} inputs, got {len(shapes)}")
        if len(shapes) < 2:
            raise ValueError(f"{self.name}: expected at least 2 inputs, got {len(shapes)}")
        return shapes

    def compute_output_shape(self, input_shapes):
        shapes = self._check_shapes(input_shapes)
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise ValueError(f"{self.name}: expected inputs of one shape (no broadcasting), got input 0 "
                                 f"{_shape_text(shapes[0])} and input {i} {_shape_text(shape)}")
        return shapes[0]

    def build(self, input_shapes, dtype="float64", rng=None) -> "Merge":
        shapes = self._check_shapes(input_shapes)
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.dtype = as_float_dtype(dtype, f"{self.name}: dtype")
        self.input_shape = shapes
        self.params, self.grads = {}, {}
        self.built = True
        return self

    def forward(self, xs, training: bool = False) -> np.ndarray:
        """``xs``: the list of inputs (integers and bools are cast to the layer dtype)."""
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"{self.name}: expected a list of inputs, got {type(xs).__name__}")
        xs = [np.asarray(x) for x in xs]
        if not self.built:
            if any(x.ndim < 1 for x in xs):
                raise ValueError(f"{self.name}: expected inputs with a batch axis first, got a scalar")
            floats = [x.dtype for x in xs if x.dtype.kind == "f"]
            self.build([x.shape[1:] for x in xs], floats[0] if floats else np.float64)
        if len(xs) != len(self.input_shape):
            raise ValueError(f"{self.name}: expected {len(self.input_shape)} inputs, got {len(xs)}")
        out = []
        for i, (x, shape) in enumerate(zip(xs, self.input_shape)):
            if x.dtype.kind not in "fbiu" or x.ndim < 1 or x.shape[1:] != shape or x.shape[0] != xs[0].shape[0]:
                raise ValueError(f"{self.name}: expected input {i} of shape (N={xs[0].shape[0] if xs[0].ndim else '?'}, "
                                 f"{', '.join(map(str, shape))}), got {tuple(x.shape)} {x.dtype}")
            if x.dtype.kind == "f" and x.dtype != self.dtype:
                raise ValueError(f"{self.name}: expected {self.dtype} input {i}, got {x.dtype} "
                                 "(scratchnet never casts silently; cast before calling)")
            out.append(x if x.dtype.kind == "f" else x.astype(self.dtype))
        return self.forward_trusted(out, training)

    __call__ = forward


class Add(Merge):
    """y = x_1 + ... + x_k; dx_i = dy (the same array for every input: the caller must not write
    into it; ``Model`` sums gradients into fresh arrays). Keras ``Add``, torch ``a + b``."""

    def _forward(self, xs, training):
        y = self._buffer("y", xs[0].shape)
        np.add(xs[0], xs[1], y)
        for x in xs[2:]:
            np.add(y, x, y)
        return y, len(xs)

    def _backward(self, dy, k):
        return [dy] * k


class Subtract(Merge):
    """y = x_1 - x_2 (exactly two inputs); dx_1 = dy, dx_2 = -dy. Keras ``Subtract``, torch ``a - b``."""

    arity = 2

    def _forward(self, xs, training):
        y = self._buffer("y", xs[0].shape)
        np.subtract(xs[0], xs[1], y)
        return y, 2  # (a cache that is not None: the forward ran)

    def _backward(self, dy, k):
        return [dy, np.negative(dy, self._buffer("dx2", dy.shape))]


class Multiply(Merge):
    """y = x_1 * ... * x_k; dx_i = dy * prod_{j != i} x_j, each product formed from the inputs
    (never y / x_i, which fails where x_i = 0). Keras ``Multiply``, torch ``a * b``."""

    def _forward(self, xs, training):
        y = self._buffer("y", xs[0].shape)
        np.multiply(xs[0], xs[1], y)
        for x in xs[2:]:
            np.multiply(y, x, y)
        return y, xs

    def _backward(self, dy, xs):
        dxs = []
        for i in range(len(xs)):
            dx = self._buffer(f"dx{i}", dy.shape)
            np.copyto(dx, dy)
            for j, x in enumerate(xs):
                if j != i:
                    np.multiply(dx, x, dx)
            dxs.append(dx)
        return dxs


class Average(Merge):
    """y = (x_1 + ... + x_k) / k; dx_i = dy / k (one array for every input). Keras ``Average``
    (sum, then divide by k), torch ``(a + b) / 2``."""

    def _forward(self, xs, training):
        y = self._buffer("y", xs[0].shape)
        np.add(xs[0], xs[1], y)
        for x in xs[2:]:
            np.add(y, x, y)
        np.divide(y, self.dtype.type(len(xs)), y)
        return y, len(xs)

    def _backward(self, dy, k):
        dx = np.divide(dy, self.dtype.type(k), self._buffer("dx", dy.shape))
        return [dx] * k


class _Extremum(Merge):
    """Maximum and Minimum: y = the elementwise extreme of the inputs; dy goes to the inputs
    attaining it by ``convention`` (see the module docstring): "keras" all to the first of them,
    "torch" split equally among them."""

    _reduce = None  # np.maximum | np.minimum

    def __init__(self, convention: str = "keras", name=None, rng=None):
        super().__init__(name, rng)
        if convention not in ("keras", "torch"):
            raise ValueError(f"{self.name}: convention: expected 'keras' or 'torch', got {convention!r}")
        self.convention = convention

    def _forward(self, xs, training):
        y = self._buffer("y", xs[0].shape)
        type(self)._reduce(xs[0], xs[1], out=y)
        for x in xs[2:]:
            type(self)._reduce(y, x, out=y)
        return y, (xs, y)

    def _backward(self, dy, cache):
        xs, y = cache
        attains = [x == y for x in xs]  # (N, ...) boolean per input
        if self.convention == "keras":
            taken = np.zeros(dy.shape, bool)
            weights = []
            for a in attains:
                first = a & ~taken  # attains y and no earlier input did
                taken |= a
                weights.append(first)
            return [np.multiply(dy, w, self._buffer(f"dx{i}", dy.shape)) for i, w in enumerate(weights)]
        ties = np.sum(attains, axis=0)  # >= 1 everywhere: y is one of the inputs
        share = np.divide(dy, ties, self._buffer("share", dy.shape))
        return [np.multiply(share, a, self._buffer(f"dx{i}", dy.shape)) for i, a in enumerate(attains)]


class Maximum(_Extremum):
    """y = max(x_1, ..., x_k) elementwise; ties by ``convention`` (module docstring). Keras
    ``Maximum``; torch ``torch.maximum(a, b)`` / ``torch.stack(xs).amax(0)``."""

    _reduce = np.maximum


class Minimum(_Extremum):
    """y = min(x_1, ..., x_k) elementwise; ties by ``convention`` (module docstring). Keras
    ``Minimum``; torch ``torch.minimum(a, b)`` / ``torch.stack(xs).amin(0)``."""

    _reduce = np.minimum


class Concatenate(Merge):
    """y = the inputs joined along ``axis`` (Keras's meaning: the batch axis is 0, so -1 is the
    last axis and 0 is refused).

    Shapes: x_i (N, ..., s_i, ...) -> y (N, ..., s_1 + ... + s_k, ...); every other axis agrees.
    Forward:  y = concatenate([x_1, ..., x_k], axis)
    Backward: dx_i = dy[..., o_i:o_i + s_i, ...] along axis, o_i = s_1 + ... + s_{i-1} (views of dy)

    NOTE: torch's ``torch.cat(xs, dim)`` counts dims of its own layout: on an NCHW image the
    channel axis (Keras -1) is torch dim 1; the harness translates.
    """

    def __init__(self, axis: int = -1, name=None, rng=None):
        super().__init__(name, rng)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{self.name}: axis: expected an int, got {axis!r}")
        self.axis = int(axis)

    def _per_sample_axis(self, rank: int) -> int:
        """The axis of the per-sample shape (rank axes, batch excluded) that ``axis`` names."""
        full = rank + 1
        if not -full <= self.axis < full or self.axis % full == 0:
            raise ValueError(f"{self.name}: axis: expected a non-batch axis of the {full}-d inputs, in "
                             f"[1, {full - 1}] or [{-full + 1}, -1], got {self.axis}")
        return self.axis % full - 1

    def compute_output_shape(self, input_shapes):
        shapes = self._check_shapes(input_shapes)
        for i, shape in enumerate(shapes[1:], start=1):
            if len(shape) != len(shapes[0]):
                raise ValueError(f"{self.name}: expected inputs of one rank, got input 0 {_shape_text(shapes[0])} "
                                 f"and input {i} {_shape_text(shape)}")
        if not shapes[0]:
            raise ValueError(f"{self.name}: expected inputs with an axis to concatenate, got (N,)")
        a = self._per_sample_axis(len(shapes[0]))
        for i, shape in enumerate(shapes[1:], start=1):
            if shape[:a] + shape[a + 1:] != shapes[0][:a] + shapes[0][a + 1:]:
                raise ValueError(f"{self.name}: expected inputs that agree on every axis but axis {self.axis} "
                                 f"(no broadcasting), got input 0 {_shape_text(shapes[0])} and input {i} "
                                 f"{_shape_text(shape)}")
        return (*shapes[0][:a], sum(s[a] for s in shapes), *shapes[0][a + 1:])

    def _forward(self, xs, training):
        a = self._per_sample_axis(len(self.output_shape)) + 1  # with the batch axis
        y = self._buffer("y", (xs[0].shape[0], *self.output_shape))
        np.concatenate(xs, axis=a, out=y)
        return y, (a, [x.shape[a] for x in xs])

    def _backward(self, dy, cache):
        a, sizes = cache
        offsets = np.cumsum([0, *sizes])
        index = [slice(None)] * dy.ndim
        dxs = []
        for lo, hi in zip(offsets[:-1], offsets[1:]):
            index[a] = slice(int(lo), int(hi))
            dxs.append(dy[tuple(index)])  # (N, ..., s_i, ...), a view of dy
        return dxs
