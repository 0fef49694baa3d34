"""Sequential: a stack of layers, forward in order, backward in reverse, trained by an optimizer."""
from __future__ import annotations

import time

import numpy as np

from scratchnet import fusion
from scratchnet import losses as losses_mod
from scratchnet import optimizers as optimizers_mod
from scratchnet.layers.base import Layer, as_float_dtype


class Sequential:
    """y = f_L(... f_2(f_1(x)))  and, by the chain rule, dL/dx = J_1^T (J_2^T (... J_L^T dL/dy)).

    ``forward`` runs the layers in order (the first forward builds what is not built yet, in the
    dtype of the layers already built, else the input's float dtype). A float input of the other
    dtype is refused, as by a single layer (scratchnet never casts silently), unless the model is
    made with ``cast_input=True``, which casts it to the model dtype once, at the door, as Keras
    does; integer token ids pass through.
    ``backward(dL/dy)`` runs their backward passes in reverse, filling every layer's ``grads``. ``parameters()`` maps ``"<layer>/<param>"`` to
    ``(param, grad)``: the arrays themselves, so an optimizer updates them in place.

    Buffers: ``forward`` returns (and ``outputs`` holds) the layers' own work arrays, valid until
    the next ``forward``; ``backward``'s dL/dx until the next ``backward``; the gradients between
    layers are handed down and may be overwritten (see ``layers.base``). ``predict`` returns a copy. ``train_step`` asks for no input gradient: layers before the
    first one with parameters are not run backward, and that one skips its dL/dx. ``train_step``
    and ``fit`` keep no per-layer ``outputs`` (emptied): they move a convolution's ReLU behind the
    max-pool that reads it (``scratchnet.fusion``: the same numbers, fewer passes).

    Training input: ``train_step``, ``fit`` and ``evaluate`` refuse a NaN or an infinity in x or
    (float) y, and ``train_step`` and ``fit`` an empty batch, with a ValueError before anything
    changes (an optimizer's step count included). Values that training itself makes non-finite
    (a learning rate that diverges) are not an error: the loss returned says so.
    """

    def __init__(self, layers=(), name: str = "sequential", cast_input: bool = False):
        self.name = name
        self.cast_input = bool(cast_input)
        self.layers: list[Layer] = []
        self.dtype: np.dtype | None = None
        self.loss = None
        self.optimizer = None
        self.outputs: list[np.ndarray] = []
        self._chained = False  # every layer built, each fitting the output of the one before
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append ``layer``. A default name the model already has is numbered (dense, dense_1, ...);
        a given one must be new, and so must the layer object itself (a layer keeps one forward's
        cache, so one object twice in a model would give wrong gradients)."""
        if not isinstance(layer, Layer):
            raise ValueError(f"{self.name}: expected a scratchnet Layer, got {type(layer).__name__}")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"{self.name}: layer {layer.name!r} is already in the model (one object "
                             "cannot be two layers: create another)")
        taken = {existing.name for existing in self.layers}
        if layer.name in taken:
            if not layer.auto_named:
                raise ValueError(f"{self.name}: a layer named {layer.name!r} is already in the model")
            base, k = layer.name, 1  # as Keras: dense, dense_1, dense_2, ... within the model
            while f"{base}_{k}" in taken:
                k += 1
            layer.name = f"{base}_{k}"
        self.layers.append(layer)
        self._chained = False

    @property
    def built(self) -> bool:
        for layer in self.layers:
            if not layer.built:
                return False
        return bool(self.layers)

    def build(self, input_shape, dtype="float64", rng: np.random.Generator | None = None) -> "Sequential":
        """Build every layer not built yet, in turn, from ``input_shape`` (no batch axis); a layer
        built before must fit: its input shape and dtype those the layers before it give (else
        ValueError). Weights of built layers are kept."""
        if not self.layers:
            raise ValueError(f"{self.name}: the model has no layers")
        self.dtype = as_float_dtype(dtype, f"{self.name}: dtype")
        rng = rng if rng is not None else np.random.default_rng(0)
        shape = tuple(int(s) for s in input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape, self.dtype, rng)
            elif layer.input_shape != shape or layer.dtype != self.dtype:
                raise ValueError(f"{self.name}: layer {layer.name!r} was built for input (N, "
                                 f"{', '.join(map(str, layer.input_shape))}) {layer.dtype}, but gets "
                                 f"(N, {', '.join(map(str, shape))}) {self.dtype} here")
            shape = layer.output_shape
        self._chained = True
        return self

    def _build_for(self, x: np.ndarray) -> None:
        """Before the first forward: build what is not built, for ``x``, in the dtype of the
        layers already built (else x's float dtype, else float64)."""
        if not self.layers:
            raise ValueError(f"{self.name}: the model has no layers")
        built = [layer for layer in self.layers if layer.built]
        first = self.layers[0]
        shape = first.input_shape if first.built else x.shape[1:]
        dtype = built[0].dtype if built else (x.dtype if x.dtype.kind == "f" else np.float64)
        self.build(shape, dtype)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    # -- forward / backward -----------------------------------------------------------------
    def forward(self, x, training: bool = False) -> np.ndarray:
        """Run every layer; ``self.outputs`` keeps each layer's output (for per-layer comparison)."""
        x = np.asarray(x)
        if not self._chained:
            self._build_for(x)
        if x.dtype.kind == "f" and x.dtype != self.dtype:  # (the first layer casts integers it takes as values)
            if not self.cast_input:
                raise ValueError(f"{self.name}: expected {self.dtype} input, got {x.dtype} (scratchnet never "
                                 "casts silently; cast before calling, or make the model with cast_input=True)")
            x = x.astype(self.dtype)
        layers = self.layers
        x = layers[0].forward(x, training)  # checks the model's input
        self.outputs = outputs = [x]
        for i in range(1, len(layers)):  # inputs the build made fit: no checks
            x = layers[i].forward_trusted(x, training)
            outputs.append(x)
        return x

    __call__ = forward

    def backward(self, dy, input_grad: bool = True) -> np.ndarray | None:
        """dL/dx from dL/dy, filling every layer's grads; ``input_grad=False`` returns None and
        stops at the first layer with parameters (which skips its own dL/dx).

        The gradients between layers are the layers' own dx buffers (or fresh arrays): each is
        handed over to the layer below (``consume_dy``), unless it shares memory with the given
        dy (a layer whose dx is dy itself or a view of it), which is never written."""
        layers, given = self.layers, np.asarray(dy)
        stop = 0
        if not input_grad:
            while stop < len(layers) and not layers[stop].params:
                stop += 1
        last = len(layers) - 1
        for i in range(last, stop - 1, -1):
            consume = dy is not given and not np.may_share_memory(dy, given)
            if i == last:  # checks the given dy
                dy = layers[i].backward(dy, input_grad or i > stop, consume)
            else:  # the dx of the layer above
                dy = layers[i].backward_trusted(dy, input_grad or i > stop, consume)
        return dy if input_grad else None

    def parameters(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {f"{layer.name}/{name}": (param, layer.grads[name])
                for layer in self.layers for name, param in layer.params.items()}

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and state array, keyed ``"<layer>/<name>"``."""
        out = {}
        for layer in self.layers:
            for name, value in {**layer.params, **layer.state}.items():
                out[f"{layer.name}/{name}"] = value.copy()
        return out

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        by_layer: dict[str, dict[str, np.ndarray]] = {}
        for key, value in weights.items():
            layer_name, _, name = key.partition("/")
            by_layer.setdefault(layer_name, {})[name] = value
        names = {layer.name: layer for layer in self.layers}
        for layer_name, values in by_layer.items():
            if layer_name not in names:
                raise ValueError(f"{self.name}: no layer named {layer_name!r}")
            names[layer_name].set_weights(values)

    # -- training -----------------------------------------------------------------------------
    def compile(self, loss, optimizer, **loss_params) -> "Sequential":
        self.loss = losses_mod.get(loss, **loss_params)
        self.optimizer = optimizers_mod.get(optimizer)
        return self

    def _require_compiled(self):
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(f"{self.name}: call compile(loss, optimizer) first")

    def train_step(self, x, y) -> float:
        """One forward, backward and optimizer update on one batch; returns the batch loss. An
        empty or non-finite batch is refused before anything changes."""
        self._require_compiled()
        x, y = np.asarray(x), np.asarray(y)
        _check_batch(x, y, "train_step")
        return self._train_step(x, y)

    def _relu_pools(self) -> list:
        """The (convolution, max-pool) pairs whose ReLU a training step moves behind the pool
        (``scratchnet.fusion``): here, a pool right after its convolution."""
        layers = self.layers
        return fusion.relu_pool_pairs(layers, {b.name: (a.name,) for a, b in zip(layers, layers[1:])})

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        with fusion.relu_after_pool(self._relu_pools()):  # the same numbers, fewer passes
            out = self.forward(x, training=True)
        self.outputs = type(self.outputs)()  # a fused convolution's output is its pre-activation: none kept
        value = self.loss.forward(y, out)
        self.backward(self.loss.backward(), input_grad=False)
        params, grads = {}, {}
        for layer in self.layers:
            for name, p in layer.params.items():
                key = f"{layer.name}/{name}"
                params[key], grads[key] = p, layer.grads[name]
        self.optimizer.apply(params, grads)
        return float(value)

    def fit(self, x, y, epochs: int = 1, batch_size: int | None = 32, rng: np.random.Generator | None = None,
            shuffle: bool = True, verbose: bool = True) -> dict[str, list[float]]:
        """Mini-batch training. Each epoch visits every row once, in an order drawn from ``rng``
        when ``shuffle``; returns ``{"loss": [mean batch loss per epoch], "time": [seconds in all]}``."""
        self._require_compiled()
        x, y = np.asarray(x), np.asarray(y)
        _check_batch(x, y, "fit")
        n = len(x)
        epochs = _count(epochs, "fit: epochs", low=0)
        batch_size = n if batch_size is None else _count(batch_size, "fit: batch_size")
        rng = rng if rng is not None else np.random.default_rng(0)
        history: dict[str, list[float]] = {"loss": []}
        start = time.perf_counter()
        progress = _progress(epochs, verbose)
        for _ in progress:
            order = rng.permutation(n) if shuffle else np.arange(n)
            batch_losses = []
            for lo in range(0, n, batch_size):
                idx = order[lo:lo + batch_size]
                batch_losses.append(self._train_step(x[idx], y[idx]))  # checked as a whole above
            history["loss"].append(float(np.mean(batch_losses)))
            if hasattr(progress, "set_postfix"):
                progress.set_postfix(loss=f"{history['loss'][-1]:.4g}")
        history["time"] = [time.perf_counter() - start]
        return history

    def predict(self, x, batch_size: int | None = None) -> np.ndarray:
        x = np.asarray(x)
        if batch_size is None:
            return self.forward(x, training=False).copy()  # the last layer's buffer: hand out a copy
        batch_size = _count(batch_size, "predict: batch_size")
        if len(x) == 0:
            return self.forward(x, training=False).copy()
        return np.concatenate([self.forward(x[i:i + batch_size]).copy()  # each batch reuses the buffers
                               for i in range(0, len(x), batch_size)])

    def evaluate(self, x, y) -> float:
        """The compiled loss on (x, y) in inference mode."""
        self._require_compiled()
        x, y = np.asarray(x), np.asarray(y)
        _check_finite(x, "evaluate: x")
        _check_finite(y, "evaluate: y")
        return float(self.loss.forward(y, self.forward(x, training=False)))


def _check_finite(a: np.ndarray, what: str) -> None:
    """ValueError when the float array ``a`` holds a NaN or an infinity (integers pass)."""
    if a.dtype.kind not in "fc":
        return
    # The sum is finite only when every element is (a NaN or an inf propagates, inf - inf is
    # NaN), so one reduction without a temporary decides the common case; a non-finite sum is
    # either a bad element or an overflow of large finite ones, told apart by the full check.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(a, axis=None)
    if np.isfinite(total) or np.isfinite(a).all():
        return
    bad = np.flatnonzero(~np.isfinite(a))
    raise ValueError(f"{what}: expected finite values, got {bad.size} NaN or infinite (first at flat index "
                     f"{int(bad[0])}: {a.reshape(-1)[bad[0]]})")


def _check_batch(x: np.ndarray, y: np.ndarray, where: str) -> None:
    """A training batch: rows in x and y alike, at least one, every float value finite."""
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where}: expected x and y with a batch axis, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{where}: x has {len(x)} rows but y has {len(y)}")
    if len(x) == 0:
        raise ValueError(f"{where}: expected at least one row, got an empty batch (x of shape {x.shape})")
    _check_finite(x, f"{where}: x")
    _check_finite(y, f"{where}: y")


def _count(value, what: str, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or a one-line ValueError naming ``what``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{what}: expected an int >= {low}, got {value!r}")
    return int(value)


def _progress(epochs: int, verbose: bool):
    if not verbose:
        return range(epochs)
    from tqdm.auto import tqdm  # optional dependency: only for the progress bar
    return tqdm(range(epochs), desc="epochs", leave=False)
