"""``parity.compare_models``: does a Keras port compute what its torch original computes, and if
not, at which layer do they part?

    import parity
    r = parity.compare_models(torch_module, keras_model, x)            # weights="torch"
    r.passed, r.first_parting_layer, r.message
    r = parity.compare_models(torch_module, keras_model, x, weights="own")
    r.diagnose()                                                        # which known switch explains it

Steps:
1. ``from_torch(torch_module, x.shape)`` and ``from_keras(keras_model, x.shape)`` read both models
   back through the mappings (each import checked to reproduce its model on ``x``).
2. The architectures must agree: after ``parity.importers.normalise`` (fused activations split
   off: ``nn.Linear`` + ``nn.Tanh`` is ``Dense(activation="tanh")``) the two specs have the same
   layer types, wiring and output shapes, layer by layer; otherwise ``ModelsDiffer`` names the
   first layer that differs (both models' names for it).
3. The case runs through the whole harness (``parity.check`` with per-backend variants):
   ``weights="torch"``: torch's spec and weights in all three frameworks (scratchnet, torch, and
   Keras built by the mappings): a test that the architectures and the mappings agree;
   ``weights="own"``: scratchnet and torch run torch's weights (the case's initial weights), Keras
   the Keras model's own weights AND its own layer fields (epsilons, momentum, padding...), as a
   ``parity.run.Variant``: a test of the port as written.

``x``: the input in the spec's layout, batch first and channels-last (an image batch
``(N, H, W, C)``; the torch module gets its NCHW transpose, as in ``from_torch``). It fixes the
case's input shape, both imports are checked against the models on it, and the harness runs on
it (``parity.check(..., data=(x, y))``); ``y``: the targets in the loss's kind and the output's
shape (None: drawn from the case's seed). ``loss`` / ``optimizer`` are spec objects (``{"type": "adam", "learning_rate": 0.01}``),
``steps`` the optimizer steps compared (0: forward and gradients only).

The returned ``PortResult`` is a ``parity.api.Result`` (verdict, rows, odd_one_out,
write_report) that also carries what ``diagnose()`` and a reader need: ``spec`` (torch's, the
reference), ``keras_spec`` (the Keras model's own fields, normalised), ``torch_weights`` and
``keras_weights`` (canonical layout, canonical names), ``names`` (canonical layer name ->
(torch module path, Keras layer name)), ``first_parting_layer`` (the canonical name of the first
layer, in plan order, whose output rows do not pass; None when every output agrees) and
``message``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from parity.api import Result


class ModelsDiffer(ValueError):
    """The torch model and the Keras model are not the same architecture: the message names the
    first layer (in both models' names) whose type, wiring or output shape differs."""


@dataclass(repr=False)
class PortResult(Result):
    """A ``Result`` of ``compare_models``: see the module docstring for the fields."""

    keras_spec: object = None  # parity.spec.CaseSpec: the Keras model's own layer fields
    torch_weights: dict = field(default_factory=dict)
    keras_weights: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)  # canonical name -> (torch path, keras name)
    weights: str = "torch"
    first_parting_layer: str | None = None
    message: str = ""

    def __repr__(self) -> str:
        return f"PortResult({self.spec.name!r} [{self.spec.dtype}]: {self.verdict}; {self.message})"


def compare_models(torch_module, keras_model, x, y=None, loss=None, optimizer=None, steps: int = 0,
                   weights: str = "torch", training: bool = True) -> PortResult:
    """Compare a torch module and its Keras port on inputs shaped like ``x`` (see the module
    docstring); ``training``: the mode the harness compares in (batch statistics, dropout masks). Raises ``ModelsDiffer`` when the architectures differ, ``ImportRefused`` for a
    layer no mapping reads, ValueError for a bad argument."""
    from parity import check
    from parity.importers import from_keras, from_torch, normalise, rename_weights
    from parity.importers.normal import origins
    from parity.run import Variant
    from parity.spec import parse_spec, plan_of

    if weights not in ("torch", "own"):
        raise ValueError(f"weights: expected 'torch' or 'own', got {weights!r}")
    x = np.asarray(x)
    if x.ndim < 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"x: expected a batch of numbers (N, ...) with a per-sample axis, batch first, got shape "
                         f"{x.shape} of dtype {x.dtype}")
    options = dict(loss=loss, optimizer=optimizer, steps=steps)
    t_spec, t_weights = from_torch(torch_module, x.shape, training=training, **options)
    k_spec, k_weights = from_keras(keras_model, x.shape, training=training, **options)
    _check_x(x, t_spec)
    for which, s, module in (("torch", t_spec, torch_module), ("keras", k_spec, keras_model)):
        _reproduces_on(which, s, t_weights if which == "torch" else k_weights, module, x)
    t_norm, k_norm = normalise(t_spec, split_activations=True), normalise(k_spec, split_activations=True)
    names = _aligned(origins(t_spec, True), origins(k_spec, True), t_norm, k_norm)
    if y is not None:
        out = (x.shape[0], *plan_of(parse_spec(t_norm)).output.out_shape)
        if tuple(np.shape(y)) != out:
            raise ValueError(f"y: expected the models' output shape {out}, got {tuple(np.shape(y))}")
    k_norm["dtype"] = t_norm["dtype"]
    spec, keras_spec = parse_spec(t_norm, "<compare_models torch>"), parse_spec(k_norm, "<compare_models keras>")
    tw, kw = rename_weights(t_weights, t_spec, True), rename_weights(k_weights, k_spec, True)
    kw = {k: v.astype(spec.dtype) for k, v in kw.items()}
    variants = {"keras": Variant(spec=keras_spec, initial=kw)} if weights == "own" else None
    res = check(spec, variants=variants, data=(x, y), initial=tw)
    out = PortResult(res.case, keras_spec=keras_spec, torch_weights=tw, keras_weights=kw, names=names, weights=weights)
    out.first_parting_layer = first_parting_layer(out)
    out.message = _message(out)
    return out


def first_parting_layer(result: Result) -> str | None:
    """The first layer, in plan order, whose output rows do not all pass (``results.csv``'s
    output rows come in plan order); None when every layer's output agrees."""
    rows = result.rows
    outputs = rows[rows.quantity == "output"]
    for tensor in dict.fromkeys(outputs.tensor):
        if not outputs[outputs.tensor == tensor].passed.all():
            return str(tensor)
    return None


def _message(r: PortResult) -> str:
    if r.passed:
        return f"the Keras port agrees with torch ({r.verdict}, weights={r.weights!r})"
    layer = r.first_parting_layer
    if layer is None:
        worst = r.worst
        where = f"{worst['quantity']} {worst['tensor']}" if worst is not None else "?"
        return f"every layer's output agrees; they part at {where} ({r.verdict}, weights={r.weights!r})"
    torch_name, keras_name = r.names.get(layer, (layer, layer))
    rows = r.rows
    row = rows[(rows.quantity == "output") & (rows.tensor == layer) & ~rows.passed].iloc[0]
    return (f"outputs part first at layer {layer} (torch {torch_name!r}, Keras {keras_name!r}): "
            f"{row['backend_a']} vs {row['backend_b']} max relative difference {row['max_rel']:.3g} "
            f"(odd one out: {row['odd_one_out'] or 'none named'}; weights={r.weights!r})")


def _aligned(t_names: list[str], k_names: list[str], t_norm, k_norm) -> dict:
    """canonical name -> (torch name, keras name), or ModelsDiffer naming the first layer that
    differs; ``t_names`` / ``k_names``: each normal layer's name in its own model."""
    from parity.spec import parse_spec, plan_of

    t_plan, k_plan = plan_of(parse_spec(t_norm)), plan_of(parse_spec(k_norm))
    for i, (a, b) in enumerate(zip(t_plan, k_plan)):
        if (a.type, a.inputs, a.out_shape) != (b.type, b.inputs, b.out_shape):
            raise ModelsDiffer(f"layer {i} differs: torch {t_names[i]!r} is {a.type} of output {a.out_shape} reading "
                               f"{list(a.inputs)}, Keras {k_names[i]!r} is {b.type} of output {b.out_shape} reading "
                               f"{list(b.inputs)}")
    if len(t_plan) != len(k_plan):
        i = min(len(t_plan), len(k_plan))
        extra = (f"torch {t_names[i]!r} ({t_plan.layers[i].type})" if len(t_plan) > i else
                 f"Keras {k_names[i]!r} ({k_plan.layers[i].type})")
        raise ModelsDiffer(f"layer {i} differs: torch has {len(t_plan)} layers, Keras {len(k_plan)}; the first extra is "
                           f"{extra}")
    return {node.name: (t, k) for node, t, k in zip(t_plan, t_names, k_names)}


def _check_x(x: np.ndarray, spec: dict) -> None:
    if spec.get("input", {}).get("kind") == "integers":
        if x.dtype.kind not in "iu":
            raise ValueError(f"x: token ids expected (an embedding reads them), got dtype {x.dtype}")
    elif x.dtype.kind != "f":
        raise ValueError(f"x: expected floats, got dtype {x.dtype}")


def _reproduces_on(which: str, spec: dict, weights: dict, model, x: np.ndarray) -> None:
    """The imported spec and weights, built by the harness, give the model's own output on ``x``."""
    if which == "torch":
        from parity.importers.torch_import import _check
    else:
        from parity.importers.keras_import import _check
    _check(model, spec, weights, x=x.astype(spec["dtype"]) if x.dtype.kind == "f" else x)


__all__ = ["compare_models", "PortResult", "ModelsDiffer", "first_parting_layer"]
