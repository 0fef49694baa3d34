"""Dropout with ONE injected keep-mask in all three frameworks.

torch's ``nn.Dropout(p)`` and Keras's ``layers.Dropout(rate)`` both compute inverted dropout,
``y = x * mask / (1 - p)`` in training and ``y = x`` at inference, but each draws its mask from
its own generator (torch's global/CUDA generator, Keras's SeedGenerator), so two real dropout
layers never agree. The harness therefore substitutes, in torch and in Keras, a small layer that
computes the same formula with the mask ``parity.run.prepare`` draws (one boolean keep-mask per
dropout layer, canonical layout (N, *in_shape), kept for every training step):

    y = x * mask * s,   s = 1/(1 - p) rounded once to the case dtype,   dx = dy * mask * s.

Multiplying by the precomputed reciprocal is what both frameworks do internally (``x * (1/(1-p))``
matches them bit for bit; ``x / (1 - p)`` is 1 ulp off), and it is what scratchnet's ``Dropout``
does with ``set_mask``. The torch module receives the mask in torch layout (channels first for
images); the Keras layer in canonical layout. Neither draws a mask of its own: a training forward
without an injected mask is an error, so a missing mask can never pass silently.
"""
from __future__ import annotations

import functools

import numpy as np

from parity.mappings.base import Atlas, BuildContext, LayerMapping, register, snippet


def scale(rate: float, dtype) -> np.ndarray:
    """s = 1/(1 - rate), computed in float64 and rounded once to ``dtype`` (a 0-d array)."""
    return np.asarray(1.0 / (1.0 - rate), dtype=dtype)


@functools.cache
def torch_class():
    """``MaskedDropout(rate)``: torch twin of inverted dropout with an injected mask."""
    import torch
    import torch.nn as nn

    class MaskedDropout(nn.Module):
        """y = x * mask * (1/(1-p)) in training (``module.train()``), y = x in eval.

        Replaces ``nn.Dropout(p)``, which draws its own mask. ``set_mask(mask)`` takes a boolean
        tensor of the input's full shape in torch layout."""

        def __init__(self, rate: float):
            super().__init__()
            self.rate = float(rate)
            self.mask = None

        def set_mask(self, mask) -> None:
            self.mask = None if mask is None else torch.as_tensor(mask).to(torch.bool)

        def forward(self, x):
            if not self.training:
                return x
            if self.mask is None:
                raise RuntimeError("MaskedDropout: training forward without an injected mask (call set_mask)")
            if tuple(self.mask.shape) != tuple(x.shape):
                raise ValueError(f"MaskedDropout: mask shape {tuple(self.mask.shape)} != input shape {tuple(x.shape)}")
            s = torch.tensor(1.0 / (1.0 - self.rate), dtype=x.dtype)  # rounded once to x's dtype
            return x * self.mask.to(x.dtype) * s

        def extra_repr(self) -> str:
            return f"p={self.rate}, injected mask"

    return MaskedDropout


@functools.cache
def keras_class():
    """``MaskedDropout(rate)``: Keras twin of inverted dropout with an injected mask."""
    import keras

    class MaskedDropout(keras.layers.Layer):
        """y = x * mask * (1/(1-rate)) when called with ``training=True``, y = x otherwise.

        Replaces ``keras.layers.Dropout(rate)``, which draws its own mask from a SeedGenerator.
        ``set_mask(mask)`` takes a boolean numpy array of the input's full shape (canonical)."""

        def __init__(self, rate: float, **kwargs):
            super().__init__(**kwargs)
            self.rate = float(rate)
            self.mask_value = None

        def set_mask(self, mask) -> None:
            self.mask_value = None if mask is None else np.asarray(mask, dtype=bool).copy()

        def call(self, inputs, training=None):
            if not training:
                return inputs
            if self.mask_value is None:
                raise RuntimeError("MaskedDropout: training call without an injected mask (call set_mask)")
            if tuple(self.mask_value.shape) != tuple(inputs.shape):
                raise ValueError(f"MaskedDropout: mask shape {self.mask_value.shape} != input shape {tuple(inputs.shape)}")
            dtype = keras.backend.standardize_dtype(inputs.dtype)
            mask = keras.ops.convert_to_tensor(self.mask_value.astype(dtype))
            s = keras.ops.convert_to_tensor(scale(self.rate, dtype))
            return inputs * mask * s

        def compute_output_shape(self, input_shape):
            return input_shape

    return MaskedDropout


def _torch(ctx: BuildContext):
    return torch_class()(ctx.spec.params["rate"]), ctx.in_layout


def _keras(ctx: BuildContext):
    return keras_class()(ctx.spec.params["rate"])


def _from_torch(module, ictx):
    """``nn.Dropout(p)`` or the harness's ``MaskedDropout(rate)``."""
    import torch.nn as nn

    from parity.mappings.base import TorchImport

    if type(module) is nn.Dropout:
        return TorchImport({"type": "dropout", "rate": float(module.p)}, {})
    if type(module) is torch_class():
        return TorchImport({"type": "dropout", "rate": module.rate}, {})
    return None


def _from_torch_call(target, args, kwargs, ictx):
    """``F.dropout(x, p, training=self.training)`` (torch.fx records the module's mode as a constant;
    the spec's ``training`` is that mode); ``inplace`` changes nothing the spec sees."""
    import torch.nn.functional as F

    from parity.mappings.base import TENSOR

    if target is not F.dropout or args[:1] != (TENSOR,):
        return None
    p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
    return {"type": "dropout", "rate": float(p)}


def _from_keras(layer, ictx):
    """``keras.layers.Dropout(rate)`` (without noise_shape) or the harness's ``MaskedDropout(rate)``."""
    import keras

    from parity.mappings.base import Refused

    if type(layer) is keras.layers.Dropout:
        if layer.noise_shape is not None:
            raise Refused("Dropout(noise_shape=...): not supported")
        return {"type": "dropout", "rate": float(layer.rate)}
    if type(layer) is keras_class():
        return {"type": "dropout", "rate": layer.rate}
    return None


register(LayerMapping(
    type="dropout", family="regularization",
    atlas=Atlas(
        title="dropout", snippet=snippet("dropout"),
        math=("forward (training): y = x * mask * s, mask ~ Bernoulli(1 - rate) (True = keep), s = 1/(1 - rate) "
              "rounded once to the dtype\n"
              "backward (training): dx = dy * mask * s\n"
              "inference: y = x, dx = dy"),
        scratch="scratchnet.Dropout(rate); layer.set_mask(mask)",
        torch=("MaskedDropout(rate) (parity/mappings/regularization.py): x * mask * (1/(1-p)) in train(), "
               "identity in eval(); set_mask(mask in torch layout). Stands in for nn.Dropout(p), which draws "
               "its own mask."),
        keras=("MaskedDropout(rate) (a keras.layers.Layer subclass in parity/mappings/regularization.py): "
               "x * mask * (1/(1-rate)) when training=True; set_mask(mask). Stands in for "
               "keras.layers.Dropout(rate), which draws its own mask from a SeedGenerator."),
        layout="no weights; the keep-mask has the input's full shape (batch included), channels first in torch",
        defaults="none: both frameworks use inverted scaling 1/(1-p) in training and the identity at inference",
        notes=("Masks come from different generators in each framework, so parity injects one mask drawn by the "
               "harness (numpy Generator from the case seed) into all three. x * (1/(1-p)) matches torch's and "
               "Keras's own kernels bit for bit; x / (1-p) is 1 ulp off. Keras noise_shape is not supported.")),
    torch=_torch, keras=_keras, scratch_class="Dropout", from_torch=_from_torch, from_torch_call=_from_torch_call,
    from_keras=_from_keras,
))
