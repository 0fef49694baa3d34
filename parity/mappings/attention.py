"""Multi-head attention (``multi_head_attention``) in scratchnet, torch and Keras.

Inputs (the layer's ``inputs``): ``[query]`` (self-attention), ``[query, value]`` (key = value) or
``[query, value, key]``, sequences (N, T, E). Keras's ``MultiHeadAttention`` is the reference; its
kernels, in the canonical (scratchnet = Keras) layout and names:

    query/kernel (E_q, H, Dk)   query/bias (H, Dk)      key/kernel (E_k, H, Dk)   key/bias (H, Dk)
    value/kernel (E_v, H, Dv)   value/bias (H, Dv)      attention_output/kernel (H, Dv, E_out)
    attention_output/bias (E_out,)

Keras: ``keras.layers.MultiHeadAttention(num_heads, key_dim, value_dim, use_bias, output_shape)``
called as ``layer(query, value, key, use_causal_mask=causal)``; its four EinsumDense sublayers are
named ``query``, ``key``, ``value``, ``attention_output`` and each names its variables ``kernel`` and
``bias`` (only ``variable.path`` tells them apart), so the Keras layer built here (``ListAttention``)
renames them ``<sublayer>/<name>`` after building, and takes the list of inputs the harness gives
every multi-input layer.

torch, where ``nn.MultiheadAttention`` is a twin (DESIGN.md "Graphs": ``num_heads * key_dim == E_q``,
``value_dim == key_dim``, ``output_shape`` null or E_q): ``nn.MultiheadAttention(E_q, H, bias,
kdim=E_k, vdim=E_v, batch_first=True)`` called as ``mha(query, key, value, attn_mask=...,
need_weights=False)`` (note the order: key before value). Its projections are ``x W^T + b`` with W
(H*D, E) whose row h*D + d is head h's feature d:

    kdim == vdim == E_q:  in_proj_weight (3E, E) = [W_q; W_k; W_v], each W = kernel.reshape(E, H*D).T
    otherwise:            q_proj_weight (E, E_q), k_proj_weight (E, E_k), v_proj_weight (E, E_v)
                          (in_proj_weight is None), each kernel.reshape(E_x, H*D).T
    in_proj_bias (3E,) = [b_q.ravel(), b_k.ravel(), b_v.ravel()]   (packed in both cases)
    out_proj.weight (E, E) = attention_output/kernel.reshape(H*Dv, E).T,  out_proj.bias = bias

Elsewhere (a key_dim that does not divide E_q into heads, value_dim != key_dim, another output
size) torch has no module that computes Keras's layer, and the torch side is built from the
functional pieces (``FunctionalAttention``): parameters in Keras's layout (``query.kernel``, ...:
identity conversions), ``torch.einsum`` projections and ``F.scaled_dot_product_attention(q, k, v,
is_causal=causal, scale=1/sqrt(Dk))`` on (N, H, T, D).

Causal masks, each in its framework's polarity (``tests/parity/test_mappings_attention.py`` checks
them against each other): torch's module ``attn_mask`` True = may NOT attend (``triu(ones, 1)``);
SDPA's boolean ``attn_mask`` True = may attend (``tril(ones)``), or ``is_causal=True``; Keras
``use_causal_mask=True`` (``band_part(ones, -1, 0)``, may attend); scratchnet ``causal=True``.
A causal mask on query and key of different lengths is refused: the frameworks align such a mask
differently (top-left in torch's SDPA and Keras, bottom-right in flash-attention's convention).

Precision: Keras's TensorFlow backend multiplies the scores by ``tf.cast(1/sqrt(Dk), dtype)`` of a
Python float, which TensorFlow first makes a float32 tensor: in float64 the scale is the
float32-rounded 1/sqrt(Dk), exact for Dk = 1, 4, 16, 64 and off by up to 2^-24 relative
elsewhere (key_dim 3: 1.8e-8, key_dim 2: 1.2e-8). That is a declared ``deviation`` of Keras in float64, followed by
scratchnet's ``score_scale_dtype="float32"``.

The key bias's gradient is 0 identically (b_k adds q_i . b_k to every score of query row i, which
the softmax ignores): every framework's is rounding noise.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from parity.mappings.base import (SAME, Atlas, BuildContext, Deviation, LayerMapping, WeightRule, expect_shape,
                                  float32_representable, identity_rule, register, snippet)

ALL = ("output", "loss", "grad", "step", "state")
PROJECTIONS = ("query", "key", "value")
# the bound of the float64 scale deviation where it is not followed: 2^-24 (the most a float32 rounding
# moves 1/sqrt(key_dim)) times scores up to ~16 in size; measured 2.0e-8 on attention-key-dim3, whose
# rerun following score_scale_dtype="float32" agrees to 3e-16
SCALE_DEVIATION_RTOL = 1e-6


def dims(ctx: BuildContext) -> dict:
    """E_q, E_k, E_v, T_q, T_k, H, Dk, Dv, E_out of the layer, from its spec and input shapes."""
    p, shapes = ctx.spec.params, ctx.in_shapes
    q = shapes[0]
    v = shapes[1] if len(shapes) > 1 else q
    k = shapes[2] if len(shapes) > 2 else v
    dk = p["key_dim"]
    dv = p["value_dim"] if p["value_dim"] is not None else dk
    return {"E_q": q[-1], "E_k": k[-1], "E_v": v[-1], "T_q": q[0], "T_k": k[0], "H": p["num_heads"], "Dk": dk,
            "Dv": dv, "E_out": p["output_shape"] or q[-1]}


def twin_reason(ctx: BuildContext) -> str | None:
    """Why torch's nn.MultiheadAttention is no twin of this layer (None: it is one)."""
    d = dims(ctx)
    if d["H"] * d["Dk"] != d["E_q"]:
        return (f"num_heads * key_dim = {d['H']} * {d['Dk']} != E_q = {d['E_q']}: torch's module splits the query's "
                f"E_q features into num_heads heads of E_q / num_heads")
    if d["Dv"] != d["Dk"]:
        return f"value_dim {d['Dv']} != key_dim {d['Dk']}: torch's module has one head size"
    if d["E_out"] != d["E_q"]:
        return f"output_shape {d['E_out']} != E_q {d['E_q']}: torch's out_proj is (E_q, E_q)"
    return None


# -- torch ---------------------------------------------------------------------------------------
@functools.cache
def _torch_classes():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def split(xs):
        q = xs[0]
        v = xs[1] if len(xs) > 1 else q
        return q, v, xs[2] if len(xs) > 2 else v

    class TwinAttention(nn.Module):
        """``nn.MultiheadAttention(batch_first=True)`` called on (query, key, value) from the harness's
        [query], [query, value] or [query, value, key]; the causal mask in the module's polarity
        (True = may NOT attend)."""

        def __init__(self, embed_dim, num_heads, kdim, vdim, bias, causal):
            super().__init__()
            self.mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=True)
            self.causal = causal

        def forward(self, *xs):
            q, v, k = split(xs)
            mask = None
            if self.causal:
                mask = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool).triu(1)  # True: blocked
            out, _ = self.mha(q, k, v, attn_mask=mask, need_weights=False)
            return out

    class Projection(nn.Module):
        """A Keras EinsumDense "abc,cde->abde" as parameters: kernel (E, H, D), bias (H, D)."""

        def __init__(self, shape, bias):
            super().__init__()
            self.kernel = nn.Parameter(torch.zeros(shape))
            self.bias = nn.Parameter(torch.zeros(shape[1:])) if bias else None

    class FunctionalAttention(nn.Module):
        """Keras's layer from torch's functional pieces: einsum projections with Keras-layout
        parameters and ``F.scaled_dot_product_attention`` (its causal mask by ``is_causal``)."""

        def __init__(self, d, bias, causal):
            super().__init__()
            self.query = Projection((d["E_q"], d["H"], d["Dk"]), bias)
            self.key = Projection((d["E_k"], d["H"], d["Dk"]), bias)
            self.value = Projection((d["E_v"], d["H"], d["Dv"]), bias)
            self.attention_output = Projection((d["H"], d["Dv"], d["E_out"]), False)
            self.attention_output.bias = nn.Parameter(torch.zeros(d["E_out"])) if bias else None
            self.scale, self.causal = 1.0 / math.sqrt(d["Dk"]), causal

        @staticmethod
        def _project(x, p):
            y = torch.einsum("nte,ehd->nhtd", x, p.kernel)  # (N, H, T, D): SDPA's layout
            return y if p.bias is None else y + p.bias[:, None, :]

        def forward(self, *xs):
            q, v, k = split(xs)
            o = F.scaled_dot_product_attention(self._project(q, self.query), self._project(k, self.key),
                                               self._project(v, self.value), is_causal=self.causal,
                                               scale=self.scale)  # (N, H, T_q, Dv)
            y = torch.einsum("nhid,hde->nie", o, self.attention_output.kernel)
            return y if self.attention_output.bias is None else y + self.attention_output.bias

    return TwinAttention, FunctionalAttention


def _torch(ctx: BuildContext):
    p, d = ctx.spec.params, dims(ctx)
    twin, functional = _torch_classes()
    if twin_reason(ctx) is None:
        return twin(d["E_q"], d["H"], d["E_k"], d["E_v"], p["use_bias"], p["causal"]), SAME
    return functional(d, p["use_bias"], p["causal"]), SAME


def _flat_rule(canonical: str, torch_name: str, shape: tuple[int, int, int]) -> WeightRule:
    """kernel (E, H, D) <-> torch (H*D, E): the projection x W^T of torch's module."""
    e, h, dd = shape

    return WeightRule(canonical, torch_name,
                      lambda a, ctx: expect_shape(a, shape, f"canonical {canonical}").reshape(e, h * dd).T.copy(),
                      lambda w, ctx: expect_shape(w, (h * dd, e), f"torch {torch_name}").T.reshape(shape).copy())


def _packed_kernels(shapes: list[tuple[int, int, int]]) -> WeightRule:
    """query/key/value kernels (E, H, D) each <-> torch in_proj_weight (3E, E) = [W_q; W_k; W_v]."""
    e = shapes[0][0]
    names = tuple(f"{n}/kernel" for n in PROJECTIONS)

    def to_torch(arrays, ctx):
        return np.concatenate([expect_shape(a, s, f"canonical {n}").reshape(e, e).T
                               for a, s, n in zip(arrays, shapes, names)])

    def to_canonical(w, ctx):
        expect_shape(w, (3 * e, e), "torch mha.in_proj_weight")
        return tuple(w[i * e:(i + 1) * e].T.reshape(s).copy() for i, s in enumerate(shapes))

    return WeightRule(names, "mha.in_proj_weight", to_torch, to_canonical)


def _packed_biases(shape: tuple[int, int]) -> WeightRule:
    """query/key/value biases (H, D) each <-> torch in_proj_bias (3E,) = [b_q, b_k, b_v] raveled."""
    e = shape[0] * shape[1]
    names = tuple(f"{n}/bias" for n in PROJECTIONS)

    def to_torch(arrays, ctx):
        return np.concatenate([expect_shape(a, shape, f"canonical {n}").ravel() for a, n in zip(arrays, names)])

    def to_canonical(b, ctx):
        expect_shape(b, (3 * e,), "torch mha.in_proj_bias")
        return tuple(b[i * e:(i + 1) * e].reshape(shape).copy() for i in range(3))

    return WeightRule(names, "mha.in_proj_bias", to_torch, to_canonical)


def _rules(ctx: BuildContext) -> list[WeightRule]:
    d, bias = dims(ctx), ctx.spec.params["use_bias"]
    kernels = {"query": (d["E_q"], d["H"], d["Dk"]), "key": (d["E_k"], d["H"], d["Dk"]),
               "value": (d["E_v"], d["H"], d["Dv"])}
    out_kernel = (d["H"], d["Dv"], d["E_out"])
    if twin_reason(ctx) is not None:  # FunctionalAttention: Keras's layout, torch names with dots
        rules = [identity_rule(f"{n}/kernel", f"{n}.kernel", s) for n, s in kernels.items()]
        rules.append(identity_rule("attention_output/kernel", "attention_output.kernel", out_kernel))
        if bias:
            rules += [identity_rule(f"{n}/bias", f"{n}.bias", s[1:]) for n, s in kernels.items()]
            rules.append(identity_rule("attention_output/bias", "attention_output.bias", (d["E_out"],)))
        return rules
    if d["E_k"] == d["E_v"] == d["E_q"]:
        rules = [_packed_kernels(list(kernels.values()))]
    else:
        rules = [_flat_rule(f"{n}/kernel", f"mha.{n[0]}_proj_weight", s) for n, s in kernels.items()]
    e, h, dv = d["E_q"], d["H"], d["Dv"]
    rules.append(WeightRule(
        "attention_output/kernel", "mha.out_proj.weight",
        lambda a, c: expect_shape(a, out_kernel, "canonical attention_output/kernel").reshape(h * dv, e).T.copy(),
        lambda w, c: expect_shape(w, (e, h * dv), "torch mha.out_proj.weight").T.reshape(out_kernel).copy()))
    if bias:
        rules += [_packed_biases((d["H"], d["Dk"])), identity_rule("attention_output/bias", "mha.out_proj.bias", (e,))]
    return rules


# -- Keras ---------------------------------------------------------------------------------------
@functools.cache
def _keras_classes():
    import keras

    class ListAttention(keras.layers.MultiHeadAttention):
        """Keras's MultiHeadAttention called on the list [query], [query, value] or [query, value, key],
        ``use_causal_mask`` fixed at construction; after building, its variables are renamed
        ``<sublayer>/<name>`` (query/kernel, ..., attention_output/bias): values, paths and order
        untouched."""

        def __init__(self, causal=False, **kwargs):
            super().__init__(**kwargs)
            self.causal = causal

        @staticmethod
        def _split(xs):
            q = xs[0]
            v = xs[1] if len(xs) > 1 else q
            return q, v, xs[2] if len(xs) > 2 else v

        def build(self, input_shapes):
            q, v, k = self._split(input_shapes)
            super().build(q, v, k)
            for sub in (self._query_dense, self._key_dense, self._value_dense, self._output_dense):
                for var in sub.weights:
                    var._name = f"{sub.name}/{var.name.split('/')[-1]}"

        def call(self, inputs, training=None):
            q, v, k = self._split(inputs)
            return super().call(q, v, k, use_causal_mask=self.causal, training=training)

        def compute_output_shape(self, *shapes):  # the list, or Keras's own (query, value, key) shapes
            return super().compute_output_shape(*(self._split(shapes[0]) if len(shapes) == 1 else shapes))

        def compute_output_spec(self, inputs, training=None):
            return super().compute_output_spec(*self._split(inputs))

    return ListAttention


def _keras(ctx: BuildContext):
    p = ctx.spec.params
    return _keras_classes()(causal=p["causal"], num_heads=p["num_heads"], key_dim=p["key_dim"],
                            value_dim=p["value_dim"], use_bias=p["use_bias"], output_shape=p["output_shape"])


# -- facts ---------------------------------------------------------------------------------------
def scale_rounding(key_dim: int) -> float:
    """Relative error of TF's float32-rounded 1/sqrt(key_dim) in float64."""
    s = 1.0 / math.sqrt(key_dim)
    return abs(float(np.float32(s)) - s) / s


def _deviations(ctx: BuildContext) -> list[Deviation]:
    dk = ctx.spec.params["key_dim"]
    if ctx.dtype != "float64" or float32_representable(1.0 / math.sqrt(dk)):
        return []
    return [Deviation("keras", ALL, SCALE_DEVIATION_RTOL,
                      f"TF's float64 MultiHeadAttention scales the scores by the float32-rounded 1/sqrt(key_dim) "
                      f"(key_dim {dk}: {float(np.float32(1 / math.sqrt(dk)))!r}, {scale_rounding(dk):.2g} relative "
                      f"off; exact for key_dim 1, 4, 16, 64)", follow={"score_scale_dtype": "float32"})]


def _parameter_shapes(p: dict, in_shape: tuple) -> list[tuple[str, tuple]]:
    """The query and output kernels (the key's and value's depend on inputs besides the first)."""
    e = in_shape[-1]
    dv = p["value_dim"] if p["value_dim"] is not None else p["key_dim"]
    return [("query/kernel", (e, p["num_heads"], p["key_dim"])),
            ("attention_output/kernel", (p["num_heads"], dv, p["output_shape"] or e))]


def _check_inputs(layer, in_shapes: tuple, case) -> tuple[str, str, object] | None:
    """A causal mask on query and key of different lengths (the frameworks align it differently)."""
    if not layer.params["causal"] or any(len(s) != 2 for s in in_shapes):
        return None
    key = in_shapes[-1]
    if in_shapes[0][0] != key[0]:
        return ("causal", "expected false, or query and key of one length for a causal mask (torch's SDPA and "
                          "Keras align the mask of unequal lengths top-left, flash-attention bottom-right)",
                {"query length": in_shapes[0][0], "key length": key[0]})
    return None


# -- the way back (parity.importers) ---------------------------------------------------------------
def _from_torch(module, ictx):
    """The harness's ``TwinAttention`` (around ``nn.MultiheadAttention``) or ``FunctionalAttention``,
    or a bare ``nn.MultiheadAttention`` as a user calls it: ``out, _ = self.attn(q, k, v)`` (the
    importer reorders torch's (query, key, value) into the spec's inputs and reads ``causal`` from
    an ``attn_mask`` buffer that is the causal mask: ``ictx.hints["causal"]``). Its tensors are
    TwinAttention's (``mha.`` + torch's names): one rule table for both."""
    import torch.nn as nn

    from parity.mappings.base import Refused, TorchImport, torch_tensors

    twin, functional = _torch_classes()
    if type(module) in (twin, nn.MultiheadAttention):
        mha, causal = (module.mha, module.causal) if type(module) is twin else (module, ictx.hints.get("causal", False))
        if mha.dropout or mha.bias_k is not None or mha.add_zero_attn or not mha.batch_first:
            raise Refused(f"nn.MultiheadAttention(dropout={mha.dropout}, add_bias_kv={mha.bias_k is not None}, "
                          f"add_zero_attn={mha.add_zero_attn}, batch_first={mha.batch_first}): the spec's attention "
                          "is dropout=0.0, batch_first=True without the extra key/value row")
        return TorchImport({"type": "multi_head_attention", "num_heads": mha.num_heads, "key_dim": mha.head_dim,
                            "use_bias": mha.in_proj_bias is not None, "causal": bool(causal)},
                           torch_tensors(mha, "mha."))
    if type(module) is functional:
        _, h, dk = module.query.kernel.shape
        return TorchImport({"type": "multi_head_attention", "num_heads": int(h), "key_dim": int(dk),
                            "value_dim": int(module.value.kernel.shape[2]),
                            "output_shape": int(module.attention_output.kernel.shape[2]),
                            "use_bias": module.query.bias is not None, "causal": bool(module.causal)},
                           torch_tensors(module))
    return None


def _keras_causal(layer) -> bool:
    """``causal`` of the harness's ListAttention, or the ``use_causal_mask`` a functional model's one
    call of a Keras MultiHeadAttention was given."""
    if hasattr(layer, "causal"):
        return bool(layer.causal)
    nodes = getattr(layer, "_inbound_nodes", [])
    kwargs = getattr(getattr(nodes[0], "arguments", None), "kwargs", {}) if len(nodes) == 1 else {}
    return bool(kwargs.get("use_causal_mask", False))


def _from_keras(layer, ictx):
    """``keras.layers.MultiHeadAttention`` (and the harness's ListAttention) with dropout 0 and the
    default attention axes."""
    import keras

    from parity.mappings.base import Refused

    if not isinstance(layer, keras.layers.MultiHeadAttention):
        return None
    if layer.dropout or layer.attention_axes not in (None, (1,), [1]):
        raise Refused(f"MultiHeadAttention(dropout={layer.dropout}, attention_axes={layer.attention_axes}): parity's "
                      "attention has dropout 0 and attends over the sequence axis")
    out = layer._output_shape
    if isinstance(out, (tuple, list)):
        if len(out) != 1:
            raise Refused(f"MultiHeadAttention(output_shape={out}): parity's output is one feature axis")
        out = out[0]
    return {"type": "multi_head_attention", "num_heads": layer.num_heads, "key_dim": layer.key_dim,
            "value_dim": layer.value_dim, "use_bias": layer.use_bias, "output_shape": out,
            "causal": _keras_causal(layer)}


def _keras_weights(layer) -> dict:
    """``<sublayer>/<name>``: Keras names every sublayer's variables kernel and bias."""
    return {f"{sub.name}/{v.name.split('/')[-1]}": np.array(v.numpy(), copy=True)
            for sub in (layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense)
            for v in sub.weights}


LAYOUT = ("canonical = Keras: query/kernel (E_q, H, Dk), key/kernel (E_k, H, Dk), value/kernel (E_v, H, Dv), "
          "attention_output/kernel (H, Dv, E_out), biases (H, D) and (E_out,). torch twin: W_x = kernel.reshape(E_x, "
          "H*D).T (row h*D + d = head h, feature d); kdim == vdim == E_q: in_proj_weight = cat([W_q, W_k, W_v]) "
          "(3E, E), else q_proj_weight / k_proj_weight / v_proj_weight; in_proj_bias = cat([b_q, b_k, b_v] "
          "raveled); out_proj.weight = attention_output/kernel.reshape(H*Dv, E).T, out_proj.bias = bias. Back: "
          "kernel_x = in_proj_weight[i*E:(i+1)*E].T.reshape(E_x, H, D), attention_output/kernel = "
          "out_proj.weight.T.reshape(H, Dv, E). Not a twin: FunctionalAttention's parameters are Keras's layout "
          "(query.kernel, ...), copied as they are.")

register(LayerMapping(
    type="multi_head_attention", family="attention",
    atlas=Atlas(
        title="multi_head_attention", snippet=snippet("multi_head_attention"),
        aliases=("MultiHeadAttention", "MultiheadAttention", "scaled_dot_product_attention"),
        latex=(r"Q = x_q W_q + b_q,\ K = x_k W_k + b_k,\ V = x_v W_v + b_v \quad(\text{per head } h)" "\n"
               r"S_h = s\, Q_h K_h^\top,\ s = 1/\sqrt{D_k},\quad S_{h,ij} = -\infty \text{ for } j > i \text{ (causal)}" "\n"
               r"A_h = \mathrm{softmax}_j(S_h),\quad O_h = A_h V_h,\quad y = \textstyle\sum_h O_h W_{o,h} + b_o" "\n"
               r"dS_h = A_h \odot (dA_h - \mathrm{rowsum}(A_h \odot dA_h)),\ dA_h = dO_h V_h^\top,\ dV_h = A_h^\top dO_h,\ "
               r"dQ_h = s\, dS_h K_h,\ dK_h = s\, dS_h^\top Q_h"),
        math=("forward: Q = x_q W_q + b_q, K = x_k W_k + b_k, V = x_v W_v + b_v (each split into H heads)\n"
              "         S_h = Q_h K_h^T / sqrt(Dk) (causal: S_h[i, j] = -inf for j > i), A_h = softmax_j(S_h)\n"
              "         O_h = A_h V_h, y = sum_h O_h W_o[h] + b_o\n"
              "backward: dO_h = dy W_o[h]^T, dA_h = dO_h V_h^T, dV_h = A_h^T dO_h,\n"
              "          dS_h = A_h * (dA_h - rowsum(A_h * dA_h)), dQ_h = dS_h K_h / sqrt(Dk), dK_h = dS_h^T Q_h / sqrt(Dk),\n"
              "          dW_x = x^T dX, db_x = sum dX, dx = dX W_x^T for each projection"),
        scratch="scratchnet.MultiHeadAttention(num_heads, key_dim, value_dim, use_bias, output_shape, causal) "
                "(in a scratchnet.Model, inputs=[query] | [query, value] | [query, value, key])",
        torch=("twin (num_heads*key_dim == E_q, value_dim == key_dim, output_shape null or E_q): "
               "nn.MultiheadAttention(E_q, num_heads, bias=use_bias, kdim=E_k, vdim=E_v, batch_first=True)"
               "(query, key, value, attn_mask=triu(ones(T_q, T_k), 1) if causal, need_weights=False); "
               "otherwise FunctionalAttention: einsum projections with Keras-layout parameters and "
               "F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1/sqrt(key_dim))"),
        keras=("keras.layers.MultiHeadAttention(num_heads, key_dim, value_dim=value_dim, use_bias=use_bias, "
               "output_shape=output_shape)(query, value, key, use_causal_mask=causal)"),
        layout=LAYOUT,
        defaults=("value_dim null = key_dim; output_shape null = E_q; torch's module defaults to batch_first=False "
                  "(sequence first: (T, N, E)), set True here; its mask polarity is the opposite of SDPA's and "
                  "Keras's: attn_mask True = may NOT attend (SDPA's boolean attn_mask True = may attend; Keras's "
                  "attention_mask 1 = attend; use_causal_mask / is_causal build the causal one); dropout 0"),
        notes=("Keras's call order is (query, value, key), torch's module's (query, key, value). In float64 "
               "TensorFlow scales by the float32-rounded 1/sqrt(key_dim): a declared deviation unless key_dim is "
               "1, 4, 16 or 64. The key bias's gradient is 0 identically (it shifts a score row by a constant), "
               "rounding noise in every framework. Causal attention on query and key of different "
               "lengths is refused (top-left vs bottom-right alignment).")),
    torch=_torch, keras=_keras, rules=_rules, arity=(1, 3), scratch_class="MultiHeadAttention", trainable=True,
    deviations=_deviations, parameter_shapes=_parameter_shapes, check_inputs=_check_inputs,
    from_torch=_from_torch, from_keras=_from_keras, keras_weights=_keras_weights,
))
