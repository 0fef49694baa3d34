"""Known framework defects: bugs of a framework version, each named, with the condition that
triggers it, the counterfactual that demonstrates it (the framework rerun without the defect
agrees strictly), a standalone repro script, and the blame (rule ``defect`` of
``parity.compare.RULES``). A row is called ``defect`` only when its defect's trigger holds for the
case AND the counterfactual rerun agrees strictly on that row; otherwise it fails as usual.

KERAS_SPARSE_DUPLICATES (measured with Keras 3.15, TensorFlow 2.21). An Embedding's gradient is a
``tf.IndexedSlices`` with one slice per occurrence of an id. Keras 3 optimizers apply it slice by
slice before the duplicates of an id are summed, so an update that is not linear in the gradient
moves a repeated id's row wrong: Adam's v gets sum_i g_i^2 instead of (sum_i g_i)^2. One id used
twice, lr 0.1, the row moves (sparse vs the same gradient made dense with tf.convert_to_tensor):

    adam, adamw, nadam, rmsprop, adadelta   x1.414 (sqrt 2) too far
    rmsprop(centered=True)                  x1.5
    adagrad                                 x1.397
    adamax                                  differs with gradients of mixed sign
    clipnorm 0.5 / global_clipnorm 0.5      -0.0707 instead of -0.0500 (even on SGD)
    clipvalue                               each slice clipped before the sum
    sgd, sgd with momentum, lion            unaffected (linear in g, or sign of the summed m)

TF's legacy optimizers summed duplicates first (``_resource_apply_sparse_duplicate_indices``).

KERAS_SPARSE_DIVIDE_CRASH (measured with Keras 3.15, TensorFlow 2.21). Dividing an IndexedSlices
by a dense tensor that holds a zero (Keras's TF ``sparse_wrapper`` of ``divide``) re-gathers the
slices over the union of their ids and the zero rows; the gather table is built with
``tf.scatter_nd``, which sums a repeated id's positions, so the gather reads past the slices and
raises ``InvalidArgumentError: GatherV2 indices[i] = n is not in [0, m)``. The optimizers that
divide the sparse gradient by an accumulator meet a zero when epsilon is 0 and some row of the
embedding is not in the batch (its accumulator is still 0): one id used twice in [[1, 3, 1]] of 5
rows, float32 and float64 alike (``CRASHING_OPTIMIZERS``); with distinct ids the same runs finish
(the untouched rows become 0/0 = NaN, as the dense update makes them). A NaN in the dense tensor
takes the same path: centered RMSprop's denominator v - a^2 + epsilon, which the dense update
keeps >= epsilon, goes negative when n slices of one id of the same sign add n (1 - rho) g^2 to v
and (n (1 - rho) g)^2 to a^2, that is when n (1 - rho) > 1 (id 1 three times, rho 0.5, at the
default epsilon: raises; rho 0.9: runs).
``AFFECTED_OPTIMIZERS`` and ``AFFECTED_OPTIONS`` are the measured tables: an optimizer or option
that lands later is measured (``repro_script``) and added here, never assumed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

# optimizer type -> measured effect on a row whose id occurs twice (Keras 3.15): the row's move with
# the IndexedSlices gradient / with the same gradient densified, same-sign and mixed-sign slices
# (tests/parity/test_keras_sparse_duplicates.py re-measures them)
AFFECTED_OPTIMIZERS: dict[str, str] = {
    "adam": "x1.414", "adamw": "x1.414", "rmsprop": "x1.414 (x1.5 centered)", "adagrad": "x1.397",
    "nadam": "x1.414 (same sign), x0.632 / x1.213 / x0.447 (mixed signs)",
    "adadelta": "x1.414 (same sign), x0.632 / x1.213 / x0.447 (mixed signs)",
    "adamax": "x1.0 with same signs, x0.5 / x1.0 / x0.333 with mixed signs",
}
UNAFFECTED_OPTIMIZERS: dict[str, str] = {"sgd": "x1.0 (sums before it applies)", "lion": "x1.0 same and mixed signs"}
# optimizer field -> measured effect, on any optimizer (Keras 3.15)
AFFECTED_OPTIONS: dict[str, str] = {
    "clipnorm": "each slice clipped to the norm: x1.414 at 0.5 (same sign), x0.764 (mixed) on SGD",
    "global_clipnorm": "the norm taken over the slices: x1.414 at 0.5 (same sign), x0.764 (mixed) on SGD",
    "clipvalue": "each slice clipped before the sum: x2.0 at 0.5 (same sign) on SGD",
}


def sparse_duplicate_note(name: str) -> str:
    """The atlas's one line on an optimizer or option: affected by KERAS_SPARSE_DUPLICATES or not."""
    table = {**AFFECTED_OPTIMIZERS, **AFFECTED_OPTIONS}
    if name in table:
        return f"Keras sparse duplicate ids (measured, Keras 3.15): affected, {table[name]}"
    return f"Keras sparse duplicate ids (measured, Keras 3.15): unaffected, {UNAFFECTED_OPTIMIZERS[name]}"


# optimizer type -> the condition under which it divides the sparse gradient by a zero (Keras 3.15):
# measured raising with epsilon 0 and a repeated id (tests/parity/test_keras_sparse_duplicates.py)
CRASHING_OPTIMIZERS: dict[str, Callable[[dict], bool]] = {
    "adadelta": lambda p: p["epsilon"] == 0,
    "rmsprop": lambda p: p["epsilon"] == 0 or p["centered"],  # epsilon 0: plain, momentum and centered alike
    "adagrad": lambda p: p["epsilon"] == 0 and p["initial_accumulator_value"] == 0,
}
# measured finishing under epsilon 0 and a repeated id: adam, adamw, nadam, adamax (they divide a dense
# moment), adagrad with initial_accumulator_value > 0, sgd, lion

KERAS_VERSIONS = ((3, 0), (3, 15))  # measured on 3.15; Keras 3 has applied sparse slices so since 3.0


@dataclass(frozen=True)
class KnownDefect:
    name: str
    framework: str  # the backend blamed
    versions: str  # the version range it is registered for
    summary: str
    trigger: Callable[[object], str | None]  # PreparedCase -> why it applies to this case, or None
    counterfactual: str  # what the rerun without the defect changes
    rerun_options: dict  # keyword arguments of the framework's backend ``run`` that remove the defect
    repro: Callable[[object], str]  # PreparedCase -> a standalone Python script
    crash: str | None = None  # a regex the framework's "ExceptionType: message" matches when the defect raises


def _keras_version() -> tuple[int, int]:
    import keras

    major, minor = (int(v) for v in keras.__version__.split(".")[:2])
    return major, minor


def _embedding_inputs(case) -> bool:
    return bool(case.spec.layers) and case.spec.layers[0].type == "embedding"


def _repeated_ids(case) -> int:
    """How many ids occur more than once in the batch (0: no duplicate slices)."""
    ids, counts = np.unique(np.asarray(case.x).ravel(), return_counts=True)
    return int(np.sum(counts > 1))


def _sparse_trigger(case) -> str | None:
    spec = case.spec
    if not spec.steps or not _embedding_inputs(case) or not _repeated_ids(case):
        return None
    lo, hi = KERAS_VERSIONS
    if not lo <= _keras_version() <= hi:
        return None
    p = spec.optimizer.params
    causes = []
    if spec.optimizer.type in AFFECTED_OPTIMIZERS:
        causes.append(f"{spec.optimizer.type} ({AFFECTED_OPTIMIZERS[spec.optimizer.type]})")
    causes += [f"{k}={p[k]} ({AFFECTED_OPTIONS[k]})" for k in AFFECTED_OPTIONS if p.get(k)]
    if not causes:
        return None
    return (f"{_repeated_ids(case)} token ids occur more than once in the batch, and Keras applies the embedding's "
            f"IndexedSlices gradient slice by slice before summing duplicates under {', '.join(causes)}")


def repro_script(case=None, optimizer: str = "Adam", kwargs: str = "learning_rate=0.1") -> str:
    """A standalone script: one id used twice, the sparse gradient against the same gradient
    made dense; prints both updates of the repeated row and whether they agree."""
    return f'''"""Keras applies an Embedding's IndexedSlices gradient slice by slice before duplicate ids are
summed: for an update that is not linear in the gradient, a repeated id's row moves wrong.
Run: python this_file.py  (prints the sparse and the dense update of the repeated row)."""
import os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np
import keras
import tensorflow as tf

print("keras", keras.__version__, "tensorflow", tf.__version__)
rows = {{}}
for mode in ("sparse", "dense"):
    emb = keras.layers.Embedding(3, 2)
    emb.build((None, 2))
    emb.embeddings.assign(np.zeros((3, 2), "float32"))
    opt = keras.optimizers.{optimizer}({kwargs})
    ids = tf.constant([[1, 1]])  # id 1 used twice
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(emb(ids))  # d loss / d row 1 = 2 (two occurrences of 1)
    (grad,) = tape.gradient(loss, emb.trainable_variables)
    if mode == "dense":
        grad = tf.convert_to_tensor(grad)  # duplicates summed first
    opt.apply_gradients([(grad, emb.embeddings)])
    rows[mode] = np.array(emb.embeddings)[1]
    print(mode, "update of row 1:", rows[mode])
print("agree:", bool(np.allclose(rows["sparse"], rows["dense"])))
'''


def _case_repro(case) -> str:
    from parity.mappings.optimizers import MAPPINGS  # noqa: F401 (the optimizer's Keras name below)

    spec = case.spec
    names = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad", "nadam": "Nadam",
             "adamax": "Adamax", "adadelta": "Adadelta", "sgd": "SGD", "lion": "Lion"}
    p = spec.optimizer.params
    kwargs = ", ".join(f"{k}={p[k]!r}" for k in ("learning_rate", *AFFECTED_OPTIONS) if p.get(k) is not None)
    return repro_script(case, names.get(spec.optimizer.type, "Adam"), kwargs or "learning_rate=0.1")


KERAS_SPARSE_DUPLICATES = KnownDefect(
    name="keras-sparse-duplicate-ids",
    framework="keras",
    versions="keras 3.0-3.15 (measured on 3.15.0 with TensorFlow 2.21)",
    summary=("Keras applies an Embedding's IndexedSlices gradient slice by slice before duplicate ids are summed, "
             "so a non-linear update (Adam's v gets sum g_i^2, not (sum g_i)^2) or clipping moves a repeated id's "
             "row wrong"),
    trigger=_sparse_trigger,
    counterfactual="Keras rerun with every gradient made dense (tf.convert_to_tensor sums the duplicates first)",
    rerun_options={"densify": True},
    repro=_case_repro,
)

def _crash_trigger(case) -> str | None:
    spec = case.spec
    if not spec.steps or not _embedding_inputs(case) or not _repeated_ids(case):
        return None
    lo, hi = KERAS_VERSIONS
    crashes = CRASHING_OPTIMIZERS.get(spec.optimizer.type)
    if not lo <= _keras_version() <= hi or crashes is None or not crashes(spec.optimizer.params):
        return None
    holds = ("NaN (the centered v - a^2 + epsilon, negative when a repeated id's slices are applied one by one)"
             if spec.optimizer.params.get("centered") and spec.optimizer.params["epsilon"] else "zeros (epsilon 0)")
    return (f"{_repeated_ids(case)} token ids occur more than once in the batch, and {spec.optimizer.type} divides "
            f"the embedding's IndexedSlices gradient by an accumulator holding {holds}: Keras's sparse divide gathers "
            "the slices through a tf.scatter_nd table that sums a repeated id's positions")


def _crash_repro(case) -> str:
    spec = case.spec
    names = {"adadelta": "Adadelta", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
    kwargs = "learning_rate=0.1, epsilon=0.0" + (", initial_accumulator_value=0.0" if spec.optimizer.type == "adagrad" else "")
    return f'''"""Keras's sparse divide (an IndexedSlices gradient over a dense accumulator that holds a zero)
raises when an id repeats: the union-of-indices gather reads past the slices.
Run: python this_file.py  (the sparse update raises; the same gradient made dense runs)."""
import os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
import tensorflow as tf

print("keras", keras.__version__, "tensorflow", tf.__version__)
for mode in ("sparse", "dense"):
    emb = keras.layers.Embedding(5, 2)
    emb.build((None, 3))
    opt = keras.optimizers.{names[spec.optimizer.type]}({kwargs})
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(emb(tf.constant([[1, 3, 1]])))  # id 1 used twice; rows 0, 2, 4 untouched
    (grad,) = tape.gradient(loss, emb.trainable_variables)
    if mode == "dense":
        grad = tf.convert_to_tensor(grad)
    try:
        opt.apply_gradients([(grad, emb.embeddings)])
        print(mode, "ran")
    except Exception as exc:
        print(mode, "raised", type(exc).__name__, str(exc).splitlines()[0][:120])
'''


KERAS_SPARSE_DIVIDE_CRASH = KnownDefect(
    name="keras-sparse-divide-crash",
    framework="keras",
    versions="keras 3.0-3.15 (measured on 3.15.0 with TensorFlow 2.21)",
    summary=("Keras's sparse divide of an Embedding's IndexedSlices gradient by an accumulator holding zeros "
             "(epsilon 0) or NaN (centered RMSprop) raises InvalidArgumentError when an id repeats in the batch"),
    trigger=_crash_trigger,
    counterfactual="Keras rerun with every gradient made dense (tf.convert_to_tensor sums the duplicates first)",
    rerun_options={"densify": True},
    repro=_crash_repro,
    crash=r"InvalidArgumentError: .*GatherV2.* is not in \[0, ",
)

DEFECTS: tuple[KnownDefect, ...] = (KERAS_SPARSE_DUPLICATES, KERAS_SPARSE_DIVIDE_CRASH)


def crash_defect(case, framework: str, exc: BaseException) -> tuple[KnownDefect, str] | None:
    """The registered defect of ``framework`` that explains ``exc`` raised by its run of ``case``:
    its trigger holds and the error matches its ``crash`` pattern; None otherwise."""
    text = f"{type(exc).__name__}: {exc}"
    for defect, why in triggered(case):
        if defect.framework == framework and defect.crash and re.search(defect.crash, text, re.S):
            return defect, why
    return None


def triggered(case) -> list[tuple[KnownDefect, str]]:
    """The registered defects whose trigger holds for ``case``, with the reason."""
    out = []
    for defect in DEFECTS:
        why = defect.trigger(case)
        if why:
            out.append((defect, why))
    return out
