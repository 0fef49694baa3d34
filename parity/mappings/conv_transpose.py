"""Conv2DTranspose in scratchnet, torch (``nn.ConvTranspose2d``) and Keras 3.

Layout. Keras's (and scratchnet's) ``kernel`` is (kh, kw, F, C_in) (output channels first);
torch's ``weight`` is (C_in, F/groups, kh, kw) (here groups = 1):
``kernel = weight.permute(2, 3, 1, 0)``, ``weight = kernel.transpose(3, 2, 0, 1)``. bias (F,).

Output size and the crop (per axis, k_eff = (k - 1) d + 1, d = 1 here; full = (H - 1) s + k):
    torch:  H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1
            = the full output with p cells cut from the START and p - output_padding from the END
    Keras:  output_padding None:  valid H_out = H s + max(k - s, 0),  same H_out = H s
            output_padding op:    H_out = (H - 1) s + k - 2 pad + op,  pad = 0 (valid), k // 2 (same)
            TF then cuts top = total // 2 from the start of the full output, total = max((ceil(H_out / s)
            - 1) s + k - H_out, 0) (valid: top = 0), and the rest from the end; rows past the full
            output get no input (the bias alone).
torch's padding cuts the same number of cells from both ends (less output_padding at the end),
TF's "same" cuts the odd one at the end: where total is odd no (p, output_padding) pair
reproduces TF's values (measured, H = W = 5, with the usual recipe p = (k - 1) // 2 and the
output_padding that then gives TF's shape: max|diff| 2.7 (k3 s2), 2.8 (k5 s2), 1.6 (k3 s3: p 1,
output_padding 2, a one-cell shift) where max|y| is 1.3-2.0; k4 s2 and k2 s2 agree to 2e-16). So the torch
twin here is the full transposed convolution, padding 0, with ``output_padding = ext =
max(top + H_out - full, 0)`` (always < s) so that the rows TF keeps exist, then cropped
``[top:top + H_out]``: exact for every kernel, stride and padding
(``tests/parity/test_mappings_layers.py``).

Dilation: TensorFlow on CPU cannot run a dilated transposed convolution (Keras refuses it with
strides > 1; ``Conv2DBackpropInput`` fails even at stride 1), so the spec refuses dilation_rate != 1.
"""
from __future__ import annotations

import functools
from collections import OrderedDict

from parity.mappings.base import (Atlas, BuildContext, LayerMapping, Refused, TorchImport, WeightRule, expect_shape,
                                  register, torch_tensors, snippet)
from parity.mappings.conv import CHANNELS_FIRST, to_channels_first
from scratchnet.layers.conv_transpose import transpose_crop, transpose_output_size


def geometry(ctx: BuildContext):
    """Per axis ``(H_out, top, ext)``: Keras's output size, TF's crop, and the cells torch must add
    after the full output so that [top:top + H_out] exists."""
    p = ctx.spec.params
    h, w, _ = ctx.in_shape
    ops = p["output_padding"] or (None, None)
    out = []
    for n, k, s, op in zip((h, w), p["kernel_size"], p["strides"], ops):
        ho = transpose_output_size(n, k, s, p["padding"], op)
        top = transpose_crop(n, ho, k, s, p["padding"])
        full = (n - 1) * s + k
        out.append((ho, top, max(top + ho - full, 0)))
    return out


@functools.cache
def _torch_modules():
    import torch.nn as nn

    class Crop2d(nn.Module):
        """NCHW: x[:, :, top:top + H_out, left:left + W_out] (TensorFlow's crop of the full output)."""

        def __init__(self, top, left, ho, wo):
            super().__init__()
            self.top, self.left, self.ho, self.wo = top, left, ho, wo

        def forward(self, x):
            return x[:, :, self.top:self.top + self.ho, self.left:self.left + self.wo]

    return {"Crop2d": Crop2d}


def _torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    p = ctx.spec.params
    (ho, top, ext_h), (wo, left, ext_w) = geometry(ctx)
    conv = nn.ConvTranspose2d(ctx.in_shape[-1], p["filters"], tuple(p["kernel_size"]), stride=tuple(p["strides"]),
                              padding=0, output_padding=(ext_h, ext_w), bias=p["use_bias"],
                              dtype=getattr(torch, ctx.dtype))
    crop = _torch_modules()["Crop2d"](top, left, ho, wo)
    return nn.Sequential(OrderedDict(layout=to_channels_first(ctx), conv=conv, crop=crop)), CHANNELS_FIRST


def _keras(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    op = None if p["output_padding"] is None else tuple(p["output_padding"])
    return keras.layers.Conv2DTranspose(p["filters"], tuple(p["kernel_size"]), strides=tuple(p["strides"]),
                                        padding=p["padding"], output_padding=op, use_bias=p["use_bias"])


def _rules(ctx: BuildContext) -> list[WeightRule]:
    p = ctx.spec.params
    (kh, kw), c, f = p["kernel_size"], ctx.in_shape[-1], p["filters"]

    def kernel_to_torch(k, _):
        return expect_shape(k, (kh, kw, f, c), "conv2d_transpose kernel (kh, kw, F, C_in)").transpose(3, 2, 0, 1).copy()

    def weight_to_canonical(w, _):
        return expect_shape(w, (c, f, kh, kw), "torch conv.weight (C_in, F, kh, kw)").transpose(2, 3, 1, 0).copy()

    rules = [WeightRule("kernel", "conv.weight", kernel_to_torch, weight_to_canonical)]
    if p["use_bias"]:
        rules.append(WeightRule("bias", "conv.bias", lambda b, _: expect_shape(b, (f,), "bias").copy(),
                                lambda b, _: expect_shape(b, (f,), "torch conv.bias").copy()))
    return rules


ATLAS = Atlas(
    title="conv2d_transpose", snippet=snippet("conv2d_transpose"),
    math=("forward: the adjoint of conv2d with the same kernel: <conv2d(z; K), x> = <z, conv2d_transpose(x; K)>\n"
          "         full[n, p s_h + a, q s_w + b, f] += sum_c x[n,p,q,c] K[a,b,f,c]; y = full[:, top:top + H_out, "
          "left:left + W_out] + bias\n"
          "         x (N, H, W, C_in), K (kh, kw, F, C_in), full (N, (H - 1) s_h + kh, (W - 1) s_w + kw, F)\n"
          "backward: dfull = dy placed at [top:top + H_out, left:left + W_out] (zeros elsewhere);\n"
          "          dx[n,p,q,c] = sum_{a,b,f} dfull[n, p s_h + a, q s_w + b, f] K[a,b,f,c]  (conv2d of dfull);\n"
          "          dK[a,b,f,c] = sum_{n,p,q} dfull[n, p s_h + a, q s_w + b, f] x[n,p,q,c];  db = sum_{n,i,j} dy"),
    scratch=("scratchnet.Conv2DTranspose(filters, kernel_size, strides=strides, padding='valid'|'same', "
             "output_padding=output_padding, use_bias=use_bias)"),
    torch=("nn.Sequential(layout=Identity, conv=nn.ConvTranspose2d(C_in, filters, kernel_size, stride=strides, padding=0, "
           "output_padding=(ext_h, ext_w), bias=use_bias), crop=x[:, :, top:top + H_out, left:left + W_out]) on NCHW; "
           "ext = max(top + H_out - full, 0) < s"),
    keras=("keras.layers.Conv2DTranspose(filters, kernel_size, strides=strides, padding='valid'|'same', "
           "output_padding=output_padding, use_bias=use_bias)"),
    layout=("kernel (kh, kw, F, C_in) = torch conv.weight (C_in, F, kh, kw).permute(2, 3, 1, 0); back: "
            "kernel.transpose(3, 2, 0, 1). NOTE the channel order: Keras's transposed kernel puts the OUTPUT channels "
            "before the input ones (Conv2D's is (kh, kw, C_in, F)); torch's puts C_in first in both. bias identical."),
    defaults=("torch padding 0, output_padding 0 (its output is the full (H - 1) s + k); Keras output_padding None "
              "(valid: H s + max(k - s, 0), same: H s). Both refuse output_padding >= strides; TF on CPU cannot run "
              "dilation_rate > 1 (the spec refuses it)."),
    notes=("HOW torch's padding and output_padding MAP ONTO Keras's same/valid (per axis, full = (H - 1) s + k):\n"
           "  torch H_out = (H - 1) s - 2 padding + (k - 1) + output_padding + 1: the full output with `padding` cells "
           "cut from the start and `padding - output_padding` from the end.\n"
           "  Keras valid: H_out = H s + max(k - s, 0) (with output_padding op: (H - 1) s + k + op); nothing cut from "
           "the start. torch twin: padding=0, output_padding = H_out - full (k < s or op > 0), which torch allows (< s).\n"
           "  Keras same: H_out = H s (with op: (H - 1) s + k - 2 (k // 2) + op); TF cuts top = total // 2 from the "
           "start, total = max(full - H_out, 0), and total - top from the end. torch's padding p = top matches only when "
           "total is even (then output_padding 0: k4 s2, k2 s2, k3 s3 with H_out = 3H). Where total is odd (k3 s2, "
           "k5 s2) TF cuts one more cell at the end than at the start and no (padding, output_padding) pair gives its "
           "values: the shape comes out right and the values are shifted by one cell. Measured with the usual recipe "
           "padding = (k - 1) // 2 and the output_padding that gives TF's shape (H = W = 5, max|y| 1.3-2.0): "
           "max|diff| 2.7 (k3 s2), 2.8 (k5 s2), 1.6 (k3 s3: padding 1, output_padding 2); 2e-16 (k4 s2, k2 s2).\n"
           "  The harness therefore builds torch's side as the full transposed convolution (padding 0, output_padding "
           "ext = max(top + H_out - full, 0)) cropped [top:top + H_out] as TF crops: exact (1e-16) for every case."),
)

# -- the way back (parity.importers) --------------------------------------------------------------
def _spec_for(fields: dict, in_shape, want) -> dict:
    """The (padding, output_padding) of Keras's whose geometry gives per axis (H_out, top) = ``want``,
    searched over every spelling (valid/same, output_padding None or below the strides)."""
    import itertools

    from parity.spec import LayerSpec

    (sh, sw) = fields["strides"]
    for padding in ("valid", "same"):
        for op in [None, *itertools.product(range(sh), range(sw))]:
            params = {**fields, "padding": padding, "output_padding": op, "dilation_rate": (1, 1)}
            ctx = BuildContext(LayerSpec("conv2d_transpose", params), tuple(in_shape), (), None, "float32")
            try:
                got = [(ho, top) for ho, top, _ in geometry(ctx)]
            except ValueError:
                continue
            if got == list(want):
                return {"type": "conv2d_transpose", **fields, "padding": padding,
                        "output_padding": None if op is None else tuple(op)}
    raise Refused(f"a transposed convolution giving (H_out, crop) {list(want)}: no Keras padding/output_padding "
                  "gives it")


def _from_torch(module, ictx):
    """The harness's ``Sequential(layout, conv=nn.ConvTranspose2d, crop)``, or ``nn.ConvTranspose2d``
    (padding p: the full output cut by p at the start, p - output_padding at the end)."""
    import torch.nn as nn

    if isinstance(module, nn.Sequential) and list(module._modules) == ["layout", "conv", "crop"]:
        conv, crop = module.conv, module.crop
        want = ((crop.ho, crop.top), (crop.wo, crop.left))
    elif type(module) is nn.ConvTranspose2d:
        conv = module
        want = None
    else:
        return None
    if conv.groups != 1 or tuple(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
        raise Refused("nn.ConvTranspose2d with groups, dilation or non-zero padding: no Keras twin")
    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"nn.ConvTranspose2d on a tensor of shape {ictx.in_shape} (expected an NCHW image)")
    if want is None:
        want = tuple(((n - 1) * s + k - 2 * p + op, p) for n, k, s, p, op in
                     zip(ictx.in_shape[:2], conv.kernel_size, conv.stride, conv.padding, conv.output_padding))
    fields = {"filters": conv.out_channels, "kernel_size": tuple(conv.kernel_size), "strides": tuple(conv.stride),
              "use_bias": conv.bias is not None}
    return TorchImport(_spec_for(fields, ictx.in_shape, want), torch_tensors(conv, "conv."))


def _from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.Conv2DTranspose:
        return None
    if tuple(layer.dilation_rate) != (1, 1) or layer.data_format != "channels_last":
        raise Refused("Conv2DTranspose with dilation or channels_first: not supported")
    act_name = getattr(layer.activation, "__name__", "")
    if act_name != "linear":
        raise Refused(f"Conv2DTranspose(activation={act_name}): the spec's conv2d_transpose has no activation; "
                      "make it a separate layer")
    op = layer.output_padding
    return {"type": "conv2d_transpose", "filters": layer.filters, "kernel_size": tuple(layer.kernel_size),
            "strides": tuple(layer.strides), "padding": layer.padding, "output_padding": None if op is None else tuple(op),
            "use_bias": layer.use_bias}


register(LayerMapping(type="conv2d_transpose", family="conv_transpose", atlas=ATLAS, torch=_torch, keras=_keras,
                      rules=_rules, scratch_class="Conv2DTranspose", trainable=True,
                      parameter_shapes=lambda p, s: [("kernel", (*p["kernel_size"], p["filters"], s[-1]))],
                      from_torch=_from_torch, from_keras=_from_keras))
