"""Bidirectional: one recurrent layer over the sequence, a twin over the time-reversed sequence.

With R the wrapped layer (SimpleRNN, LSTM or GRU) and its twin R' (same class and settings, its
own weights), x (N, T, F), rev(x)[:, t] = x[:, T - 1 - t]:
    return_sequences:  y_f = R(x) (N, T, U),  y_b = rev(R'(rev(x)))   (re-reversed: y_b[:, t] is
                       the backward direction's state after reading x_{T-1} .. x_t)
    otherwise:         y_f = R(x)[last] = h_T,  y_b = R'(rev(x))[last]  (the backward direction's
                       last state, which has read the sequence back to x_0)
    merge:  concat [y_f, y_b] (last axis, 2U) | sum y_f + y_b | mul y_f * y_b | ave (y_f + y_b) / 2
Backward: the merge's gradients dy_f, dy_b (concat: the two halves; sum: dy, dy; mul: dy y_b,
dy y_f; ave: dy / 2, dy / 2); dx = R.backward(dy_f) + rev(R'.backward(rev(dy_b))) (without
return_sequences, R'.backward(dy_b)), the parameters' gradients each from its own direction.

Parameters are the two layers' own, named ``forward/<name>`` and ``backward/<name>``
(``forward/kernel``, ``backward/recurrent_kernel``, ...), the same arrays as the sublayers'.
"""
from __future__ import annotations

import copy

import numpy as np

from scratchnet.layers.base import Layer
from scratchnet.layers.recurrent import _Recurrent

__all__ = ["Bidirectional"]

MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """Both directions of a recurrent layer, merged (formulas in the module docstring).

    Shapes: x (N, T, F) -> y (N, T, 2U) with return_sequences and concat, (N, T, U) for the other
    merges; without return_sequences (N, 2U) or (N, U).

    NOTE: Keras ``Bidirectional(layer, merge_mode)`` builds ``backward_layer`` from ``layer``'s
    config with ``go_backwards=True`` and reverses its sequence output back, as here; its weights
    are the forward layer's then the backward layer's, both named ``kernel`` /
    ``recurrent_kernel`` / ``bias`` (under ``forward_<name>`` / ``backward_<name>`` paths). torch's
    ``nn.LSTM(bidirectional=True)`` (also ``nn.GRU``, ``nn.RNN``) keeps the reverse direction as
    ``weight_ih_l0_reverse``, ... and its output ``out`` (N, T, 2U) is the concat merge of the
    sequences; the concat merge WITHOUT return_sequences is ``cat(h_n[0], h_n[1])``, NOT
    ``out[:, -1]``: the reverse direction's last state sits at ``out[:, 0, U:]``.
    """

    def __init__(self, layer, merge_mode="concat", name=None, rng=None):
        super().__init__(name, rng)
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"{self.name}: layer: expected a SimpleRNN, LSTM or GRU, got {type(layer).__name__}")
        if layer.built:
            raise ValueError(f"{self.name}: layer: expected an unbuilt layer (its twin gets its own weights)")
        if getattr(layer, "return_state", False):
            raise ValueError(f"{self.name}: layer: return_state is not supported inside Bidirectional")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"{self.name}: merge_mode: expected one of {', '.join(MERGE_MODES)}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = layer
        self.backward_layer = copy.deepcopy(layer)
        self.forward_layer.name, self.backward_layer.name = f"forward_{layer.name}", f"backward_{layer.name}"
        self.return_sequences = layer.return_sequences

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        return (*shape[:-1], 2 * shape[-1]) if self.merge_mode == "concat" else tuple(shape)

    def _build(self, input_shape, rng):
        for prefix, sub in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            sub.build(input_shape, self.dtype, rng)
            for k in sub.params:  # the same arrays: set_weights and optimizers reach the sublayers
                self.params[f"{prefix}/{k}"] = sub.params[k]
                self.grads[f"{prefix}/{k}"] = sub.grads[k]

    def _forward(self, x, training):
        y_f = self.forward_layer.forward_trusted(x, training).copy()
        y_b = self.backward_layer.forward_trusted(np.ascontiguousarray(x[:, ::-1]), training).copy()
        if self.return_sequences:
            y_b = y_b[:, ::-1]  # re-reversed: time t of the output is time t of the input
        if self.merge_mode == "concat":
            y = np.concatenate([y_f, y_b], axis=-1)
        elif self.merge_mode == "sum":
            y = y_f + y_b
        elif self.merge_mode == "mul":
            y = y_f * y_b
        else:
            y = (y_f + y_b) * y_f.dtype.type(0.5)
        return y, (y_f, y_b)

    def _backward(self, dy, cache):
        y_f, y_b = cache
        u = y_f.shape[-1]
        if self.merge_mode == "concat":
            dy_f, dy_b = dy[..., :u], dy[..., u:]
        elif self.merge_mode == "sum":
            dy_f, dy_b = dy, dy
        elif self.merge_mode == "mul":
            dy_f, dy_b = dy * y_b, dy * y_f
        else:
            dy_f = dy_b = dy * dy.dtype.type(0.5)
        if self.return_sequences:
            dy_b = dy_b[:, ::-1]  # into the backward layer's own (reversed) time order
        dx_f = self.forward_layer.backward_trusted(np.ascontiguousarray(dy_f), self._input_grad)
        dx_f = None if dx_f is None else dx_f.copy()  # a copy: dx is valid only until that layer's next backward
        dx_b = self.backward_layer.backward_trusted(np.ascontiguousarray(dy_b), self._input_grad)
        if not self._input_grad:
            return None
        return dx_f + dx_b[:, ::-1]  # the backward layer read rev(x)
