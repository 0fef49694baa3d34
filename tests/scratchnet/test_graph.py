"""scratchnet.Model (a graph of layers): float64 finite differences through fan-out and merges
for every parameter and the input, a planted dropped fan-out gradient caught and blamed, the
graph's refusals, and training as Sequential's."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import graph, losses
from scratchnet.gradcheck import check_model

N, H, W, C = 3, 6, 5, 2  # distinct sizes on every axis


def resnet_block(rng):
    """A ResNet basic block with a projection shortcut: the input fans out to two branches."""
    return sn.Model([
        (sn.Conv2D(4, 3, padding="same", use_bias=False, name="c1", rng=rng), ["input"]),  # BN follows
        sn.BatchNormalization(name="bn1"),
        sn.Activation("tanh", name="t1"),
        sn.Conv2D(4, 3, padding="same", name="c2", rng=rng),
        (sn.Conv2D(4, 1, name="shortcut", rng=rng), ["input"]),
        (sn.Add(name="sum"), ["c2", "shortcut"]),
        (sn.Concatenate(name="skip"), ["sum", "t1"]),  # t1 fans out too: c2 and the skip
        sn.Flatten(),
        sn.Dense(3, rng=rng),
    ])


def test_graph_passes_finite_differences_for_every_parameter_and_the_input():
    rng = np.random.default_rng(0)
    model = resnet_block(rng)
    x = rng.standard_normal((N, H, W, C))
    y = rng.standard_normal((N, 3))
    errors = check_model(model, x, y, losses.get("mean_squared_error"), training=True)
    assert set(errors) == {"x", *model.parameters()}
    assert max(errors.values()) < 1e-7, errors


def test_every_merge_in_one_graph_passes_finite_differences():
    rng = np.random.default_rng(1)
    nodes = [(sn.Dense(4, activation="tanh", name=n, rng=rng), ["input"]) for n in "abc"]
    nodes += [(sn.Add(name="add"), ["a", "b", "c"]), (sn.Subtract(name="sub"), ["a", "b"]),
              (sn.Multiply(name="mul"), ["a", "b", "c"]), (sn.Average(name="avg"), ["b", "c"]),
              (sn.Maximum(name="max"), ["a", "c"]), (sn.Minimum(name="min"), ["a", "b", "c"]),
              (sn.Concatenate(name="cat"), ["add", "sub", "mul", "avg", "max", "min"]), sn.Dense(2, rng=rng)]
    model = sn.Model(nodes)
    x, y = rng.standard_normal((N, 5)), rng.standard_normal((N, 2))
    errors = check_model(model, x, y, losses.get("mean_squared_error"))
    assert len(errors) == 1 + 8 and max(errors.values()) < 1e-7, errors


def test_planted_dropped_fan_out_gradient_is_caught_and_blamed(monkeypatch):
    """An accumulation that keeps only the first reader's gradient: the tensors read twice (the
    input, t1) and everything upstream of them go wrong; the layers read once after them do not."""
    def keep_first(grads, name, dx):
        grads.setdefault(name, dx)

    monkeypatch.setattr(graph, "accumulate", keep_first)
    rng = np.random.default_rng(0)
    model = resnet_block(rng)
    x = rng.standard_normal((N, H, W, C))
    errors = check_model(model, x, rng.standard_normal((N, 3)), losses.get("mean_squared_error"), training=True)
    wrong = {k for k, e in errors.items() if e > 1e-3}
    assert {"x", "c1/kernel", "bn1/gamma"} <= wrong
    assert not wrong & {"dense/kernel", "c2/kernel", "shortcut/kernel"}


def test_a_chain_gives_what_sequential_gives():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, 7))
    seq = sn.Sequential([sn.Dense(5, activation="relu"), sn.Dense(3)]).build((7,), rng=np.random.default_rng(3))
    model = sn.Model([sn.Dense(5, activation="relu"), sn.Dense(3)]).build((7,), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(model.forward(x), seq.forward(x))
    dy = rng.standard_normal((N, 3))
    np.testing.assert_array_equal(model.backward(dy), seq.backward(dy))
    assert list(model.parameters()) == list(seq.parameters()) == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                                                  "dense_1/bias"]


def test_without_the_input_gradient_only_what_a_parameter_needs_is_formed():
    """input_grad=False: every parameter gradient bit-identical to the full backward's, the layers
    reading only the input (or only parameter-free paths from it) skip their dL/dx, and a
    parameter-free layer on the input is not visited at all."""
    def build():
        rng = np.random.default_rng(4)
        return sn.Model([
            (sn.Activation("tanh", name="pre"), ["input"]),  # no parameters, reads the input
            (sn.Dense(4, name="a", rng=rng), ["pre"]),
            (sn.Dense(4, activation="tanh", name="b", rng=rng), ["input"]),
            (sn.Add(name="sum"), ["a", "b"]),
            (sn.Dense(3, name="top", rng=rng), ["sum"]),
        ]).build((5,))

    x, dy = np.random.default_rng(5).standard_normal((N, 5)), np.random.default_rng(6).standard_normal((N, 3))
    full, lean = build(), build()
    full.forward(x, training=True)
    full.backward(dy)
    lean.forward(x, training=True)
    visited = []
    pre = lean.layers[0]
    pre.backward = lambda *a, **k: visited.append("pre")
    assert lean.backward(dy, input_grad=False) is None
    assert visited == []
    assert lean.needs_grad(False) == {"input": False, "pre": False, "a": True, "b": True, "sum": True, "top": True}
    assert [layer._input_grad for layer in lean.layers[1:]] == [False, False, True, True]
    for (name, (_, g_full)), (_, (_, g_lean)) in zip(full.parameters().items(), lean.parameters().items()):
        np.testing.assert_array_equal(g_lean, g_full, err_msg=name)


def test_outputs_of_every_node_by_name():
    rng = np.random.default_rng(4)
    model = sn.Model([(sn.Dense(3, name="a", rng=rng), ["input"]), (sn.Dense(3, name="b", rng=rng), ["input"]),
                      (sn.Add(name="s"), ["a", "b"])])
    x = rng.standard_normal((N, 4))
    out = model.forward(x)
    assert list(model.outputs) == ["a", "b", "s"]
    np.testing.assert_allclose(out, model.outputs["a"] + model.outputs["b"])


@pytest.mark.parametrize("nodes,match", [
    (lambda: [(sn.Dense(2, name="a"), ["nope"])], "earlier layers"),
    (lambda: [(sn.Dense(2, name="a"), ["a"])], "earlier layers"),
    (lambda: [(sn.Dense(2, name="input"), ["input"])], "model's input"),
    (lambda: [sn.Dense(2, name="a"), sn.Dense(2, name="a")], "already"),
    (lambda: [(sn.Dense(2, name="a"), ["input", "input"])], "expected one"),
    (lambda: [(sn.Add(name="s"), ["input"])], "two or more"),
    (lambda: [(sn.Dense(2, name="a"), ["input"]), (sn.Dense(2, name="b"), ["input"])], "read by no later"),
    (lambda: [(sn.Dense(2, name="a"), "input")], "list of layer names"),
    (lambda: [], "no layers"),
])
def test_bad_graphs_are_refused(nodes, match):
    with pytest.raises(ValueError, match=match):
        sn.Model(nodes())


def test_merge_of_mismatched_branches_is_refused_at_build():
    model = sn.Model([(sn.Dense(2, name="a"), ["input"]), (sn.Dense(3, name="b"), ["input"]),
                      (sn.Add(name="s"), ["a", "b"])])
    with pytest.raises(ValueError, match="one shape"):
        model.build((4,))


def test_fit_predict_evaluate_train_step():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 4))
    y = x @ rng.standard_normal((4, 2))
    model = sn.Model([(sn.Dense(2, name="lin", rng=rng), ["input"]), (sn.Dense(2, name="res", rng=rng), ["input"]),
                      (sn.Add(name="sum"), ["lin", "res"])])
    model.compile("mean_squared_error", sn.optimizers.SGD(learning_rate=0.1))
    before = model.evaluate(x, y)
    history = model.fit(x, y, epochs=30, batch_size=4, rng=np.random.default_rng(6), verbose=False)
    assert len(history["loss"]) == 30 and model.evaluate(x, y) < before / 10
    assert model.predict(x, batch_size=5).shape == (12, 2)
    assert np.isfinite(model.train_step(x, y))
