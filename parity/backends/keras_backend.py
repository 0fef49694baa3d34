"""Keras 3 backend (TensorFlow): the spec as Keras layers, gradients from a ``GradientTape``.

Global state: Keras's floatx and dtype policy are set for the case and restored afterwards
(``set_floatx`` alone does not reach layers once the policy is cached). Layers are called one by
one in plan order (``apply``), each on the tensors its plan names, with ``training=``, so every
layer's output is captured; variables are named as canonically
(``kernel``, ``bias``, ``gamma``, ``moving_mean`` ...), so weights load and leave by name.
"""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np

from parity import hooks as backend_hooks
from parity.backends.common import BackendResult, PreparedCase
from parity.mappings import LOSSES, OPTIMIZERS, BuildContext, layer_mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def keras_state(dtype: str):
    """Keras's floatx and dtype policy set to ``dtype`` for the case; those, Python's global random
    state (Keras's initialisers seed from it, and TensorFlow's first import draws from it) and
    TensorFlow's logger level restored afterwards."""
    state = random.getstate()
    import keras
    import tensorflow as tf

    logger = tf.get_logger()
    old = (keras.config.floatx(), keras.config.dtype_policy(), state, logger.level)
    logger.setLevel("ERROR")  # retracing notices from Keras's conv wrappers, not our concern
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield keras
    finally:
        keras.config.set_floatx(old[0])
        keras.config.set_dtype_policy(old[1])
        random.setstate(old[2])
        logger.setLevel(old[3])


def _dense(v) -> np.ndarray:
    import tensorflow as tf

    if isinstance(v, tf.IndexedSlices):  # Embedding's gradient
        v = tf.convert_to_tensor(v)
    return _numpy(v)


def _numpy(v) -> np.ndarray:
    """A tensor's or a Keras variable's values as a fresh numpy array (``np.array(variable)`` goes
    through ``__array__`` without its ``copy`` keyword: a NumPy 2 DeprecationWarning)."""
    return np.array(v.numpy() if hasattr(v, "numpy") else v, copy=True)


def build(case: PreparedCase) -> list:
    """``[(layer name, built Keras layer), ...]`` in plan order, weights loaded from
    ``case.initial``. Call it inside ``keras_state(case.spec.dtype)`` (the layers take their dtype
    from the policy)."""
    spec = case.spec
    layers = []
    for node in case.plan:
        key = node.name
        ctx = BuildContext.of(node, spec.dtype)
        layer = layer_mapping(node.type).keras(ctx)
        shapes = [(None, *s) for s in node.in_shapes]
        layer.build(shapes if _takes_list(node) else shapes[0])
        if key in case.masks and hasattr(layer, "set_mask"):
            layer.set_mask(case.masks[key])
        layers.append((key, layer))
    load(layers, case.initial)
    return layers


def _takes_list(node) -> bool:
    return layer_mapping(node.type).arity[1] != 1


def apply(plan, layers, x, training: bool, stop_gradient: frozenset = frozenset()) -> dict:
    """Every layer's output by name: the Keras layers called in plan order, each on the tensors
    its plan names (a list for a merge), as the functional API would wire them. ``stop_gradient``:
    ``(layer name, input index)`` edges read through ``tf.stop_gradient`` (``parity.hooks``)."""
    import tensorflow as tf

    values = {"input": x}
    for node, (key, layer) in zip(plan, layers):
        args = [tf.stop_gradient(values[n]) if (key, i) in stop_gradient else values[n]
                for i, n in enumerate(node.inputs)]
        values[key] = layer(args if _takes_list(node) else args[0], training=training)
    del values["input"]
    return values


def load(layers, weights: dict[str, np.ndarray]) -> None:
    """Assign canonical ``weights`` (params and state) to the Keras variables by name, shape-asserted."""
    for key, layer in layers:
        for var in layer.weights:
            value = weights.get(f"{key}/{var.name}")
            if value is None:
                raise AssertionError(f"{key}: Keras variable {var.name!r} has no canonical value")
            if tuple(var.shape) != value.shape:
                raise AssertionError(f"{key}/{var.name}: Keras shape {tuple(var.shape)}, canonical {value.shape}")
            var.assign(value)


class HookedOptimizer:
    """Hook ``optimizer`` of ``parity.hooks``: a scratchnet-API optimizer stepping the Keras
    variables (their values updated in numpy, assigned back), in ``apply_gradients``'s interface."""

    def __init__(self, optimizer, names: dict):
        self.optimizer, self.names = optimizer, names  # id(variable) -> canonical key

    def apply_gradients(self, pairs) -> None:
        pairs = list(pairs)
        params = {self.names[id(v)]: _numpy(v) for _, v in pairs}
        self.optimizer.apply(params, {self.names[id(v)]: _dense(g) for g, v in pairs})
        for _, v in pairs:
            v.assign(params[self.names[id(v)]])


def run(case: PreparedCase, sync: list[dict[str, np.ndarray]] | None = None,
        densify: bool = False, hooks=None) -> BackendResult:
    """The case in Keras. ``sync``: as in ``torch_backend.run`` (reference weights loaded before
    each step t >= 2; the optimizer keeps its own state). ``densify``: hand the optimizer every
    gradient as a dense tensor (``tf.convert_to_tensor`` of an Embedding's ``IndexedSlices``, which
    sums repeated ids first): the counterfactual of ``parity.mappings.defects``. ``hooks``:
    code-level changes (``parity.hooks``)."""
    spec = case.spec
    factory, stopped = backend_hooks.optimizer_factory(hooks), backend_hooks.stopped(hooks)
    with keras_state(spec.dtype):  # before TensorFlow's first import, which draws from Python's random
        import tensorflow as tf

        layers = build(case)
        x = tf.constant(case.x)
        y = tf.constant(case.y)
        w = {} if case.sample_weight is None else {"sample_weight": tf.constant(case.sample_weight)}
        loss_fn = LOSSES[spec.loss.type].keras(spec.loss.params, spec.dtype, **w)
        variables = [(key, v) for key, layer in layers for v in layer.trainable_weights]
        optimizer = (None if not spec.steps else
                     HookedOptimizer(factory("keras"), {id(v): f"{key}/{v.name}" for key, v in variables})
                     if factory is not None else OPTIMIZERS[spec.optimizer.type].keras(spec.optimizer.params))
        floating = case.x.dtype.kind == "f"

        result = None
        for step in range(max(spec.steps, 1)):
            if sync is not None and step >= 1:
                load(layers, sync[step - 1])
            with tf.GradientTape() as tape:
                if floating:
                    tape.watch(x)
                values = apply(case.plan, layers, x, spec.training, stopped)
                outs = {key: _numpy(v) for key, v in values.items()}
                loss = loss_fn(y, values[case.plan.output.name])
            targets = [v for _, v in variables] + ([x] if floating else [])
            grads = tape.gradient(loss, targets)
            if result is None:
                result = BackendResult(
                    "keras", outputs=outs, loss=float(loss),
                    grads={f"{key}/{v.name}": (_dense(g) if g is not None else np.zeros(v.shape, spec.dtype))
                           for (key, v), g in zip(variables, grads)},
                    input_grad=_dense(grads[-1]) if floating else None)
            result.losses.append(float(loss))
            if optimizer is not None:
                applied = [tf.convert_to_tensor(g) if densify and isinstance(g, tf.IndexedSlices) else g for g in grads]
                optimizer.apply_gradients([(g, v) for g, (_, v) in zip(applied, variables) if g is not None])
                result.steps.append({f"{key}/{v.name}": _numpy(v) for key, layer in layers for v in layer.weights})
        result.final_output = _numpy(apply(case.plan, layers, x, False)[case.plan.output.name])
    return result
