"""parity.importers: from_torch / from_keras give back the spec and the weights.

Round trips: for every catalog case and both dtypes, the torch backend's module and the Keras
backend's layers (wired as a functional model) read back as a spec equal to the case's after
normalisation, and exactly its initial weights. Then models written here as a user would, and
refusals. Every reading is also checked by the importer itself (the harness's build of the result
reproduces the model's output); the planted tests show that check and the weight comparison fail
when a conversion is wrong."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
import torch.nn as nn  # noqa: E402

import parity  # noqa: E402
from parity import importers as imp  # noqa: E402
from parity.backends import keras_backend, torch_backend  # noqa: E402
from parity.spec import load_catalog  # noqa: E402

def harness_torch(spec):
    """(net, case): the torch backend's module for ``spec`` (weights from ``prepare``). Call inside
    ``torch_backend.torch_state(spec.dtype)``."""
    from parity.backends import torch_backend
    from parity.run import prepare

    case = prepare(spec)
    net, _ = torch_backend.build(case)
    return net, case


def harness_keras(spec):
    """(model, case): a functional keras.Model wiring the Keras backend's built layers. Call inside
    ``keras_backend.keras_state(spec.dtype)``."""
    import keras

    from parity.backends import keras_backend
    from parity.run import prepare

    case = prepare(spec)
    layers = keras_backend.build(case)
    kind = "int64" if case.x.dtype.kind in "iu" else spec.dtype
    inp = keras.Input(shape=case.plan.input_shape, batch_size=spec.input_shape[0], dtype=kind)
    values = keras_backend.apply(case.plan, layers, inp, training=False)
    return keras.Model(inp, values[case.plan.output.name]), case


def same_weights(a: dict, b: dict) -> list[str]:
    """The keys where two weight sets differ (missing, shape, or any value not exactly equal)."""
    bad = sorted(set(a) ^ set(b))
    for k in sorted(set(a) & set(b)):
        if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k]):
            bad.append(k)
    return bad


CATALOG = load_catalog()
CASE_FIELDS = ("name", "seed", "input", "loss", "optimizer", "steps", "training", "data")


def _rest(spec) -> dict:
    """What an import cannot know (the case around the model), from the original."""
    d = spec.to_dict()
    return {k: d[k] for k in CASE_FIELDS}


def _round_trip(spec, side: str):
    if side == "torch":
        with torch_backend.torch_state(spec.dtype):
            net, case = harness_torch(spec)
            got, weights = imp.from_torch(net, spec.input_shape)
    else:
        with keras_backend.keras_state(spec.dtype):
            model, case = harness_keras(spec)
        got, weights = imp.from_keras(model, spec.input_shape)
    return {**got, **_rest(spec)}, weights, case


def _assert_round_trip(spec, side):
    got, weights, case = _round_trip(spec, side)
    assert got["dtype"] == spec.dtype
    want = imp.normalise(spec)
    normal = imp.normalise(got)
    for i, (a, b) in enumerate(zip(normal["layers"], want["layers"])):
        assert a == b, f"layer {i}: imported {a}, original {b}"
    assert normal == want
    bad = same_weights(imp.rename_weights(weights, got), imp.rename_weights(case.initial, spec))
    assert not bad, f"weights differ: {bad}"


@pytest.mark.parametrize("side", ["torch", "keras"])
@pytest.mark.parametrize("spec", CATALOG, ids=[s.name for s in CATALOG])
def test_catalog_round_trip_float64(spec, side):
    _assert_round_trip(spec.with_dtype("float64"), side)


@pytest.mark.slow
@pytest.mark.parametrize("side", ["torch", "keras"])
@pytest.mark.parametrize("spec", CATALOG, ids=[s.name for s in CATALOG])
def test_catalog_round_trip_float32(spec, side):
    _assert_round_trip(spec.with_dtype("float32"), side)


def test_every_layer_type_has_both_ways_back():
    from parity.mappings import REGISTRY, LayerMapping

    no_torch = [t for t, m in REGISTRY.items() if m.from_torch is LayerMapping.from_torch]
    no_keras = [t for t, m in REGISTRY.items() if m.from_keras is LayerMapping.from_keras]
    assert not no_torch and not no_keras, (no_torch, no_keras)


def test_normalise_keeps_differences():
    """Normalisation merges spellings of one meaning only: a different padding or epsilon stays different."""
    base = {"name": "n", "input_shape": [2, 6, 5, 3], "loss": {"type": "mean_squared_error"},
            "optimizer": {"type": "sgd"},
            "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": [1, 1]},
                       {"type": "batch_normalization"}, {"type": "activation", "activation": "relu"}]}
    same = {**base, "layers": [{**base["layers"][0], "padding": "same"}, base["layers"][1], {"type": "relu"}]}
    assert imp.normalise(base) == imp.normalise(same)
    other = {**base, "layers": [base["layers"][0], {"type": "batch_normalization", "epsilon": 1e-5}, base["layers"][2]]}
    assert imp.normalise(base) != imp.normalise(other)
    strided = {**base, "layers": [{**base["layers"][0], "strides": 2}, *base["layers"][1:]]}
    strided_same = {**base, "layers": [{**base["layers"][0], "strides": 2, "padding": "same"}, *base["layers"][1:]]}
    assert imp.normalise(strided) != imp.normalise(strided_same)  # TF's same at stride 2 pads (0, 1), not (1, 1)


# -- models written as a user would -------------------------------------------------------------
class LastStepLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.head(out[:, -1])


class StateGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        _, h = self.gru(x)
        return self.head(h[-1])


class ResBlock(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, 3)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = torch.relu(y + x)
        return self.fc(y.mean(dim=(2, 3)))


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g, dtype=b.dtype) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) + 0.5)
    return module


def test_user_lstm_last_step():
    torch.manual_seed(1)
    m = LastStepLSTM()
    spec, w = parity.from_torch(m, (2, 7, 3))
    assert [(l["type"], l["name"]) for l in spec["layers"]] == [("lstm", "lstm"), ("dense", "head")]
    assert spec["layers"][0]["return_sequences"] is False
    # Keras's one bias is torch's two summed, gates i, f, g, o in the same order; kernel = weight_ih.T
    np.testing.assert_array_equal(w["lstm/bias"], (m.lstm.bias_ih_l0 + m.lstm.bias_hh_l0).detach().numpy())
    np.testing.assert_array_equal(w["lstm/kernel"], m.lstm.weight_ih_l0.detach().numpy().T)


def test_user_gru_state_and_gate_order():
    torch.manual_seed(2)
    m = StateGRU()
    spec, w = parity.from_torch(m, (3, 5, 4))
    assert spec["layers"][0] == {"type": "gru", "units": 6, "return_sequences": False, "reset_after": True,
                                 "name": "gru", "inputs": ["input"]}
    u = 6
    r_torch = m.gru.weight_ih_l0.detach().numpy()[:u].T  # torch's first block is r; Keras's is z
    np.testing.assert_array_equal(w["gru/kernel"][:, u:2 * u], r_torch)
    assert w["gru/bias"].shape == (2, 3 * u)


def test_user_resnet_block_traced_by_fx():
    torch.manual_seed(3)
    m = _randomise(ResBlock()).eval()
    spec, w = parity.from_torch(m, (2, 5, 6, 4))
    types = [l["type"] for l in spec["layers"]]
    assert types == ["conv2d", "batch_normalization", "relu", "conv2d", "batch_normalization", "add", "relu",
                     "global_average_pool2d", "dense"]
    add = spec["layers"][5]
    assert add["inputs"] == ["bn2", "input"]
    assert spec["layers"][0]["padding"] == "same" and spec["training"] is False
    assert spec["layers"][1]["momentum"] == pytest.approx(0.9) and spec["layers"][1]["epsilon"] == 1e-5
    np.testing.assert_array_equal(w["conv1/kernel"], m.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))
    r = parity.check(spec, dtype=None)  # the imported spec runs through all three frameworks
    assert r.passed, r.worst


def test_user_cnn_flatten_permutes_dense_rows():
    torch.manual_seed(4)
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 2 * 4, 5))
    spec, w = parity.from_torch(m, (2, 4, 6, 2))
    assert [l["name"] for l in spec["layers"]] == ["0", "1", "2", "3"]
    weight = m[3].weight.detach().numpy()  # (5, C*H*W) in torch's (C, H, W) order
    naive = weight.T
    assert not np.array_equal(w["3/kernel"], naive)  # the rows are permuted to (H, W, C) order
    perm = np.arange(24).reshape(3, 2, 4).transpose(1, 2, 0).ravel()
    np.testing.assert_array_equal(w["3/kernel"], naive[perm])


def test_keras_functional_with_skip():
    inp = keras.Input((6, 3))
    a = keras.layers.Dense(3, activation="tanh", name="proj")(inp)
    s = keras.layers.Add(name="skip")([a, inp])
    ln = keras.layers.LayerNormalization(epsilon=1e-5, name="ln")(s)
    out = keras.layers.GRU(4, name="gru")(ln)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(out))
    spec, w = parity.from_keras(model, (2, 6, 3))
    assert [(l["name"], l["type"], l["inputs"]) for l in spec["layers"]] == [
        ("proj", "dense", ["input"]), ("skip", "add", ["proj", "input"]), ("ln", "layer_normalization", ["skip"]),
        ("gru", "gru", ["ln"]), ("head", "dense", ["gru"])]
    assert spec["layers"][0]["activation"] == "tanh" and spec["layers"][2]["epsilon"] == 1e-5
    np.testing.assert_array_equal(w["proj/kernel"], model.get_layer("proj").kernel.numpy())
    assert set(w) >= {"gru/kernel", "gru/recurrent_kernel", "gru/bias", "ln/gamma", "ln/beta"}


def test_keras_sequential_dtype_and_default_batch():
    with keras_backend.keras_state("float64"):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    spec, _ = parity.from_keras(model)
    assert spec["dtype"] == "float64" and spec["input_shape"] == [2, 4]


# -- refusals and planted mistakes ----------------------------------------------------------------
def test_unmapped_torch_layer_is_refused_by_path_and_class():
    m = nn.Sequential(nn.Linear(4, 4), nn.PReLU())
    with pytest.raises(imp.ImportRefused, match=r"^1 \(PReLU\): no parity mapping for torch class PReLU"):
        parity.from_torch(m, (2, 4))


def test_unmapped_keras_layer_is_refused_by_name_and_class():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.GaussianNoise(0.1, name="noise")])
    with pytest.raises(imp.ImportRefused, match=r"^noise \(GaussianNoise\): no parity mapping for Keras class"):
        parity.from_keras(model)


def test_counted_padding_refused():
    m = nn.Sequential(nn.AvgPool2d(3, 1, padding=1))
    with pytest.raises(imp.ImportRefused, match=r"count_include_pad=True\) counts the padded zeros"):
        parity.from_torch(m, (2, 5, 5, 2))


class Hidden(nn.Module):
    """Children registered in one order, called in another, behind control flow fx cannot trace."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Tanh()

    def forward(self, x):
        if x.sum() > -1e9:  # data-dependent: torch.fx refuses, the importer reads the children's chain
            return self.a(self.b(x))
        return x


def test_chain_reading_is_checked_against_the_module():
    with pytest.raises(imp.ImportRefused, match="do not reproduce the model's output"):
        parity.from_torch(Hidden(), (3, 4))
    spec, _ = parity.from_torch(Hidden(), (3, 4), check=False)  # unchecked, the chain is what it reads
    assert [l["type"] for l in spec["layers"]] == ["dense", "tanh"]


def test_planted_misreading_is_caught(monkeypatch):
    """A hook that misreads nn.Tanh as sigmoid: the importer's own output check refuses the result."""
    from parity.mappings import REGISTRY
    from parity.mappings.base import TorchImport

    wrong = dataclasses.replace(REGISTRY["sigmoid"], from_torch=lambda m, ictx: TorchImport({"type": "sigmoid"}, {})
                                if isinstance(m, (nn.Sigmoid, nn.Tanh)) else None)
    monkeypatch.setitem(REGISTRY, "sigmoid", wrong)
    m = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    with pytest.raises(imp.ImportRefused, match="do not reproduce"):
        parity.from_torch(m, (2, 4))
    spec, _ = parity.from_torch(m, (2, 4), check=False)
    assert spec["layers"][1]["type"] == "sigmoid"


def test_round_trip_catches_a_changed_weight():
    """The weight comparison of the round trip is exact: one changed element is reported."""
    spec = next(s for s in CATALOG if s.name == "cnn-flatten-dense").with_dtype("float64")
    got, weights, case = _round_trip(spec, "torch")
    key = sorted(weights)[0]
    weights[key] = weights[key].copy()
    weights[key].flat[0] += 1e-12
    assert same_weights(imp.rename_weights(weights, got), imp.rename_weights(case.initial, spec)) != []


class TextCNN(nn.Module):
    """A user's 1-d CNN: torch's Conv1d takes (N, C, T), so the sequence is transposed in and out."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.conv = nn.Conv1d(6, 5, 3, padding=1)
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        h = self.emb(x).transpose(1, 2)  # (N, C, T)
        h = self.pool(torch.relu(self.conv(h)))
        return self.fc(h.amax(dim=2))  # the max over time


def test_user_conv1d_on_transposed_sequences():
    torch.manual_seed(5)
    m = TextCNN()
    spec, w = parity.from_torch(m, (2, 8))
    assert [(l["type"], l["name"]) for l in spec["layers"]] == [
        ("embedding", "emb"), ("conv1d", "conv"), ("relu", "relu"), ("max_pool1d", "pool"),
        ("global_max_pool1d", "amax"), ("dense", "fc")]
    assert spec["layers"][1]["padding"] == "same" and spec["input"] == {"kind": "integers", "high": 20}
    np.testing.assert_array_equal(w["conv/kernel"], m.conv.weight.detach().numpy().transpose(2, 1, 0))  # (k, C, F)


def test_dense_on_a_transposed_sequence_is_refused():
    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(7, 2)

        def forward(self, x):
            return self.fc(x.transpose(1, 2))  # mixes time steps: no spec layer reads it

    with pytest.raises(imp.ImportRefused, match=r"^fc \(Linear\): on a transposed \(N, C, T\) sequence"):
        parity.from_torch(Wrong(), (2, 7, 3))
