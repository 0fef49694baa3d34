"""UpSampling2D and ZeroPadding2D in scratchnet, torch and Keras (images, channels-first in torch).

up_sampling2d: y is x enlarged by integer factors (s_h, s_w).
- nearest: ``nn.Upsample(scale_factor=(s_h, s_w), mode="nearest")``; Keras's ``UpSampling2D``
  repeats rows and columns (``ops.repeat``): exact in every dtype.
- bilinear: half-pixel centres, edges repeated: output row i samples u = (i + 1/2) / s - 1/2
  between rows max(floor u, 0) and min(ceil u, H - 1) (scratchnet's ``interpolation_matrix``).
  torch: ``nn.Upsample(..., mode="bilinear", align_corners=False)`` (``align_corners=True`` samples
  u = i (H - 1) / (H_out - 1): another map). Keras calls ``ops.image.resize`` ->
  ``tf.image.resize``, which computes in float32 and returns float32: in a float64 model the
  output is float32-rounded (measured: 2.6e-7 relative off torch), and so is the gradient through it.
  Declared as a Keras ``Deviation`` in float64, relative tolerance 1e-6 (about 16 float32 ulps:
  the rounding of the input, of the two-tap weights and of the result, carried through the
  layers after it).
zero_padding2d: ((top, bottom), (left, right)) zeros. torch's ``nn.ZeroPad2d`` takes
(left, right, top, bottom), the last axis first (``F.pad``'s order).
"""
from __future__ import annotations

from collections import OrderedDict

from parity.mappings.activations import ALL
from parity.mappings.base import Atlas, BuildContext, Deviation, LayerMapping, register, snippet
from parity.mappings.conv import CHANNELS_FIRST, to_channels_first

BILINEAR_FLOAT64_RTOL = 1e-6


def _torch_upsampling(ctx: BuildContext):
    import torch.nn as nn

    p = ctx.spec.params
    kw = {"align_corners": False} if p["interpolation"] == "bilinear" else {}
    up = nn.Upsample(scale_factor=tuple(float(s) for s in p["size"]), mode=p["interpolation"], **kw)
    return nn.Sequential(OrderedDict(layout=to_channels_first(ctx), up=up)), CHANNELS_FIRST


def _keras_upsampling(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    return keras.layers.UpSampling2D(size=tuple(p["size"]), interpolation=p["interpolation"])


def _upsampling_deviations(ctx: BuildContext) -> list[Deviation]:
    if ctx.dtype == "float64" and ctx.spec.params["interpolation"] == "bilinear":
        return [Deviation("keras", ALL, BILINEAR_FLOAT64_RTOL,
                          "Keras's bilinear UpSampling2D resizes with tf.image.resize, which computes and returns "
                          "float32 even in a float64 model (measured 2.6e-7 relative off torch's F.interpolate on catalog case resize-bilinear-upsampling)")]
    return []


# -- the way back (parity.importers) --------------------------------------------------------------
def _inner(module, key: str, cls):
    """``cls`` alone, or inside the harness's ``Sequential(layout=, <key>=)``; else None."""
    import torch.nn as nn

    if isinstance(module, nn.Sequential) and list(module._modules) == ["layout", key]:
        module = module._modules[key]
    return module if type(module) is cls else None


def _image_input(ictx, what: str):
    from parity.mappings.base import Refused

    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"{what} on a tensor of shape {ictx.in_shape} (expected an NCHW image)")


def _upsampling_from_torch(module, ictx):
    """``nn.Upsample(scale_factor=integers, mode="nearest" | "bilinear", align_corners=False)``."""
    import torch.nn as nn

    from parity.mappings.base import Refused, TorchImport

    up = _inner(module, "up", nn.Upsample)
    if up is None:
        return None
    _image_input(ictx, "nn.Upsample")
    scale = up.scale_factor if isinstance(up.scale_factor, tuple) else (up.scale_factor,) * 2
    if up.size is not None or any(float(f) != int(f) for f in scale) or up.mode not in ("nearest", "bilinear") \
            or (up.mode == "bilinear" and up.align_corners):
        raise Refused(f"nn.Upsample(size={up.size}, scale_factor={up.scale_factor}, mode={up.mode!r}, align_corners="
                      f"{up.align_corners}): Keras's UpSampling2D takes integer factors, nearest or bilinear "
                      "(align_corners=False)")
    return TorchImport({"type": "up_sampling2d", "size": tuple(int(f) for f in scale), "interpolation": up.mode}, {})


_INTERPOLATE_ARGS = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")


def _upsampling_call(target, args, kwargs, ictx):
    """``F.interpolate(x, scale_factor=2, mode="nearest")`` (U-Nets, FPNs): read as the
    ``nn.Upsample`` with the same arguments; recompute_scale_factor and antialias refused."""
    import torch.nn as nn
    import torch.nn.functional as F

    from parity.mappings.base import TENSOR, Refused

    if target is not F.interpolate or args[:1] != (TENSOR,) or len(args) - 1 > len(_INTERPOLATE_ARGS):
        return None
    given = {**dict(zip(_INTERPOLATE_ARGS, args[1:])), **kwargs}
    if given.pop("recompute_scale_factor", None) or given.pop("antialias", False):
        raise Refused("F.interpolate(recompute_scale_factor=True or antialias=True): Keras's UpSampling2D has neither")
    if any(hasattr(v, "op") or v == TENSOR for v in given.values()):
        return None
    found = _upsampling_from_torch(nn.Upsample(**given), ictx)
    return None if found is None else found.fields


def _upsampling_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.UpSampling2D:
        return None
    return {"type": "up_sampling2d", "size": tuple(layer.size), "interpolation": layer.interpolation}


def _zero_padding_from_torch(module, ictx):
    import torch.nn as nn

    from parity.mappings.base import TorchImport

    pad = _inner(module, "pad", nn.ZeroPad2d)
    if pad is None:
        return None
    _image_input(ictx, "nn.ZeroPad2d")
    left, right, top, bottom = pad.padding
    return TorchImport({"type": "zero_padding2d", "padding": ((top, bottom), (left, right))}, {})


def _zero_padding_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.ZeroPadding2D:
        return None
    return {"type": "zero_padding2d", "padding": tuple(tuple(p) for p in layer.padding)}


def torch_zero_pad_order(padding) -> tuple[int, int, int, int]:
    """((top, bottom), (left, right)) -> torch's (left, right, top, bottom)."""
    (top, bottom), (left, right) = padding
    return left, right, top, bottom


def _torch_zero_padding(ctx: BuildContext):
    import torch.nn as nn

    pad = nn.ZeroPad2d(torch_zero_pad_order(ctx.spec.params["padding"]))
    return nn.Sequential(OrderedDict(layout=to_channels_first(ctx), pad=pad)), CHANNELS_FIRST


def _keras_zero_padding(ctx: BuildContext):
    import keras

    return keras.layers.ZeroPadding2D(padding=tuple(tuple(p) for p in ctx.spec.params["padding"]))


register(
    LayerMapping(
        type="up_sampling2d", family="resize",
        atlas=Atlas(
            title="up_sampling2d", snippet=snippet("resize"),
            math=("forward: nearest  y[n,i,j,c] = x[n, i // s_h, j // s_w, c]\n"
                  "         bilinear y[n,:,:,c] = A_h x[n,:,:,c] A_w^T, row i of A_h: 1 - w at lo, w at hi, "
                  "u = (i + 1/2)/s_h - 1/2, lo = max(floor u, 0), hi = min(ceil u, H - 1), w = u - floor u\n"
                  "backward: nearest  dx[n,p,q,c] = sum of dy over the s_h x s_w block of (p, q)\n"
                  "          bilinear dx[n,:,:,c] = A_h^T dy[n,:,:,c] A_w"),
            scratch="scratchnet.UpSampling2D(size, interpolation='nearest'|'bilinear')",
            torch=("nn.Upsample(scale_factor=(s_h, s_w), mode='nearest' | mode='bilinear', align_corners=False) "
                   "on NCHW (= F.interpolate)"),
            keras="keras.layers.UpSampling2D(size=(s_h, s_w), interpolation='nearest'|'bilinear')",
            layout="no weights; NCHW in torch",
            defaults=("torch's align_corners=True samples u = i (H - 1)/(H_out - 1) (corners aligned): not Keras's map; "
                      "the harness passes align_corners=False. Keras's default interpolation is 'nearest'."),
            notes=("DEVIATION (float64, bilinear): Keras resizes through tf.image.resize, which computes and returns "
                   "float32 even in a float64 model: measured 2.6e-7 relative off torch (resize-bilinear-upsampling). The comparison allows Keras "
                   f"rtol {BILINEAR_FLOAT64_RTOL} from this layer on. Nearest is ops.repeat: exact.")),
        torch=_torch_upsampling, keras=_keras_upsampling, deviations=_upsampling_deviations,
        scratch_class="UpSampling2D", value_preserving=True, shift_preserving=True,
        from_torch=_upsampling_from_torch, from_torch_call=_upsampling_call, from_keras=_upsampling_from_keras),
    LayerMapping(
        type="zero_padding2d", family="resize",
        atlas=Atlas(
            title="zero_padding2d", snippet=snippet("resize"),
            math=("forward: y[n, top + i, left + j, c] = x[n,i,j,c], zeros elsewhere; "
                  "y (N, top + H + bottom, left + W + right, C)\n"
                  "backward: dx = dy[:, top:top + H, left:left + W, :]"),
            scratch="scratchnet.ZeroPadding2D(padding)  (int | (h, w) | ((top, bottom), (left, right)))",
            torch="nn.ZeroPad2d((left, right, top, bottom)) on NCHW: the LAST axis first, F.pad's order",
            keras="keras.layers.ZeroPadding2D(padding=((top, bottom), (left, right)))",
            layout="no weights; NCHW in torch",
            defaults=("torch's order (left, right, top, bottom) names W before H; Keras's ((top, bottom), (left, right)) "
                      "H first. An int or (h, w) pair means symmetric padding in both.")),
        torch=_torch_zero_padding, keras=_keras_zero_padding,
        scratch_class="ZeroPadding2D", from_torch=_zero_padding_from_torch, from_keras=_zero_padding_from_keras),  # adds exact zeros: not probabilities-safe, not shift-preserving
)
