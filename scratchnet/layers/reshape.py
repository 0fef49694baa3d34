"""Shape-only layers: Flatten and Reshape. No parameters; the backward undoes the reshape."""
from __future__ import annotations

import numpy as np

from scratchnet.layers.base import Layer

__all__ = ["Flatten", "Reshape"]


def _shape_text(shape) -> str:
    return f"(N, {', '.join(map(str, shape))})" if len(shape) else "(N,)"


class Flatten(Layer):
    """y = x reshaped to (N, prod of the other dims), in C order of the channels-last layout.

    Shapes: x (N, H, W, C) -> y (N, H*W*C); element x[n, h, w, c] lands at column
    (h*W + w)*C + c. Any rank works: (N, d1, ..., dk) -> (N, d1*...*dk); (N,) -> (N, 1).
    Forward:  y = reshape(x, (N, -1))
    Backward: dx = reshape(dy, x.shape)

    NOTE: torch's ``nn.Flatten`` sees NCHW and flattens in (C, H, W) order, Keras (like this layer)
    in (H, W, C) order, so a Dense after a Flatten has its input rows permuted. With torch's
    ``nn.Linear`` ``weight`` (U, C*H*W):
        perm = np.arange(C*H*W).reshape(C, H, W).transpose(1, 2, 0).ravel()   # (H*W*C,)
        kernel = weight.T[perm]                                                # (H*W*C, U)
    (row j of kernel is the torch row of the same (h, w, c) element). Keras's
    ``Flatten(data_format="channels_first")`` would flatten like torch; the spec uses channels-last.
    """

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def _forward(self, x, training):
        return x.reshape(x.shape[0], *self.output_shape), x.shape  # (N, H*W*C); -1 fails on N = 0

    def _backward(self, dy, shape):
        return dy.reshape(shape)  # (N, H, W, C)


class Reshape(Layer):
    """y = x reshaped to (N, *target_shape), C order; ``target_shape`` excludes the batch axis and
    may hold one -1, inferred from the element count (as in Keras).

    Shapes: x (N, d1, ..., dk) -> y (N, t1, ..., tj) with prod(t) = prod(d).
    Forward:  y = reshape(x, (N, *target_shape))
    Backward: dx = reshape(dy, x.shape)

    NOTE: Keras ``Reshape(target_shape)`` excludes the batch axis and reshapes in C order of the
    channels-last data; torch's ``x.reshape(N, ...)`` / ``nn.Unflatten`` act on whatever layout the
    tensor has, so on NCHW data the same target gives a different element order: the harness must
    permute to channels-last before reshaping (as for Flatten).
    """

    def __init__(self, target_shape, name=None, rng=None):
        super().__init__(name, rng)
        target = tuple(target_shape) if isinstance(target_shape, (list, tuple)) else (target_shape,)
        if (any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or (t < 1 and t != -1)
                for t in target) or sum(t == -1 for t in target) > 1 or not target):
            raise ValueError(f"{self.name}: target_shape: expected a non-empty list of positive ints with at "
                             f"most one -1, got {target_shape!r}")
        self.target_shape = tuple(int(t) for t in target)

    def compute_output_shape(self, input_shape):
        total = int(np.prod(input_shape, dtype=np.int64))
        known = int(np.prod([t for t in self.target_shape if t != -1], dtype=np.int64))
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(f"{self.name}: target_shape: {list(self.target_shape)} cannot hold the "
                                 f"{total} elements of input shape {_shape_text(input_shape)} "
                                 f"({total} is not a multiple of {known})")
            return tuple(total // known if t == -1 else t for t in self.target_shape)
        if known != total:
            raise ValueError(f"{self.name}: target_shape: expected {total} elements (input shape "
                             f"{_shape_text(input_shape)}), got {list(self.target_shape)} with {known}")
        return self.target_shape

    def _forward(self, x, training):
        return x.reshape(x.shape[0], *self.output_shape), x.shape  # (N, *target_shape)

    def _backward(self, dy, shape):
        return dy.reshape(shape)  # (N, d1, ..., dk)
