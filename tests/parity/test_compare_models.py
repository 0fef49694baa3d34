"""parity.compare_models on models written here as a user would: a torch original and its Keras
port (a small CNN with BatchNorm and a Flatten before Dense, an LSTM model, a GRU model), with
torch's weights everywhere and with the port's own, hand-converted weights; a planted conversion
mistake (the flatten permutation forgotten) fails and is located at the Dense layer."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
import torch.nn as nn  # noqa: E402

import parity  # noqa: E402
from parity.porting import ModelsDiffer, PortResult  # noqa: E402

N, H, W, C = 4, 6, 5, 3  # distinct sizes on every axis


class TorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(C, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * (H // 2) * (W // 2), 7)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


def keras_cnn():
    inp = keras.Input((H, W, C))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")(y)
    y = keras.layers.ReLU(name="relu")(y)
    y = keras.layers.MaxPooling2D(2, name="pool")(y)
    y = keras.layers.Flatten(name="flat")(y)
    return keras.Model(inp, keras.layers.Dense(7, name="fc")(y))


def _np(t):
    return t.detach().numpy()


def port_cnn_weights(t: TorchCNN, k, flatten_order: bool = True):
    """The porter's hand conversion: OIHW -> HWIO, and the Dense rows from (C, H, W) to (H, W, C)."""
    k.get_layer("conv").set_weights([_np(t.conv.weight).transpose(2, 3, 1, 0), _np(t.conv.bias)])
    k.get_layer("bn").set_weights([_np(t.bn.weight), _np(t.bn.bias), _np(t.bn.running_mean), _np(t.bn.running_var)])
    w = _np(t.fc.weight)  # (7, C*H*W), torch's flatten order
    if flatten_order:
        w = w.reshape(7, 4, H // 2, W // 2).transpose(0, 2, 3, 1).reshape(7, -1)
    k.get_layer("fc").set_weights([w.T, _np(t.fc.bias)])


def _cnn():
    torch.manual_seed(0)
    t = TorchCNN()
    with torch.no_grad():
        t.bn.running_mean.uniform_(-0.5, 0.5)
        t.bn.running_var.uniform_(0.5, 1.5)
    return t, keras_cnn(), np.random.default_rng(0).standard_normal((N, H, W, C)).astype("float32")


class TorchLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, batch_first=True)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.out(seq[:, -1])


class TorchGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        _, h = self.gru(x)
        return self.out(h[-1])


def _recurrent(kind):
    torch.manual_seed(1)
    if kind == "lstm":
        t = TorchLSTM()
        k = keras.Sequential([keras.Input((7, 3)), keras.layers.LSTM(5, name="lstm"), keras.layers.Dense(2, name="out")])
        x = np.random.default_rng(1).standard_normal((N, 7, 3)).astype("float32")
    else:
        t = TorchGRU()
        k = keras.Sequential([keras.Input((5, 4)), keras.layers.GRU(6, name="gru"), keras.layers.Dense(3, name="out")])
        x = np.random.default_rng(2).standard_normal((N, 5, 4)).astype("float32")
    return t, k, x


def port_recurrent_weights(t, k, kind):
    """LSTM: kernel = W_ih^T, one bias b_ih + b_hh, gates i, f, g, o in both. GRU: torch's blocks
    r, z, n are Keras's z, r, h: swap the first two; two biases kept (reset_after=True)."""
    if kind == "lstm":
        r = t.lstm
        k.get_layer("lstm").set_weights([_np(r.weight_ih_l0).T, _np(r.weight_hh_l0).T, _np(r.bias_ih_l0 + r.bias_hh_l0)])
    else:
        r, u = t.gru, 6
        order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]  # Keras z, r, h from torch r, z, n
        k.get_layer("gru").set_weights([_np(r.weight_ih_l0)[order].T, _np(r.weight_hh_l0)[order].T,
                                        np.stack([_np(r.bias_ih_l0)[order], _np(r.bias_hh_l0)[order]])])
    k.get_layer("out").set_weights([_np(t.out.weight).T, _np(t.out.bias)])


SGD = {"type": "sgd", "learning_rate": 0.125, "momentum": 0.5}


@pytest.mark.parametrize("weights", ["torch", "own"])
def test_cnn_port(weights):
    t, k, x = _cnn()
    if weights == "own":
        port_cnn_weights(t, k)
    r = parity.compare_models(t, k, x, optimizer=SGD, steps=2, weights=weights)
    assert isinstance(r, PortResult) and isinstance(r, parity.Result)
    assert r.passed, r.message
    assert r.first_parting_layer is None
    assert [v for v in r.names.values()] == [("conv", "conv"), ("bn", "bn"), ("relu", "relu"), ("pool", "pool"),
                                             ("flatten", "flat"), ("fc", "fc")]
    assert set(r.torch_weights) == set(r.keras_weights) and r.keras_spec is not None


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("weights", ["torch", "own"])
def test_recurrent_port(kind, weights):
    t, k, x = _recurrent(kind)
    if weights == "own":
        port_recurrent_weights(t, k, kind)
    r = parity.compare_models(t, k, x, optimizer=SGD, steps=1, weights=weights)
    assert r.passed, r.message


def test_own_weights_are_the_ports():
    """weights="own" runs the Keras model's weights: unconverted (Keras's random init) they fail."""
    t, k, x = _recurrent("lstm")
    r = parity.compare_models(t, k, x, weights="own")
    assert not r.passed and r.odd_one_out == "keras"
    assert r.first_parting_layer == "0_lstm" and r.names["0_lstm"] == ("lstm", "lstm")


def test_flatten_order_forgotten_parts_at_the_dense_layer():
    t, k, x = _cnn()
    port_cnn_weights(t, k, flatten_order=False)
    r = parity.compare_models(t, k, x, weights="own")
    assert not r.passed
    assert r.odd_one_out == "keras"
    assert r.first_parting_layer == "5_dense"
    assert r.names[r.first_parting_layer] == ("fc", "fc")
    assert "outputs part first at layer 5_dense (torch 'fc', Keras 'fc')" in r.message
    # the layers before it agree: their output rows pass
    rows = r.rows
    before = rows[(rows.quantity == "output") & rows.tensor.isin(["0_conv2d", "1_batch_normalization", "4_flatten"])]
    assert len(before) and before.passed.all()


def test_keras_fields_count_under_own_weights():
    """The port's own BatchNormalization epsilon (Keras's default 1e-3 vs torch's 1e-5) is what
    Keras runs under weights="own"; under weights="torch" torch's fields are used everywhere."""
    t, _, x = _cnn()
    k = keras_cnn()
    inp = keras.Input((H, W, C))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = keras.layers.BatchNormalization(momentum=0.9, name="bn")(y)  # epsilon left at 1e-3
    y = keras.layers.MaxPooling2D(2, name="pool")(keras.layers.ReLU(name="relu")(y))
    k = keras.Model(inp, keras.layers.Dense(7, name="fc")(keras.layers.Flatten(name="flat")(y)))
    port_cnn_weights(t, k)
    assert parity.compare_models(t, k, x, weights="torch").passed
    r = parity.compare_models(t, k, x, weights="own")
    assert not r.passed and r.first_parting_layer == "1_batch_normalization"
    assert r.keras_spec.layers[1].params["epsilon"] == pytest.approx(1e-3)


def test_architectures_that_differ_are_refused_by_layer():
    t, _, x = _cnn()
    inp = keras.Input((H, W, C))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.MaxPooling2D(2, name="pool")(y)  # the ReLU forgotten
    k = keras.Model(inp, keras.layers.Dense(7, name="fc")(keras.layers.Flatten(name="flat")(y)))
    with pytest.raises(ModelsDiffer, match=r"layer 2 differs: torch 'relu' is relu .* Keras 'pool' is max_pool2d"):
        parity.compare_models(t, k, x)


def test_bad_arguments():
    t, k, x = _cnn()
    with pytest.raises(ValueError, match="weights: expected 'torch' or 'own'"):
        parity.compare_models(t, k, x, weights="mine")
    with pytest.raises(ValueError, match=r"y: expected the models' output shape \(4, 7\)"):
        parity.compare_models(t, k, x, y=np.zeros((4, 6)))


def test_fused_and_separate_activations_are_one_architecture():
    """torch's Linear then Tanh is Keras's Dense(activation="tanh"): the port is compared layer by
    layer with the activation split off; an untransposed square kernel parts at that Dense."""
    torch.manual_seed(3)
    t = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3))
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                          keras.layers.Dense(3, name="head")])
    x = np.random.default_rng(5).standard_normal((3, 4)).astype("float32")
    k.get_layer("hidden").set_weights([_np(t[0].weight).T, _np(t[0].bias)])
    k.get_layer("head").set_weights([_np(t[2].weight).T, _np(t[2].bias)])
    r = parity.compare_models(t, k, x, weights="own")
    assert r.passed, r.message
    assert r.names == {"0_dense": ("0", "hidden"), "1_tanh": ("1", "hidden"), "2_dense": ("2", "head")}
    k.get_layer("hidden").set_weights([_np(t[0].weight), _np(t[0].bias)])  # square: the transpose forgotten
    r = parity.compare_models(t, k, x, weights="own")
    assert not r.passed and r.first_parting_layer == "0_dense"


def test_result_carries_what_diagnose_needs():
    """The port's Result: the case's initial weights are torch's (what scratchnet and torch ran),
    the Keras variant its own; so diagnose can set a differing tensor to torch's converted value.
    LSTM biases not summed (Keras given bias_ih alone) is named, and only it."""
    t, k, x = _recurrent("lstm")
    port_recurrent_weights(t, k, "lstm")
    r_ = t.lstm
    k.get_layer("lstm").set_weights([_np(r_.weight_ih_l0).T, _np(r_.weight_hh_l0).T, _np(r_.bias_ih_l0)])
    r = parity.compare_models(t, k, x, weights="own")
    assert r.first_parting_layer == "0_lstm"
    np.testing.assert_array_equal(r.case.case.initial["0_lstm/bias"], _np(r_.bias_ih_l0 + r_.bias_hh_l0))
    found = [[f.target for f in flips] for flips in r.diagnose().explained]
    assert found == [["0_lstm/bias"]]
