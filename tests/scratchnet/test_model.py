"""Sequential: chain rule through the stack, fit/predict/evaluate, isolation from the frameworks."""
import subprocess
import sys

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import check_model


def test_model_gradients_finite_differences():
    rng = np.random.default_rng(0)
    model = sn.Sequential([sn.Dense(7, activation="tanh"), sn.Dense(4, activation="softplus"), sn.Dense(3)])
    model.build((5,), "float64", rng)
    loss = sn.losses.get("categorical_crossentropy", from_logits=True)
    y = np.eye(3)[rng.integers(0, 3, 6)]
    errors = check_model(model, rng.standard_normal((6, 5)), y, loss)
    assert max(errors.values()) < 1e-7, errors
    assert len(errors) == 1 + 6


def test_forward_keeps_per_layer_outputs_and_casts_at_the_door_only_when_asked():
    model = sn.Sequential([sn.Dense(3), sn.Activation("relu")], cast_input=True).build((2,), "float32")
    y = model.forward(np.ones((4, 2)))  # float64 in: cast once at the door
    assert y.dtype == np.float32 and [o.shape for o in model.outputs] == [(4, 3), (4, 3)]
    strict = sn.Sequential([sn.Dense(3), sn.Activation("relu")]).build((2,), "float32")
    with pytest.raises(ValueError, match="sequential: expected float32 input, got float64"):
        strict.forward(np.ones((4, 2)))  # like a single layer: never cast silently


def test_fit_reduces_the_loss_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])

    def train():
        model = sn.Sequential([sn.Dense(1)]).build((3,), "float64", np.random.default_rng(2))
        model.compile("mean_squared_error", sn.optimizers.get("sgd", learning_rate=0.1))
        return model.fit(x, y, epochs=20, batch_size=8, rng=np.random.default_rng(3), verbose=False)["loss"]

    first, second = train(), train()
    assert first == second
    assert first[-1] < 0.01 * first[0]


def test_duplicate_layer_names_and_uncompiled_fit_are_errors():
    with pytest.raises(ValueError, match="a layer named 'a' is already in the model"):
        sn.Sequential([sn.Dense(2, name="a"), sn.Dense(2, name="a")])
    with pytest.raises(RuntimeError, match="compile"):
        sn.Sequential([sn.Dense(2)]).fit(np.zeros((2, 2)), np.zeros((2, 2)))


def test_unnamed_layers_are_numbered_within_their_model_not_by_creation_order():
    """No process-wide counter: the same model code gives the same parameter keys however many
    layers were made before (planted: a global counter would make the second model's keys differ)."""
    def make():
        return sn.Sequential([sn.Dense(4), sn.Dense(3, name="dense_2"), sn.Dense(2), sn.Dense(1), sn.Flatten()])

    first = make()
    sn.Dense(5), sn.Dense(6)  # layers made in between change nothing
    second = make()
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers] == ["dense", "dense_2", "dense_1", "dense_3", "flatten"]
    first.build((3,))
    assert list(first.parameters())[:2] == ["dense/kernel", "dense/bias"]


def test_scratchnet_imports_without_torch_or_tensorflow():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "import scratchnet, scratchnet.tutorial, scratchnet.gradcheck\n"
            "assert not any(m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'parity') "
            "for m, v in sys.modules.items() if v is not None)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_layer_object_twice_is_refused():
    """It would keep one forward's cache for two places: wrong gradients (kernel error 0.9)."""
    d = sn.Dense(4, activation="tanh")
    with pytest.raises(ValueError, match="layer 'dense' is already in the model"):
        sn.Sequential([d, d])


def test_layers_built_before_keep_their_weights_and_dtype():
    first = sn.Dense(3).build((4,), "float32")
    first.set_weights({"kernel": np.ones((4, 3)), "bias": np.full(3, 7.0)})
    model = sn.Sequential([first, sn.Dense(2)])
    y = model.forward(np.ones((5, 4), np.float32))  # built in the layers' float32, which the input must match
    assert y.dtype == np.float32 and model.dtype == np.float32
    assert np.array_equal(first.params["kernel"], np.ones((4, 3))) and np.array_equal(first.params["bias"], np.full(3, 7))
    assert np.array_equal(model.outputs[0], np.full((5, 3), 11, np.float32))


def test_layers_built_for_other_inputs_or_dtypes_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"layer 'b' was built for input \(N, 5\) float64, but gets \(N, 3\) float64"):
        sn.Sequential([sn.Dense(3, name="a").build((4,)), sn.Dense(2, name="b").build((5,))]).forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"layer 'b' was built for input \(N, 3\) float32, but gets \(N, 3\) float64"):
        sn.Sequential([sn.Dense(3, name="a").build((4,)), sn.Dense(2, name="b").build((3,), "float32")]).forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="sequential: the model has no layers"):
        sn.Sequential().forward(np.ones((2, 4)))


@pytest.mark.parametrize("call,message", [
    (lambda m, x, y: m.fit(x, y, epochs="3", verbose=False), r"fit: epochs: expected an int >= 0, got '3'"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=False), r"fit: batch_size: expected an int >= 1, got 0"),
    (lambda m, x, y: m.fit(x, y, batch_size=2.5, verbose=False), r"fit: batch_size: expected an int >= 1, got 2.5"),
    (lambda m, x, y: m.predict(x, batch_size=0), r"predict: batch_size: expected an int >= 1, got 0"),
])
def test_fit_and_predict_counts_are_checked_in_one_line(call, message):
    model = sn.Sequential([sn.Dense(2)]).compile("mean_squared_error", "sgd")
    with pytest.raises(ValueError, match=message):
        call(model, np.ones((3, 4)), np.ones((3, 2)))
