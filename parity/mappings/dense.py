"""Dense: torch ``nn.Linear`` (+ activation module) and Keras ``layers.Dense``.

Layout: torch stores ``weight`` (units, in) and computes x weight^T + bias; Keras and scratchnet
store ``kernel`` (in, units): ``kernel = weight.T``. After a Flatten of a channels-first torch
image, the torch input vector is ordered (C, H, W) instead of (H, W, C), so the kernel's rows
are permuted as well: ``kernel = weight.T[perm]`` with perm the flat_perm of the image shape.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from parity.mappings import activations as act
from parity.mappings.base import (snippet, SAME, Atlas, BuildContext, LayerMapping, TorchImport, WeightRule, expect_shape,
                                  identity_rule, register, torch_tensors)


def _torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    p = ctx.spec.params
    dtype = getattr(torch, ctx.dtype)
    in_features = ctx.in_shape[-1]
    modules = {"linear": nn.Linear(in_features, p["units"], bias=p["use_bias"], dtype=dtype),
               "act": act.torch_module(p["activation"], act._fn_params(p), SAME, len(ctx.out_shape) + 1, ctx.dtype)}
    dense = nn.Sequential(OrderedDict(modules))
    if ctx.in_layout.kind == "channels_first":  # an image: Keras acts on the last (channel) axis
        return _channels_last(dense), ctx.in_layout
    return dense, SAME


def _channels_last(dense):
    """A torch module applying ``dense`` (Linear, then the activation, on the last dim) to an NCHW
    image's channels: y = dense(x.movedim(1, -1)).movedim(-1, 1), so the output stays NCHW with
    ``units`` channels. Parameters live under ``inner.``."""
    import torch.nn as nn

    class ChannelsLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = dense

        def forward(self, x):
            return self.inner(x.movedim(1, -1)).movedim(-1, 1)  # (N, C, H, W) -> (N, H, W, C) -> back

    return ChannelsLast()


def _keras(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    return keras.layers.Dense(p["units"], activation=act.keras_function(p["activation"], act._fn_params(p)),
                              use_bias=p["use_bias"])


def _rules(ctx: BuildContext) -> list[WeightRule]:
    units, fan_in = ctx.spec.params["units"], ctx.in_shape[-1]
    perm = np.asarray(ctx.in_layout.perm) if ctx.in_layout.kind == "flat" else np.arange(fan_in)
    inverse = np.argsort(perm)

    def kernel_to_torch(k, _):
        return expect_shape(k, (fan_in, units), "dense kernel")[inverse].T.copy()  # (units, in)

    def weight_to_canonical(w, _):
        return expect_shape(w, (units, fan_in), "torch linear.weight").T[perm].copy()  # (in, units)

    prefix = "inner." if ctx.in_layout.kind == "channels_first" else ""
    rules = [WeightRule("kernel", prefix + "linear.weight", kernel_to_torch, weight_to_canonical)]
    if ctx.spec.params["use_bias"]:
        rules.append(identity_rule("bias", prefix + "linear.bias", (units,)))
    return rules


def _from_torch(module, ictx):
    """``nn.Linear`` (activation linear), or the harness's ``Sequential(linear=, act=)``."""
    import torch.nn as nn

    from parity.mappings.base import Refused

    tensors = None
    if type(module).__qualname__ == "_channels_last.<locals>.ChannelsLast":
        if ictx.in_layout.kind != "channels_first":
            raise Refused("the harness's channels-last Dense wrapper on a tensor that is not an NCHW image")
        module = module.inner
        tensors = torch_tensors(module.linear, "inner.linear.")
    if isinstance(module, nn.Linear):
        linear, fields = module, {"activation": "linear"}
    elif isinstance(module, nn.Sequential) and list(module._modules) == ["linear", "act"]:
        linear = module.linear
        fields = act.fused({}, act.torch_activation(module.act, SAME, len(ictx.in_shape) + 1), "dense")
    else:
        return None
    return TorchImport({"type": "dense", "units": linear.out_features, "use_bias": linear.bias is not None, **fields},
                       tensors if tensors is not None else torch_tensors(linear, "linear."))


def _from_keras(layer, ictx):
    import keras

    if not isinstance(layer, keras.layers.Dense):
        return None
    return act.fused({"type": "dense", "units": layer.units, "use_bias": layer.use_bias},
                     act.keras_activation(layer.activation), "dense")


register(LayerMapping(
    type="dense", family="dense",
    atlas=Atlas(
        title="dense", snippet=snippet("dense"), aliases=("Linear", "Dense"),
        latex=(r"z = x W + b,\quad y = \mathrm{act}(z),\qquad x \in \mathbb{R}^{N \times I},\ W \in \mathbb{R}^{I \times U},\ b \in \mathbb{R}^{U}" "\n"
               r"dz = \mathrm{act}'(z) \odot dy,\quad dx = dz\, W^\top,\quad dW = x^\top dz,\quad db = \textstyle\sum_n dz_n"),
        math=("forward: z = x W + b, y = act(z)        x (N, I), W (I, U), b (U,)\n"
              "backward: dz = act'(z) * dy, dx = dz W^T, dW = x^T dz, db = sum_n dz"),
        scratch="scratchnet.Dense(units, activation=activation, use_bias=use_bias)",
        torch=("nn.Sequential(linear=nn.Linear(I, units, bias=use_bias), act=<activation module>); on an NCHW "
               "image wrapped as dense(x.movedim(1, -1)).movedim(-1, 1) (Keras acts on the channels)"),
        keras="keras.layers.Dense(units, activation=activation, use_bias=use_bias)",
        layout=("kernel (I, U) = torch linear.weight (U, I) transposed; after a Flatten of an NCHW image "
                "the rows are permuted too: kernel = weight.T[perm], perm = arange(C*H*W).reshape(C,H,W)"
                ".transpose(1,2,0).ravel(). bias identical."),
        defaults=("initialisers differ (Keras glorot_uniform + zeros; torch kaiming_uniform(a=sqrt 5) and "
                  "U(+-1/sqrt I) bias) but parity copies one set of weights into all three"),
        notes="Dense on an (N, ..., I) tensor acts on the last axis in all three frameworks."),
    torch=_torch, keras=_keras, rules=_rules, scratch_class="Dense", trainable=True,
    parameter_shapes=lambda p, s: [("kernel", (s[-1], p["units"]))],
    deviations=lambda ctx: act.deviations(ctx.spec.params["activation"], act._fn_params(ctx.spec.params), ctx.dtype,
                                          layer=True),
    from_torch=_from_torch, from_keras=_from_keras,
))
