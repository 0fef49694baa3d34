"""Model: a graph of layers (a ResNet block's shortcut, a U-Net's skip), beside ``Sequential``'s
chain.

A model is a list of nodes in an order where every node comes after the nodes it reads: each is a
layer and the names of its inputs, ``"input"`` being the model's input. The output is the LAST
node's output. With v_input = x and v_n = f_n(v_a, v_b, ...) for the node n reading a, b, ...:

    forward:  v_n = f_n(inputs of n), n in the given (topological) order;  y = v_last
    backward: g_last = dL/dy;  for n in reverse order:  (dv_a, dv_b, ...) = J_n^T g_n,
              g_a += dv_a, g_b += dv_b, ...

so a tensor read by several nodes (fan-out: a shortcut reads the block's input, and so does the
block's first conv) gets the SUM of its readers' gradients, the multivariate chain rule. Every
node's g is complete when its turn comes, since all its readers come later in the order. dL/dx is
g_input.

Buffers: as ``Sequential``'s (``layers.base``): ``outputs`` holds the layers' own work arrays,
valid until the next ``forward``. No layer is handed a dy it may overwrite (``consume_dy`` is never
set): one gradient may be the same array for several inputs (``Add`` returns dy for each), and
sums are formed in fresh arrays.

Training (``compile``, ``train_step``, ``fit``, ``predict``, ``evaluate``) is ``Sequential``'s, the
same functions: they need only ``forward``, ``backward``, ``layers`` and ``parameters``.
"""
from __future__ import annotations

import numpy as np

from scratchnet import fusion
from scratchnet.layers.base import Layer, as_float_dtype
from scratchnet.layers.merge import Merge
from scratchnet.model import Sequential

INPUT = "input"


def input_arity(layer: Layer) -> tuple[int, int | None]:
    """(least, most) inputs ``layer`` reads, most None for any number: a merge two or more (exactly
    its ``arity`` where it has one), a layer with an ``input_arity`` (MultiHeadAttention: 1 to 3)
    that, every other layer one."""
    if isinstance(layer, Merge):
        return (2, None) if layer.arity is None else (layer.arity, layer.arity)
    return getattr(layer, "input_arity", (1, 1))


def takes_list(layer: Layer) -> bool:
    """Whether ``layer`` is given the LIST of its inputs (and returns a list of their gradients):
    merges and attention; every other layer takes its one input as it is."""
    return input_arity(layer) != (1, 1)


def accumulate(grads: dict[str, np.ndarray], name: str, dx: np.ndarray) -> None:
    """g_name += dx: the first reader's gradient is kept as it is, a later one's added into a fresh
    array (never into a layer's buffer, nor into an array another input shares)."""
    grads[name] = dx if name not in grads else grads[name] + dx


class Model:
    """``Model(nodes)``: each node a ``Layer`` (it reads the node before it; the first reads the
    input) or a ``(layer, inputs)`` pair, ``inputs`` a list of names of EARLIER layers or
    ``"input"``. Merge layers (``layers.merge``) read two or more, ``MultiHeadAttention`` one to three
    (query, value, key), every other layer exactly one.
    Every node's output but the last must be read by a later node (an unread output would be
    dead weight with a zero gradient, almost surely a mistake). Layer names must be distinct and
    not ``"input"``; a default name the model already has is numbered, as in ``Sequential``.

    ``forward(x, training)`` returns the last node's output (``outputs``: every node's, by name, in
    order); ``backward(dL/dy)`` fills every layer's ``grads`` and returns dL/dx (None for integer
    ids); ``parameters()`` maps ``"<layer>/<param>"`` to ``(param, grad)``.
    """

    def __init__(self, nodes, name: str = "model"):
        self.name = name
        self.layers: list[Layer] = []
        self.inputs: dict[str, tuple[str, ...]] = {}  # layer name -> names it reads
        self.dtype: np.dtype | None = None
        self.loss = None
        self.optimizer = None
        self.outputs: dict[str, np.ndarray] = {}
        for node in nodes:
            layer, inputs = node if isinstance(node, tuple) else (node, None)
            self._add(layer, inputs)
        if not self.layers:
            raise ValueError(f"{self.name}: the model has no layers")
        read = {n for names in self.inputs.values() for n in names}
        for layer in self.layers[:-1]:
            if layer.name not in read:
                raise ValueError(f"{self.name}: the output of {layer.name!r} is read by no later layer (only "
                                 "the last layer's output is the model's)")

    def _add(self, layer: Layer, inputs) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(f"{self.name}: expected a scratchnet Layer, got {type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"{self.name}: layer {layer.name!r} is already in the model (one object cannot be "
                             "two layers: create another)")
        taken = {existing.name for existing in self.layers} | {INPUT}
        if layer.name in taken:
            if not layer.auto_named:
                raise ValueError(f"{self.name}: a layer named {layer.name!r} is already in the model"
                                 + (" (the name of the model's input)" if layer.name == INPUT else ""))
            base, k = layer.name, 1
            while f"{base}_{k}" in taken:
                k += 1
            layer.name = f"{base}_{k}"
        if inputs is None:
            inputs = (self.layers[-1].name,) if self.layers else (INPUT,)
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(n, str) for n in inputs):
            raise ValueError(f"{self.name}: {layer.name}: inputs: expected a list of layer names, got {inputs!r}")
        for n in inputs:
            if n not in taken or n == layer.name:
                raise ValueError(f"{self.name}: {layer.name}: inputs: expected names of earlier layers or "
                                 f"'input', got {n!r}")
        low, high = input_arity(layer)
        if not low <= len(inputs) <= (len(inputs) if high is None else high):
            want = "one" if high == 1 else "two or more" if (low, high) == (2, None) else \
                f"{low}" if low == high else f"{low} to {high}"
            raise ValueError(f"{self.name}: {layer.name}: inputs: expected {want}, got {len(inputs)}")
        self.layers.append(layer)
        self.inputs[layer.name] = tuple(inputs)

    @property
    def built(self) -> bool:
        return all(layer.built for layer in self.layers)

    def build(self, input_shape, dtype="float64", rng: np.random.Generator | None = None) -> "Model":
        """Build every layer not built yet, in order, from its inputs' shapes (no batch axis); a
        layer built before must fit them (else ValueError)."""
        self.dtype = as_float_dtype(dtype, f"{self.name}: dtype")
        rng = rng if rng is not None else np.random.default_rng(0)
        shapes = {INPUT: tuple(int(s) for s in input_shape)}
        for layer in self.layers:
            ins = [shapes[n] for n in self.inputs[layer.name]]
            shape = ins if takes_list(layer) else ins[0]
            if not layer.built:
                layer.build(shape, self.dtype, rng)
            elif (tuple(map(tuple, shape)) if takes_list(layer) else tuple(shape)) != layer.input_shape \
                    or layer.dtype != self.dtype:
                raise ValueError(f"{self.name}: layer {layer.name!r} was built for input {layer.input_shape} "
                                 f"{layer.dtype}, but gets {shape} {self.dtype} here")
            shapes[layer.name] = tuple(layer.output_shape)
        return self

    def compute_output_shape(self, input_shape):
        shapes = {INPUT: tuple(input_shape)}
        for layer in self.layers:
            ins = [shapes[n] for n in self.inputs[layer.name]]
            shapes[layer.name] = tuple(layer.compute_output_shape(ins if takes_list(layer) else ins[0]))
        return shapes[self.layers[-1].name]

    # -- forward / backward -----------------------------------------------------------------
    def forward(self, x, training: bool = False) -> np.ndarray:
        """v_n = f_n(inputs of n) for every node in order; returns the last. ``outputs`` keeps all."""
        x = np.asarray(x)
        if not self.built:
            if x.ndim < 1:
                raise ValueError(f"{self.name}: expected an input with a batch axis first, got a scalar")
            built = [layer for layer in self.layers if layer.built]
            self.build(x.shape[1:], built[0].dtype if built else (x.dtype if x.dtype.kind == "f" else np.float64))
        elif self.dtype is None:
            self.dtype = self.layers[0].dtype
        if x.dtype.kind == "f" and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        values = {INPUT: x}
        for layer in self.layers:
            ins = [values[n] for n in self.inputs[layer.name]]
            values[layer.name] = layer.forward(ins if takes_list(layer) else ins[0], training)
        del values[INPUT]
        self.outputs = values
        return values[self.layers[-1].name]

    __call__ = forward

    def backward(self, dy, input_grad: bool = True) -> np.ndarray | None:
        """dL/dx from dL/dy (reverse order, gradients summed at fan-out), filling every layer's
        grads; ``input_grad=False`` returns None and computes only the gradients some parameter
        needs (``needs_grad``): a layer none of whose inputs needs one skips its own dL/dx, and a
        layer with nothing to fill below or in it is not visited."""
        needs = self.needs_grad(input_grad)
        grads: dict[str, np.ndarray] = {self.layers[-1].name: np.asarray(dy)}
        for layer in reversed(self.layers):
            g = grads.pop(layer.name, None)
            if not needs[layer.name]:
                continue
            names = self.inputs[layer.name]
            want = any(needs[n] for n in names)
            dxs = layer.backward(g, want)
            if not want:
                continue
            for n, dx in zip(names, dxs if takes_list(layer) else [dxs]):
                if dx is None or not needs[n]:  # integer ids have no gradient
                    continue
                accumulate(grads, n, dx)
        dx = grads.get(INPUT)
        return dx if input_grad else None

    def needs_grad(self, input_grad: bool = True) -> dict[str, bool]:
        """Which tensors' gradients the backward must form, by name (``"input"`` and each layer's
        output): dL/dv_n is needed iff layer n has parameters or one of its inputs' gradients is
        needed (the chain rule reaches a parameter through it); dL/dx iff ``input_grad``.

            needs(input) = input_grad;  needs(n) = bool(params of n) or any(needs(i), i read by n)
        """
        needs = {INPUT: bool(input_grad)}
        for layer in self.layers:
            needs[layer.name] = bool(layer.params) or any(needs[n] for n in self.inputs[layer.name])
        return needs

    def parameters(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {f"{layer.name}/{name}": (param, layer.grads[name])
                for layer in self.layers for name, param in layer.params.items()}

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and state array, keyed ``"<layer>/<name>"``."""
        return {f"{layer.name}/{name}": value.copy()
                for layer in self.layers for name, value in {**layer.params, **layer.state}.items()}

    set_weights = Sequential.set_weights

    def _relu_pools(self) -> list:
        """``Sequential._relu_pools``: here, a pool whose one input is a convolution no other node reads."""
        return fusion.relu_pool_pairs(self.layers, self.inputs)

    # -- training: Sequential's functions (they need forward, backward, layers, parameters) ---
    compile = Sequential.compile
    _require_compiled = Sequential._require_compiled
    train_step = Sequential.train_step
    _train_step = Sequential._train_step
    fit = Sequential.fit
    predict = Sequential.predict
    evaluate = Sequential.evaluate
