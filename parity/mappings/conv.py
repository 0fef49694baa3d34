"""Convolutions: Conv2D (with groups) and DepthwiseConv2D in scratchnet, torch and Keras.

Layout. Inside the torch model images are NCHW; Keras and scratchnet work on NHWC:
- conv2d: torch ``weight`` (F, C/g, kh, kw) (OIHW); canonical ``kernel`` (kh, kw, C/g, F) (HWIO):
  ``kernel = weight.permute(2, 3, 1, 0)``, ``weight = kernel.transpose(3, 2, 0, 1)``. Both put
  output channel f in group f // (F/g) (same contiguous blocks), so groups need no extra shuffle.
- depthwise_conv2d: torch has no class: ``nn.Conv2d(C, C*m, k, groups=C)`` with ``weight``
  (C*m, 1, kh, kw), output channel c*m + j; canonical ``kernel`` (kh, kw, C, m) (Keras 3's
  ``DepthwiseConv2D`` names it ``kernel`` too, measured with Keras 3.15):
  ``kernel = W[:, 0].transpose(1, 2, 0).reshape(kh, kw, C, m)``, and back
  ``W = kernel.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]``.
- bias (F,) identical everywhere.

Padding. ``same`` is TensorFlow's rule (``scratchnet.layers._windows.same_padding``): per axis
total = max((ceil(H/s) - 1) s + (k - 1) d + 1 - H, 0), top = total // 2, the odd row/column at the
bottom/right. torch's ``padding='same'`` refuses stride > 1 and its explicit padding is symmetric,
so the torch module is ``Sequential(pad, conv, act)``: where top == bottom and left == right on
both axes the padding goes into ``nn.Conv2d(padding=(top, left))`` and ``pad`` is an Identity;
otherwise ``pad = nn.ZeroPad2d((left, right, top, bottom))`` and the conv has padding 0.
An explicit int / [h, w] padding (symmetric, torch's meaning) has no Keras Conv2D spelling:
the Keras side is ``keras.Sequential([ZeroPadding2D(((p_h, p_h), (p_w, p_w))), Conv2D(padding=
"valid")])``, whose variables are still named ``kernel`` and ``bias`` (Keras names a variable by
its own short name; only its ``path`` carries the wrapper).

Keras refuses strides > 1 together with dilation_rate > 1 (torch and scratchnet allow it):
``parity.spec`` already rejects such a spec with a one-line error naming Keras (exit 2), and the
Keras builder below raises the same reason should it ever be reached by another route.

The torch module's parameter names are therefore always ``conv.weight`` / ``conv.bias``.
"""
from __future__ import annotations

import functools
from collections import OrderedDict

from parity.mappings import activations as act
from parity.mappings.base import (snippet, Atlas, BuildContext, Layout, LayerMapping, Refused, TorchImport, WeightRule,
                                  expect_shape, register, torch_tensors)
from scratchnet.layers._windows import resolve_padding

CHANNELS_FIRST = Layout("channels_first")


@functools.cache
def _torch_modules():
    """Small torch helper modules, defined on first use (torch is imported lazily)."""
    import torch.nn as nn

    class ToChannelsFirst(nn.Module):
        """(N, H, W, C) -> (N, C, H, W): for an image arriving in the canonical layout."""

        def forward(self, x):
            return x.movedim(-1, 1)

    return {"ToChannelsFirst": ToChannelsFirst}


def to_channels_first(ctx: BuildContext):
    """The torch module bringing this layer's image input into NCHW: Identity when it already is
    (every image-producing mapping here emits channels_first), a permute when it is canonical."""
    import torch.nn as nn

    if ctx.in_layout.kind == "channels_first":
        return nn.Identity()
    if ctx.in_layout.kind == "same" and len(ctx.in_shape) == 3:
        return _torch_modules()["ToChannelsFirst"]()
    raise AssertionError(f"{ctx.spec.type}: expected an image input, got layout {ctx.in_layout} for {ctx.in_shape}")


def window_pads(ctx: BuildContext, kernel, strides, dilation=(1, 1)):
    """((top, bottom), (left, right)) of this layer's padding, the rule scratchnet uses."""
    h, w, _ = ctx.in_shape
    return resolve_padding(ctx.spec.params["padding"], (h, w), kernel, strides, dilation)


def _torch_conv(ctx: BuildContext, depthwise: bool):
    import torch
    import torch.nn as nn

    p = ctx.spec.params
    _, _, c = ctx.in_shape
    (top, bottom), (left, right) = window_pads(ctx, p["kernel_size"], p["strides"], p["dilation_rate"])
    if top == bottom and left == right:
        pad, padding = nn.Identity(), (top, left)
    else:
        pad, padding = nn.ZeroPad2d((left, right, top, bottom)), 0  # F.pad order: W then H
    out_channels = c * p["depth_multiplier"] if depthwise else p["filters"]
    groups = c if depthwise else p["groups"]
    conv = nn.Conv2d(c, out_channels, tuple(p["kernel_size"]), stride=tuple(p["strides"]), padding=padding,
                     dilation=tuple(p["dilation_rate"]), groups=groups, bias=p["use_bias"],
                     dtype=getattr(torch, ctx.dtype))
    activation = act.torch_module(p["activation"], act._fn_params(p), CHANNELS_FIRST, 4, ctx.dtype)
    module = nn.Sequential(OrderedDict(layout=to_channels_first(ctx), pad=pad, conv=conv, act=activation))
    return module, CHANNELS_FIRST


def _keras_conv(ctx: BuildContext, depthwise: bool):
    import keras

    p = ctx.spec.params
    if max(p["strides"]) > 1 and max(p["dilation_rate"]) > 1:
        raise ValueError(f"{ctx.spec.type}: keras refuses strides > 1 with dilation_rate > 1 "
                         f"(strides {list(p['strides'])}, dilation_rate {list(p['dilation_rate'])})")
    explicit = isinstance(p["padding"], tuple)
    common = dict(kernel_size=tuple(p["kernel_size"]), strides=tuple(p["strides"]),
                  padding="valid" if explicit else p["padding"], dilation_rate=tuple(p["dilation_rate"]),
                  activation=act.keras_function(p["activation"], act._fn_params(p)), use_bias=p["use_bias"])
    if depthwise:
        layer = keras.layers.DepthwiseConv2D(depth_multiplier=p["depth_multiplier"], **common)
    else:
        layer = keras.layers.Conv2D(p["filters"], groups=p["groups"], **common)
    if explicit:
        ph, pw = p["padding"]
        return keras.Sequential([keras.layers.ZeroPadding2D(((ph, ph), (pw, pw))), layer])
    return layer


# ---- the way back (parity.importers) ----------------------------------------------------------
def spec_padding(pads, hw, kernel, strides, dilation=(1, 1), what: str = "padding"):
    """The spec's ``padding`` for ((top, bottom), (left, right)) cells of zero padding: "valid"
    (none), "same" (exactly TensorFlow's rule for this input), else the symmetric (p_h, p_w);
    Refused for an asymmetric padding that is not TensorFlow's "same"."""
    pads = tuple(tuple(int(v) for v in p) for p in pads)
    if pads == ((0, 0), (0, 0)):
        return "valid"
    if pads == tuple(tuple(p) for p in resolve_padding("same", tuple(hw), tuple(kernel), tuple(strides), tuple(dilation))):
        return "same"
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return (top, left)
    raise Refused(f"{what}: asymmetric padding {pads} (top/bottom, left/right) is not TensorFlow's 'same' for this input")


def _torch_pads(conv, pad, ctx):
    """((top, bottom), (left, right)) of an ``nn.Conv2d`` (its ``padding``) after an optional
    ``nn.ZeroPad2d`` (``pad``, F.pad order (left, right, top, bottom))."""
    import torch.nn as nn

    if conv.padding_mode != "zeros":
        raise Refused(f"nn.Conv2d(padding_mode={conv.padding_mode!r}): only zero padding has a Keras twin")
    if conv.padding == "valid":
        inner = ((0, 0), (0, 0))
    elif conv.padding == "same":  # torch's stride-1 rule: the odd cell right/bottom, as TensorFlow's
        inner = resolve_padding("same", tuple(ctx.in_shape[:2]), conv.kernel_size, (1, 1), conv.dilation)
    else:
        inner = ((conv.padding[0],) * 2, (conv.padding[1],) * 2)
    outer = ((0, 0), (0, 0))
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        outer = ((top, bottom), (left, right))
    elif not isinstance(pad, nn.Identity):
        return None
    return tuple((a[0] + b[0], a[1] + b[1]) for a, b in zip(inner, outer))


def _conv_from_torch(module, ictx, depthwise: bool):
    """``nn.Conv2d`` (groups == in_channels > 1 reads as depthwise_conv2d), or the harness's
    ``Sequential(layout=, pad=, conv=, act=)``."""
    import torch.nn as nn

    if isinstance(module, nn.Conv2d) and type(module) is nn.Conv2d:
        conv, pad, activation = module, nn.Identity(), "linear"
    elif isinstance(module, nn.Sequential) and list(module._modules) == ["layout", "pad", "conv", "act"]:
        conv, pad = module.conv, module.pad
        found = act.torch_activation(module.act, CHANNELS_FIRST, 4)
        activation = act.fused({}, found, "conv2d")["activation"]
    else:
        return None
    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"nn.Conv2d on a {ictx.in_layout.kind} tensor of shape {ictx.in_shape} (expected an NCHW image)")
    c = conv.in_channels
    is_depthwise = conv.groups == c and c > 1
    if is_depthwise != depthwise:
        return None
    pads = _torch_pads(conv, pad, ictx)
    if pads is None:
        return None
    fields = {"kernel_size": tuple(conv.kernel_size), "strides": tuple(conv.stride),
              "padding": spec_padding(pads, ictx.in_shape[:2], conv.kernel_size, conv.stride, conv.dilation, "nn.Conv2d"),
              "dilation_rate": tuple(conv.dilation), "activation": activation, "use_bias": conv.bias is not None}
    if depthwise:
        fields = {"type": "depthwise_conv2d", "depth_multiplier": conv.out_channels // c, **fields}
    else:
        fields = {"type": "conv2d", "filters": conv.out_channels, "groups": conv.groups, **fields}
    return TorchImport(fields, torch_tensors(conv, "conv."))


def _conv_from_keras(layer, ictx, depthwise: bool):
    """``Conv2D`` / ``DepthwiseConv2D`` (channels_last), or the harness's ``keras.Sequential([
    ZeroPadding2D(((p_h, p_h), (p_w, p_w))), Conv2D(padding="valid")])`` of an explicit padding."""
    import keras

    cls = keras.layers.DepthwiseConv2D if depthwise else keras.layers.Conv2D
    pads = ((0, 0), (0, 0))
    if isinstance(layer, keras.Sequential) and len(layer.layers) == 2 and \
            isinstance(layer.layers[0], keras.layers.ZeroPadding2D) and isinstance(layer.layers[1], cls):
        pads, layer = tuple(tuple(p) for p in layer.layers[0].padding), layer.layers[1]
        if layer.padding != "valid":
            return None
    if type(layer) is not cls:
        return None
    if layer.data_format != "channels_last":
        raise Refused(f"{cls.__name__}(data_format={layer.data_format!r}): parity's layout is channels_last")
    kernel, strides, dilation = tuple(layer.kernel_size), tuple(layer.strides), tuple(layer.dilation_rate)
    padding = layer.padding if pads == ((0, 0), (0, 0)) else spec_padding(pads, ictx.in_shape[:2], kernel, strides,
                                                                           dilation, cls.__name__)
    fields = {"kernel_size": kernel, "strides": strides, "padding": padding, "dilation_rate": dilation,
              "use_bias": layer.use_bias}
    fields = act.fused(fields, act.keras_activation(layer.activation), cls.__name__)
    if depthwise:
        return {"type": "depthwise_conv2d", "depth_multiplier": layer.depth_multiplier, **fields}
    return {"type": "conv2d", "filters": layer.filters, "groups": layer.groups, **fields}


# ---- weight rules --------------------------------------------------------------------------------
def _conv2d_rules(ctx: BuildContext) -> list[WeightRule]:
    p = ctx.spec.params
    (kh, kw), c, f, g = p["kernel_size"], ctx.in_shape[-1], p["filters"], p["groups"]
    canonical, torch_shape = (kh, kw, c // g, f), (f, c // g, kh, kw)

    def kernel_to_torch(k, _):
        return expect_shape(k, canonical, "conv2d kernel (kh, kw, C/g, F)").transpose(3, 2, 0, 1).copy()  # (F, C/g, kh, kw)

    def weight_to_canonical(w, _):
        return expect_shape(w, torch_shape, "torch conv.weight (F, C/g, kh, kw)").transpose(2, 3, 1, 0).copy()  # (kh, kw, C/g, F)

    rules = [WeightRule("kernel", "conv.weight", kernel_to_torch, weight_to_canonical)]
    if p["use_bias"]:
        rules.append(_bias_rule(f))
    return rules


def _depthwise_rules(ctx: BuildContext) -> list[WeightRule]:
    p = ctx.spec.params
    (kh, kw), c, m = p["kernel_size"], ctx.in_shape[-1], p["depth_multiplier"]

    def kernel_to_torch(k, _):
        k = expect_shape(k, (kh, kw, c, m), "depthwise_conv2d kernel (kh, kw, C, m)")
        return k.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None].copy()  # (C*m, 1, kh, kw)

    def weight_to_canonical(w, _):
        w = expect_shape(w, (c * m, 1, kh, kw), "torch conv.weight (C*m, 1, kh, kw)")
        return w[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, m).copy()  # (kh, kw, C, m)

    rules = [WeightRule("kernel", "conv.weight", kernel_to_torch, weight_to_canonical)]
    if p["use_bias"]:
        rules.append(_bias_rule(c * m))
    return rules


def _bias_rule(n: int) -> WeightRule:
    """bias (n,) <-> conv.bias (n,): no layout change, shape asserted both ways."""
    return WeightRule("bias", "conv.bias", lambda b, _: expect_shape(b, (n,), "bias").copy(),
                      lambda b, _: expect_shape(b, (n,), "torch conv.bias").copy())


def _deviations(ctx: BuildContext):
    return act.deviations(ctx.spec.params["activation"], act._fn_params(ctx.spec.params), ctx.dtype,
                                          layer=True)


_PADDING_TEXT = ("same = TensorFlow's rule per axis: total = max((ceil(H/s) - 1) s + (k - 1) d + 1 - H, 0), "
                 "top = total // 2, bottom = total - top (the odd row/column at the bottom/right); torch "
                 "gets it as nn.Conv2d(padding=(top, left)) when symmetric on both axes, else as "
                 "nn.ZeroPad2d((left, right, top, bottom)) before a padding=0 conv (torch's padding='same' "
                 "refuses stride > 1; its explicit padding is symmetric). An explicit int/[h, w] padding is "
                 "torch's padding=(p_h, p_w); Keras has none, so the harness prepends "
                 "keras.layers.ZeroPadding2D(((p_h, p_h), (p_w, p_w))) in a keras.Sequential.")

register(
    LayerMapping(
        type="conv2d", family="conv",
        atlas=Atlas(
            title="conv2d", snippet=snippet("conv2d"), aliases=("Conv2d", "Conv2D"),
            latex=(r"z_{n,i,j,f} = b_f + \sum_{a,b,c} x^{p}_{n,\, i s_h + a d_h,\, j s_w + b d_w,\, g_f C/g + c}\, W_{a,b,c,f},\qquad y = \mathrm{act}(z)" "\n"
                   r"H_{out} = \left\lfloor (H + p_{top} + p_{bottom} - (k_h - 1) d_h - 1) / s_h \right\rfloor + 1" "\n"
                   r"\text{same: } p = \max\big((\lceil H / s_h \rceil - 1) s_h + (k_h - 1) d_h + 1 - H,\ 0\big),\ p_{top} = \lfloor p / 2 \rfloor,\ p_{bottom} = p - p_{top}" "\n"
                   r"dW_{a,b,c,f} = \sum_{n,i,j} x^{p}_{n,\, i s_h + a d_h,\, j s_w + b d_w,\, g_f C/g + c}\, dz_{n,i,j,f},\qquad db_f = \sum_{n,i,j} dz_{n,i,j,f}"),
            math=("forward: z[n,i,j,f] = b[f] + sum_{a,b,c} xp[n, i s_h + a d_h, j s_w + b d_w, g_f C/g + c] "
                  "W[a,b,c,f], y = act(z)\n"
                  "         x (N, H, W, C), W (kh, kw, C/g, F), b (F,), g_f = f // (F/g), xp = x padded;\n"
                  "         H_out = floor((H + top + bottom - ((kh - 1) d_h + 1)) / s_h) + 1\n"
                  "backward: dz = act'(z) * dy; dW[a,b,c,f] = sum_{n,i,j} xp[n, i s_h + a d_h, j s_w + b d_w, "
                  "g_f C/g + c] dz[n,i,j,f];\n"
                  "          db[f] = sum_{n,i,j} dz[n,i,j,f]; dxp[...] += W[a,b,c,f] dz[n,i,j,f] (every term), "
                  "dx = dxp cropped"),
            scratch=("scratchnet.Conv2D(filters, kernel_size, strides=strides, padding=padding, "
                     "dilation_rate=dilation_rate, groups=groups, activation=activation, use_bias=use_bias)"),
            torch=("nn.Sequential(layout=Identity, pad=Identity | nn.ZeroPad2d((left, right, top, bottom)), "
                   "conv=nn.Conv2d(C, filters, kernel_size, stride=strides, padding=(top, left) | 0 | (p_h, p_w), "
                   "dilation=dilation_rate, groups=groups, bias=use_bias), act=<activation module>) on NCHW"),
            keras=("keras.layers.Conv2D(filters, kernel_size, strides=strides, padding='valid'|'same', "
                   "dilation_rate=dilation_rate, groups=groups, activation=activation, use_bias=use_bias) "
                   "[in keras.Sequential([ZeroPadding2D(((p_h, p_h), (p_w, p_w))), ...]) for an explicit padding]"),
            layout=("kernel (kh, kw, C/g, F) = torch conv.weight (F, C/g, kh, kw).permute(2, 3, 1, 0); back: "
                    "kernel.transpose(3, 2, 0, 1). bias identical. Input x_torch = x.permute(0, 3, 1, 2); the "
                    "output comes back with .permute(0, 2, 3, 1). Groups: both frameworks use the same "
                    "contiguous blocks of input and output channels."),
            defaults=("torch stride 1, padding 0, dilation 1 = Keras's; torch padding='same' refuses stride > 1, "
                      "and at stride 1 puts the odd cell right/bottom as TF does (left = total // 2: bit-identical "
                      "to explicit (0, 1) padding for k = 2, the snippet checks it); Keras refuses strides > 1 "
                      "with dilation_rate > 1 (the spec rejects it). Initialisers differ (glorot_uniform vs "
                      "kaiming_uniform(a=sqrt 5)) but parity copies one set of weights into all three."),
            notes=_PADDING_TEXT),
        torch=lambda ctx: _torch_conv(ctx, depthwise=False), scratch_class="Conv2D", trainable=True,
        parameter_shapes=lambda p, s: [("kernel", (*p["kernel_size"], s[-1] // p["groups"], p["filters"]))],
        keras=lambda ctx: _keras_conv(ctx, depthwise=False),
        rules=_conv2d_rules, deviations=_deviations,
        from_torch=lambda m, ictx: _conv_from_torch(m, ictx, False), from_keras=lambda l, ictx: _conv_from_keras(l, ictx, False)),
    LayerMapping(
        type="depthwise_conv2d", family="conv",
        atlas=Atlas(
            title="depthwise_conv2d", snippet=snippet("depthwise_conv2d"),
            math=("forward: z[n,i,j,c m + k] = b[c m + k] + sum_{a,b} xp[n, i s_h + a d_h, j s_w + b d_w, c] "
                  "W[a,b,c,k], y = act(z)\n"
                  "         x (N, H, W, C), W (kh, kw, C, m), b (C m,): the grouped conv with groups = C\n"
                  "backward: dW[a,b,c,k] = sum_{n,i,j} xp[n, i s_h + a d_h, j s_w + b d_w, c] dz[n,i,j,c m + k]; "
                  "db = sum_{n,i,j} dz;\n"
                  "          dxp[n, i s_h + a d_h, j s_w + b d_w, c] += sum_k W[a,b,c,k] dz[n,i,j,c m + k]"),
            scratch=("scratchnet.DepthwiseConv2D(kernel_size, depth_multiplier=m, strides=strides, "
                     "padding=padding, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias)"),
            torch=("nn.Sequential(layout=Identity, pad=Identity | nn.ZeroPad2d(...), conv=nn.Conv2d(C, C*m, "
                   "kernel_size, stride=strides, padding=..., dilation=dilation_rate, groups=C, bias=use_bias), "
                   "act=<activation module>) on NCHW"),
            keras=("keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding='valid'|'same', "
                   "depth_multiplier=m, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias)"),
            layout=("kernel (kh, kw, C, m) = W[:, 0].transpose(1, 2, 0).reshape(kh, kw, C, m) with torch "
                    "conv.weight W (C*m, 1, kh, kw); back: kernel.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]. "
                    "Output channel c*m + k in all three. bias (C*m,) identical. Keras 3 names the variable "
                    "'kernel' (its initializer argument is depthwise_initializer)."),
            defaults="depth_multiplier 1 in Keras; torch has no depthwise class (out_channels = C*m, groups = C)",
            notes=_PADDING_TEXT),
        torch=lambda ctx: _torch_conv(ctx, depthwise=True), scratch_class="DepthwiseConv2D", trainable=True,
        parameter_shapes=lambda p, s: [("kernel", (*p["kernel_size"], s[-1], p["depth_multiplier"]))],
        keras=lambda ctx: _keras_conv(ctx, depthwise=True),
        rules=_depthwise_rules, deviations=_deviations,
        from_torch=lambda m, ictx: _conv_from_torch(m, ictx, True), from_keras=lambda l, ictx: _conv_from_keras(l, ictx, True)),
)
