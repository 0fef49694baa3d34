"""Merge layers (add, subtract, multiply, average, maximum, minimum, concatenate) in scratchnet,
torch and Keras: several inputs, one output, no weights.

Keras: ``keras.layers.Add()`` etc., called on the LIST of input tensors. torch has no merge
modules: the harness's ``Merge`` module applies the elementwise op (``a + b``, ``a - b``, ``a * b``,
``(a + b) / k``, ``torch.stack(xs).amax(0)``, ``amin``) or ``torch.cat(xs, dim)`` to its inputs.

Layouts. Inside the torch model each input has its own layout (an NCHW image, a flattened one in
(C, H, W) order, a canonical vector). An elementwise merge needs its inputs in one layout: every
input is brought to the first input's (through the canonical order), and the output has that
layout. Concatenate joins along the torch dim holding the canonical ``axis`` (the channel axis of
an NCHW image is dim 1); a flattened input is first brought to the canonical order (its elements
would interleave otherwise), and so are the others, and the output is canonical.

Ties of maximum/minimum (equal inputs at an element, where no derivative exists): TensorFlow's
MaximumGrad gives the whole gradient to the first input (x >= y), torch's ``amax`` splits it
equally among the tied inputs. Keras's rule is the reference (scratchnet's default); torch's is a
``convention``, followed by scratchnet's ``convention="torch"``, so the harness compares each
framework with its own-convention scratchnet twin and reports torch vs Keras as the convention.
"""
from __future__ import annotations

import functools

import numpy as np

from parity.mappings.activations import axis_check
from parity.mappings.base import SAME, Atlas, BuildContext, Convention, Layout, LayerMapping, register, snippet

_TIES = ("at a tie (inputs equal to the {0}, where no derivative exists) TensorFlow gives the whole gradient "
         "to the first of them, torch's {1} splits it equally among them")


@functools.cache
def _torch_classes():
    import torch
    import torch.nn as nn

    def to_canonical(t, layout: Layout):
        if layout.kind == "channels_first":
            return t.movedim(1, -1)
        if layout.kind == "flat":
            return t.index_select(1, torch.tensor(layout.perm, dtype=torch.long))
        return t

    def from_canonical(t, layout: Layout):
        if layout.kind == "channels_first":
            return t.movedim(-1, 1)
        if layout.kind == "flat":
            return t.index_select(1, torch.tensor(np.argsort(layout.perm), dtype=torch.long))
        return t

    class Merge(nn.Module):
        """y = op(inputs), every input first brought from its layout to ``layout``."""

        def __init__(self, op, in_layouts: tuple[Layout, ...], layout: Layout, kind: str = "", axis: int = -1):
            super().__init__()
            self.op, self.in_layouts, self.layout = op, in_layouts, layout
            self.kind, self.axis = kind, axis  # the spec type (and concatenate's canonical axis), read back by importers

        def forward(self, *xs):
            xs = [x if lay == self.layout else from_canonical(to_canonical(x, lay), self.layout)
                  for x, lay in zip(xs, self.in_layouts)]
            return self.op(xs)

    return Merge


def _sum(xs):
    out = xs[0] + xs[1]
    for x in xs[2:]:
        out = out + x
    return out


def _product(xs):
    out = xs[0] * xs[1]
    for x in xs[2:]:
        out = out * x
    return out


def _elementwise(op, kind: str):
    def build(ctx: BuildContext):
        layout = ctx.in_layouts[0]
        return _torch_classes()(op, ctx.in_layouts, layout, kind), layout
    return build


def _torch_ops():
    import torch

    return {
        "add": _sum,
        "subtract": lambda xs: xs[0] - xs[1],
        "multiply": _product,
        "average": lambda xs: _sum(xs) / len(xs),
        "maximum": lambda xs: torch.stack(xs).amax(0),  # amax splits a tie's gradient equally
        "minimum": lambda xs: torch.stack(xs).amin(0),
    }


def _torch_elementwise(kind: str):
    return lambda ctx: _elementwise(_torch_ops()[kind], kind)(ctx)


def _torch_concatenate(ctx: BuildContext):
    import torch

    first = ctx.in_layouts[0]
    layout = SAME if any(lay.kind == "flat" for lay in ctx.in_layouts) else first
    dim = layout.torch_axis(ctx.spec.params["axis"], len(ctx.out_shape) + 1)
    return _torch_classes()(lambda xs: torch.cat(xs, dim), ctx.in_layouts, layout, "concatenate",
                            ctx.spec.params["axis"]), layout


# -- the way back (parity.importers) --------------------------------------------------------------
def _canonical(axis: int, rank: int) -> int:
    return -1 if axis % rank == rank - 1 else axis % rank


def _from_torch(kind: str):
    """The harness's ``Merge`` module of this kind (torch has no merge modules of its own)."""
    def hook(module, ictx):
        from parity.mappings.base import TorchImport

        if type(module) is not _torch_classes() or module.kind != kind:
            return None
        fields = {"type": kind}
        if kind == "concatenate":
            fields["axis"] = _canonical(module.axis, len(ictx.in_shape) + 1)
        return TorchImport(fields, {})
    return hook


def _torch_functions():
    import operator

    import torch

    return {"add": (operator.add, torch.add), "subtract": (operator.sub, torch.sub, torch.subtract),
            "multiply": (operator.mul, torch.mul, torch.multiply), "maximum": (torch.maximum,),
            "minimum": (torch.minimum,), "concatenate": (torch.cat, torch.concat, torch.concatenate)}


def _from_torch_call(kind: str):
    """``a + b``, ``torch.add(a, b)``, ``a - b``, ``a * b``, ``torch.maximum``, ``torch.minimum``
    (two tensors); ``torch.cat([a, b, ...], dim)`` with dim read as the canonical axis."""
    def hook(target, args, kwargs, ictx):
        from parity.mappings.activations import canonical_axis
        from parity.mappings.base import TENSOR

        if target not in _torch_functions().get(kind, ()):
            return None
        if kind == "concatenate":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if not args or not isinstance(args[0], (list, tuple)) or any(a != TENSOR for a in args[0]):
                return None
            return {"type": kind, "axis": canonical_axis(dim, ictx.in_layout, len(ictx.in_shape) + 1)}
        if tuple(args) != (TENSOR, TENSOR) or kwargs:
            return None
        return {"type": kind}
    return hook


def _from_keras(class_name: str, kind: str):
    def hook(layer, ictx):
        import keras

        if type(layer) is not getattr(keras.layers, class_name):
            return None
        if kind == "concatenate":
            return {"type": kind, "axis": _canonical(layer.axis, len(ictx.in_shape) + 1)}
        return {"type": kind}
    return hook


def _keras(class_name: str):
    def build(ctx: BuildContext):
        import keras

        if class_name == "Concatenate":
            return keras.layers.Concatenate(axis=ctx.spec.params["axis"])
        return getattr(keras.layers, class_name)()
    return build


def _ties(reason: str):
    return lambda ctx: [Convention(("grad", "step", "state"), reason)]


_ELEMENTWISE = {
    "add": ("Add", "y = x_1 + ... + x_k", "dx_i = dy", "a + b", ""),
    "subtract": ("Subtract", "y = x_1 - x_2 (two inputs)", "dx_1 = dy, dx_2 = -dy", "a - b", ""),
    "multiply": ("Multiply", "y = x_1 * ... * x_k", "dx_i = dy * prod_{j != i} x_j", "a * b", ""),
    "average": ("Average", "y = (x_1 + ... + x_k) / k", "dx_i = dy / k", "(a + b) / k", ""),
    "maximum": ("Maximum", "y = max_i x_i (elementwise)", "dx_i = dy where x_i is the winner, 0 elsewhere",
                "torch.stack(xs).amax(0)", _TIES.format("maximum", "amax")),
    "minimum": ("Minimum", "y = min_i x_i (elementwise)", "dx_i = dy where x_i is the winner, 0 elsewhere",
                "torch.stack(xs).amin(0)", _TIES.format("minimum", "amin")),
}

_LAYOUT_TEXT = ("no weights; torch inputs in different layouts (an NCHW image, a flattened one) are brought to "
                "the first input's layout before the op")

for _kind, (_cls, _fwd, _bwd, _torch_text, _conv) in _ELEMENTWISE.items():
    register(LayerMapping(
        type=_kind, family="merge",
        atlas=Atlas(
            title=_kind, snippet=snippet("merge"),
            math=f"forward: {_fwd}; every input of one shape (no broadcasting)\nbackward: {_bwd}",
            scratch=f"scratchnet.{_cls}()  (in a scratchnet.Model, with inputs=[...])",
            torch=f"{_torch_text} inside the harness's Merge module (torch has no merge modules)",
            keras=f"keras.layers.{_cls}()([a, b, ...])",
            layout=_LAYOUT_TEXT,
            defaults=("Keras broadcasts inputs of different shapes for some merges; the spec refuses any mismatch"
                      if not _conv else f"{_conv}: a convention"),
            notes=(("inputs: a list of exactly two names" if _kind == "subtract" else "inputs: a list of two or more names") +
                   ("; the harness reports torch vs Keras as a convention in every maximum/minimum case "
                    "(each framework is compared with scratchnet following its rule)" if _conv else ""))),
        torch=_torch_elementwise(_kind), keras=_keras(_cls),
        arity=(2, 2) if _kind == "subtract" else (2, None),
        conventions=_ties(_conv) if _conv else (lambda ctx: []), scratch_class=_cls,
        from_torch=_from_torch(_kind), from_torch_call=_from_torch_call(_kind), from_keras=_from_keras(_cls, _kind),
    ))

register(LayerMapping(
    type="concatenate", family="merge",
    atlas=Atlas(
        title="concatenate", snippet=snippet("merge"),
        math=("forward: y = [x_1, ..., x_k] along axis (Keras's count: the batch axis is 0, -1 the last)\n"
              "backward: dx_i = dy[..., o_i : o_i + s_i, ...] along axis, o_i = s_1 + ... + s_{i-1}"),
        scratch="scratchnet.Concatenate(axis=-1)  (in a scratchnet.Model, with inputs=[...])",
        torch="torch.cat(xs, dim) inside the harness's Merge module, dim = the torch dim of the canonical axis",
        keras="keras.layers.Concatenate(axis=axis)([a, b, ...])",
        layout=("no weights; on NCHW images the channel axis (-1) is torch dim 1; flattened torch inputs are "
                "brought to the canonical (H, W, C) order first, and the output is canonical"),
        defaults="axis=-1 in both; the batch axis is refused",
        notes="inputs agree on every axis but axis"),
    torch=_torch_concatenate, keras=_keras("Concatenate"), arity=(2, None), scratch_class="Concatenate",
    check_input=axis_check, from_torch=_from_torch("concatenate"), from_torch_call=_from_torch_call("concatenate"),
    from_keras=_from_keras("Concatenate", "concatenate"),
))
