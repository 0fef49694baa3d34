"""Keras 3 backend (TensorFlow): the spec as Keras layers, gradients from a ``GradientTape``.

Global state: Keras's floatx and dtype policy are set for the case and restored afterwards
(``set_floatx`` alone does not reach layers once the policy is cached). Layers are called one by
one with ``training=`` so every layer's output is captured; variables are named as canonically
(``kernel``, ``bias``, ``gamma``, ``moving_mean`` ...), so weights load and leave by name.
"""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np

from parity.backends.common import BackendResult, PreparedCase
from parity.mappings import LOSSES, OPTIMIZERS, BuildContext, layer_mapping
from parity.mappings.base import SAME

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def keras_state(dtype: str):
    """Keras's floatx and dtype policy set to ``dtype`` for the case; those, Python's global random
    state (Keras's initialisers seed from it) and TensorFlow's logger level restored afterwards."""
    import keras
    import tensorflow as tf

    logger = tf.get_logger()
    old = (keras.config.floatx(), keras.config.dtype_policy(), random.getstate(), logger.level)
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
    return np.array(v)


def build(case: PreparedCase) -> list:
    """``[(layer key, built Keras layer), ...]`` with weights loaded from ``case.initial``. Call it
    inside ``keras_state(case.spec.dtype)`` (the layers take their dtype from the policy)."""
    spec = case.spec
    in_shape = tuple(spec.input_shape[1:])
    layers = []
    for i, (key, lspec) in enumerate(zip(case.keys, spec.layers)):
        ctx = BuildContext(lspec, in_shape, tuple(case.shapes[i]), SAME, spec.dtype)
        layer = layer_mapping(lspec.type).keras(ctx)
        layer.build((None, *in_shape))
        for var in layer.weights:
            value = case.initial.get(f"{key}/{var.name}")
            if value is None:
                raise AssertionError(f"{key}: Keras variable {var.name!r} has no canonical value")
            if tuple(var.shape) != value.shape:
                raise AssertionError(f"{key}/{var.name}: Keras shape {tuple(var.shape)}, canonical {value.shape}")
            var.assign(value)
        if key in case.masks and hasattr(layer, "set_mask"):
            layer.set_mask(case.masks[key])
        layers.append((key, layer))
        in_shape = tuple(case.shapes[i])
    return layers


def run(case: PreparedCase) -> BackendResult:
    import tensorflow as tf

    spec = case.spec
    with keras_state(spec.dtype):
        layers = build(case)
        x = tf.constant(case.x)
        y = tf.constant(case.y)
        w = {} if case.sample_weight is None else {"sample_weight": tf.constant(case.sample_weight)}
        loss_fn = LOSSES[spec.loss.type].keras(spec.loss.params, spec.dtype, **w)
        variables = [(key, v) for key, layer in layers for v in layer.trainable_weights]
        optimizer = OPTIMIZERS[spec.optimizer.type].keras(spec.optimizer.params) if spec.steps else None
        floating = case.x.dtype.kind == "f"

        result = None
        for step in range(max(spec.steps, 1)):
            with tf.GradientTape() as tape:
                if floating:
                    tape.watch(x)
                h, outs = x, {}
                for key, layer in layers:
                    h = layer(h, training=spec.training)
                    outs[key] = np.array(h)
                loss = loss_fn(y, h)
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
                optimizer.apply_gradients([(g, v) for g, (_, v) in zip(grads, variables) if g is not None])
                result.steps.append({f"{key}/{v.name}": np.array(v) for key, layer in layers for v in layer.weights})
        h = x
        for _, layer in layers:
            h = layer(h, training=False)
        result.final_output = np.array(h)
    return result
