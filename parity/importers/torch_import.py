"""``from_torch(module, input_shape)``: a user's ``nn.Module`` read back as a spec and its weights.

How the module is walked
------------------------
The module is traced with ``torch.fx``; a submodule one of the layer mappings recognises (its
``LayerMapping.from_torch`` hook: ``nn.Linear``, ``nn.Conv2d``, ``nn.LSTM``, the harness's own
composite modules ...) is a leaf of the trace, as is every module of ``torch.nn``; a user's own
module is traced through. Function calls in the graph (``a + b``, ``torch.cat``, ``torch.flatten``,
``F.relu``; ``x.relu()`` reads as ``torch.relu``) go to the mappings' ``from_torch_call`` hooks. A
module ``torch.fx`` cannot trace (data-dependent control flow) is read as the chain of its
children, in registration order (an ``nn.Sequential``, or a module whose ``forward`` calls its
children one after the other); the output check below catches a forward that does more.

Recurrent layers: ``out, (h, c) = self.lstm(x)`` then ``out`` (return_sequences), ``out[:, -1]``
or ``h[-1]`` / ``h[0]`` / ``h.squeeze(0)`` (the last step) are read as one spec layer.
1-d layers: torch's ``nn.Conv1d`` and 1-d pools take (N, C, T); ``x.transpose(1, 2)`` (or
``x.permute(0, 2, 1)``) of an (N, T, C) sequence gives that view, on which ``nn.Conv1d``,
``nn.BatchNorm1d``, ``nn.MaxPool1d``, ``nn.AvgPool1d``, dropout and activations read as spec layers, ``x.amax(dim=2)`` /
``x.mean(dim=2)`` as global pools over T, and the transpose back as nothing (anything else on
the view is refused). ``x.view(x.size(0), -1)`` and ``x.reshape(x.shape[0], -1)`` read as flatten; a flatten of an
already flat (N, F) tensor (after ``nn.AdaptiveAvgPool2d(1)``, read as a global pool) is dropped.

Names: a module's path in the model, dots made underscores (``features.0`` -> ``features_0``,
``layers.3.conv`` -> ``layers_3_conv``); a function call's ``torch.fx`` node name (``add``,
``add_1``, ``flatten``). ``input`` and clashes get a suffix ``_2``.

Layouts: ``input_shape`` is the spec's, batch first and CANONICAL (channels-last: images
``(N, H, W, C)``, sequences ``(N, T, F)``); the module itself receives torch's layout (an image
as NCHW). Weights come back canonical (the spec's layout), converted by the mappings' weight
rules (``WeightRule.to_canonical``), keyed ``<layer name>/<param>``.

Nothing is guessed silently: a module or call no mapping recognises is refused naming its path and
class; and (``check=True``) the harness's torch build of the imported spec and weights is run
against the module itself on a seeded input in inference mode, and must agree within the output
tolerance of ``parity.compare``.
"""
from __future__ import annotations

import operator

import numpy as np

from parity.importers.common import (Imported, ImportRefused, assemble, build_context, checked_arguments, check_reproduces, claim,
                                     import_context, parse_layer, prune, refuse, seeded_input, spec_name, torch_layout)
from parity.mappings import REGISTRY
from parity.mappings.base import SAME, TENSOR, Layout

_RNN_LAST = "rnn-last"  # a value: the last step of a recurrent layer's sequence


def _dtype_of(module) -> str:
    import torch

    for p in list(module.parameters()) + list(module.buffers()):
        if p.is_floating_point():
            return {torch.float32: "float32", torch.float64: "float64"}.get(p.dtype, "float32")
    return "float32"


def from_torch(module, input_shape, *, name: str | None = None, loss: dict | None = None,
               optimizer: dict | None = None, steps: int = 0, seed: int = 0, training: bool | None = None,
               check: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec dict, weights) of a torch ``module`` fed a batch of canonical shape ``input_shape``
    (channels-last: an image batch is ``(N, H, W, C)`` although the module takes NCHW).

    The spec has every layer's ``name`` and ``inputs``, ``dtype`` the module's (its first floating
    parameter's), ``training`` the module's mode unless given, and ``loss`` / ``optimizer`` / ``steps``
    as given (mean squared error, plain SGD and 0 steps by default). The weights are canonical,
    keyed ``<layer name>/<param>`` like ``tensors.npz``'s ``initial/`` (running statistics included).
    Raises ``ImportRefused`` (one line naming the module path and class) for anything it cannot map.
    """
    import torch

    input_shape, loss, optimizer = checked_arguments(input_shape, loss, optimizer)
    if not isinstance(module, torch.nn.Module):
        raise ImportRefused(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    dtype = _dtype_of(module)
    walker = _Walker(module, input_shape, dtype)
    items, output = walker.walk()
    items = prune(items, output)
    if not items:
        raise ImportRefused(f"{type(module).__name__}: the module computes nothing the importer can map (its output is "
                            "its input)")
    weights = {}
    for item in items:
        weights.update(_canonical_weights(item, dtype))
    spec = assemble(items, input_shape, dtype, name or type(module).__name__, loss, optimizer, steps, seed,
                    module.training if training is None else training)
    if check:
        _check(module, spec, weights)
    return spec, weights


def _canonical_weights(item: Imported, dtype: str) -> dict[str, np.ndarray]:
    """The layer's tensors through its mapping's weight rules, canonical layout."""
    ctx = build_context(item, dtype)
    out = {}
    for rule in REGISTRY[item.layer.type].rules(ctx):
        missing = [n for n in rule.torch_names if n not in item.tensors]
        if missing:
            raise refuse(item.source.split(" (")[0], item.source.split(" (")[-1].rstrip(")"),
                         f"no tensor {missing[0]!r} for the {item.layer.type} parameter {rule.canonical!r}")
        arrays = tuple(item.tensors[n].detach().cpu().numpy().copy() for n in rule.torch_names)
        try:
            got = rule.to_canonical(arrays if isinstance(rule.torch, tuple) else arrays[0], ctx)
            for name, array in zip(rule.canonical_names, got if isinstance(rule.canonical, tuple) else (got,)):
                out[f"{item.name}/{name}"] = array
        except AssertionError as exc:
            raise ImportRefused(f"{item.source}: its weights do not fit the layer's input: {exc}") from None
    return out


def _check(module, spec: dict, weights: dict, x=None) -> None:
    import torch

    from parity.backends import PreparedCase, torch_backend
    from parity.spec import parse_spec, plan_of

    parsed = parse_spec(spec, "<from_torch>")
    x = seeded_input(spec) if x is None else x
    case = PreparedCase(parsed, x, np.zeros(1), weights, plan_of(parsed))
    mode = module.training
    with torch_backend.torch_state(parsed.dtype):
        net, entries = torch_backend.build(case)
        layout0 = torch_backend.input_layout(x)
        # a fresh C-order copy: np.ascontiguousarray keeps a one-channel NHWC->NCHW transpose's strides,
        # which torch reads as channels_last memory, and a user's x.view(-1, K) then refuses the conv output
        xt = torch.from_numpy(np.array(layout0.from_canonical(x), order="C"))
        try:
            with torch.no_grad():
                theirs = module.eval()(xt)
                ours = net.eval()(xt)
        finally:
            module.train(mode)
    out_layout = entries[-1][3]
    check_reproduces(type(module).__name__, out_layout.to_canonical(ours.numpy()),
                     out_layout.to_canonical(theirs.detach().numpy()), parsed.dtype)


class _Walker:
    """The fx walk: values (fx node -> layer name | "input" | a marker), layers in graph order."""

    def __init__(self, root, input_shape, dtype):
        self.root, self.dtype = root, dtype
        self.shapes = {"input": input_shape[1:]}
        self.layouts = {"input": Layout("channels_first") if len(input_shape) == 4 else SAME}
        self.items: list[Imported] = []
        self.taken: set[str] = set()
        self.called: set[str] = set()

    # -- the trace ----------------------------------------------------------------------------
    def walk(self):
        import torch.fx

        graph = self._trace(self.root)
        if graph is None:  # untraceable: the chain of its children
            return self._chain(self.root, "", "input")
        return self._graph(graph, self.root, "", "input")

    def _trace(self, module):
        import torch.fx

        claimed = {id(m) for m in module.modules() if self._claims(m)}  # before tracing: fx records attribute reads

        class Tracer(torch.fx.Tracer):
            def is_leaf_module(self, m, qualname):
                return id(m) in claimed or super().is_leaf_module(m, qualname)

        if id(module) in claimed:
            return None
        try:
            return Tracer().trace(module)
        except Exception:  # fx cannot trace it (control flow on values, unsupported ops)
            return None

    def _claims(self, m) -> bool:
        """Whether a mapping recognises module ``m`` (a leaf of the trace). Probed with a stand-in
        context: a hook that raises (a shape it dislikes) recognised the module."""
        from parity.mappings.base import ImportContext, Layout as L

        probe = ImportContext(((1, 1, 1),), (L("channels_first"),), self.dtype)
        for mapping in REGISTRY.values():
            try:
                if mapping.from_torch(m, probe) is not None:
                    return True
            except Exception:
                return True
        return False

    # -- a chain of children --------------------------------------------------------------------
    def _chain(self, module, prefix: str, value: str):
        children = list(module.named_children())
        if self._claims(module) or not children:
            return self.items, self._module(module, prefix.rstrip(".") or type(module).__name__, [value], {})
        for child_name, child in children:
            path = f"{prefix}{child_name}"
            graph = None if self._claims(child) or not list(child.children()) else self._trace(child)
            if graph is not None:
                _, value = self._graph(graph, child, path + ".", value)
            elif list(child.children()) and not self._claims(child):
                _, value = self._chain(child, path + ".", value)
            else:
                value = self._module(child, path, [value], {})
        return self.items, value

    # -- an fx graph ------------------------------------------------------------------------------
    def _graph(self, graph_or_module, root, prefix: str, input_value: str):
        graph = graph_or_module
        values: dict = {}
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ImportRefused(f"{type(root).__name__}: forward takes {len(placeholders)} inputs; parity's model takes one")
        output = None
        for node in graph.nodes:
            if node.op == "placeholder":
                values[node] = input_value
            elif node.op == "call_module":
                sub = root.get_submodule(node.target)
                path = prefix + node.target
                hints = self._rnn_hints(node, sub)
                call_args = node.args
                if type(sub).__name__ in ("TransformerEncoderLayer", "TransformerEncoder") and \
                        type(sub).__module__.startswith("torch.nn"):
                    values[node] = self._encoder(node, sub, values, path)
                    continue
                if _is_mha(sub):
                    call_args, hints = self._attention_call(node, sub, values, path)
                args, views = self._tensor_args(call_args, values, path, type(sub).__name__)
                if len(list(sub.children())) and not self._claims(sub):
                    raise refuse(path, type(sub).__name__, "a container torch.fx could not trace through")
                values[node] = self._module(sub, path, args, hints, views)
            elif node.op in ("call_function", "call_method"):
                values[node] = self._call(node, values, prefix)
            elif node.op == "get_attr" and node.users and all(_is_mask_use(u, node, root) for u in node.users):
                values[node] = ("attn-mask", _attr(root, node.target))
            elif node.op == "get_attr" and node.users:
                raise refuse(prefix + str(node.target), "tensor", "a parameter used directly in forward (not through a "
                             "module) has no spec layer")
            elif node.op == "output":
                output = values[node.args[0]] if not isinstance(node.args[0], (tuple, list)) else None
                if not isinstance(output, str):
                    raise ImportRefused(f"{type(root).__name__}: forward must return one tensor")
        return self.items, output

    def _tensor_args(self, args, values, where, cls) -> tuple[list[str], list[bool]]:
        """The layer names a module is called on, and whether each is an (N, C, T) view."""
        names, views = [], []
        for a in args:
            v = values.get(a) if hasattr(a, "op") else None
            view = _is_view(v)
            if view:
                v = v[1]
            if not isinstance(v, str):
                raise refuse(where, cls, "called with an argument that is not a tensor of the model")
            names.append(v)
            views.append(view)
        return names, views

    def _context(self, inputs: list[str], views: list[bool], hints: dict | None = None):
        """What the hooks see: a sequence's (N, C, T) view as a channels-first layout."""
        layouts = [CHANNELS_FIRST if view else self.layouts[n] for n, view in zip(inputs, views)]
        return import_context([self.shapes[n] for n in inputs], layouts, self.dtype, hints)

    def _viewed(self, name: str, views: list[bool], where: str, cls: str):
        """A layer read from an (N, C, T) view: its output is one again (conv1d, pooling, an
        activation), or canonical (a global pool over T); anything else has no spec reading."""
        if not any(views):
            return name
        kind = self._layer(name).layer.type if name in self.shapes and name != "input" else ""
        if kind in ("global_average_pool1d", "global_max_pool1d"):
            return name
        if kind in ("conv1d", "max_pool1d", "average_pool1d", "batch_normalization", "dropout") or \
                REGISTRY[kind].family == "activations":
            return ("nct", name)
        raise refuse(where, cls, "on a transposed (N, C, T) sequence: only Conv1d, BatchNorm1d, 1-d pools, dropout "
                     "and activations read as spec layers there")

    # -- one module -------------------------------------------------------------------------------
    def _module(self, module, path: str, inputs: list[str], hints: dict, views: list[bool] | None = None):
        cls = type(module).__name__
        views = views or [False] * len(inputs)
        stateless = not any(True for _ in module.parameters()) and not any(True for _ in module.buffers())
        if path in self.called and not stateless:
            raise refuse(path, cls, "called twice: shared weights have no spec")
        self.called.add(path)  # a stateless module (ResNet's one self.relu) is one spec layer per call
        found = claim("from_torch", module, self._context(inputs, views, hints), path, cls)
        if found is None:
            raise refuse(path, cls, f"no parity mapping for torch class {cls} (parity explain lists the types)")
        return self._viewed(self._add(path, cls, found.fields, inputs, found.tensors), views, path, cls)

    def _add(self, raw_name: str, cls: str, fields: dict, inputs: list[str], tensors: dict) -> str:
        if fields["type"] == "flatten" and len(self.shapes[inputs[0]]) == 1 and self.layouts[inputs[0]].kind != "flat":
            return inputs[0]  # flattening an (N, F) tensor changes nothing
        item = Imported(spec_name(raw_name, self.taken), dict(fields), list(inputs), f"{raw_name} ({cls})",
                        tensors=tensors)
        item.in_layouts = tuple(self.layouts[n] for n in inputs)
        parse_layer(item, len(self.items), self.shapes)
        item.out_layout = torch_layout(item, self.dtype)
        self.items.append(item)
        self.shapes[item.name], self.layouts[item.name] = item.out_shape, item.out_layout
        return item.name

    # -- recurrent outputs ----------------------------------------------------------------------
    def _rnn_hints(self, node, module) -> dict:
        """return_sequences of a bare nn.RNN/LSTM/GRU from how its outputs are used: only the last
        step (``out[:, -1]``, ``h[-1]``, ``h[0]``, ``h.squeeze(0)``) -> False; ``out`` itself -> True."""
        import torch.nn as nn

        if not isinstance(module, nn.RNNBase):
            return {}
        lstm = isinstance(module, nn.LSTM)
        seq = last = halves = 0
        for u in node.users:
            if not _item(u, 0, 1):
                last = seq = -1
                break
            if u.args[1] == 0:
                for v in u.users:
                    last, seq = (last + 1, seq) if _last_step(v) else (last, seq + 1)
                continue
            states = [w for w in u.users if _item(w, 0)] if lstm else [u]
            if lstm and any(w.users for w in u.users if not _item(w, 0)):
                seq = last = -1  # the cell state c_n is used
            for st in states:
                for v in st.users:
                    if module.bidirectional:  # h[-2], h[-1]: each direction's final state
                        halves += 1 if _item(v, 0, 1, -2, -1) else 0
                        seq += 0 if _item(v, 0, 1, -2, -1) else 1
                        continue
                    last, seq = (last + 1, seq) if _state_last(v) else (last, seq + 1)
        if halves:
            if seq or last:
                raise refuse(node.target, type(module).__name__, "both its sequence and its final states are used "
                             "(a spec layer has one output)")
            return {"return_sequences": False, "final_states": True}
        if seq and last or seq < 0:
            raise refuse(node.target, type(module).__name__, "both its sequence and its last step are used (a spec "
                         "layer has one output), or its outputs are used in a way the importer does not read")
        return {"return_sequences": not last}

    def _encoder(self, node, module, values, path):
        """``nn.TransformerEncoderLayer`` (and ``nn.TransformerEncoder``'s stack of them, then its
        ``norm``) as the spec layers its forward computes, torch's own order:
        post-norm: x = norm1(x + dropout1(self_attn(x))); x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
        pre-norm (norm_first): x = x + dropout1(self_attn(norm1(x))); x = x + dropout2(linear2(...(norm2(x))))
        each child one spec layer named by its path (``layer.self_attn``, ``layer.linear1``), the two
        sums ``<path>_add1`` and ``<path>_add2``; dropouts of rate 0 are nothing. Masks are refused."""
        cls = type(module).__name__
        if len(node.args) != 1 or any(v is not None and v is not False for v in node.kwargs.values()):
            raise refuse(path, cls, "called with masks or options: the importer reads encoder(x) alone")
        src = values.get(node.args[0])
        if not isinstance(src, str):
            raise refuse(path, cls, "called with an argument that is not a tensor of the model")
        if cls == "TransformerEncoder":
            x = src
            for i, layer in enumerate(module.layers):
                x = self._encoder_layer(layer, f"{path}.layers.{i}", x)
            return x if module.norm is None else self._module(module.norm, f"{path}.norm", [x], {})
        return self._encoder_layer(module, path, src)

    def _encoder_layer(self, layer, path: str, x: str) -> str:
        import torch.nn as nn
        import torch.nn.functional as F

        if not layer.self_attn.batch_first:
            raise refuse(path, type(layer).__name__, "batch_first=False: parity's sequences are (N, T, E)")

        def child(name, value, hints=None):
            module = getattr(layer, name)
            if isinstance(module, nn.Dropout) and module.p == 0:
                return value
            return self._module(module, f"{path}.{name}", [value], hints or {})

        def act(value):
            fn = layer.activation
            if isinstance(fn, nn.Module):
                return self._module(fn, f"{path}.activation", [value], {})
            kind = {F.relu: "relu", F.gelu: "gelu"}.get(fn)
            if kind is None:
                raise refuse(path, type(layer).__name__, f"activation {fn!r}: the importer reads F.relu, F.gelu or a module")
            return self._add(f"{path}.activation", kind, {"type": kind}, [value], {})

        def block(value, first):
            if first:
                return child("dropout1", child("self_attn", value, {"causal": False}))
            return child("dropout2", child("linear2", child("dropout", act(child("linear1", value)))))

        for k, (norm, first) in enumerate((("norm1", True), ("norm2", False)), start=1):
            if layer.norm_first:
                x = self._add(f"{path}_add{k}", "add", {"type": "add"}, [x, block(child(norm, x), first)], {})
            else:
                x = child(norm, self._add(f"{path}_add{k}", "add", {"type": "add"}, [x, block(x, first)], {}))
        return x

    def _attention_call(self, node, module, values, path):
        """A bare ``nn.MultiheadAttention`` called ``(query, key, value, ...)``: the spec's inputs
        [query] (all three one tensor), [query, value] (key is value) or [query, value, key], and
        its ``causal`` hint. Of the keywords, need_weights and average_attn_weights change nothing
        the output reads; attn_mask must be a buffer holding the causal mask (True or -inf above the
        diagonal, the query and key of one length); everything else is refused."""
        import torch

        cls = type(module).__name__
        names = dict(zip(("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                          "average_attn_weights", "is_causal"), node.args))
        names.update(node.kwargs)
        if any(k not in ("query", "key", "value") for k in names) and len(node.args) > 3:
            raise refuse(path, cls, "called with positional options: the importer reads (query, key, value) and "
                         "keywords")
        q, k, v = names.get("query"), names.get("key"), names.get("value")
        for option in names:
            if option in ("query", "key", "value", "need_weights", "average_attn_weights"):
                continue
            if option == "key_padding_mask" and names[option] is None:
                continue
            if option == "is_causal" and names[option] in (False, True) and names.get("attn_mask") is not None:
                continue  # a hint to torch about attn_mask, which decides
            if option == "attn_mask" and names[option] is None:
                continue
            if option == "attn_mask" and hasattr(names[option], "op") and \
                    isinstance(values.get(names[option]), tuple) and values[names[option]][0] == "attn-mask":
                continue
            raise refuse(path, cls, f"{option}={names[option]!r}: the spec's attention has no masks other than the "
                         "causal one (an attn_mask buffer)")
        causal = False
        if names.get("attn_mask") is not None:
            mask = values[names["attn_mask"]][1]
            t = mask.shape[-1]
            upper = torch.ones(t, t, dtype=torch.bool).triu(1)
            blocked = mask if mask.dtype == torch.bool else torch.isneginf(mask)
            ok = mask.shape == (t, t) and torch.equal(blocked, upper) and \
                (mask.dtype == torch.bool or bool((mask[~upper] == 0).all()))
            query = values.get(q)
            if not ok or not isinstance(query, str) or self.shapes[query][0] != t:
                raise refuse(path, cls, "attn_mask is not the causal mask of the query's length (True or -inf above "
                             "the diagonal, elsewhere False or 0): the spec has no other mask")
            causal = True
        if q is k and k is v:
            return (q,), {"causal": causal}
        if k is v:
            return (q, v), {"causal": causal}
        return (q, v, k), {"causal": causal}

    def _getitem(self, node, src, values, prefix):
        parent, index = node.args[0], node.args[1]
        if isinstance(src, tuple) and src[0] == "shape" and index == 0:
            return ("batch",)
        if parent.op == "call_module" and isinstance(src, str) and _is_mha(self.root.get_submodule(parent.target)):
            if index == 0:
                return src
            if not node.users:
                return ("unused",)  # ``out, _ = self.attn(...)``
            raise refuse(parent.target, "MultiheadAttention", "its attention weights (output 1) are used: the spec's "
                         "layer has the attention output only")
        if parent.op == "call_module" and isinstance(src, str) and self._is_rnn(parent):
            lstm = type(self.root.get_submodule(parent.target)).__name__ == "LSTM"
            if index == 0:
                params = self._layer(src).layer.params
                if "layer" in params:  # bidirectional: its inner layer's
                    params = params["layer"].params
                return src if params["return_sequences"] else ("rnn-pending", src)
            return ("rnn-states" if lstm else "rnn-state", src)
        if isinstance(src, tuple) and src[0] == "rnn-pending" and _last_step(node):
            return src[1]
        if isinstance(src, tuple) and src[0] == "rnn-states":
            return ("rnn-state", src[1]) if index == 0 else ("rnn-cell", src[1])
        if isinstance(src, tuple) and src[0] == "rnn-state" and self._layer(src[1]).layer.type == "bidirectional" \
                and index in (0, 1, -2, -1):
            return ("rnn-half", src[1], index % 2)  # h_n (2, N, U): 0 forward, 1 backward
        if isinstance(src, tuple) and src[0] == "rnn-state" and index in (0, -1):
            return src[1]
        raise refuse(prefix + node.name, "getitem", f"indexing ({index!r}) has no spec layer")

    @staticmethod
    def _final_states(target, args, kwargs, values):
        """``torch.cat([h_n[-2], h_n[-1]], dim=1)`` of a bidirectional layer (its two directions'
        final states, forward first): the layer itself, read without return_sequences; else None."""
        import torch

        if target is not torch.cat or not args or not isinstance(args[0], (list, tuple)) or len(args[0]) != 2:
            return None
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        halves = [values.get(a) if hasattr(a, "op") else None for a in args[0]]
        if dim in (1, -1) and all(isinstance(h, tuple) and h[0] == "rnn-half" for h in halves) and \
                halves[0][1] == halves[1][1] and (halves[0][2], halves[1][2]) == (0, 1):
            return halves[0][1]
        return None

    def _is_rnn(self, node) -> bool:
        import torch.nn as nn

        return isinstance(self.root.get_submodule(node.target), nn.RNNBase)

    def _flat_size(self, src: str, rest: list) -> bool:
        """``x.view(-1, K)`` (the PyTorch tutorial's LeNet: ``x.view(-1, 16 * 5 * 5)``) and
        ``x.view(N, K)`` / ``x.view(x.size(0), K)`` where K is the whole per-sample size: a flatten."""
        size = int(np.prod(self.shapes[src]))
        if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
            rest = list(rest[0])
        return len(rest) == 2 and rest[1] == size and (rest[0] == -1 or rest[0] == ("batch",))

    def _layer(self, name: str) -> Imported:
        return next(it for it in self.items if it.name == name)

    # -- function calls ---------------------------------------------------------------------------
    def _call(self, node, values, prefix: str):
        import torch

        target = node.target
        if node.op == "call_method":
            if target in ("size",) and tuple(node.args[1:]) == (0,):
                return ("batch",)
            if target == "size":
                raise refuse(prefix + node.name, "size", "x.size() beyond x.size(0) feeds a hand-written reshape "
                             "(nanoGPT's B, T, C = x.size() splitting attention heads): no spec layer reads it (an "
                             "nn.MultiheadAttention does)")
            if target == "contiguous":
                return values[node.args[0]]
            src = values.get(node.args[0])
            if target == "squeeze" and isinstance(src, tuple) and src[0] == "rnn-state" and tuple(node.args[1:]) == (0,):
                return src[1]
            target = getattr(torch, target, target)
        if target is getattr and node.args[1] == "shape":
            return ("shape", values.get(node.args[0]))
        src = values.get(node.args[0]) if node.args and hasattr(node.args[0], "op") else None
        if _swaps_t_and_c(target, node.args[1:], node.kwargs):
            if _is_view(src):
                return src[1]  # back to (N, T, C)
            if isinstance(src, str) and len(self.shapes[src]) == 2 and self.layouts[src].kind == "same":
                return ("nct", src)  # a sequence as torch's 1-d layers take it
            raise refuse(prefix + node.name, _fn_name(target), "a transpose of something other than an (N, T, C) "
                         "sequence acts on torch's layout: no spec layer")
        if target is operator.getitem:
            return self._getitem(node, src, values, prefix)
        if isinstance(target, str) and target in ("view", "reshape") or target is torch.reshape:
            rest = [values.get(a, a) if hasattr(a, "op") else a for a in node.args[1:]]
            if isinstance(src, str) and (rest == [("batch",), -1] or self._flat_size(src, rest)):
                return self._add(prefix + node.name, "flatten", {"type": "flatten"}, [src], {})
            raise refuse(prefix + node.name, f"{target}", "a reshape other than x.view(x.size(0), -1) acts on torch's "
                         "NCHW order: no spec layer")
        final = self._final_states(target, node.args, node.kwargs, values)
        if final is not None:
            return final
        inputs: list[str] = []
        views: list[bool] = []

        def mark(a):
            if hasattr(a, "op"):
                v = values.get(a)
                views.append(_is_view(v))
                v = v[1] if views[-1] else v
                if not isinstance(v, str):
                    raise refuse(prefix + node.name, _fn_name(target), "an argument the importer cannot read")
                inputs.append(v)
                return TENSOR
            if isinstance(a, (list, tuple)):
                return type(a)(mark(b) for b in a)
            return a

        args = tuple(mark(a) for a in node.args)
        kwargs = {k: mark(v) for k, v in node.kwargs.items()}
        if not inputs:
            raise refuse(prefix + node.name, _fn_name(target), "a call on no tensor of the model")
        ictx = self._context(inputs, views)
        found = claim("from_torch_call", None, ictx, prefix + node.name, _fn_name(target), call=(target, args, kwargs))
        if found is None:
            raise refuse(prefix + node.name, _fn_name(target), f"no parity mapping for {_fn_name(target)}{args}")
        name = self._add(prefix + node.name, _fn_name(target), found, inputs, {})
        return self._viewed(name, views, prefix + node.name, _fn_name(target))


CHANNELS_FIRST = Layout("channels_first")


def _is_mha(module) -> bool:
    import torch.nn as nn

    return type(module) is nn.MultiheadAttention


def _attr(root, target: str):
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _is_mask_use(user, attr_node, root) -> bool:
    """Whether ``user`` passes the buffer ``attr_node`` to a bare nn.MultiheadAttention as attn_mask."""
    if user.op != "call_module" or not _is_mha(root.get_submodule(user.target)):
        return False
    return user.kwargs.get("attn_mask") is attr_node or (len(user.args) > 5 and user.args[5] is attr_node)


def _is_view(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and value[0] == "nct"


def _swaps_t_and_c(target, args, kwargs) -> bool:
    """``x.transpose(1, 2)``, ``x.transpose(-1, -2)``, ``x.permute(0, 2, 1)`` (and the functions)
    on a rank-3 tensor: (N, T, C) <-> (N, C, T)."""
    import torch

    if kwargs:
        return False
    if target is torch.transpose:
        return tuple(sorted(a % 3 for a in args if isinstance(a, int))) == (1, 2) and len(args) == 2
    if target is torch.permute:
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        return tuple(dims) == (0, 2, 1)
    return False


def _item(node, *indices) -> bool:
    return node.op == "call_function" and node.target is operator.getitem and node.args[1] in indices


def _last_step(node) -> bool:
    """``out[:, -1]`` or ``out[:, -1, :]``."""
    every = slice(None, None, None)
    return node.op == "call_function" and node.target is operator.getitem and \
        node.args[1] in ((every, -1), (every, -1, every))


def _state_last(node) -> bool:
    """``h[-1]``, ``h[0]`` or ``h.squeeze(0)`` of a one-layer state (1, N, U)."""
    return _item(node, 0, -1) or (node.op == "call_method" and node.target == "squeeze" and tuple(node.args[1:]) == (0,))


def _fn_name(target) -> str:
    return getattr(target, "__name__", str(target))
