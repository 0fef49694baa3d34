"""Sequences (N, T, C): Conv1D, MaxPool1D, AveragePool1D, GlobalAveragePool1D, GlobalMaxPool1D.

Layout. The harness keeps sequences in the canonical (N, T, C) layout in torch too (as the
recurrent layers and Embedding do); torch's ``nn.Conv1d`` and 1-D pools take (N, C, T), so each
torch module here is ``Sequential(to (N, C, T), pad, op, back to (N, T, C))`` and its output
layout is ``same``.
- conv1d: torch ``weight`` (F, C/g, k); canonical ``kernel`` (k, C/g, F) (Keras's):
  ``kernel = weight.permute(2, 1, 0)``, ``weight = kernel.transpose(2, 1, 0)``; bias (F,) identical.

Padding along T ((lo, hi) from ``scratchnet.layers.conv1d.resolve_padding_1d``):
- ``same``: TensorFlow's rule, total = max((ceil(T/s) - 1) s + (k - 1) d + 1 - T, 0), lo = total // 2;
  ``causal``: lo = (k - 1) d, hi = 0 (Keras's left padding; torch has no causal mode);
  an int p: lo = hi = p (torch's ``padding=p``; Keras has none: ``ZeroPadding1D(p)`` before a
  ``valid`` Conv1D in a ``keras.Sequential``).
- torch gets ``padding=lo`` in the module when lo == hi, else ``F.pad(x, (lo, hi))`` (zeros; -inf
  before a max pool) and padding 0. Average pooling with lo < hi divides the window sum by the
  count of real cells: ``avg_pool1d(F.pad(x)) / avg_pool1d(F.pad(ones))`` (torch's
  ``count_include_pad=True`` default would count the padded zeros; Keras and TF do not).

Global poolings: ``x.mean(dim=1)`` and ``x.amax(dim=1)`` on (N, T, C); ``amax`` splits a tie's
gradient evenly, as TF's ``reduce_max`` does (``x.max(dim=1)`` would give it to one index).
"""
from __future__ import annotations

import functools
from collections import OrderedDict

from parity.mappings import activations as act
from parity.mappings.base import (SAME, TENSOR, Atlas, BuildContext, LayerMapping, Refused, TorchImport, WeightRule,
                                  expect_shape, register, torch_tensors, snippet)
from scratchnet.layers.conv1d import resolve_padding_1d
from scratchnet.layers._windows import same_padding


@functools.cache
def _torch_modules():
    """Small torch modules, defined on first use (torch is imported lazily)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class SwapTC(nn.Module):
        """(N, T, C) <-> (N, C, T)."""

        def forward(self, x):
            return x.transpose(1, 2)

    class Pad1d(nn.Module):
        """Pad the last axis by (lo, hi) with ``value``."""

        def __init__(self, lo, hi, value=0.0):
            super().__init__()
            self.lo, self.hi, self.value = lo, hi, value

        def forward(self, x):
            return F.pad(x, (self.lo, self.hi), value=self.value)

    class RealCellAvgPool1d(nn.Module):
        """Average over the real cells of each window for any (lo, hi) zero padding."""

        def __init__(self, k, s, lo, hi):
            super().__init__()
            self.k, self.s, self.lo, self.hi = k, s, lo, hi

        def forward(self, x):  # (N, C, T)
            total = F.avg_pool1d(F.pad(x, (self.lo, self.hi)), self.k, self.s)
            ones = torch.ones((1, 1, x.shape[2]), dtype=x.dtype)
            return total / F.avg_pool1d(F.pad(ones, (self.lo, self.hi)), self.k, self.s)  # the 1/k cancels

    class GlobalPool1d(nn.Module):
        """(N, T, C) -> (N, C): mean or amax over T."""

        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def forward(self, x):
            return x.mean(dim=1) if self.kind == "avg" else x.amax(dim=1)

    return {"SwapTC": SwapTC, "Pad1d": Pad1d, "RealCellAvgPool1d": RealCellAvgPool1d, "GlobalPool1d": GlobalPool1d}


def _sequence(ctx: BuildContext) -> None:
    if ctx.in_layout.kind != "same" or len(ctx.in_shape) != 2:
        raise AssertionError(f"{ctx.spec.type}: expected a (N, T, C) sequence in the same layout, got {ctx.in_layout} "
                             f"for {ctx.in_shape}")


# -- conv1d -------------------------------------------------------------------------------------------
def conv1d_pads(ctx: BuildContext) -> tuple[int, int]:
    p = ctx.spec.params
    return resolve_padding_1d(p["padding"], ctx.in_shape[0], p["kernel_size"], p["strides"], p["dilation_rate"])


def _torch_conv1d(ctx: BuildContext):
    import torch
    import torch.nn as nn

    _sequence(ctx)
    m, p = _torch_modules(), ctx.spec.params
    lo, hi = conv1d_pads(ctx)
    pad, padding = (nn.Identity(), lo) if lo == hi else (m["Pad1d"](lo, hi), 0)
    conv = nn.Conv1d(ctx.in_shape[1], p["filters"], p["kernel_size"], stride=p["strides"], padding=padding,
                     dilation=p["dilation_rate"], groups=p["groups"], bias=p["use_bias"], dtype=getattr(torch, ctx.dtype))
    activation = act.torch_module(p["activation"], act._fn_params(p), SAME, 3, ctx.dtype)
    return nn.Sequential(OrderedDict(to_nct=m["SwapTC"](), pad=pad, conv=conv, to_ntc=m["SwapTC"](),
                                     act=activation)), SAME


def _keras_conv1d(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    explicit = isinstance(p["padding"], int)
    layer = keras.layers.Conv1D(p["filters"], p["kernel_size"], strides=p["strides"],
                                padding="valid" if explicit else p["padding"], dilation_rate=p["dilation_rate"],
                                groups=p["groups"], activation=act.keras_function(p["activation"], act._fn_params(p)),
                                use_bias=p["use_bias"])
    if explicit:
        return keras.Sequential([keras.layers.ZeroPadding1D(p["padding"]), layer])
    return layer


def _conv1d_rules(ctx: BuildContext) -> list[WeightRule]:
    p = ctx.spec.params
    k, c, f, g = p["kernel_size"], ctx.in_shape[-1], p["filters"], p["groups"]

    def kernel_to_torch(a, _):
        return expect_shape(a, (k, c // g, f), "conv1d kernel (k, C/g, F)").transpose(2, 1, 0).copy()  # (F, C/g, k)

    def weight_to_canonical(w, _):
        return expect_shape(w, (f, c // g, k), "torch conv.weight (F, C/g, k)").transpose(2, 1, 0).copy()  # (k, C/g, F)

    rules = [WeightRule("kernel", "conv.weight", kernel_to_torch, weight_to_canonical)]
    if p["use_bias"]:
        rules.append(WeightRule("bias", "conv.bias", lambda b, _: expect_shape(b, (f,), "bias").copy(),
                                lambda b, _: expect_shape(b, (f,), "torch conv.bias").copy()))
    return rules


# -- the way back (parity.importers): the harness's modules and Keras's layers -----------------------
def spec_padding_1d(lo: int, hi: int, size: int, kernel: int, stride: int, dilation: int = 1, causal: bool = True):
    """The spec's 1-D ``padding`` for (lo, hi) zeros along T: "valid" (none), "same" (TensorFlow's
    rule), "causal" ((k - 1) d before, none after), else the symmetric int; Refused otherwise."""
    if (lo, hi) == (0, 0):
        return "valid"
    if (lo, hi) == tuple(same_padding(size, kernel, stride, dilation)):
        return "same"
    if causal and (lo, hi) == ((kernel - 1) * dilation, 0):
        return "causal"
    if lo == hi:
        return int(lo)
    raise Refused(f"asymmetric 1-d padding ({lo}, {hi}) is neither TensorFlow's 'same' nor 'causal' for this input")


def _swap(m) -> bool:
    return type(m) is _torch_modules()["SwapTC"]


def _pads_1d(pad, inner: int) -> tuple[int, int] | None:
    import torch.nn as nn

    if isinstance(pad, nn.Identity):
        return inner, inner
    if type(pad) is _torch_modules()["Pad1d"]:
        return pad.lo + inner, pad.hi + inner
    return None


def _conv1d_from_torch(module, ictx):
    """The harness's ``Sequential(to_nct, pad, conv=nn.Conv1d, to_ntc, act)`` on (N, T, C), or a
    bare ``nn.Conv1d`` on the (N, C, T) view of a sequence (``x.transpose(1, 2)``: the importer
    gives it as a channels-first layout)."""
    import torch.nn as nn

    if type(module) is nn.Conv1d:
        if ictx.in_layout.kind != "channels_first" or len(ictx.in_shape) != 2:
            raise Refused("nn.Conv1d on something other than x.transpose(1, 2) of an (N, T, C) sequence")
        module = nn.Sequential(OrderedDict(to_nct=nn.Identity(), pad=nn.Identity(), conv=module, to_ntc=nn.Identity(),
                                           act=nn.Identity()))
        if isinstance(module.conv.padding, str):  # torch's "same" (stride 1) is TensorFlow's; "valid" none
            k, d = module.conv.kernel_size[0], module.conv.dilation[0]
            lo, hi = same_padding(ictx.in_shape[0], k, 1, d) if module.conv.padding == "same" else (0, 0)
            return _conv1d_fields(module, ictx, (lo, hi))
    if not (isinstance(module, nn.Sequential) and list(module._modules) == ["to_nct", "pad", "conv", "to_ntc", "act"]):
        return None
    conv = module.conv
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise Refused("nn.Conv1d: only numeric zero padding")
    pads = _pads_1d(module.pad, conv.padding[0])
    if pads is None:
        return None
    return _conv1d_fields(module, ictx, pads)


def _conv1d_fields(module, ictx, pads):
    conv = module.conv
    if len(ictx.in_shape) != 2:
        raise Refused(f"conv1d on a tensor of shape {ictx.in_shape} (expected a sequence (T, C))")
    (k,), (s,), (d,) = conv.kernel_size, conv.stride, conv.dilation
    fields = {"type": "conv1d", "filters": conv.out_channels, "kernel_size": k, "strides": s,
              "padding": spec_padding_1d(*pads, ictx.in_shape[0], k, s, d), "dilation_rate": d, "groups": conv.groups,
              "use_bias": conv.bias is not None}
    fields = act.fused(fields, act.torch_activation(module.act, SAME, 3), "conv1d")
    return TorchImport(fields, torch_tensors(conv, "conv."))


def _conv1d_from_keras(layer, ictx):
    import keras

    padding = None
    if isinstance(layer, keras.Sequential) and len(layer.layers) == 2 and \
            isinstance(layer.layers[0], keras.layers.ZeroPadding1D) and type(layer.layers[1]) is keras.layers.Conv1D:
        lo, hi = layer.layers[0].padding
        layer = layer.layers[1]
        padding = spec_padding_1d(lo, hi, ictx.in_shape[0], layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0])
    if type(layer) is not keras.layers.Conv1D:
        return None
    if layer.data_format != "channels_last":
        raise Refused("Conv1D(data_format='channels_first'): parity's layout is (N, T, C)")
    fields = {"type": "conv1d", "filters": layer.filters, "kernel_size": layer.kernel_size[0], "strides": layer.strides[0],
              "padding": padding if padding is not None else layer.padding, "dilation_rate": layer.dilation_rate[0],
              "groups": layer.groups, "use_bias": layer.use_bias}
    return act.fused(fields, act.keras_activation(layer.activation), "Conv1D")


def _pool1d_from_torch(module, ictx, kind: str):
    """The harness's ``Sequential(SwapTC, pool, SwapTC)``."""
    import torch.nn as nn

    if type(module) in (nn.MaxPool1d, nn.AvgPool1d) and ictx.in_layout.kind == "channels_first":
        module = nn.Sequential(_torch_modules()["SwapTC"](), module, _torch_modules()["SwapTC"]())
        if getattr(module[1], "ceil_mode", False) or (type(module[1]) is nn.AvgPool1d and module[1].padding[0] and
                                                      module[1].count_include_pad):
            raise Refused("a 1-d pool with ceil_mode or counted padding has no Keras twin")
    if not (isinstance(module, nn.Sequential) and len(module) == 3 and _swap(module[0]) and _swap(module[2])):
        return None
    pool, m = module[1], _torch_modules()
    if kind == "max" and isinstance(pool, nn.Sequential) and type(pool[0]) is m["Pad1d"]:
        (lo, hi), (k,), (st,) = (pool[0].lo, pool[0].hi), _one(pool[1].kernel_size), _one(pool[1].stride)
    elif kind == "avg" and type(pool) is m["RealCellAvgPool1d"]:
        (lo, hi), k, st = (pool.lo, pool.hi), pool.k, pool.s
    elif type(pool) is (nn.MaxPool1d if kind == "max" else nn.AvgPool1d):
        (p,), (k,), (st,) = _one(pool.padding), _one(pool.kernel_size), _one(pool.stride)
        lo = hi = p
    else:
        return None
    padding = spec_padding_1d(lo, hi, ictx.in_shape[0], k, st, causal=False)
    return TorchImport({"type": f"{'max' if kind == 'max' else 'average'}_pool1d", "pool_size": k, "strides": st,
                        "padding": padding}, {})


_POOL1D_ARGS = {"max": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
                "avg": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")}


def _pool1d_call(target, args, kwargs, ictx, kind: str):
    """``F.max_pool1d(x, k, ...)`` / ``F.avg_pool1d(x, k, ...)`` on the (N, C, T) view: read as the
    module with the same arguments."""
    import torch.nn as nn
    import torch.nn.functional as F

    if target is not (F.max_pool1d if kind == "max" else F.avg_pool1d) or args[:1] != (TENSOR,):
        return None
    names = _POOL1D_ARGS[kind]
    if len(args) - 1 > len(names) or not all(isinstance(a, (int, bool, tuple, list, type(None))) for a in args[1:]):
        return None
    given = {**dict(zip(names, args[1:])), **kwargs}
    if kind == "max" and (given.get("dilation", 1) not in (1, (1,), [1]) or given.get("return_indices")):
        raise Refused("F.max_pool1d with dilation or return_indices has no Keras twin")
    found = _pool1d_from_torch((nn.MaxPool1d if kind == "max" else nn.AvgPool1d)(**given), ictx, kind)
    return None if found is None else found.fields


def _one(v) -> tuple[int]:
    return (int(v),) if isinstance(v, int) else (int(v[0]),)


def _pool1d_from_keras(layer, ictx, kind: str):
    import keras

    if type(layer) is not (keras.layers.MaxPooling1D if kind == "max" else keras.layers.AveragePooling1D):
        return None
    return {"type": f"{'max' if kind == 'max' else 'average'}_pool1d", "pool_size": layer.pool_size[0],
            "strides": layer.strides[0], "padding": layer.padding}


def _global1d_from_torch(module, ictx, kind: str):
    if type(module) is not _torch_modules()["GlobalPool1d"] or module.kind != kind:
        return None
    return TorchImport({"type": f"global_{'average' if kind == 'avg' else 'max'}_pool1d"}, {})


def _global1d_call(target, args, kwargs, ictx, kind: str):
    """``x.mean(dim=1)`` / ``x.amax(dim=1)`` on an (N, T, C) sequence (``dim=2`` on its (N, C, T) view)."""
    import torch

    from parity.mappings.activations import canonical_axis

    if args[:1] != (TENSOR,) or len(ictx.in_shape) != 2:
        return None
    if target is not (torch.mean if kind == "avg" else torch.amax):
        return None
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    dim = dim[0] if isinstance(dim, (tuple, list)) and len(dim) == 1 else dim
    if isinstance(dim, int) and canonical_axis(dim, ictx.in_layout, 3) == 1 and not kwargs.get("keepdim", False):
        return {"type": f"global_{'average' if kind == 'avg' else 'max'}_pool1d"}
    return None


def _global1d_from_keras(layer, ictx, kind: str):
    import keras

    cls = keras.layers.GlobalAveragePooling1D if kind == "avg" else keras.layers.GlobalMaxPooling1D
    if type(layer) is not cls:
        return None
    if layer.keepdims:
        raise Refused(f"{cls.__name__}(keepdims=True): parity's is keepdims=False")
    return {"type": f"global_{'average' if kind == 'avg' else 'max'}_pool1d"}


# -- 1-D pooling --------------------------------------------------------------------------------------
def pool1d_pads(ctx: BuildContext) -> tuple[int, int]:
    p = ctx.spec.params
    return (0, 0) if p["padding"] == "valid" else same_padding(ctx.in_shape[0], p["pool_size"], p["strides"])


def _torch_pool1d(ctx: BuildContext, kind: str):
    import torch.nn as nn

    _sequence(ctx)
    m, p = _torch_modules(), ctx.spec.params
    k, s = p["pool_size"], p["strides"]
    lo, hi = pool1d_pads(ctx)
    if kind == "max":
        pool = nn.MaxPool1d(k, s, padding=lo) if lo == hi else nn.Sequential(m["Pad1d"](lo, hi, float("-inf")),
                                                                             nn.MaxPool1d(k, s))
    else:
        pool = (nn.AvgPool1d(k, s, padding=lo, count_include_pad=False) if lo == hi
                else m["RealCellAvgPool1d"](k, s, lo, hi))
    return nn.Sequential(m["SwapTC"](), pool, m["SwapTC"]()), SAME


def _keras_pool1d(ctx: BuildContext, kind: str):
    import keras

    p = ctx.spec.params
    cls = keras.layers.MaxPooling1D if kind == "max" else keras.layers.AveragePooling1D
    return cls(pool_size=p["pool_size"], strides=p["strides"], padding=p["padding"])


def _torch_global1d(ctx: BuildContext, kind: str):
    _sequence(ctx)
    return _torch_modules()["GlobalPool1d"](kind), SAME


def _keras_global1d(ctx: BuildContext, kind: str):
    import keras

    return keras.layers.GlobalAveragePooling1D() if kind == "avg" else keras.layers.GlobalMaxPooling1D()


# -- atlas --------------------------------------------------------------------------------------------
_T_OUT = ("T_out = floor((T + lo + hi - ((k - 1) d + 1)) / s) + 1; same: lo = total // 2, total = max((ceil(T/s) - 1) s "
          "+ (k - 1) d + 1 - T, 0) (T_out = ceil(T/s)); causal: lo = (k - 1) d, hi = 0; int p: lo = hi = p")

CONV1D_ATLAS = Atlas(
    title="conv1d", snippet=snippet("conv1d"),
    math=("forward: z[n,t,f] = b[f] + sum_{a,c} xp[n, t s + a d, g_f C/g + c] W[a,c,f], y = act(z)    x (N, T, C), "
          "W (k, C/g, F)\n"
          f"         {_T_OUT}\n"
          "backward: dz = act'(z) dy; dW[a,c,f] = sum_{n,t} xp[n, t s + a d, g_f C/g + c] dz[n,t,f]; db = sum_{n,t} dz;\n"
          "          dxp[n, t s + a d, g_f C/g + c] += W[a,c,f] dz[n,t,f], dx = dxp cropped (the 2-D conv of a one-row image)"),
    scratch=("scratchnet.Conv1D(filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate, "
             "groups=groups, activation=activation, use_bias=use_bias)"),
    torch=("nn.Sequential(to_nct=transpose(1, 2), pad=Identity | F.pad(x, (lo, hi)), conv=nn.Conv1d(C, filters, k, "
           "stride=s, padding=lo | 0, dilation=d, groups=groups, bias=use_bias), to_ntc=transpose(1, 2), act=<activation>)"),
    keras=("keras.layers.Conv1D(filters, kernel_size, strides=strides, padding='valid'|'same'|'causal', "
           "dilation_rate=d, groups=groups, activation=activation, use_bias=use_bias) [int padding: "
           "keras.Sequential([ZeroPadding1D(p), Conv1D(padding='valid')])]"),
    layout="kernel (k, C/g, F) = torch conv.weight (F, C/g, k).permute(2, 1, 0); back: kernel.transpose(2, 1, 0). bias identical.",
    defaults=("torch has no 'causal' padding (the harness pads (k - 1) d zeros on the left) and its padding='same' refuses "
              "stride > 1; Keras refuses strides > 1 with dilation_rate > 1 (the spec rejects it) and has no int padding"),
    notes="torch's nn.Conv1d takes (N, C, T): the harness transposes in and out, so the sequence stays (N, T, C) between layers.")


def _pool_atlas(kind: str) -> Atlas:
    name = f"{'max' if kind == 'max' else 'average'}_pool1d"
    if kind == "max":
        math = ("forward: y[n,t,c] = max_{0<=a<k} xp[n, t s + a, c], xp padded with -inf\n"
                "backward: dx[n, t s + a* - lo, c] += dy[n,t,c] at the window's first maximum a*")
        torch = ("nn.Sequential(transpose, nn.MaxPool1d(k, s, padding=lo) | (F.pad(x, (lo, hi), value=-inf), "
                 "nn.MaxPool1d(k, s)), transpose)")
        keras = "keras.layers.MaxPooling1D(pool_size, strides=strides, padding='valid'|'same')"
        defaults = "strides default to pool_size in all three; torch pads symmetrically only"
    else:
        math = ("forward: y[n,t,c] = (1 / K_t) sum_{a real} xp[n, t s + a, c], K_t = real cells of window t\n"
                "backward: dx[n, t s + a - lo, c] += dy[n,t,c] / K_t for every real cell")
        torch = ("nn.Sequential(transpose, nn.AvgPool1d(k, s, padding=lo, count_include_pad=False) | "
                 "avg_pool1d(F.pad(x, (lo, hi))) / avg_pool1d(F.pad(ones, (lo, hi))), transpose)")
        keras = "keras.layers.AveragePooling1D(pool_size, strides=strides, padding='valid'|'same')"
        defaults = ("torch AvgPool1d count_include_pad=True by default (padded zeros counted); Keras/TF 'same' leaves "
                    "padded cells out: the harness passes count_include_pad=False, or divides by the real-cell count")
    return Atlas(title=name, snippet=snippet("pooling1d"), math=math, scratch=f"scratchnet.{'MaxPool1D' if kind == 'max' else 'AveragePool1D'}"
                 "(pool_size, strides=strides, padding=padding)", torch=torch, keras=keras,
                 layout="no weights; torch pools (N, C, T), the harness transposes in and out",
                 defaults=defaults, notes=f"same = TensorFlow's rule along T: {_T_OUT} (d = 1)")


register(
    LayerMapping(type="conv1d", family="conv1d", atlas=CONV1D_ATLAS, torch=_torch_conv1d, keras=_keras_conv1d,
                 rules=_conv1d_rules,
                 deviations=lambda ctx: act.deviations(ctx.spec.params["activation"], act._fn_params(ctx.spec.params),
                                                       ctx.dtype),
                 scratch_class="Conv1D", trainable=True, from_torch=_conv1d_from_torch, from_keras=_conv1d_from_keras,
                 parameter_shapes=lambda p, s: [("kernel", (p["kernel_size"], s[-1] // p["groups"], p["filters"]))]),
    LayerMapping(type="max_pool1d", family="conv1d", atlas=_pool_atlas("max"),
                 torch=lambda ctx: _torch_pool1d(ctx, "max"), keras=lambda ctx: _keras_pool1d(ctx, "max"),
                 scratch_class="MaxPool1D", value_preserving=True, shift_preserving=True,
                 from_torch=lambda m, ictx: _pool1d_from_torch(m, ictx, "max"),
                 from_torch_call=lambda t, a, k, ictx: _pool1d_call(t, a, k, ictx, "max"),
                 from_keras=lambda l, ictx: _pool1d_from_keras(l, ictx, "max")),
    LayerMapping(type="average_pool1d", family="conv1d", atlas=_pool_atlas("avg"),
                 torch=lambda ctx: _torch_pool1d(ctx, "avg"), keras=lambda ctx: _keras_pool1d(ctx, "avg"),
                 scratch_class="AveragePool1D", value_preserving=True, shift_preserving=True,
                 from_torch=lambda m, ictx: _pool1d_from_torch(m, ictx, "avg"),
                 from_torch_call=lambda t, a, k, ictx: _pool1d_call(t, a, k, ictx, "avg"),
                 from_keras=lambda l, ictx: _pool1d_from_keras(l, ictx, "avg")),
    LayerMapping(
        type="global_average_pool1d", family="conv1d",
        atlas=Atlas(title="global_average_pool1d", snippet=snippet("pooling1d"), math="forward: y[n,c] = (1/T) sum_t x[n,t,c]\nbackward: dx[n,t,c] = dy[n,c] / T",
                    scratch="scratchnet.GlobalAveragePool1D()", torch="x.mean(dim=1) on (N, T, C)",
                    keras="keras.layers.GlobalAveragePooling1D()  (keepdims=False)",
                    layout="no weights", defaults="torch has no class of this name"),
        torch=lambda ctx: _torch_global1d(ctx, "avg"), keras=lambda ctx: _keras_global1d(ctx, "avg"),
        scratch_class="GlobalAveragePool1D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _global1d_from_torch(m, ictx, "avg"),
        from_torch_call=lambda t, a, k, ictx: _global1d_call(t, a, k, ictx, "avg"),
        from_keras=lambda l, ictx: _global1d_from_keras(l, ictx, "avg")),
    LayerMapping(
        type="global_max_pool1d", family="conv1d",
        atlas=Atlas(title="global_max_pool1d", snippet=snippet("pooling1d"),
                    math=("forward: y[n,c] = max_t x[n,t,c]\n"
                          "backward: dx[n,t,c] = dy[n,c] [x[n,t,c] = y[n,c]] / m (m tied maxima share it)"),
                    scratch="scratchnet.GlobalMaxPool1D()", torch="x.amax(dim=1) on (N, T, C)",
                    keras="keras.layers.GlobalMaxPooling1D()  (keepdims=False)", layout="no weights",
                    defaults=("torch has no class of this name; x.amax splits a tie's gradient evenly, like TF's "
                              "reduce_max; x.max(dim=1).values would give it all to one index")),
        torch=lambda ctx: _torch_global1d(ctx, "max"), keras=lambda ctx: _keras_global1d(ctx, "max"),
        scratch_class="GlobalMaxPool1D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _global1d_from_torch(m, ictx, "max"),
        from_torch_call=lambda t, a, k, ictx: _global1d_call(t, a, k, ictx, "max"),
        from_keras=lambda l, ictx: _global1d_from_keras(l, ictx, "max")),
)
