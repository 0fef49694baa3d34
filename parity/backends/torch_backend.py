"""PyTorch backend: the case plan as an ``nn.Module`` walking it, channels-first inside.

Each mapping returns its module and the layout of its output; captured outputs and gradients are
converted back to the canonical layout with that ``Layout`` before they leave this module.
"""
from __future__ import annotations

import contextlib

import numpy as np

from parity import hooks as backend_hooks
from parity.backends.common import BackendResult, PreparedCase
from parity.mappings import LOSSES, OPTIMIZERS, BuildContext, Layout, layer_mapping
from parity.mappings.base import SAME


def input_layout(x: np.ndarray) -> Layout:
    """Images (N, H, W, C) go in channels-first; everything else as is."""
    return Layout("channels_first") if x.ndim == 4 else SAME


@contextlib.contextmanager
def torch_state(dtype: str):
    """Set torch's default dtype for the case; restore it, the thread count and torch's global RNG."""
    import torch

    old_dtype, old_threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.random.fork_rng(devices=[]):  # module construction draws from torch's global RNG
            yield torch
    finally:
        torch.set_default_dtype(old_dtype)
        torch.set_num_threads(old_threads)


def _tensor(module, name):
    try:
        return module.get_parameter(name)
    except AttributeError:
        return module.get_buffer(name)


def _plan_module(plan, modules, stop_gradient: frozenset = frozenset()):
    """An ``nn.Module`` whose ``forward(x)`` walks the plan: each layer's module called on the
    tensors its plan names (several for a merge), in plan order; returns every layer's output by
    name (``outputs``) and the last as the model's (``forward``). Its parameters are the modules'
    in plan order. ``stop_gradient``: ``(layer name, input index)`` edges read through ``detach()``
    (hook ``stop_gradient`` of ``parity.hooks``)."""
    import torch.nn as nn

    class PlanModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(modules)

        def outputs(self, x):
            values = {"input": x}
            for node, module in zip(plan, self.layers):
                values[node.name] = module(*(values[n].detach() if (node.name, i) in stop_gradient else values[n]
                                             for i, n in enumerate(node.inputs)))
            del values["input"]
            return values

        def forward(self, x):
            return self.outputs(x)[plan.output.name]

    return PlanModule()


def build(case: PreparedCase, stop_gradient: frozenset = frozenset()):
    """(net, entries) for the case, weights loaded from ``case.initial``: ``net`` the plan's
    ``nn.Module`` (``_plan_module``), ``entries`` per layer ``(name, ctx, rules, out layout)``."""
    import torch

    spec = case.spec
    layouts = {"input": input_layout(case.x)}
    modules, entries = [], []
    for node in case.plan:
        key = node.name
        mapping = layer_mapping(node.type)
        ctx = BuildContext.of(node, spec.dtype, tuple(layouts[n] for n in node.inputs))
        module, out_layout = mapping.torch(ctx)
        module.to(getattr(torch, spec.dtype))
        if key in case.masks and hasattr(module, "set_mask"):
            module.set_mask(torch.from_numpy(np.ascontiguousarray(out_layout.from_canonical(case.masks[key]))))
        rules = mapping.rules(ctx)
        module.train(spec.training)
        modules.append(module)
        entries.append((key, ctx, rules, out_layout))
        layouts[key] = out_layout
    load(modules, entries, case.initial)
    return _plan_module(case.plan, modules, stop_gradient).train(spec.training), entries


def load(modules, entries, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` (params and state) into the torch modules through the rules,
    shape-asserted on both sides."""
    import torch

    with torch.no_grad():
        for module, (key, ctx, rules, _) in zip(modules, entries):
            for rule in rules:
                given = tuple(weights[f"{key}/{name}"] for name in rule.canonical_names)
                values = rule.to_torch(given if isinstance(rule.canonical, tuple) else given[0], ctx)
                values = values if isinstance(rule.torch, tuple) else (values,)
                for name, value in zip(rule.torch_names, values, strict=True):
                    target = _tensor(module, name)
                    if tuple(target.shape) != value.shape:
                        raise AssertionError(f"{key}: torch {name} has shape {tuple(target.shape)}, "
                                             f"conversion gave {value.shape}")
                    target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def named_parameters(modules, entries) -> list:
    """(canonical key, torch parameter) for every trainable parameter, in module order; a parameter
    no rule names (none today) keeps its torch name."""
    out = []
    for module, (key, _, rules, _) in zip(modules, entries):
        names = {torch_name: rule.canonical_names[0] for rule in rules for torch_name in rule.torch_names}
        out += [(f"{key}/{names.get(name, name)}", p) for name, p in module.named_parameters()]
    return out


class HookedStep:
    """Hook ``optimizer`` of ``parity.hooks``: a scratchnet-API optimizer stepping the torch
    parameters in place (``p.detach().numpy()`` shares their memory), in the TorchStep interface."""

    def __init__(self, optimizer, named: list):
        self.optimizer, self.named = optimizer, named

    def zero_grad(self, set_to_none: bool = False) -> None:
        for _, p in self.named:
            if p.grad is not None:
                p.grad.zero_()

    def step(self) -> None:
        with_grad = [(k, p) for k, p in self.named if p.grad is not None]
        self.optimizer.apply({k: p.detach().numpy() for k, p in with_grad},
                             {k: p.grad.detach().numpy().copy() for k, p in with_grad})


def run(case: PreparedCase, sync: list[dict[str, np.ndarray]] | None = None, hooks=None) -> BackendResult:
    """The case in torch. ``sync``: the reference weights after each step (``sync[t-2]`` is loaded
    before step t >= 2), so that every step starts from the same weights as the reference's and its
    rows measure that step alone; the optimizer keeps its own state. None: free-running.
    ``hooks``: code-level changes (``parity.hooks``)."""
    spec = case.spec
    factory = backend_hooks.optimizer_factory(hooks)
    with torch_state(spec.dtype) as torch:
        net, entries = build(case, backend_hooks.stopped(hooks))
        modules = list(net.layers)
        layout0 = input_layout(case.x)
        x = torch.from_numpy(np.ascontiguousarray(layout0.from_canonical(case.x)))
        if x.is_floating_point():
            x.requires_grad_(True)
        out_layout = entries[-1][3]
        y_np = out_layout.labels_from_canonical(case.y) if case.y.dtype.kind in "iu" else out_layout.from_canonical(case.y)
        y = torch.from_numpy(np.ascontiguousarray(y_np))
        w = {} if case.sample_weight is None else {"sample_weight": torch.from_numpy(case.sample_weight)}
        loss_fn = LOSSES[spec.loss.type].torch(spec.loss.params, entries[-1][3], **w)
        named = named_parameters(modules, entries)
        optimizer = (None if not spec.steps else HookedStep(factory("torch"), named) if factory is not None
                     else OPTIMIZERS[spec.optimizer.type].torch_step(named, spec.optimizer.params))

        def canonical(tensors: str) -> dict[str, np.ndarray]:
            """Every rule's tensor (``"value"``) or its gradient (``"grad"``), canonical layout."""
            out = {}
            for module, (key, ctx, rules, _) in zip(modules, entries):
                for rule in rules:
                    ts = [_tensor(module, name) for name in rule.torch_names]
                    convert = rule.to_canonical
                    if tensors == "grad":
                        if not any(t.requires_grad for t in ts):
                            continue
                        ts = [t.grad if t.grad is not None else torch.zeros_like(t) for t in ts]
                        convert = rule.grad_to_canonical or rule.to_canonical
                    arrays = tuple(t.detach().numpy().copy() for t in ts)
                    got = convert(arrays if isinstance(rule.torch, tuple) else arrays[0], ctx)
                    for name, array in zip(rule.canonical_names, got if isinstance(rule.canonical, tuple) else (got,),
                                           strict=True):
                        out[f"{key}/{name}"] = array
            return out

        result = None
        for step in range(max(spec.steps, 1)):
            if sync is not None and step >= 1:
                load(modules, entries, sync[step - 1])
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=False)
            if x.grad is not None:
                x.grad = None
            values = net.outputs(x)
            outs = {key: lay.to_canonical(values[key].detach().numpy().copy()) for key, _, _, lay in entries}
            out = values[case.plan.output.name]
            if torch.isfinite(out).all():
                loss = loss_fn(out, y)
            else:  # a blown-up run (NaN weights loaded from the reference): the loss of a NaN is NaN,
                loss = out.sum() * float("nan")  # as in scratchnet and Keras; BCELoss would raise instead
            loss.backward()
            if result is None:
                result = BackendResult(
                    "torch", outputs=outs, loss=float(loss.item()), grads=canonical("grad"),
                    input_grad=layout0.to_canonical(x.grad.numpy().copy()) if x.grad is not None else None)
            result.losses.append(float(loss.item()))
            if optimizer is not None:
                optimizer.step()
                result.steps.append(canonical("value"))
        with torch.no_grad():
            h = net.eval()(x.detach())
        result.final_output = entries[-1][3].to_canonical(h.numpy().copy())
    return result
