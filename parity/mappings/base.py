"""What every mapping entry says: how one spec type becomes a scratchnet, torch and Keras object,
how its weights move between the canonical layout (scratchnet's = Keras's) and torch's, and the
atlas text that explains it.

Layouts of activations. The canonical layout is Keras's: images (N, H, W, C), sequences
(N, T, F). Inside the torch model images are (N, C, H, W); a ``Layout`` records how a torch
activation relates to the canonical one so the backend can convert every captured output and
gradient back before comparing:
- ``same``: identical layout;
- ``channels_first``: torch (N, C, ...) vs canonical (N, ..., C);
- ``flat``: a flattened channels-first image: canonical element i lives at torch index perm[i]
  (perm = arange(C*H*W).reshape(C, H, W).transpose(1, 2, 0).ravel()).
"""
from __future__ import annotations

from collections.abc import Mapping

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Layout:
    kind: str = "same"  # same | channels_first | flat
    perm: tuple[int, ...] | None = None

    def to_canonical(self, a: np.ndarray) -> np.ndarray:
        """torch layout -> canonical, for an array with a batch axis."""
        if self.kind == "channels_first":
            return np.moveaxis(a, 1, -1)
        if self.kind == "flat":
            return a[:, np.asarray(self.perm)]
        return a

    def from_canonical(self, a: np.ndarray) -> np.ndarray:
        """canonical -> torch layout, for an array with a batch axis."""
        if self.kind == "channels_first":
            return np.moveaxis(a, -1, 1)
        if self.kind == "flat":
            out = np.empty_like(a)
            out[:, np.asarray(self.perm)] = a
            return out
        return a

    def labels_from_canonical(self, labels: np.ndarray) -> np.ndarray:
        """Integer class ids of the canonical last axis -> the torch positions of those classes
        (a flat layout permutes the features, so id i is torch's perm[i]; other layouts keep the
        class axis's order)."""
        return np.asarray(self.perm)[labels] if self.kind == "flat" else labels

    def torch_axis(self, axis: int, rank: int) -> int:
        """The torch dim holding canonical ``axis`` of a tensor of ``rank`` (batch included)."""
        axis = axis % rank
        if self.kind == "channels_first":
            return 1 if axis == rank - 1 else (axis + 1 if axis >= 1 else 0)
        return axis


SAME = Layout()


def flat_perm(shape_hwc: tuple[int, ...]) -> tuple[int, ...]:
    """perm[i] = torch (channels-first) flat index of canonical (channels-last) flat index i."""
    *spatial, c = shape_hwc
    n = int(np.prod(shape_hwc))
    order = np.arange(n).reshape(c, *spatial)  # torch's flattening order
    return tuple(int(i) for i in np.moveaxis(order, 0, -1).ravel())


@dataclass(frozen=True)
class WeightRule:
    """One parameter: canonical name <-> torch parameter name, with both conversions.

    ``to_torch(canonical_array, ctx) -> torch_array`` and ``to_canonical(torch_array, ctx)`` must be
    inverses; each asserts the shape it expects before it converts (``ctx`` is the layer's
    ``BuildContext``).

    One canonical tensor may live in several torch tensors: then ``torch`` is a tuple of names,
    ``to_torch`` returns a tuple of arrays (one per name) and ``to_canonical`` receives one
    (GRU: canonical bias (2, 3U) = torch (bias_ih, bias_hh); LSTM: bias = bias_ih + bias_hh).
    ``grad_to_canonical`` converts gradients when they do not convert like values (the gradient of
    a sum b_ih + b_hh is grad(b_ih), not the sum of both gradients); None: ``to_canonical``. A
    frozen torch tensor (requires_grad False) reads as a zero gradient.

    Several canonical tensors may live in one torch tensor (attention's query, key and value
    kernels in torch's packed ``in_proj_weight``): then ``canonical`` is a tuple of names,
    ``to_torch`` receives a tuple of arrays (one per name) and ``to_canonical`` returns one. The
    torch parameter then carries the first canonical name (for the optimizer's parameter names).
    """

    canonical: str | tuple[str, ...]
    torch: str | tuple[str, ...]
    to_torch: Callable[[np.ndarray, "BuildContext"], Any]
    to_canonical: Callable[[Any, "BuildContext"], np.ndarray]
    grad_to_canonical: Callable[[Any, "BuildContext"], np.ndarray] | None = None

    @property
    def torch_names(self) -> tuple[str, ...]:
        return self.torch if isinstance(self.torch, tuple) else (self.torch,)

    @property
    def canonical_names(self) -> tuple[str, ...]:
        return self.canonical if isinstance(self.canonical, tuple) else (self.canonical,)


def expect_shape(a: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Assert before copying: a conversion that sees an unexpected shape is a bug, not data."""
    if tuple(a.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(a.shape)}")
    return a


def identity_rule(canonical: str, torch: str, shape: tuple[int, ...]) -> WeightRule:
    """The same array on both sides (a bias), shape-asserted in both directions."""
    return WeightRule(canonical, torch,
                      lambda a, ctx: expect_shape(a, shape, f"canonical {canonical}").copy(),
                      lambda a, ctx: expect_shape(a, shape, f"torch {torch}").copy())


@dataclass(frozen=True)
class BuildContext:
    """What a mapping needs to build one layer: its spec, shapes and layouts, the dtype. A layer
    reading several tensors (a merge) has one shape and one layout per input in ``in_shapes`` and
    ``in_layouts``; ``in_shape`` and ``in_layout`` are the first's (the only one's elsewhere)."""

    spec: Any  # parity.spec.LayerSpec
    in_shape: tuple[int, ...]  # canonical, without batch
    out_shape: tuple[int, ...]
    in_layout: Layout
    dtype: str  # "float32" | "float64"
    in_shapes: tuple[tuple[int, ...], ...] = ()  # every input's (filled in from in_shape when empty)
    in_layouts: tuple[Layout, ...] = ()
    training: bool = True  # the case's mode (a layer's conventions may depend on it)

    def __post_init__(self):
        if not self.in_shapes:
            object.__setattr__(self, "in_shapes", (tuple(self.in_shape),))
        if not self.in_layouts:
            object.__setattr__(self, "in_layouts", (self.in_layout,) * len(self.in_shapes))

    @classmethod
    def of(cls, layer, dtype: str, in_layouts: tuple[Layout, ...] | None = None,
           training: bool = True) -> "BuildContext":
        """The context of a plan's layer (``parity.spec.LayerPlan``); canonical layouts unless the
        torch backend gives its inputs' layouts."""
        layouts = tuple(in_layouts) if in_layouts else (SAME,) * len(layer.in_shapes)
        return cls(layer.spec, layer.in_shape, layer.out_shape, layouts[0], dtype, layer.in_shapes, layouts, training)


@dataclass(frozen=True)
class Atlas:
    """The atlas entry for one spec type: rendered into reports/atlas.md and `parity explain`."""

    title: str
    math: str  # forward and backward (or the update rule), plain text
    scratch: str  # the scratchnet call
    torch: str  # the torch call the harness makes
    keras: str  # the Keras call the harness makes
    layout: str = "no weights"  # how weights convert
    defaults: str = "none that matter"  # defaults that differ
    notes: str = ""
    snippet: str = ""  # runnable Python: the exact constructors and weight copy in all three, asserted (snippet())
    latex: str = ""  # the math in LaTeX (one formula a line), shown instead of ``math`` where given
    aliases: tuple[str, ...] = ()  # framework class names that mean this type, for `parity explain`


def snippet(type_name: str) -> str:
    """The runnable atlas snippet of ``type_name``: parity/mappings/snippets/<type_name>.py."""
    from pathlib import Path

    return (Path(__file__).with_name("snippets") / f"{type_name}.py").read_text()


@dataclass(frozen=True)
class LayerMapping:
    """One spec layer type in all three frameworks.

    torch(ctx) -> (torch.nn.Module, out_layout); keras(ctx) -> keras layer; weights convert through
    ``rules`` (canonical <-> torch names). Keras names its variables exactly as canonical.
    ``deviations(ctx)`` lists framework differences no setting reconciles for this spec (each a
    ``Deviation``), which the comparison reports instead of failing. ``torch_only_if(ctx)`` says why
    torch has no twin for this spec (None: it has one); ``parity.run.check_supported`` turns a
    reason into a SpecError (exit 2) before any backend runs. ``conventions(ctx)``: where torch's
    and Keras's results for this layer differ by definition (each a ``Convention``); the harness
    then compares each with scratchnet following its rule and reports torch vs Keras as a
    convention. ``parameter_shapes(params, in_shape)``: ``[(name, shape)]`` of the large parameters,
    from the fields alone (for the size limits, before anything is built); ``check_input(layer
    spec, in_shape, case spec)``: ``(field, expected, got)`` where a framework refuses or misreads
    an input that scratchnet's shape rule accepts, else None; ``check_inputs(layer spec, in_shapes,
    case spec)`` the same for a layer reading several inputs, given all their shapes. ``arity``: how many inputs the
    layer reads, (least, most), most None for any number (merges); one for every other layer.
    Where it reads more than one, the torch module is called with them as arguments and the Keras
    layer with their list.
    """

    type: str
    family: str
    atlas: Atlas
    torch: Callable[[BuildContext], tuple[Any, Layout]]
    keras: Callable[[BuildContext], Any]
    rules: Callable[[BuildContext], list[WeightRule]] = lambda ctx: []
    deviations: Callable[[BuildContext], list["Deviation"]] = lambda ctx: []
    torch_only_if: Callable[[BuildContext], str | None] = lambda ctx: None  # reason torch cannot
    arity: tuple[int, int | None] = (1, 1)
    conventions: Callable[[BuildContext], list["Convention"]] = lambda ctx: []
    # facts the spec parser and the comparison read (parity.spec.vocabulary, shapes, plan; parity.noise)
    scratch_class: str = ""  # the scratchnet class; its constructor keywords are the spec's fields
    trainable: bool = False  # owns trainable parameters
    value_preserving: bool = False  # moves or selects values, changes none (the final-activation check looks through)
    shift_preserving: bool = False  # a per-channel constant added to the input comes out added to the output
    parameter_shapes: Callable[[dict, tuple], list[tuple[str, tuple]]] = lambda params, in_shape: []  # the large ones
    check_input: Callable[[Any, tuple, Any], tuple[str, str, Any] | None] = lambda layer, in_shape, case: None
    check_inputs: Callable[[Any, tuple, Any], tuple[str, str, Any] | None] = lambda layer, in_shapes, case: None
    # the way back (parity.importers): a framework object -> this type's spec fields, or None when it is not one
    from_torch: Callable[[Any, "ImportContext"], "TorchImport | None"] = lambda module, ctx: None
    from_torch_call: Callable[[Any, tuple, dict, "ImportContext"], dict | None] = lambda target, args, kwargs, ctx: None
    from_keras: Callable[[Any, "ImportContext"], dict | None] = lambda layer, ctx: None
    keras_weights: Callable[[Any], dict] | None = None  # param name -> array where Keras's names are not canonical


TENSOR = "<tensor>"  # a tensor argument of a torch.fx call, in ``from_torch_call``'s args


@dataclass(frozen=True)
class ImportContext:
    """What a ``from_torch`` / ``from_keras`` hook knows of the layer's inputs: canonical shapes
    (batch axis excluded) and, for torch, the layouts the harness's torch model would give them
    (NCHW images are ``channels_first``, a flattened NCHW image ``flat``)."""

    in_shapes: tuple[tuple[int, ...], ...]
    in_layouts: tuple[Layout, ...]
    dtype: str = "float32"
    hints: dict = field(default_factory=dict)  # what the graph around the call says (a bare nn.LSTM's return_sequences)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0]

    @property
    def in_layout(self) -> Layout:
        return self.in_layouts[0]


@dataclass(frozen=True)
class TorchImport:
    """A torch module read back as one spec layer: its ``fields`` (``type`` included) and its
    ``tensors`` (torch tensors by the torch names the mapping's ``rules`` use)."""

    fields: dict
    tensors: dict


def torch_tensors(module, prefix: str = "") -> dict:
    """A module's parameters and buffers by name, each name prefixed (``"linear."``)."""
    out = {prefix + n: t for n, t in module.named_parameters()}
    out.update({prefix + n: t for n, t in module.named_buffers()})
    return out


class Refused(ValueError):
    """A framework object this mapping recognises but cannot express (one line: what and why)."""


@dataclass(frozen=True)
class Deviation:
    """A difference by definition or precision between one framework and the math, stated.

    ``backend`` is the side that deviates (``keras`` or ``torch``); ``quantities`` which compared
    quantities it touches (``output``, ``grad``, ``step``, ``state``); ``reason`` the cause, which
    the report prints next to the measured size.

    ``follow``: scratchnet constructor keywords that make the deviating layer compute what the
    framework computes (its float32 constant, e.g. ``{"negative_slope": float32(0.1)}``). With
    them the claim is demonstrated (rule declared-deviation of ``parity.compare.RULES``): scratchnet
    rerun following them agrees strictly with the deviating backend, and with that backend's
    values replaced by scratchnet's own the pair agrees strictly. Without them the claim is held to
    the stated bound ``rtol``.
    """

    backend: str
    quantities: tuple[str, ...]
    rtol: float
    reason: str
    from_layer: int = 0  # the deviating layer: outputs of the layers before it are not touched
    follow: Mapping[str, Any] | None = None
    layer: str = ""  # the deviating layer's name (filled in by parity.run.deviations)


@dataclass(frozen=True)
class Convention:
    """torch and Keras differ by definition: ``quantities`` are the compared quantities it reaches
    (``grad``, ``step``, ``state``), ``reason`` the two rules, as the report prints them."""

    quantities: tuple[str, ...]
    reason: str


def float32_representable(value: float) -> bool:
    return float(np.float32(value)) == float(value)


REGISTRY: dict[str, LayerMapping] = {}


def register(*mappings: LayerMapping) -> None:
    for m in mappings:
        if m.type in REGISTRY:
            raise RuntimeError(f"mapping for {m.type!r} registered twice")
        REGISTRY[m.type] = m
