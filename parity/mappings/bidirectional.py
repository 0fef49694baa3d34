"""Bidirectional(layer, merge_mode) around SimpleRNN / LSTM / GRU in scratchnet, torch and Keras.

Canonical parameters: the wrapped layer's, twice: ``forward/kernel``, ``forward/recurrent_kernel``,
``forward/bias``, ``backward/kernel``, ... (scratchnet's ``Bidirectional`` names them so; each
converts exactly as the wrapped type's own rules in ``recurrent.py``: gate order, transposes, one
Keras bias against torch's two).

torch: ``nn.LSTM / nn.GRU / nn.RNN(..., bidirectional=True)``; the reverse direction's tensors are
``weight_ih_l0_reverse``, ``weight_hh_l0_reverse``, ``bias_ih_l0_reverse``, ``bias_hh_l0_reverse``.
Its output ``out`` (N, T, 2U) is [forward h_t, backward h_t] at every t, the backward direction
already re-reversed (as Keras does): the concat merge with return_sequences. Without
return_sequences, Keras's output pairs each direction's LAST state: the forward direction's h_T
and the backward direction's state after reading x_T .. x_1, which torch puts at ``out[:, 0, U:]``
and in ``h_n[1]``; ``out[:, -1, U:]`` is the backward direction after a single step (measured:
a wrong twin). The torch module here takes ``h_n`` of both directions. sum / mul / ave merge the
two halves of ``out`` (or of ``h_n``). For SimpleRNN and LSTM, both ``bias_hh`` tensors are zeroed
and frozen (one Keras bias per direction: ``recurrent.py``'s reconciliation, per direction).

Keras: ``keras.layers.Bidirectional(layer, merge_mode)``; its forward and backward layers both name
their variables ``kernel``, ``recurrent_kernel``, ``bias`` (only the ``path`` tells them apart:
``bidirectional/forward_lstm/lstm_cell/kernel``). The harness keys variables by ``name``, so the
Keras layer built here renames each to its canonical ``forward/...`` / ``backward/...`` after
building (``RenamedBidirectional``); the values, paths and order are untouched.
"""
from __future__ import annotations

import dataclasses
import functools

from parity.mappings import recurrent
from parity.mappings.base import SAME, Atlas, BuildContext, LayerMapping, WeightRule, register, snippet

MERGES = ("concat", "sum", "mul", "ave")


def inner_context(ctx: BuildContext) -> BuildContext:
    """The BuildContext of the wrapped layer (its spec, same input)."""
    inner = ctx.spec.params["layer"]
    u = inner.params["units"]
    out = (ctx.in_shape[0], u) if inner.params["return_sequences"] else (u,)
    return dataclasses.replace(ctx, spec=inner, out_shape=out)


@functools.cache
def _torch_modules():
    import torch
    import torch.nn as nn

    class BidirectionalSequence(nn.Module):
        """``rnn`` (bidirectional, batch_first) merged as Keras merges its two directions."""

        def __init__(self, rnn, return_sequences, merge_mode):
            super().__init__()
            self.rnn, self.return_sequences, self.merge_mode = rnn, return_sequences, merge_mode

        def forward(self, x):
            out, h_n = self.rnn(x)  # out (N, T, 2U); h_n (2, N, U) (LSTM: (h_n, c_n))
            if isinstance(h_n, tuple):
                h_n = h_n[0]
            u = self.rnn.hidden_size
            if self.return_sequences:
                y_f, y_b = out[..., :u], out[..., u:]
            else:  # each direction's last state: h_n, NOT out[:, -1]
                y_f, y_b = h_n[0], h_n[1]
            if self.merge_mode == "concat":
                return torch.cat([y_f, y_b], dim=-1)
            if self.merge_mode == "sum":
                return y_f + y_b
            if self.merge_mode == "mul":
                return y_f * y_b
            return (y_f + y_b) * 0.5

    return {"BidirectionalSequence": BidirectionalSequence}


def _torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    if ctx.in_layout.kind != "same":
        raise AssertionError(f"bidirectional: expected a (N, T, F) sequence in the same layout, got {ctx.in_layout}")
    inner = ctx.spec.params["layer"]
    p, kind = inner.params, inner.type
    common = dict(bias=True, batch_first=True, bidirectional=True, dtype=getattr(torch, ctx.dtype))
    features, units = ctx.in_shape[-1], p["units"]
    if kind == "simple_rnn":
        rnn = nn.RNN(features, units, nonlinearity=p["activation"], **common)
    elif kind == "lstm":
        rnn = nn.LSTM(features, units, **common)
    else:
        rnn = nn.GRU(features, units, **common)
    if kind != "gru":  # one Keras bias per direction = bias_ih alone (recurrent.py's reconciliation)
        for name in ("bias_hh_l0", "bias_hh_l0_reverse"):
            with torch.no_grad():
                getattr(rnn, name).zero_()
            getattr(rnn, name).requires_grad_(False)
    module = _torch_modules()["BidirectionalSequence"](rnn, p["return_sequences"], ctx.spec.params["merge_mode"])
    return module, SAME


@functools.cache
def _keras_classes():
    import keras

    class RenamedBidirectional(keras.layers.Bidirectional):
        """Keras's Bidirectional with its variables renamed forward/<name>, backward/<name>."""

        def build(self, input_shape):
            super().build(input_shape)
            for prefix, layer in (("forward", self.forward_layer), ("backward", self.backward_layer)):
                for var in layer.weights:
                    var._name = f"{prefix}/{var.name.split('/')[-1]}"

    return {"RenamedBidirectional": RenamedBidirectional}


def _keras(ctx: BuildContext):
    inner_ctx = inner_context(ctx)
    layer = recurrent._keras_builder(inner_ctx.spec.type)(inner_ctx)
    return _keras_classes()["RenamedBidirectional"](layer, merge_mode=ctx.spec.params["merge_mode"])


def _rules(ctx: BuildContext) -> list[WeightRule]:
    """The wrapped type's rules, once per direction: canonical ``<direction>/<name>``, torch
    ``rnn.<name>`` and ``rnn.<name>_reverse``."""
    base = recurrent.make_rules(inner_context(ctx))
    out = []
    for direction, suffix in (("forward", ""), ("backward", "_reverse")):
        for rule in base:
            torch_names = tuple(n + suffix for n in rule.torch_names)
            out.append(dataclasses.replace(rule, canonical=f"{direction}/{rule.canonical}",
                                           torch=torch_names if isinstance(rule.torch, tuple) else torch_names[0]))
    return out


def _torch_only_if(ctx: BuildContext) -> str | None:
    inner_ctx = inner_context(ctx)
    check = {"simple_rnn": recurrent._simple_rnn_torch_only_if, "gru": recurrent._gru_bidirectional_torch_only_if}.get(inner_ctx.spec.type)
    reason = check(inner_ctx) if check else None
    return None if reason is None else f"layer.{reason}"


ATLAS = Atlas(
    title="bidirectional", snippet=snippet("bidirectional"),
    math=("forward: y_f = R(x), y_b = rev(R'(rev(x))) with return_sequences (re-reversed: time t is time t), "
          "else y_f = h_T of R, y_b = last state of R' (it has read x back to x_1)\n"
          "         R' is R's twin with its own weights; rev(x)[:, t] = x[:, T - 1 - t]\n"
          "         merge: concat [y_f, y_b] | sum y_f + y_b | mul y_f * y_b | ave (y_f + y_b) / 2\n"
          "backward: dy_f, dy_b from the merge (concat: halves; sum: dy, dy; mul: dy y_b, dy y_f; ave: dy/2, dy/2);\n"
          "          dx = R.backward(dy_f) + rev(R'.backward(rev(dy_b))) (without return_sequences R'.backward(dy_b))"),
    scratch="scratchnet.Bidirectional(scratchnet.LSTM(units, return_sequences=...), merge_mode=merge_mode)",
    torch=("BidirectionalSequence(rnn=nn.LSTM|nn.GRU|nn.RNN(F, units, batch_first=True, bidirectional=True)): out, h_n = "
           "rnn(x); y_f, y_b = out[..., :U], out[..., U:] with return_sequences, else h_n[0], h_n[1] (NOT out[:, -1]); "
           "merged; bias_hh_l0 and bias_hh_l0_reverse zeroed and frozen for RNN/LSTM"),
    keras="keras.layers.Bidirectional(keras.layers.LSTM|GRU|SimpleRNN(units, return_sequences=...), merge_mode=merge_mode)",
    layout=("forward/<name> = the wrapped type's rule on rnn.<torch name>, backward/<name> on rnn.<torch name>_reverse "
            "(weight_ih_l0_reverse, weight_hh_l0_reverse, bias_ih_l0_reverse, bias_hh_l0_reverse); gate orders, "
            "transposes and biases exactly as for the wrapped lstm / gru / simple_rnn. Keras: forward_layer's "
            "variables then backward_layer's, each named kernel / recurrent_kernel / bias (renamed "
            "forward/... and backward/... by the harness, paths unchanged)."),
    defaults=("Keras merge_mode 'concat' (the spec's default); torch has only the concat of out (the harness merges "
              "itself for sum / mul / ave). Without return_sequences torch's out[:, -1, U:] is the reverse direction "
              "after ONE step (it starts at t = T): the twin of Keras's output is h_n of both directions "
              "(out[:, 0, U:] == h_n[1])."),
    notes="layer is a nested layer object ({\"type\": \"lstm\", \"units\": ..., \"return_sequences\": ...}), validated "
          "as a layer of its own (errors name layers[i].layer.<field>).")

def _parameter_shapes(params: dict, in_shape: tuple) -> list[tuple[str, tuple]]:
    """The wrapped layer's large parameters, once per direction (``forward/kernel`` ...)."""
    from parity.mappings import layer_mapping

    inner = params["layer"]
    return [(f"{d}/{name}", shape) for d in ("forward", "backward")
            for name, shape in layer_mapping(inner.type).parameter_shapes(inner.params, in_shape)]


# -- the way back (parity.importers) --------------------------------------------------------------
def _from_torch(module, ictx):
    """The harness's ``BidirectionalSequence(rnn=nn.LSTM|GRU|RNN(bidirectional=True))``, or a bare
    ``nn.LSTM|GRU|RNN(batch_first=True, bidirectional=True)`` whose sequence ``out`` is used (a text
    classifier's ``out, _ = self.lstm(x)``): Keras's ``Bidirectional(..., merge_mode="concat")`` with
    return_sequences; its ``torch.cat([h_n[-2], h_n[-1]], dim=1)`` (the importer's hint
    ``final_states``): the same without return_sequences. Its ``out[:, -1]`` is refused: the backward half there has read one step
    (Keras's last output of the backward direction has read the whole sequence, torch's ``h_n[1]``)."""
    import torch.nn as nn

    from parity.mappings.base import Refused, TorchImport, torch_tensors

    if type(module) in (nn.LSTM, nn.GRU, nn.RNN) and module.bidirectional and ictx.hints.get("final_states"):
        rnn, return_sequences, merge_mode = module, False, "concat"  # torch.cat([h_n[-2], h_n[-1]], 1)
    elif type(module) in (nn.LSTM, nn.GRU, nn.RNN) and module.bidirectional:
        if not ictx.hints.get("return_sequences", True):
            raise Refused(f"nn.{type(module).__name__}(bidirectional=True)'s out[:, -1] (or h_n[-1]): the backward "
                          "half there is one step in, or the backward direction alone; Keras's Bidirectional "
                          "without return_sequences is torch.cat([h_n[0], h_n[1]], -1) (the harness's "
                          "BidirectionalSequence)")
        rnn, return_sequences, merge_mode = module, True, "concat"
    elif type(module) is _torch_modules()["BidirectionalSequence"]:
        rnn, return_sequences, merge_mode = module.rnn, bool(module.return_sequences), module.merge_mode
    else:
        return None
    kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "simple_rnn"}.get(type(rnn))
    if kind is None or not rnn.batch_first or rnn.num_layers != 1 or getattr(rnn, "proj_size", 0):
        raise Refused("a bidirectional module around something other than one batch_first nn.LSTM/GRU/RNN layer")
    if not rnn.bias:
        raise Refused(f"nn.{type(rnn).__name__}(bias=False): the spec's {kind} always has a bias")
    if len(ictx.in_shape) != 2 or ictx.in_shape[-1] != rnn.input_size:
        raise Refused(f"nn.{type(rnn).__name__}({rnn.input_size}, ...) on input (N, {', '.join(map(str, ictx.in_shape))})")
    inner = {"type": kind, "units": rnn.hidden_size, "return_sequences": return_sequences}
    if kind == "simple_rnn":
        inner["activation"] = rnn.nonlinearity
    if kind == "gru":
        inner["reset_after"] = True
    return TorchImport({"type": "bidirectional", "layer": inner, "merge_mode": merge_mode}, torch_tensors(rnn, "rnn."))


def _from_keras(layer, ictx):
    """``keras.layers.Bidirectional(LSTM|GRU|SimpleRNN, merge_mode)`` (the backward layer Keras's own
    mirror of the forward one)."""
    import keras

    from parity.mappings import REGISTRY
    from parity.mappings.base import Refused

    if not isinstance(layer, keras.layers.Bidirectional):
        return None
    forward = layer.forward_layer
    inner = None
    for kind in ("lstm", "gru", "simple_rnn"):
        inner = inner or REGISTRY[kind].from_keras(forward, ictx)
    if inner is None or layer.merge_mode not in ("concat", "sum", "mul", "ave"):
        raise Refused(f"Bidirectional({type(forward).__name__}, merge_mode={layer.merge_mode!r}): parity wraps "
                      "LSTM, GRU or SimpleRNN with concat, sum, mul or ave")
    return {"type": "bidirectional", "layer": inner, "merge_mode": layer.merge_mode}


def _keras_weights(layer) -> dict:
    """``forward/<name>`` and ``backward/<name>`` (Keras names both directions' variables alike)."""
    import numpy as np

    return {f"{prefix}/{v.name.split('/')[-1]}": np.array(v.numpy(), copy=True)
            for prefix, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer))
            for v in sub.weights}


register(LayerMapping(type="bidirectional", family="bidirectional", atlas=ATLAS, torch=_torch, keras=_keras,
                      rules=_rules, torch_only_if=_torch_only_if, scratch_class="Bidirectional", trainable=True,
                      parameter_shapes=_parameter_shapes, from_torch=_from_torch, from_keras=_from_keras,
                      keras_weights=_keras_weights))
