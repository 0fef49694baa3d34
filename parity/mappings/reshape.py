"""Shape-only layers: Flatten and Reshape in scratchnet, torch and Keras.

Flatten. torch's ``nn.Flatten`` flattens whatever layout the tensor has: on an NCHW image that is
(C, H, W) order, where Keras and scratchnet flatten (H, W, C). The harness lets torch flatten its
own way and records the output as ``Layout("flat", perm)`` with
``perm = arange(C*H*W).reshape(C, H, W).transpose(1, 2, 0).ravel()`` (``base.flat_perm``):
canonical element i is torch element perm[i]. The next Dense permutes its kernel rows by it
(``dense.py``), so no data moves in torch; the captured output is converted with the same perm.
Input already canonical (sequences, or a flat vector): plain ``nn.Flatten``, layout kept.

Reshape(target_shape). A reshape reads elements in C order, so it depends on the layout: torch
first brings its input to the canonical order (NCHW -> NHWC with ``movedim(1, -1)``; a ``flat``
vector with ``index_select(1, perm)``), then reshapes to (N, *target_shape). Decision: when the
result is an image (three axes besides the batch) it is moved to NCHW (``movedim(-1, 1)``) and
its layout is ``channels_first``, so a following conv or pool finds the layout every other image
in the torch model has; any other rank stays canonical (layout ``same``).
"""
from __future__ import annotations

import functools

from parity.mappings.base import TENSOR, SAME, Atlas, BuildContext, Layout, LayerMapping, Refused, TorchImport, flat_perm, register, snippet


@functools.cache
def _torch_modules():
    import torch
    import torch.nn as nn

    class CanonicalReshape(nn.Module):
        """Bring the input to the canonical (channels-last) order, reshape, and optionally move
        the channels of an image result to dim 1."""

        def __init__(self, in_layout: Layout, out_shape: tuple[int, ...], channels_first_out: bool):
            super().__init__()
            self.kind, self.out_shape, self.channels_first_out = in_layout.kind, tuple(out_shape), channels_first_out
            self.perm = torch.tensor(in_layout.perm, dtype=torch.long) if in_layout.kind == "flat" else None

        def forward(self, x):
            if self.kind == "channels_first":
                x = x.movedim(1, -1)  # (N, H, W, C)
            elif self.kind == "flat":
                x = x.index_select(1, self.perm)  # canonical (H, W, C) flat order
            y = x.reshape(x.shape[0], *self.out_shape)  # (N, *target_shape)
            return y.movedim(-1, 1) if self.channels_first_out else y

    return {"CanonicalReshape": CanonicalReshape}


def _torch_flatten(ctx: BuildContext):
    import torch.nn as nn

    if ctx.in_layout.kind == "channels_first":
        return nn.Flatten(), Layout("flat", flat_perm(ctx.in_shape))
    if ctx.in_layout.kind == "flat" or len(ctx.in_shape) <= 1:
        return nn.Flatten(), ctx.in_layout  # (N, D) stays (N, D)
    return nn.Flatten(), SAME


def _torch_reshape(ctx: BuildContext):
    image_out = len(ctx.out_shape) == 3
    module = _torch_modules()["CanonicalReshape"](ctx.in_layout, ctx.out_shape, image_out)
    return module, (Layout("channels_first") if image_out else SAME)


def _keras_flatten(ctx: BuildContext):
    import keras

    return keras.layers.Flatten()


def _keras_reshape(ctx: BuildContext):
    import keras

    return keras.layers.Reshape(tuple(ctx.spec.params["target_shape"]))


# -- the way back (parity.importers) --------------------------------------------------------------
def _flatten_from_torch(module, ictx):
    import torch.nn as nn

    if type(module) is not nn.Flatten:
        return None
    if (module.start_dim, module.end_dim) != (1, -1):
        raise Refused(f"nn.Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}): only (1, -1) is Flatten")
    return TorchImport({"type": "flatten"}, {})


def _flatten_call(target, args, kwargs, ictx):
    """``torch.flatten(x, 1)`` and ``x.flatten(1)`` (the method reads as the function)."""
    import torch

    if target is not torch.flatten or args[:1] != (TENSOR,):
        return None
    start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
    end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
    if (start, end) != (1, -1):
        raise Refused(f"torch.flatten(x, {start}, {end}): only start_dim=1, end_dim=-1 is Flatten")
    return {"type": "flatten"}


def _flatten_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.Flatten:
        return None
    if layer.data_format != "channels_last":
        raise Refused("Flatten(data_format='channels_first') flattens like torch: parity's layout is channels_last")
    return {"type": "flatten"}


def _reshape_from_torch(module, ictx):
    """The harness's ``CanonicalReshape`` only: a user's torch reshape acts on NCHW order, not the spec's."""
    if type(module) is not _torch_modules()["CanonicalReshape"]:
        return None
    return TorchImport({"type": "reshape", "target_shape": tuple(module.out_shape)}, {})


def _reshape_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.Reshape:
        return None
    return {"type": "reshape", "target_shape": tuple(layer.target_shape)}


register(
    LayerMapping(
        type="flatten", family="reshape",
        atlas=Atlas(
            title="flatten", snippet=snippet("flatten"),
            math=("forward: y = reshape(x, (N, -1)): x[n, h, w, c] -> y[n, (h W + w) C + c] (channels-last C order)\n"
                  "backward: dx = reshape(dy, x.shape)"),
            scratch="scratchnet.Flatten()",
            torch=("nn.Flatten() on NCHW: flattens (C, H, W); the harness records Layout('flat', perm) instead of "
                   "moving data, and the next dense permutes its kernel rows"),
            keras="keras.layers.Flatten()  (data_format channels_last)",
            layout=("no weights. canonical flat index i = torch flat index perm[i], perm = arange(C*H*W)"
                    ".reshape(C, H, W).transpose(1, 2, 0).ravel(); a following dense uses kernel = weight.T[perm]"),
            defaults=("Keras Flatten(data_format='channels_first') would flatten like torch; the spec is "
                      "channels-last"),
            notes="Forgetting the row permutation gives a dense that is wrong by a shuffle, not by rounding."),
        torch=_torch_flatten, keras=_keras_flatten, scratch_class="Flatten", value_preserving=True,
        shift_preserving=True, from_torch=_flatten_from_torch, from_torch_call=_flatten_call,
        from_keras=_flatten_from_keras),
    LayerMapping(
        type="reshape", family="reshape",
        atlas=Atlas(
            title="reshape", snippet=snippet("flatten"),
            math=("forward: y = reshape(x, (N, *target_shape)) in C order of the canonical layout (one -1 "
                  "inferred)\nbackward: dx = reshape(dy, x.shape)"),
            scratch="scratchnet.Reshape(target_shape)",
            torch=("x.movedim(1, -1) (NCHW input) or x.index_select(1, perm) (flat input), then "
                   "x.reshape(N, *target_shape), then .movedim(-1, 1) when the result is an image"),
            keras="keras.layers.Reshape(target_shape)  (no batch axis)",
            layout=("no weights. A rank-4 (image) result is kept NCHW in torch (Layout channels_first) so "
                    "convs and pools after it see NCHW; any other rank is canonical (Layout same)"),
            defaults="Keras target_shape excludes the batch axis; torch's reshape includes it",
            notes=("torch's reshape/nn.Unflatten act on whatever layout the tensor has: on NCHW data the same "
                   "target gives a different element order, hence the move to channels-last first.")),
        torch=_torch_reshape, keras=_keras_reshape, scratch_class="Reshape", value_preserving=True,
        shift_preserving=True, from_torch=_reshape_from_torch, from_keras=_reshape_from_keras),
)
