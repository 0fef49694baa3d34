"""Pooling: MaxPool2D, AveragePool2D, GlobalAveragePool2D and GlobalMaxPool2D in scratchnet, torch and Keras.

Padding, per axis ((top, bottom), (left, right) from ``scratchnet.layers._windows.resolve_padding``):
- ``same`` is TensorFlow's rule: total = max((ceil(H/s) - 1) s + k - H, 0), top = total // 2, the
  odd cell at the bottom/right; Keras's average leaves padded cells out of the count.
- torch pads only symmetrically. Where top == bottom and left == right the padding goes into the
  pooling module (``padding=(top, left)``; average with ``count_include_pad=False``). Otherwise:
  max: ``nn.ConstantPad2d((left, right, top, bottom), -inf)`` then ``nn.MaxPool2d(padding=0)``;
  average: window sum over window count, both of zero-padded tensors (exact for every padding):
  ``avg_pool2d(F.pad(x, p), k, s, divisor_override=1) / avg_pool2d(F.pad(ones, p), k, s,
  divisor_override=1)``. (``ceil_mode=True`` gives the same windows only in some cases, so the
  harness does not use it.)
- An explicit int / [h, w] padding (torch's symmetric ``padding=p``, at most k/2) has no Keras
  spelling; the Keras side is a small layer doing the same with ``keras.ops``: ``ops.pad`` with
  -inf then ``ops.max_pool(padding="valid")``; or ``ops.average_pool`` of the zero-padded input
  over ``ops.average_pool`` of the zero-padded ones (= window sum / real-cell count).

GlobalAveragePool2D: torch has no class of that name: ``x.mean(dim=(2, 3))`` on NCHW gives (N, C),
which is canonical already (Layout ``same``).
"""
from __future__ import annotations

import functools

from parity.mappings.base import SAME, Atlas, BuildContext, LayerMapping, Refused, TorchImport, register, snippet
from parity.mappings.conv import CHANNELS_FIRST, spec_padding, to_channels_first, window_pads


@functools.cache
def _torch_modules():
    """Small torch helper modules, defined on first use (torch is imported lazily)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class PaddedAvgPool2d(nn.Module):
        """Average over the real cells of each window for any (asymmetric) zero padding:
        window sum of the padded input / window count of the padded ones."""

        def __init__(self, kernel_size, stride, pad):  # pad = (left, right, top, bottom)
            super().__init__()
            self.kernel_size, self.stride, self.pad = tuple(kernel_size), tuple(stride), tuple(pad)

        def forward(self, x):
            total = F.avg_pool2d(F.pad(x, self.pad), self.kernel_size, self.stride, divisor_override=1)  # (N, C, Ho, Wo)
            ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
            count = F.avg_pool2d(F.pad(ones, self.pad), self.kernel_size, self.stride, divisor_override=1)  # (1, 1, Ho, Wo)
            return total / count

    class GlobalAvgPool2d(nn.Module):
        """(N, C, H, W) -> (N, C): the mean over H and W."""

        def forward(self, x):
            return x.mean(dim=(2, 3))

    class GlobalMaxPool2d(nn.Module):
        """(N, C, H, W) -> (N, C): the max over H and W (``amax``: tied maxima share the gradient)."""

        def forward(self, x):
            return x.amax(dim=(2, 3))

    return {"PaddedAvgPool2d": PaddedAvgPool2d, "GlobalAvgPool2d": GlobalAvgPool2d, "GlobalMaxPool2d": GlobalMaxPool2d}


@functools.cache
def _keras_classes():
    """Keras layers for an explicit (symmetric int) pooling padding, which Keras lacks."""
    import keras

    ops = keras.ops

    class ExplicitPaddingPool2D(keras.layers.Layer):
        def __init__(self, kind, pool_size, strides, pads, **kwargs):
            super().__init__(**kwargs)
            self.kind, self.pool_size, self.strides = kind, tuple(pool_size), tuple(strides)
            (t, b), (l, r) = pads
            self.widths = [[0, 0], [t, b], [l, r], [0, 0]]

        def call(self, x):
            if self.kind == "max":
                xp = ops.pad(x, self.widths, constant_values=float("-inf"))
                return ops.max_pool(xp, self.pool_size, self.strides, padding="valid")
            total = ops.average_pool(ops.pad(x, self.widths), self.pool_size, self.strides, padding="valid")
            ones = ops.pad(ops.ones_like(x[:1, :, :, :1]), self.widths)
            count = ops.average_pool(ones, self.pool_size, self.strides, padding="valid")
            return total / count  # = window sum / real cells (the 1/(kh kw) cancels)

        def compute_output_shape(self, input_shape):
            n, h, w, c = input_shape
            (t, b), (l, r) = self.widths[1], self.widths[2]
            (kh, kw), (sh, sw) = self.pool_size, self.strides
            return n, (h + t + b - kh) // sh + 1, (w + l + r - kw) // sw + 1, c

    return {"ExplicitPaddingPool2D": ExplicitPaddingPool2D}


def _torch_pool(ctx: BuildContext, kind: str):
    import torch.nn as nn

    p = ctx.spec.params
    k, s = tuple(p["pool_size"]), tuple(p["strides"])
    (top, bottom), (left, right) = window_pads(ctx, k, s)
    symmetric = top == bottom and left == right
    if kind == "max":
        if symmetric:
            pool = nn.MaxPool2d(k, s, padding=(top, left))
        else:
            pool = nn.Sequential(nn.ConstantPad2d((left, right, top, bottom), float("-inf")), nn.MaxPool2d(k, s))
    elif symmetric:
        pool = nn.AvgPool2d(k, s, padding=(top, left), count_include_pad=False)
    else:
        pool = _torch_modules()["PaddedAvgPool2d"](k, s, (left, right, top, bottom))
    return nn.Sequential(to_channels_first(ctx), pool), CHANNELS_FIRST


def _keras_pool(ctx: BuildContext, kind: str):
    import keras

    p = ctx.spec.params
    k, s = tuple(p["pool_size"]), tuple(p["strides"])
    if isinstance(p["padding"], tuple):
        return _keras_classes()["ExplicitPaddingPool2D"](kind, k, s, window_pads(ctx, k, s))
    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    return cls(pool_size=k, strides=s, padding=p["padding"])


def _torch_global(ctx: BuildContext):
    import torch.nn as nn

    return nn.Sequential(to_channels_first(ctx), _torch_modules()["GlobalAvgPool2d"]()), SAME


def _keras_global(ctx: BuildContext):
    import keras

    return keras.layers.GlobalAveragePooling2D()


def _torch_global_max(ctx: BuildContext):
    import torch.nn as nn

    return nn.Sequential(to_channels_first(ctx), _torch_modules()["GlobalMaxPool2d"]()), SAME


def _keras_global_max(ctx: BuildContext):
    import keras

    return keras.layers.GlobalMaxPooling2D()


# ---- the way back (parity.importers) ----------------------------------------------------------
def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unwrap(module):
    """The pooling module inside the harness's ``Sequential(layout, pool)`` (layout an Identity or
    ``ToChannelsFirst``), or ``module`` itself."""
    import torch.nn as nn

    from parity.mappings.conv import _torch_modules as conv_modules

    if isinstance(module, nn.Sequential) and len(module) == 2 and \
            isinstance(module[0], (nn.Identity, conv_modules()["ToChannelsFirst"])):
        return module[1]
    return module


def _pool_from_torch(module, ictx, kind: str):
    """``nn.MaxPool2d`` / ``nn.AvgPool2d`` (symmetric padding; average with count_include_pad=False
    where it pads), the harness's padded forms; refused: dilation, ceil_mode, counted padding."""
    import torch.nn as nn

    pool = _unwrap(module)
    cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    pads = None
    if kind == "max" and isinstance(pool, nn.Sequential) and len(pool) == 2 and \
            isinstance(pool[0], nn.ConstantPad2d) and pool[0].value == float("-inf") and isinstance(pool[1], nn.MaxPool2d):
        left, right, top, bottom = pool[0].padding
        pads, pool = ((top, bottom), (left, right)), pool[1]
    elif kind == "avg" and type(pool) is _torch_modules()["PaddedAvgPool2d"]:
        left, right, top, bottom = pool.pad
        k, st = pool.kernel_size, pool.stride
        pads = ((top, bottom), (left, right))
        return _pool_import(kind, k, st, pads, ictx)
    if type(pool) is (nn.AdaptiveMaxPool2d if kind == "max" else nn.AdaptiveAvgPool2d):
        return _adaptive_as_pool(pool, ictx, kind)
    if type(pool) is not cls:
        return None
    name = type(pool).__name__
    if getattr(pool, "ceil_mode", False):
        raise Refused(f"nn.{name}(ceil_mode=True): Keras pools floor the output size")
    if kind == "max" and (_pair(pool.dilation) != (1, 1) or pool.return_indices):
        raise Refused(f"nn.{name}: dilation and return_indices have no Keras twin")
    k, st = _pair(pool.kernel_size), _pair(pool.stride if pool.stride is not None else pool.kernel_size)
    if pads is None:
        ph, pw = _pair(pool.padding)
        pads = ((ph, ph), (pw, pw))
    if kind == "avg" and pads != ((0, 0), (0, 0)) and pool.count_include_pad:
        raise Refused(f"nn.AvgPool2d(padding={pool.padding}, count_include_pad=True) counts the padded zeros; Keras's "
                      "average leaves them out (count_include_pad=False is its twin)")
    if kind == "avg" and pool.divisor_override is not None:
        raise Refused("nn.AvgPool2d(divisor_override=...): no Keras twin")
    return _pool_import(kind, k, st, pads, ictx)


# F.max_pool2d / F.avg_pool2d's arguments after the input, in order (their modules' keywords)
_POOL_ARGS = {"max": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
              "avg": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")}


def _pool_call(target, args, kwargs, ictx, kind: str):
    """``F.max_pool2d(x, k, ...)`` / ``F.avg_pool2d(x, k, ...)`` (the PyTorch tutorial's LeNet) read as
    the module with the same arguments; ``F.adaptive_avg_pool2d(x, size)`` / ``_max_`` as the module."""
    import torch.nn as nn
    import torch.nn.functional as F

    from parity.mappings.base import TENSOR

    if args[:1] != (TENSOR,):
        return None
    if target is (F.max_pool2d if kind == "max" else F.avg_pool2d):
        names = _POOL_ARGS[kind]
        if len(args) - 1 > len(names):
            return None
        given = {**dict(zip(names, args[1:])), **kwargs}
        if given.get("stride") in ((), []):
            given["stride"] = None  # torch's own default: the kernel size
        module = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(**given)
    elif target is (F.adaptive_max_pool2d if kind == "max" else F.adaptive_avg_pool2d):
        size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
        module = (nn.AdaptiveMaxPool2d if kind == "max" else nn.AdaptiveAvgPool2d)(size)
    else:
        return None
    found = _pool_from_torch(module, ictx, kind)
    return None if found is None else found.fields


def _adaptive_as_pool(pool, ictx, kind: str):
    """``nn.AdaptiveAvgPool2d((oh, ow))`` (torchvision's VGG and AlexNet heads) on an H x W image with
    oh | H and ow | W: window i covers rows [floor(i H / oh), ceil((i + 1) H / oh)), i.e. exactly
    the pool of size and stride (H / oh, W / ow); (1, 1) is the global pool's (None for it here)."""
    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"2-d adaptive pooling on a tensor of shape {ictx.in_shape} (expected an NCHW image)")
    h, w = ictx.in_shape[:2]
    size = pool.output_size if isinstance(pool.output_size, (tuple, list)) else (pool.output_size,) * 2
    oh, ow = (h if size[0] is None else size[0]), (w if size[1] is None else size[1])
    if (oh, ow) == (1, 1):
        return None
    if h % oh or w % ow or getattr(pool, "return_indices", False):
        raise Refused(f"nn.{type(pool).__name__}(({oh}, {ow})) on a {h}x{w} image: only an output size dividing "
                      "the input's is a fixed pool (Keras has no adaptive pooling)")
    k = (h // oh, w // ow)
    return _pool_import(kind, k, k, ((0, 0), (0, 0)), ictx)


def _pool_import(kind, k, st, pads, ictx):
    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"2-d pooling on a tensor of shape {ictx.in_shape} (expected an NCHW image)")
    padding = spec_padding(pads, ictx.in_shape[:2], k, st, what=f"{kind} pooling")
    return TorchImport({"type": "max_pool2d" if kind == "max" else "average_pool2d", "pool_size": tuple(k),
                        "strides": tuple(st), "padding": padding}, {})


def _global_from_torch(module, ictx, kind: str):
    """The harness's global pools, or ``nn.AdaptiveAvgPool2d(1)`` / ``nn.AdaptiveMaxPool2d(1)`` (whose
    (N, C, 1, 1) output is read as (N, C): the importer drops the flatten after it)."""
    import torch.nn as nn

    pool = _unwrap(module)
    ours = _torch_modules()["GlobalAvgPool2d" if kind == "avg" else "GlobalMaxPool2d"]
    adaptive = nn.AdaptiveAvgPool2d if kind == "avg" else nn.AdaptiveMaxPool2d
    if type(pool) is adaptive and _pair(pool.output_size) == (1, 1) and not getattr(pool, "return_indices", False):
        pass
    elif type(pool) is not ours:
        return None
    if len(ictx.in_shape) != 3 or ictx.in_layout.kind != "channels_first":
        raise Refused(f"global pooling on a tensor of shape {ictx.in_shape} (expected an NCHW image)")
    return TorchImport({"type": "global_average_pool2d" if kind == "avg" else "global_max_pool2d"}, {})


def _global_call(target, args, kwargs, ictx, kind: str):
    """``x.mean(dim=(2, 3))`` / ``x.amax(dim=(2, 3))`` on an NCHW image (the harness's own global
    pools), ``F.adaptive_avg_pool2d(x, 1)`` / ``F.adaptive_max_pool2d(x, 1)`` (read as (N, C))."""
    import torch
    import torch.nn.functional as F

    from parity.mappings.base import TENSOR

    if args[:1] != (TENSOR,) or ictx.in_layout.kind != "channels_first" or len(ictx.in_shape) != 3:
        return None
    reduce = (torch.mean,) if kind == "avg" else (torch.amax,)
    adaptive = F.adaptive_avg_pool2d if kind == "avg" else F.adaptive_max_pool2d
    out = {"type": "global_average_pool2d" if kind == "avg" else "global_max_pool2d"}
    if target in reduce:
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        dims = tuple(d % 4 for d in dim) if isinstance(dim, (tuple, list)) else None
        if dims is not None and sorted(dims) == [2, 3] and not kwargs.get("keepdim", False):
            return out
    if target is adaptive and _pair(kwargs.get("output_size", args[1] if len(args) > 1 else 0)) == (1, 1):
        return out
    return None


def _pool_from_keras(layer, ictx, kind: str):
    import keras

    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    explicit = _keras_classes()["ExplicitPaddingPool2D"]
    if type(layer) is explicit and layer.kind == kind:
        (t, b), (l, r) = (tuple(w) for w in layer.widths[1:3])
        padding = spec_padding(((t, b), (l, r)), ictx.in_shape[:2], layer.pool_size, layer.strides)
        return {"type": f"{'max' if kind == 'max' else 'average'}_pool2d", "pool_size": tuple(layer.pool_size),
                "strides": tuple(layer.strides), "padding": padding}
    if type(layer) is not cls:
        return None
    if layer.data_format != "channels_last":
        raise Refused(f"{cls.__name__}(data_format={layer.data_format!r}): parity's layout is channels_last")
    return {"type": f"{'max' if kind == 'max' else 'average'}_pool2d", "pool_size": tuple(layer.pool_size),
            "strides": tuple(layer.strides), "padding": layer.padding}


def _global_from_keras(layer, ictx, kind: str):
    import keras

    cls = keras.layers.GlobalAveragePooling2D if kind == "avg" else keras.layers.GlobalMaxPooling2D
    if type(layer) is not cls:
        return None
    if layer.keepdims or layer.data_format != "channels_last":
        raise Refused(f"{cls.__name__}(keepdims={layer.keepdims}, data_format={layer.data_format!r}): parity's is "
                      "keepdims=False, channels_last")
    return {"type": "global_average_pool2d" if kind == "avg" else "global_max_pool2d"}


_POOL_PADDING = ("same = TensorFlow's rule per axis: total = max((ceil(H/s) - 1) s + k - H, 0), top = total // 2, "
                 "bottom = total - top. torch: top == bottom and left == right -> padding=(top, left) in the "
                 "pooling module; otherwise explicit padding before a padding=0 pool. An explicit int/[h, w] "
                 "padding (symmetric, at most k/2: torch's padding=p) has no Keras spelling: the harness uses a "
                 "small keras.ops layer (pad, then pool 'valid').")

register(
    LayerMapping(
        type="max_pool2d", family="pooling",
        atlas=Atlas(
            title="max_pool2d", snippet=snippet("pooling2d"),
            math=("forward: y[n,i,j,c] = max_{0<=a<ph, 0<=b<pw} xp[n, i s_h + a, j s_w + b, c], xp = x padded "
                  "with -inf\n"
                  "backward: dx[n, i s_h + a* - top, j s_w + b* - left, c] += dy[n,i,j,c] at the window's first "
                  "maximum (a*, b*) in row-major order (ties: torch CPU and TF pick the same one)"),
            scratch="scratchnet.MaxPool2D(pool_size, strides=strides, padding=padding)",
            torch=("nn.MaxPool2d(pool_size, stride=strides, padding=(top, left)) when symmetric, else "
                   "nn.Sequential(nn.ConstantPad2d((left, right, top, bottom), -inf), nn.MaxPool2d(pool_size, "
                   "stride=strides)); on NCHW"),
            keras=("keras.layers.MaxPooling2D(pool_size, strides=strides, padding='valid'|'same') "
                   "[explicit padding: ops.pad(x, -inf) + ops.max_pool(padding='valid')]"),
            layout="no weights; NCHW in torch, output converted back with .permute(0, 2, 3, 1)",
            defaults=("strides default to pool_size in all three (torch stride=None); Keras padding 'valid'; "
                      "torch pads symmetrically only, with -inf, at most k/2"),
            notes=_POOL_PADDING),
        torch=lambda ctx: _torch_pool(ctx, "max"), keras=lambda ctx: _keras_pool(ctx, "max"),
        scratch_class="MaxPool2D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _pool_from_torch(m, ictx, "max"),
        from_torch_call=lambda t, a, k, ictx: _pool_call(t, a, k, ictx, "max"), from_keras=lambda l, ictx: _pool_from_keras(l, ictx, "max")),
    LayerMapping(
        type="average_pool2d", family="pooling",
        atlas=Atlas(
            title="average_pool2d", snippet=snippet("pooling2d"),
            math=("forward: y[n,i,j,c] = (1 / K_ij) sum_{(a,b) real} xp[n, i s_h + a, j s_w + b, c], K_ij = real "
                  "(unpadded) cells in window (i, j)\n"
                  "backward: dx[n, i s_h + a - top, j s_w + b - left, c] += dy[n,i,j,c] / K_ij for every real cell"),
            scratch="scratchnet.AveragePool2D(pool_size, strides=strides, padding=padding)",
            torch=("nn.AvgPool2d(pool_size, stride=strides, padding=(top, left), count_include_pad=False) when "
                   "symmetric, else avg_pool2d(F.pad(x, p), k, s, divisor_override=1) / avg_pool2d(F.pad(ones, p), "
                   "k, s, divisor_override=1), p = (left, right, top, bottom); on NCHW"),
            keras=("keras.layers.AveragePooling2D(pool_size, strides=strides, padding='valid'|'same') "
                   "[explicit padding: ops.average_pool of the zero-padded x / of the zero-padded ones]"),
            layout="no weights; NCHW in torch, output converted back with .permute(0, 2, 3, 1)",
            defaults=("torch AvgPool2d count_include_pad=True by default (padded zeros counted); Keras/TF 'same' "
                      "leaves padded cells out of the count: the harness passes count_include_pad=False"),
            notes=_POOL_PADDING),
        torch=lambda ctx: _torch_pool(ctx, "avg"), keras=lambda ctx: _keras_pool(ctx, "avg"),
        scratch_class="AveragePool2D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _pool_from_torch(m, ictx, "avg"),
        from_torch_call=lambda t, a, k, ictx: _pool_call(t, a, k, ictx, "avg"), from_keras=lambda l, ictx: _pool_from_keras(l, ictx, "avg")),
    LayerMapping(
        type="global_average_pool2d", family="pooling",
        atlas=Atlas(
            title="global_average_pool2d", snippet=snippet("pooling2d"),
            math="forward: y[n,c] = (1 / (H W)) sum_{i,j} x[n,i,j,c]\nbackward: dx[n,i,j,c] = dy[n,c] / (H W)",
            scratch="scratchnet.GlobalAveragePool2D()",
            torch="x.mean(dim=(2, 3)) on NCHW (a small module; nn.AdaptiveAvgPool2d(1) + flatten is the same)",
            keras="keras.layers.GlobalAveragePooling2D()  (keepdims=False)",
            layout="no weights; the (N, C) output is canonical in both layouts",
            defaults="Keras keepdims=False; torch has no class of this name"),
        torch=_torch_global, keras=_keras_global,
        scratch_class="GlobalAveragePool2D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _global_from_torch(m, ictx, "avg"),
        from_torch_call=lambda t, a, k, ictx: _global_call(t, a, k, ictx, "avg"), from_keras=lambda l, ictx: _global_from_keras(l, ictx, "avg")),
    LayerMapping(
        type="global_max_pool2d", family="pooling",
        atlas=Atlas(
            title="global_max_pool2d", snippet=snippet("pooling2d"),
            math=("forward: y[n,c] = max_{i,j} x[n,i,j,c]\n"
                  "backward: dx[n,i,j,c] = dy[n,c] [x[n,i,j,c] = y[n,c]] / m  (m tied maxima share the gradient)"),
            scratch="scratchnet.GlobalMaxPool2D()",
            torch="x.amax(dim=(2, 3)) on NCHW (a small module)",
            keras="keras.layers.GlobalMaxPooling2D()  (keepdims=False)",
            layout="no weights; the (N, C) output is canonical in both layouts",
            defaults=("torch has no class of this name; amax splits a tie's gradient evenly, as TF's reduce_max does; "
                      "nn.AdaptiveMaxPool2d(1) would give all of it to one cell")),
        torch=_torch_global_max, keras=_keras_global_max,
        scratch_class="GlobalMaxPool2D", value_preserving=True, shift_preserving=True,
        from_torch=lambda m, ictx: _global_from_torch(m, ictx, "max"),
        from_torch_call=lambda t, a, k, ictx: _global_call(t, a, k, ictx, "max"), from_keras=lambda l, ictx: _global_from_keras(l, ictx, "max")),
)
