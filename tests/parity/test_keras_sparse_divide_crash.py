"""The Keras 3 crash of a sparse divide by zeros (``parity.mappings.defects.KERAS_SPARSE_DIVIDE_CRASH``):
re-measured on the installed Keras (which optimizers raise with epsilon 0 and a repeated id), and
the harness's handling: a crash the registered defect explains is a ``defect`` row blamed on Keras,
every Keras row comes from the rerun without the defect, and any other crash is still an error."""
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from parity.mappings import defects  # noqa: E402


def raises(make, ids) -> bool:
    import keras
    import tensorflow as tf

    emb = keras.layers.Embedding(5, 2, dtype="float64")
    emb.build((None, len(ids[0])))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(emb(tf.constant(ids)))
    (grad,) = tape.gradient(loss, emb.trainable_variables)
    try:
        make().apply_gradients([(grad, emb.embeddings)])
    except tf.errors.InvalidArgumentError:
        return True
    return False


# (optimizer type, the spec's params that matter, Keras constructor keywords)
MEASURED = [
    ("adadelta", {"epsilon": 0.0}, {"epsilon": 0.0}),
    ("adadelta", {"epsilon": 1e-7}, {"epsilon": 1e-7}),
    ("rmsprop", {"epsilon": 0.0}, {"epsilon": 0.0}),
    ("rmsprop", {"epsilon": 0.0}, {"epsilon": 0.0, "momentum": 0.5}),
    ("rmsprop", {"epsilon": 0.0, "centered": True}, {"epsilon": 0.0, "centered": True}),
    ("adagrad", {"epsilon": 0.0, "initial_accumulator_value": 0.0}, {"epsilon": 0.0, "initial_accumulator_value": 0.0}),
    ("adagrad", {"epsilon": 0.0, "initial_accumulator_value": 0.1}, {"epsilon": 0.0, "initial_accumulator_value": 0.1}),
    ("adam", {"epsilon": 0.0}, {"epsilon": 0.0}),
    ("adamax", {"epsilon": 0.0}, {"epsilon": 0.0}),
    ("nadam", {"epsilon": 0.0}, {"epsilon": 0.0}),
]
KERAS_NAMES = {"adadelta": "Adadelta", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam",
               "adamax": "Adamax", "nadam": "Nadam"}


@pytest.mark.parametrize("kind, params, kw", MEASURED)
def test_the_crashing_table_is_what_keras_does(kind, params, kw):
    import keras

    make = lambda: getattr(keras.optimizers, KERAS_NAMES[kind])(learning_rate=0.1, **kw)  # noqa: E731
    predicted = kind in defects.CRASHING_OPTIMIZERS and defects.CRASHING_OPTIMIZERS[kind]({"centered": False, **params})
    assert raises(make, [[1, 3, 1]]) == predicted  # id 1 twice, rows 0, 2, 4 untouched
    assert not raises(make, [[1, 3, 4]])  # distinct ids: the same update runs


@pytest.mark.parametrize("rho, ids, crashes", [(0.5, [[1, 1, 1, 2]], True), (0.9, [[1, 1, 1, 2]], False),
                                                (0.9, [[1] * 12], True), (0.5, [[1, 2, 3]], False)])
def test_centered_rmsprop_crashes_when_a_repeated_id_makes_its_denominator_negative(rho, ids, crashes):
    """n same-sign slices of one id: v - a^2 = n (1 - rho) g^2 - (n (1 - rho) g)^2 < 0 when
    n (1 - rho) > 1, at the default epsilon; the trigger names every centered RMSprop."""
    import keras

    make = lambda: keras.optimizers.RMSprop(learning_rate=0.1, rho=rho, centered=True)  # noqa: E731
    assert raises(make, ids) == crashes
    assert defects.CRASHING_OPTIMIZERS["rmsprop"]({"epsilon": 1e-7, "centered": True})


def spec(optimizer: dict, dtype="float32"):
    from parity.spec import parse_spec

    return parse_spec({
        "name": "emb-crash", "seed": 3, "dtype": dtype, "input_shape": [4, 3],
        "input": {"kind": "integers", "high": 4},  # 12 ids of 0..3 in 7 rows: repeats, and rows no id touches
        "layers": [{"type": "embedding", "name": "emb", "input_dim": 7, "output_dim": 2},
                   {"type": "flatten", "name": "flat"}, {"type": "dense", "name": "out", "units": 5}],
        "loss": {"type": "mean_squared_error"}, "optimizer": optimizer, "steps": 2})


def test_a_crash_the_defect_explains_is_a_defect_row_blamed_on_keras(tmp_path):
    from parity.report import writers
    from parity.run import run_case

    res = run_case(spec({"type": "rmsprop", "learning_rate": 0.01, "epsilon": 0.0}))
    assert "keras" in res.crashes and res.crashes["keras"][0] is defects.KERAS_SPARSE_DIVIDE_CRASH
    crash = [r for r in res.rows if r["quantity"] == "run"]
    assert [(r["backend_a"], r["backend_b"]) for r in crash] == [("scratch", "keras"), ("torch", "keras")]
    assert all(r["status"] == "defect" and r["odd_one_out"] == "keras" and "GatherV2" in r["note"] for r in crash)
    # every other row is judged as usual: with epsilon 0 the rows no id touched are 0/0 in all three
    assert res.verdict in ("defect", "diverged")
    written = writers.write_repros([res], tmp_path)
    assert tmp_path / "repro" / "keras-sparse-divide-crash.py" in written


def test_the_rows_after_a_known_crash_still_catch_a_keras_bug():
    """The rerun without the defect is compared like any run: a Keras kernel off by 1e-3 fails its
    rows, blamed on Keras (epsilon 0 makes the untouched rows 0/0 at step 1 in all three, so the
    rows before the step are the ones left to catch it)."""
    from parity.run import Variant, prepare, run_case

    s = spec({"type": "adadelta", "learning_rate": 0.5, "epsilon": 0.0})
    initial = {k: v.copy() for k, v in prepare(s).initial.items()}
    initial["out/kernel"][1, 2] += 1e-3
    res = run_case(s, variants={"keras": Variant(initial=initial)})
    assert "keras" in res.crashes
    failing = [r for r in res.rows if r["status"] == "fail"]
    assert failing and all("keras" in (r["backend_a"], r["backend_b"]) for r in failing)
    assert {r["odd_one_out"] for r in failing if r["quantity"] == "output"} == {"keras"}
    assert res.verdict == "fail"


def test_a_crash_the_defect_does_not_explain_is_still_an_error(monkeypatch):
    """The same error where the trigger does not hold (distinct ids cannot crash this way), and
    another error where it holds: both propagate as the case's error."""
    import tensorflow as tf

    from parity.backends import keras_backend
    from parity.run import run_case

    def crash(message):
        def run(case, **options):
            raise tf.errors.InvalidArgumentError(None, None, message)
        return run

    s = spec({"type": "rmsprop", "learning_rate": 0.01, "epsilon": 0.0})
    monkeypatch.setattr(keras_backend, "run", crash("some other failure"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="some other failure"):
        run_case(s)
    monkeypatch.setattr(keras_backend, "run", crash("indices[0] = 9 is not in [0, 4) [Op:GatherV2]"))
    with pytest.raises(tf.errors.InvalidArgumentError):  # epsilon 1e-7: the trigger does not hold
        run_case(spec({"type": "rmsprop", "learning_rate": 0.01, "epsilon": 1e-7}))


def test_the_defect_rerun_is_what_makes_the_rows(monkeypatch):
    """A Keras whose densified rerun crashes too is an error, not a defect: the rerun must run."""
    import tensorflow as tf

    from parity.backends import keras_backend
    from parity.run import run_case

    def run(case, **options):
        raise tf.errors.InvalidArgumentError(None, None, "indices[1] = 4 is not in [0, 4) [Op:GatherV2]")

    monkeypatch.setattr(keras_backend, "run", run)
    with pytest.raises(tf.errors.InvalidArgumentError):
        run_case(spec({"type": "rmsprop", "learning_rate": 0.01, "epsilon": 0.0}))
