"""Normalisation: BatchNormalization and LayerNormalization in scratchnet, torch and Keras.

batch_normalization (statistics per channel over the batch and every other axis)
-------------------------------------------------------------------------------
- torch's channel axis is dim 1 (``BatchNorm1d`` on (N, C) or (N, C, L), ``BatchNorm2d`` on
  (N, C, H, W)); Keras's and scratchnet's is the LAST axis. A channels-first image goes straight
  into ``BatchNorm2d``; a canonical sequence (N, T, C) needs a wrapper that moves C to dim 1
  (``x.movedim(-1, 1)``), normalises with ``BatchNorm1d`` and moves it back. A flattened
  channels-first image (layout ``flat``) keeps its features in torch's order, so the per-feature
  vectors gamma, beta, running_mean, running_var are permuted like the features.
- momentum: Keras's is the weight KEPT on the old running value, torch's the weight of the NEW
  batch value: ``torch momentum = 1 - keras momentum``.
- eps defaults: torch 1e-5, Keras 1e-3 (the spec fills in Keras's; the harness passes it to both).
- running variance: torch updates it with the UNBIASED batch variance (sum sq / (m - 1)), Keras
  with the biased one (sum sq / m); both normalise with the biased one. No setting reconciles
  them: ``parity.run.convention_difference`` marks torch-vs-Keras state rows after a training step
  as a convention difference, and checks torch strictly against a scratchnet twin built with
  ``BatchNormalization(convention="torch")``.
- float64 hyperparameters: unlike the optimizers (CONVENTIONS.md), Keras's BatchNormalization
  keeps ``momentum`` and ``epsilon`` as Python floats and TF converts them to the tensor's
  float64 dtype exactly (measured, TF 2.21 / Keras 3.15: momentum 0.99 and epsilon 1e-3 in float64
  give a moving mean/variance identical to numpy's and outputs within 1.3e-16 relative; the same
  formula with float32-rounded epsilon would be 1.4e-11 off). So no Deviation is declared for
  values float32 cannot hold. The same holds for LayerNormalization's epsilon.

layer_normalization (statistics per sample over ``axis``)
---------------------------------------------------------
- torch ``nn.LayerNorm(normalized_shape, eps)`` always normalises the TRAILING dims:
  ``normalized_shape = in_shape[-k:]`` equals Keras ``axis=[-k, ..., -1]``. Keras (and
  scratchnet) can also normalise non-trailing or non-contiguous axes: torch cannot, and the
  mapping refuses such a spec with a ValueError naming the axes.
- channels-first images: a wrapper moves C last, applies LayerNorm over the canonical trailing
  dims and moves it back. After a ``flat`` layout only axis -1 exists and the per-feature gamma,
  beta are permuted like the features.
- eps defaults: torch 1e-5, Keras 1e-3. Names: torch ``weight, bias`` = Keras ``gamma, beta``,
  both shaped like the normalised dims in order (no transpose).
"""
from __future__ import annotations

import math

import numpy as np

from parity.mappings.base import (Atlas, BuildContext, Convention, LayerMapping, Layout, Refused, TorchImport, WeightRule,
                                  expect_shape, register, snippet, torch_tensors)


# -- torch wrappers ---------------------------------------------------------------------------
def _move_channels(inner, to: str):
    """A torch module applying ``inner`` with the channel axis moved: ``to="first"`` moves the last
    (canonical channel) axis to dim 1 for ``inner`` (BatchNorm on a channels-last sequence);
    ``to="last"`` moves dim 1 to the end (LayerNorm on an NCHW image). Parameters live under
    ``inner.``."""
    import torch.nn as nn

    src, dst = (-1, 1) if to == "first" else (1, -1)

    class MovedChannels(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.movedim(src, dst)).movedim(dst, src)

    return MovedChannels()


def _vector_rules(names: list[tuple[str, str]], size: int, layout: Layout, prefix: str) -> list[WeightRule]:
    """Rules for per-feature vectors (C,): identity, or permuted after a ``flat`` layout
    (canonical feature i is torch feature perm[i])."""
    if layout.kind != "flat":
        return [_checked_identity(c, prefix + t, (size,)) for c, t in names]
    perm = np.asarray(layout.perm)

    def to_torch(a, ctx):
        out = np.empty_like(expect_shape(a, (size,), "canonical per-feature vector"))
        out[perm] = a  # torch index perm[i] holds canonical feature i
        return out

    def to_canonical(a, ctx):
        return expect_shape(a, (size,), "torch per-feature vector")[perm].copy()

    return [WeightRule(c, prefix + t, to_torch, to_canonical) for c, t in names]


def _checked_identity(canonical: str, torch_name: str, shape: tuple[int, ...]) -> WeightRule:
    def to_torch(a, ctx):
        return expect_shape(a, shape, f"canonical {canonical}").copy()

    def to_canonical(a, ctx):
        return expect_shape(a, shape, f"torch {torch_name}").copy()

    return WeightRule(canonical, torch_name, to_torch, to_canonical)


# -- batch normalization ----------------------------------------------------------------------
def torch_momentum(keras_momentum: float) -> float:
    """torch's momentum (weight of the new batch value) for Keras's (weight kept on the old one)."""
    return 1.0 - keras_momentum


def _bn_plan(ctx: BuildContext) -> tuple[str, str]:
    """(torch class, how the input reaches it): ``direct`` (channels at dim 1 already) or ``moved``
    (canonical channels-last tensor of rank >= 3 without a torch-side permutation)."""
    rank = len(ctx.in_shape) + 1
    if rank < 2 or rank > 5:
        raise ValueError(f"batch_normalization: torch has BatchNorm1d/2d/3d for inputs of rank 2..5, "
                         f"got input shape (N, {', '.join(map(str, ctx.in_shape))})")
    cls = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[rank]
    if ctx.in_layout.kind == "channels_first" or rank == 2:
        return cls, "direct"
    return cls, "moved"


def _bn_unsupported(ctx: BuildContext) -> str | None:
    try:
        _bn_plan(ctx)
    except ValueError as exc:
        return str(exc)
    return None


def _bn_torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    p = ctx.spec.params
    cls, how = _bn_plan(ctx)
    bn = getattr(nn, cls)(ctx.in_shape[-1], eps=p["epsilon"], momentum=torch_momentum(p["momentum"]),
                          dtype=getattr(torch, ctx.dtype))
    if how == "moved":
        return _move_channels(bn, "first"), ctx.in_layout
    return bn, ctx.in_layout


def _bn_keras(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    return keras.layers.BatchNormalization(axis=-1, momentum=p["momentum"], epsilon=p["epsilon"])


def _bn_rules(ctx: BuildContext) -> list[WeightRule]:
    _, how = _bn_plan(ctx)
    prefix = "inner." if how == "moved" else ""
    names = [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
             ("moving_variance", "running_var")]
    return _vector_rules(names, ctx.in_shape[-1], ctx.in_layout, prefix)


# -- layer normalization ----------------------------------------------------------------------
def ln_axes(ctx: BuildContext) -> tuple[int, ...]:
    """The spec's axes as sorted positive canonical indices (the batch axis is 0)."""
    rank = len(ctx.in_shape) + 1
    axis = ctx.spec.params["axis"]
    axes = axis if isinstance(axis, (list, tuple)) else (axis,)
    return tuple(sorted(int(a) % rank for a in axes))


def _ln_unsupported(ctx: BuildContext) -> str | None:
    if ctx.in_layout.kind == "flat" and len(ln_axes(ctx)) != 1:
        return "layer_normalization after a flattened channels-first image: only axis -1 exists"
    return None


def _ln_trailing(ctx: BuildContext) -> bool:
    """Whether the canonical axes are the trailing ones [-k, ..., -1] (``nn.LayerNorm``'s own case)."""
    rank = len(ctx.in_shape) + 1
    axes = ln_axes(ctx)
    return axes == tuple(range(rank - len(axes), rank))


def _axes_last(inner, axes: tuple[int, ...], rank: int, channels_first: bool):
    """A torch module applying ``inner`` (an ``nn.LayerNorm`` over the trailing dims) to the
    canonical ``axes`` of any rank: the tensor (in canonical order; an NCHW image's channels moved
    last first) is permuted to ``(other axes..., axes...)``, normalised, and permuted back.
    ``inner``'s weight is shaped like the normalised dims in sorted order, as Keras's gamma.
    Parameters live under ``inner.``."""
    import torch.nn as nn

    perm = [a for a in range(rank) if a not in axes] + list(axes)  # canonical -> (others, normalised)
    back = [perm.index(a) for a in range(rank)]

    class AxesLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
            self.axes, self.channels_first = tuple(axes), channels_first

        def forward(self, x):
            if channels_first:
                x = x.movedim(1, -1)  # (N, C, H, W) -> canonical (N, H, W, C)
            y = self.inner(x.permute(perm)).permute(back)
            return y.movedim(-1, 1) if channels_first else y

    return AxesLast()


def _ln_shape(ctx: BuildContext) -> tuple[int, ...]:
    return tuple(ctx.in_shape[a - 1] for a in ln_axes(ctx))


def _ln_torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    why = _ln_unsupported(ctx)
    if why:
        raise ValueError(why)
    ln = nn.LayerNorm(_ln_shape(ctx), eps=ctx.spec.params["epsilon"], dtype=getattr(torch, ctx.dtype))
    if not _ln_trailing(ctx):
        return _axes_last(ln, ln_axes(ctx), len(ctx.in_shape) + 1,
                          ctx.in_layout.kind == "channels_first"), ctx.in_layout
    if ctx.in_layout.kind == "channels_first":
        return _move_channels(ln, "last"), ctx.in_layout
    return ln, ctx.in_layout


def _ln_keras(ctx: BuildContext):
    import keras

    axis = ctx.spec.params["axis"]
    # NOTE: Keras sorts an axis list as written (``sorted([2, -1]) == [-1, 2]``) and lays gamma out
    # in that order: (C, W) where the canonical layout (sorted positive axes) is (W, C). The same
    # axes given as sorted positive indices give Keras the canonical layout.
    return keras.layers.LayerNormalization(axis=list(ln_axes(ctx)) if isinstance(axis, (list, tuple)) else axis,
                                           epsilon=ctx.spec.params["epsilon"])


def _ln_rules(ctx: BuildContext) -> list[WeightRule]:
    names = [("gamma", "weight"), ("beta", "bias")]
    if ctx.in_layout.kind == "flat":
        return _vector_rules(names, ctx.in_shape[-1], ctx.in_layout, "")
    prefix = "inner." if ctx.in_layout.kind == "channels_first" or not _ln_trailing(ctx) else ""
    shape = _ln_shape(ctx)
    return [_checked_identity(c, prefix + t, shape) for c, t in names]


# -- the way back (parity.importers) --------------------------------------------------------------
def _moved_inner(module):
    """The module inside the harness's ``MovedChannels`` wrapper, or None."""
    return module.inner if type(module).__qualname__ == "_move_channels.<locals>.MovedChannels" else None


def _bn_from_torch(module, ictx):
    """``nn.BatchNorm1d/2d`` (affine, tracking running statistics), or the harness's wrapper
    moving a sequence's channels to dim 1: momentum read back as Keras's ``1 - torch momentum``."""
    import torch.nn as nn

    inner = _moved_inner(module)
    bn = inner if inner is not None else module
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
        return None
    name = type(bn).__name__
    if not (bn.affine and bn.track_running_stats) or bn.momentum is None:
        raise Refused(f"nn.{name}(affine={bn.affine}, track_running_stats={bn.track_running_stats}, momentum="
                      f"{bn.momentum}): Keras's BatchNormalization has gamma, beta and running averages")
    ctx = BuildContext(None, ictx.in_shape, ictx.in_shape, ictx.in_layout, ictx.dtype)
    if (inner is not None) != (_bn_plan(ctx)[1] == "moved"):
        raise Refused(f"nn.{name} on a tensor of shape (N, {', '.join(map(str, ictx.in_shape))}) in layout "
                      f"{ictx.in_layout.kind}: torch normalises dim 1, Keras the last (channel) axis")
    if bn.num_features != ictx.in_shape[-1]:
        raise Refused(f"nn.{name}({bn.num_features}) on {ictx.in_shape[-1]} channels")
    fields = {"type": "batch_normalization", "momentum": 1.0 - float(bn.momentum), "epsilon": float(bn.eps)}
    if inner is None and ictx.in_layout.kind == "channels_first" and len(ictx.in_shape) == 2:
        # nn.BatchNorm1d on the (N, C, T) view of a sequence (x.transpose(1, 2)): the spec's layer on
        # (N, T, C), which the harness builds as MovedChannels(inner=BatchNorm1d)
        return TorchImport(fields, torch_tensors(bn, "inner."))
    return TorchImport(fields, torch_tensors(module))


def _bn_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.BatchNormalization:
        return None
    rank = len(ictx.in_shape) + 1
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    if axis is None or axis % rank != rank - 1 or not (layer.center and layer.scale):
        raise Refused(f"BatchNormalization(axis={layer.axis}, center={layer.center}, scale={layer.scale}): parity's is "
                      "axis=-1 with gamma and beta")
    return {"type": "batch_normalization", "momentum": float(layer.momentum), "epsilon": float(layer.epsilon)}


def ln_axis(axes: tuple[int, ...], rank: int):
    """The spec's ``axis`` for normalised canonical ``axes`` (batch 0): -1, or the list [-k, ..., -1]."""
    negative = tuple(sorted(a % rank - rank for a in axes))
    return negative[0] if negative == (-1,) else negative


def _ln_from_torch(module, ictx):
    """``nn.LayerNorm(normalized_shape)`` over the trailing dims (with weight and bias), or the
    harness's wrapper moving an NCHW image's channels last."""
    import torch.nn as nn

    if type(module).__qualname__ == "_axes_last.<locals>.AxesLast" and type(module.inner) is nn.LayerNorm:
        ln, rank = module.inner, len(ictx.in_shape) + 1
        if not ln.elementwise_affine or ln.bias is None:
            raise Refused("nn.LayerNorm without weight or bias: Keras's LayerNormalization has gamma and beta")
        if module.channels_first != (ictx.in_layout.kind == "channels_first") or \
                tuple(ln.normalized_shape) != tuple(ictx.in_shape[a - 1] for a in module.axes):
            raise Refused(f"nn.LayerNorm{tuple(ln.normalized_shape)} over axes {list(module.axes)} on input (N, "
                          f"{', '.join(map(str, ictx.in_shape))})")
        fields = {"type": "layer_normalization", "epsilon": float(ln.eps), "axis": ln_axis(module.axes, rank)}
        return TorchImport(fields, torch_tensors(module))
    inner = _moved_inner(module)
    ln = inner if inner is not None else module
    if type(ln) is not nn.LayerNorm:
        return None
    if not ln.elementwise_affine or ln.bias is None:
        raise Refused("nn.LayerNorm without weight or bias: Keras's LayerNormalization has gamma and beta")
    k = len(ln.normalized_shape)
    if (inner is not None) != (ictx.in_layout.kind == "channels_first"):
        raise Refused(f"nn.LayerNorm{tuple(ln.normalized_shape)} on an NCHW image normalises (.., H, W), not the channels")
    if tuple(ln.normalized_shape) != tuple(ictx.in_shape[-k:]):
        raise Refused(f"nn.LayerNorm{tuple(ln.normalized_shape)} on input (N, {', '.join(map(str, ictx.in_shape))})")
    rank = len(ictx.in_shape) + 1
    fields = {"type": "layer_normalization", "epsilon": float(ln.eps), "axis": ln_axis(tuple(range(rank - k, rank)), rank)}
    return TorchImport(fields, torch_tensors(module))


def _ln_from_keras(layer, ictx):
    import keras

    if type(layer) is not keras.layers.LayerNormalization:
        return None
    if not (layer.center and layer.scale):
        raise Refused("LayerNormalization(center=False or scale=False): parity's has gamma and beta")
    rank = len(ictx.in_shape) + 1
    axes = (layer.axis,) if isinstance(layer.axis, int) else tuple(layer.axis)
    return {"type": "layer_normalization", "epsilon": float(layer.epsilon), "axis": ln_axis(axes, rank)}


def _bn_check_input(layer, in_shape, case):
    """torch refuses a training batch with one value per channel."""
    per_channel = case.input_shape[0] * math.prod(in_shape[:-1])
    if case.training and in_shape and per_channel < 2:
        return ("", "expected more than one value per channel in training mode (torch refuses; batch "
                f"{case.input_shape[0]} x input {in_shape})", per_channel)
    return None


register(
    LayerMapping(
        type="batch_normalization", family="normalization",
        torch_only_if=_bn_unsupported,
        atlas=Atlas(
            title="batch_normalization", snippet=snippet("batch_normalization"),
            aliases=("BatchNorm1d", "BatchNorm2d", "BatchNormalization"),
            latex=(r"\mu = \tfrac{1}{m} \sum x,\quad \sigma^2 = \tfrac{1}{m} \sum (x - \mu)^2,\quad y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta\qquad (m: \text{values per channel})" "\n"
                   r"\text{Keras: } \mu_{run} \leftarrow \rho\, \mu_{run} + (1 - \rho)\, \mu,\quad \sigma^2_{run} \leftarrow \rho\, \sigma^2_{run} + (1 - \rho)\, \sigma^2" "\n"
                   r"\text{torch: momentum} = 1 - \rho,\ \text{and the running variance takes } \tfrac{m}{m - 1} \sigma^2"),
            math=("forward (training): mu = mean_R(x), var = mean_R((x - mu)^2) (biased), R = every axis but the "
                  "channel (last) axis, m = |R|\n"
                  "    xhat = (x - mu) / sqrt(var + eps), y = gamma * xhat + beta\n"
                  "    moving_mean <- momentum * moving_mean + (1 - momentum) * mu\n"
                  "    moving_variance <- momentum * moving_variance + (1 - momentum) * v,  v = var (Keras) | "
                  "var * m/(m-1) (torch)\n"
                  "forward (inference): the same with mu, var = moving_mean, moving_variance; nothing updated\n"
                  "backward (training): dx = gamma/sqrt(var + eps) * (dy - mean_R(dy) - xhat * mean_R(dy * xhat))\n"
                  "backward (inference): dx = gamma/sqrt(var + eps) * dy\n"
                  "both: dgamma = sum_R(dy * xhat), dbeta = sum_R(dy)"),
            scratch="scratchnet.BatchNormalization(momentum=momentum, epsilon=epsilon, axis=-1, convention='keras'|'torch')",
            torch=("nn.BatchNorm1d(C, eps=epsilon, momentum=1 - momentum) on (N, C); on a channels-last sequence "
                   "(N, T, C) wrapped as bn(x.movedim(-1, 1)).movedim(1, -1); nn.BatchNorm2d(C, ...) on NCHW images; "
                   "module.train(training)"),
            keras="keras.layers.BatchNormalization(axis=-1, momentum=momentum, epsilon=epsilon); layer(x, training=training)",
            layout=("gamma, beta, moving_mean, moving_variance (C,) = torch weight, bias, running_mean, running_var "
                    "(buffers for the last two), no transpose; permuted like the features after a flattened NCHW "
                    "image. torch's num_batches_tracked buffer is unused (momentum is set)."),
            defaults=("momentum: Keras 0.99 = weight kept on the old value, torch 0.1 = weight of the new batch "
                      "(torch = 1 - Keras); eps: Keras 1e-3, torch 1e-5"),
            notes=("running variance: torch uses the UNBIASED batch variance, Keras the biased one; no setting "
                   "reconciles them, so after a training step torch-vs-Keras state rows are a convention "
                   "difference and each framework is checked against a scratchnet twin of its own convention. "
                   "Keras BN with trainable=False runs in inference mode even when training=True. TF keeps "
                   "momentum and epsilon exact in float64 (measured: no float32 rounding, unlike optimizer "
                   "hyperparameters). torch refuses a training batch with one value per channel.")),
        torch=_bn_torch, keras=_bn_keras, rules=_bn_rules, scratch_class="BatchNormalization", trainable=True,
        check_input=_bn_check_input, from_torch=_bn_from_torch, from_keras=_bn_from_keras,
        conventions=lambda ctx: [Convention(("step", "state"), "torch updates the running variance with the unbiased "
                                            "batch variance, Keras with the biased one")] if ctx.training else [],
    ),
    LayerMapping(
        type="layer_normalization", family="normalization",
        atlas=Atlas(
            title="layer_normalization", snippet=snippet("layer_normalization"),
            math=("forward: mu = mean_R(x), var = mean_R((x - mu)^2) (biased), R = the normalised axes of each sample\n"
                  "    xhat = (x - mu) / sqrt(var + eps), y = gamma * xhat + beta   (gamma, beta shaped like R's dims)\n"
                  "backward: g = gamma * dy, dx = (g - mean_R(g) - xhat * mean_R(g * xhat)) / sqrt(var + eps)\n"
                  "    dgamma = sum over the other axes of dy * xhat, dbeta = sum over the other axes of dy\n"
                  "the same in training and inference"),
            scratch="scratchnet.LayerNormalization(axis=axis, epsilon=epsilon)",
            torch=("nn.LayerNorm(normalized_shape=in_shape[-k:], eps=epsilon) for axis=[-k, ..., -1]; on an NCHW "
                   "image wrapped as ln(x.movedim(1, -1)).movedim(-1, 1); other axes: nn.LayerNorm(the normalised "
                   "dims in sorted order) on x.permute(other axes..., normalised axes...), permuted back"),
            keras="keras.layers.LayerNormalization(axis=axis, epsilon=epsilon)",
            layout=("gamma, beta = torch weight, bias, both shaped like the normalised dims in order (e.g. (T, F) "
                    "for axis=[-2, -1]); no transpose; permuted like the features after a flattened NCHW image"),
            defaults="eps: Keras 1e-3, torch 1e-5; Keras axis -1, torch normalized_shape has no default",
            notes=("torch normalises trailing contiguous dims only: for a Keras axis list that is not [-k, ..., -1] "
                   "the torch side moves the normalised axes last (a permutation, no arithmetic). Keras computes x * inv + (beta - mean * inv), inv = "
                   "gamma * rsqrt(var + eps): the same math in a different rounding order (ulp level).")),
        torch=_ln_torch, keras=_ln_keras, rules=_ln_rules, torch_only_if=_ln_unsupported,
        scratch_class="LayerNormalization", trainable=True, from_torch=_ln_from_torch, from_keras=_ln_from_keras,
    ),
)
