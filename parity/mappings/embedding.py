"""Embedding: a (V, D) lookup table, identical in all three frameworks.

- torch ``nn.Embedding(num_embeddings=V, embedding_dim=D)`` stores ``weight`` (V, D) exactly like
  Keras's ``embeddings`` (V, D) and scratchnet's: no transpose.
- Input: integer token ids (N, T) (spec ``"input": {"kind": "integers", "high": V}``), int64 in
  all three; ids have no gradient, so an embedding-first case compares no input gradient.
- Gradient: torch gives a dense (V, D) ``weight.grad`` (``sparse=False``, the default); Keras's
  tape gives ``tf.IndexedSlices`` (the looked-up rows and their ids, repeats not summed), which
  the Keras backend densifies (``tf.convert_to_tensor`` sums repeats). Rows of ids that never
  occur get a zero gradient in all three.
- Defaults that differ (not relevant to parity, which copies one table everywhere): initialiser
  torch N(0, 1), Keras U(-0.05, 0.05); torch ``padding_idx`` zeroes that row's gradient, Keras's
  ``mask_zero`` only emits a mask and still trains row 0. Neither is used.
"""
from __future__ import annotations

from parity.mappings.base import SAME, Atlas, BuildContext, LayerMapping, WeightRule, expect_shape, register, snippet


def _torch(ctx: BuildContext):
    import torch
    import torch.nn as nn

    p = ctx.spec.params
    return nn.Embedding(p["input_dim"], p["output_dim"], dtype=getattr(torch, ctx.dtype)), SAME


def _keras(ctx: BuildContext):
    import keras

    p = ctx.spec.params
    return keras.layers.Embedding(p["input_dim"], p["output_dim"])


def _rules(ctx: BuildContext) -> list[WeightRule]:
    shape = (ctx.spec.params["input_dim"], ctx.spec.params["output_dim"])

    def to_torch(a, _):
        return expect_shape(a, shape, "embedding embeddings").copy()  # (V, D), no transpose

    def to_canonical(a, _):
        return expect_shape(a, shape, "torch embedding weight").copy()

    return [WeightRule("embeddings", "weight", to_torch, to_canonical)]


def _from_torch(module, ictx):
    """``nn.Embedding(V, D)`` without padding_idx, max_norm or sparse gradients."""
    import torch.nn as nn

    from parity.mappings.base import Refused, TorchImport, torch_tensors

    if type(module) is not nn.Embedding:
        return None
    if module.padding_idx is not None or module.max_norm is not None or module.sparse:
        raise Refused(f"nn.Embedding(padding_idx={module.padding_idx}, max_norm={module.max_norm}, sparse="
                      f"{module.sparse}): Keras's Embedding has none of these")
    return TorchImport({"type": "embedding", "input_dim": module.num_embeddings, "output_dim": module.embedding_dim},
                       torch_tensors(module))


def _from_keras(layer, ictx):
    import keras

    from parity.mappings.base import Refused

    if type(layer) is not keras.layers.Embedding:
        return None
    if layer.mask_zero:
        raise Refused("Embedding(mask_zero=True): masks are not compared")
    return {"type": "embedding", "input_dim": layer.input_dim, "output_dim": layer.output_dim}


register(LayerMapping(
    type="embedding", family="embedding",
    atlas=Atlas(
        title="embedding", snippet=snippet("embedding"),
        math=("forward: y[n, t, :] = E[ids[n, t], :]        ids (N, T) ints in [0, V), E (V, D), y (N, T, D)\n"
              "backward: dE[v, :] = sum over (n, t) with ids[n, t] = v of dy[n, t, :] (a scatter-add: repeated "
              "ids accumulate, unseen rows get 0); ids have no gradient"),
        scratch="scratchnet.Embedding(input_dim, output_dim)",
        torch="nn.Embedding(num_embeddings=input_dim, embedding_dim=output_dim)  (sparse=False, no padding_idx)",
        keras="keras.layers.Embedding(input_dim, output_dim)  (variable 'embeddings')",
        layout="embeddings (V, D) = torch weight (V, D): identical, no transpose",
        defaults=("initialiser: torch N(0, 1), Keras U(-0.05, 0.05) (parity copies one table); torch padding_idx "
                  "zeroes a row's gradient, Keras mask_zero still trains row 0 (neither is used)"),
        notes=("Keras's gradient is tf.IndexedSlices (rows + ids, repeats unsummed); the Keras backend densifies "
               "it with tf.convert_to_tensor before comparing with the dense (V, D) gradients of torch and "
               "scratchnet. An embedding-first model has integer input and so no input gradient.")),
    torch=_torch, keras=_keras, rules=_rules, scratch_class="Embedding", trainable=True,
    parameter_shapes=lambda p, s: [("embeddings", (p["input_dim"], p["output_dim"]))],
    from_torch=_from_torch, from_keras=_from_keras,
))
