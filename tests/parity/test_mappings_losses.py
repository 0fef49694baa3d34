"""parity.mappings.losses: every Keras loss is the loss of the tensor it is given.

Keras's cross-entropies take a shortcut when ``y_pred`` came from a Keras softmax or sigmoid: they
use the activation's input (the ``_keras_logits`` attribute in eager mode, the ``Softmax`` /
``Sigmoid`` op's input inside a ``tf.function``) and switch to ``from_logits=True``. The harness
hands every Keras loss ``_without_keras_logits(y_pred)`` so that the loss is that of the output
values, as torch and scratchnet compute it. Each check compares the Keras loss of a marked
activation output with the same loss of an unmarked constant holding the same values.
"""
from __future__ import annotations

import numpy as np
import pytest

from parity.mappings import losses as L

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

SHAPE = (4, 3)

# (loss type, params, activation whose output is y_pred)
CASES = [
    ("categorical_crossentropy", {"from_logits": True}, "softmax"),
    ("categorical_crossentropy", {"from_logits": False}, "softmax"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "softmax"),
    ("sparse_categorical_crossentropy", {"from_logits": False}, "softmax"),
    ("binary_crossentropy", {"from_logits": False}, "softmax"),
    ("binary_crossentropy", {"from_logits": False}, "sigmoid"),
    ("binary_crossentropy", {"from_logits": True}, "sigmoid"),
    ("mean_squared_error", {}, "softmax"),
    ("huber", {"delta": 1.0}, "sigmoid"),
    ("sum_squared_error", {}, "sigmoid"),
]
IDS = [f"{t}-{'logits' if p.get('from_logits') else 'probs'}-{a}" for t, p, a in CASES]

# the cases where Keras's shortcut changes the value by more than rounding (with these inputs)
SHORTCUT_BITES = {"categorical_crossentropy-logits-softmax", "sparse_categorical_crossentropy-logits-softmax",
                  "binary_crossentropy-probs-softmax", "binary_crossentropy-logits-sigmoid"}


def _inputs(loss_type, dtype):
    rng = np.random.default_rng(7)
    z = (2.0 * rng.standard_normal(SHAPE)).astype(dtype)
    y = L.MAPPINGS[loss_type].targets(rng, SHAPE, dtype)
    return tf.constant(z), tf.constant(y)


def _activation(name):
    return getattr(keras.activations, name)


def _eager(loss_type, params, act, dtype):
    """(loss of the marked activation output, loss of an unmarked copy of its values), eagerly."""
    z, y = _inputs(loss_type, dtype)
    fn = L.MAPPINGS[loss_type].keras(params, dtype)
    marked = _activation(act)(z)
    assert hasattr(marked, "_keras_logits")  # the marker exists: the check below means something
    plain = tf.constant(np.array(marked))
    return float(fn(y, marked)), float(fn(y, plain))


def _graph(loss_type, params, act, dtype):
    """The same inside a ``tf.function`` (as parity.bench.steps runs the Keras step)."""
    z, y = _inputs(loss_type, dtype)
    fn = L.MAPPINGS[loss_type].keras(params, dtype)

    @tf.function
    def marked_loss(z, y):
        return fn(y, _activation(act)(z))

    plain = tf.constant(np.array(_activation(act)(z)))
    return float(marked_loss(z, y)), float(fn(y, plain))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("run", [_eager, _graph], ids=["eager", "tf.function"])
@pytest.mark.parametrize("loss_type, params, act", CASES, ids=IDS)
def test_keras_loss_is_the_loss_of_the_output_values(loss_type, params, act, run, dtype):
    marked, plain = run(loss_type, params, act, dtype)
    assert marked == pytest.approx(plain, rel=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.filterwarnings("ignore:.*does not represent logits")  # the shortcut this control provokes
@pytest.mark.parametrize("run", [_eager, _graph], ids=["eager", "tf.function"])
@pytest.mark.parametrize("loss_type, params, act", [c for c, i in zip(CASES, IDS) if i in SHORTCUT_BITES],
                         ids=[i for i in IDS if i in SHORTCUT_BITES])
def test_without_the_identity_keras_takes_the_logits_shortcut(monkeypatch, loss_type, params, act, run):
    """The control: with ``_without_keras_logits`` made a no-op, Keras's loss of the marked
    output is not the loss of its values (so the test above can fail)."""
    monkeypatch.setattr(L, "_without_keras_logits", lambda t: t)
    marked, plain = run(loss_type, params, act, "float64")
    assert abs(marked - plain) > 1e-3 * abs(plain)


def test_the_identity_keeps_values_and_gradient():
    z = tf.constant(np.linspace(-2.0, 2.0, 6).reshape(2, 3))
    with tf.GradientTape() as tape:
        tape.watch(z)
        p = keras.activations.softmax(z)
        q = L._without_keras_logits(p)
        s = tf.reduce_sum(q * tf.constant([[1.0, 2.0, 3.0]], dtype=z.dtype))
    assert q is not p and not hasattr(q, "_keras_logits")
    np.testing.assert_array_equal(np.array(q), np.array(p))
    with tf.GradientTape() as tape2:
        tape2.watch(z)
        s2 = tf.reduce_sum(keras.activations.softmax(z) * tf.constant([[1.0, 2.0, 3.0]], dtype=z.dtype))
    np.testing.assert_array_equal(np.array(tape.gradient(s, z)), np.array(tape2.gradient(s2, z)))
