"""Sequential at its door (issue 11): a float input of the other dtype refused like a single
layer's, NaN and infinity in x or y refused on entry of train_step, fit and evaluate, and an
empty batch refused before any state (Adam's step count, the weights) changes."""
import numpy as np
import pytest

import scratchnet as sn


def model(dtype="float64", **kwargs):
    m = sn.Sequential([sn.Dense(4, activation="tanh"), sn.Dense(2)], **kwargs)
    m.build((3,), dtype, np.random.default_rng(0))
    return m.compile("mean_squared_error", sn.optimizers.get("adam", learning_rate=0.01))


def data(n=5, dtype="float64"):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((n, 2)).astype(dtype)


def state(m):
    return m.optimizer.iterations, m.get_weights()


def assert_unchanged(m, before):
    iterations, weights = state(m)
    assert iterations == before[0]
    assert weights.keys() == before[1].keys()
    for k in weights:
        np.testing.assert_array_equal(weights[k], before[1][k], err_msg=k)


@pytest.mark.parametrize("dtype, other", [("float32", "float64"), ("float64", "float32")])
def test_a_float_input_of_the_other_dtype_is_refused_like_a_layer(dtype, other):
    m = model(dtype)
    x, _ = data(dtype=other)
    with pytest.raises(ValueError, match=f"expected {dtype} input, got {other}") as from_model:
        m.forward(x)
    with pytest.raises(ValueError, match=f"expected {dtype} input, got {other}"):
        m.layers[0].forward(x)  # the same rule as one layer
    assert "cast_input=True" in str(from_model.value)
    cast = model(dtype, cast_input=True)
    assert cast.forward(x).dtype == np.dtype(dtype)
    np.testing.assert_allclose(cast.forward(x), cast.forward(x.astype(dtype)), rtol=0)


@pytest.mark.parametrize("where, bad", [("x", np.nan), ("x", np.inf), ("y", -np.inf), ("y", np.nan)])
def test_non_finite_training_data_is_refused_on_entry(where, bad):
    x, y = data()
    (x if where == "x" else y)[2, 1] = bad
    for call in ("train_step", "fit", "evaluate"):
        m = model()
        before = state(m)
        with pytest.raises(ValueError, match=rf"{call}: {where}: expected finite values, got 1 NaN or infinite "
                                             rf"\(first at flat index {2 * (3 if where == 'x' else 2) + 1}"):
            if call == "fit":
                m.fit(x, y, epochs=1, batch_size=2, verbose=False)
            else:
                getattr(m, call)(x, y)
        assert_unchanged(m, before)


def test_training_that_diverges_is_not_an_error():
    """Values that training makes non-finite are the harness's 'diverged', not bad input."""
    m = sn.Sequential([sn.Dense(2)]).build((3,), "float64", np.random.default_rng(0))
    m.compile("mean_squared_error", sn.optimizers.get("sgd", learning_rate=1e30))
    x, y = data()
    x *= 1e10
    with np.errstate(all="ignore"):
        losses = [m.train_step(x, y) for _ in range(5)]
    assert not np.isfinite(losses[-1])


def test_large_finite_values_whose_sum_overflows_are_accepted():
    m = model()
    x, y = data()
    x[:] = 1e308  # the sum overflows; every value is finite
    with np.errstate(all="ignore"):
        m.evaluate(x, y)


def test_an_empty_batch_is_refused_before_any_state_changes():
    x, y = data()
    for call in ("train_step", "fit"):
        m = model()
        m.train_step(x, y)  # Adam has taken a step
        before = state(m)
        with pytest.raises(ValueError, match=rf"{call}: expected at least one row, got an empty batch"):
            if call == "fit":
                m.fit(x[:0], y[:0], epochs=2, verbose=False)
            else:
                m.train_step(x[:0], y[:0])
        assert_unchanged(m, before)
    with pytest.raises(ValueError, match="train_step: x has 5 rows but y has 4"):
        model().train_step(x, y[:4])
