"""One training step (forward, loss, backward, optimizer update) per framework, as a closure.

Each ``*_step(case)`` builds its model with the harness's own backend builder, so all three start
from ``prepare(spec)``'s canonical weights and data, and returns ``step() -> float`` (the loss
before the update). Call the builders and the steps inside ``frameworks(dtype)`` (torch's default
dtype and Keras's floatx / dtype policy for the case).

- scratchnet: ``Model.train_step`` (Sequential's: forward, loss, backward without dL/dx of the input,
  ``optimizer.apply`` updating the parameters in place).
- torch (eager): the backend's module walking the case plan; ``zero_grad(set_to_none=True)`` (torch's
  default), forward, ``loss.backward()``, ``optimizer.step()``; the input does not require grad.
- Keras: the Keras layers, loss and optimizer inside one ``tf.function`` (tape, gradients,
  ``apply_gradients``), traced once on the first call with the same input tensors every call (so
  never retraced: ``tracing_count`` says so); the optimizer's slots are built eagerly beforehand.

Every step returns a Python float, so each one has finished when it returns (CPU ops are
synchronous in all three; reading the loss is part of every framework's training loop).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from parity.backends import PreparedCase, keras_backend, scratch, torch_backend
from parity.mappings import LOSSES, OPTIMIZERS

Step = Callable[[], float]


@contextlib.contextmanager
def frameworks(dtype: str):
    """torch's default dtype and Keras's floatx / dtype policy for the case, restored afterwards."""
    with torch_backend.torch_state(dtype), keras_backend.keras_state(dtype):
        yield


def scratch_step(case: PreparedCase) -> Step:
    """scratchnet's own ``train_step`` (training mode; like torch with an input that does
    not require grad, it skips dL/dx of the input)."""
    spec = case.spec
    model = scratch.build_model(case)
    model.compile(LOSSES[spec.loss.type].scratch(spec.loss.params),
                  OPTIMIZERS[spec.optimizer.type].scratch(spec.optimizer.params, "keras"))
    x, y = case.x, case.y

    def step() -> float:
        return model.train_step(x, y)

    step.kept_bytes = lambda: sum(b.nbytes for layer in model.layers for b in getattr(layer, "_buffers", {}).values())
    return step


def torch_step(case: PreparedCase) -> Step:
    import torch

    spec = case.spec
    net, entries = torch_backend.build(case)  # the plan's nn.Module, in training mode as the spec says
    x = torch.from_numpy(np.ascontiguousarray(torch_backend.input_layout(case.x).from_canonical(case.x)))
    out_layout = entries[-1][3]
    y = torch.from_numpy(np.ascontiguousarray(case.y if case.y.dtype.kind in "iu" else out_layout.from_canonical(case.y)))
    loss_fn = LOSSES[spec.loss.type].torch(spec.loss.params, out_layout)
    optimizer = OPTIMIZERS[spec.optimizer.type].torch_step(list(net.parameters()), spec.optimizer.params)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


class KerasStep:
    """The Keras step: ``step()`` runs the ``tf.function``; ``tracing_count`` is how often it was
    traced (1 after any number of calls)."""

    def __init__(self, case: PreparedCase):
        import tensorflow as tf

        spec = case.spec
        layers = keras_backend.build(case)
        variables = [v for _, layer in layers for v in layer.trainable_weights]
        plan, output = case.plan, case.plan.output.name
        loss_fn = LOSSES[spec.loss.type].keras(spec.loss.params, spec.dtype)
        optimizer = OPTIMIZERS[spec.optimizer.type].keras(spec.optimizer.params)
        optimizer.build(variables)
        training = spec.training

        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, keras_backend.apply(plan, layers, x, training)[output])
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return loss

        self._fn = train_step
        self._x, self._y = tf.constant(case.x), tf.constant(case.y)

    def __call__(self) -> float:
        return float(self._fn(self._x, self._y))

    @property
    def tracing_count(self) -> int:
        return self._fn.experimental_get_tracing_count()


def keras_step(case: PreparedCase) -> KerasStep:
    return KerasStep(case)


BUILDERS: dict[str, Callable[[PreparedCase], Step]] = {"scratch": scratch_step, "torch": torch_step, "keras": keras_step}
