"""``diagnose`` on ``parity.compare_models(..., weights="own")``: torch originals and Keras ports
written here as a user would, each port given one planted conversion mistake in its own weights
or fields; diagnose names each mistake, and only it."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
import torch.nn as nn  # noqa: E402

from parity import compare_models  # noqa: E402

N, H, W, C = 4, 6, 5, 3  # distinct sizes on every axis


def _np(t):
    return t.detach().numpy()


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(C, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * H * W, 7)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def _cnn_port(flatten_fixed: bool, bn_eps: float = 1e-5):
    torch.manual_seed(0)
    t = CNN()
    with torch.no_grad():
        t.bn.running_mean.uniform_(-0.5, 0.5)
        t.bn.running_var.uniform_(0.5, 1.5)
    inp = keras.Input((H, W, C))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = keras.layers.BatchNormalization(momentum=0.9, epsilon=bn_eps, name="bn")(y)
    y = keras.layers.Flatten(name="flat")(keras.layers.ReLU(name="relu")(y))
    k = keras.Model(inp, keras.layers.Dense(7, name="fc")(y))
    k.get_layer("conv").set_weights([_np(t.conv.weight).transpose(2, 3, 1, 0), _np(t.conv.bias)])
    k.get_layer("bn").set_weights([_np(t.bn.weight), _np(t.bn.bias), _np(t.bn.running_mean), _np(t.bn.running_var)])
    w = _np(t.fc.weight)  # (7, C*H*W) in torch's C,H,W order
    if flatten_fixed:
        w = w.reshape(7, 4, H, W).transpose(0, 2, 3, 1).reshape(7, -1)
    k.get_layer("fc").set_weights([w.T, _np(t.fc.bias)])
    x = np.random.default_rng(0).standard_normal((N, H, W, C)).astype("float32")
    return compare_models(t, k, x, weights="own")


def _named(r):
    assert not r.passed and r.odd_one_out == "keras", r
    d = r.diagnose(pairs=False)
    return [[(f.switch, f.target) for f in fl] for fl in d.explained], d


def test_the_forgotten_flatten_permutation_is_named():
    assert _cnn_port(flatten_fixed=True).passed  # the port as it should be
    named, d = _named(_cnn_port(flatten_fixed=False))
    assert named == [[("flatten_order", "4_dense")]], d
    assert "permuted from C,H,W to H,W,C order" in d.sentences()[0]


def test_batchnorm_epsilon_left_at_keras_default_is_named():
    named, d = _named(_cnn_port(flatten_fixed=True, bn_eps=1e-3))
    assert named == [[("bn_epsilon", "1_batch_normalization")]], d
    assert d.sentences()[0].endswith("epsilon is 1e-05 (torch's default) instead of 0.001 (Keras's default)")


def _recurrent_port(kind: str, mistake: bool):
    torch.manual_seed(1)
    if kind == "lstm":
        t = nn.ModuleDict({"rnn": nn.LSTM(3, 5, batch_first=True), "out": nn.Linear(5, 2)})
        k = keras.Sequential([keras.Input((7, 3)), keras.layers.LSTM(5, name="rnn"), keras.layers.Dense(2, name="out")])
        r = t["rnn"]
        bias = _np(r.bias_ih_l0) if mistake else _np(r.bias_ih_l0 + r.bias_hh_l0)  # the mistake: b_hh left out
        k.get_layer("rnn").set_weights([_np(r.weight_ih_l0).T, _np(r.weight_hh_l0).T, bias])
        x = np.random.default_rng(1).standard_normal((N, 7, 3)).astype("float32")
    else:
        t = nn.ModuleDict({"rnn": nn.GRU(4, 6, batch_first=True), "out": nn.Linear(6, 3)})
        k = keras.Sequential([keras.Input((5, 4)), keras.layers.GRU(6, name="rnn"), keras.layers.Dense(3, name="out")])
        r, u = t["rnn"], 6
        order = np.arange(3 * u) if mistake else np.r_[u:2 * u, 0:u, 2 * u:3 * u]  # the mistake: r, z kept
        k.get_layer("rnn").set_weights([_np(r.weight_ih_l0)[order].T, _np(r.weight_hh_l0)[order].T,
                                        np.stack([_np(r.bias_ih_l0)[order], _np(r.bias_hh_l0)[order]])])
        x = np.random.default_rng(2).standard_normal((N, 5, 4)).astype("float32")
    k.get_layer("out").set_weights([_np(t["out"].weight).T, _np(t["out"].bias)])

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.out = t["rnn"], t["out"]

        def forward(self, x):
            seq, _ = self.rnn(x)
            return self.out(seq[:, -1])
    return compare_models(Model(), k, x, weights="own")


def test_lstm_biases_not_summed_are_named():
    assert _recurrent_port("lstm", mistake=False).passed
    named, d = _named(_recurrent_port("lstm", mistake=True))
    assert named == [[("reference_weight", "0_lstm/bias")]], d
    assert "only ever appear as a sum" in d.sentences()[0]


def test_gru_gates_not_swapped_are_named():
    assert _recurrent_port("gru", mistake=False).passed
    named, d = _named(_recurrent_port("gru", mistake=True))
    assert named == [[("gru_gates_swapped", "0_gru")]], d


def _dense_ln_port(transposed: bool, ln_eps: float = 1e-5):
    torch.manual_seed(2)
    t = nn.Sequential(nn.Linear(5, 5), nn.LayerNorm(5), nn.Linear(5, 3))
    with torch.no_grad():
        t[1].weight.uniform_(0.5, 1.5)
        t[1].bias.uniform_(-0.5, 0.5)
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5, name="d1"),
                          keras.layers.LayerNormalization(epsilon=ln_eps, name="ln"), keras.layers.Dense(3, name="d2")])
    w1 = _np(t[0].weight)
    k.get_layer("d1").set_weights([w1 if transposed else w1.T, _np(t[0].bias)])  # the mistake: weight copied as is
    k.get_layer("ln").set_weights([_np(t[1].weight), _np(t[1].bias)])
    k.get_layer("d2").set_weights([_np(t[2].weight).T, _np(t[2].bias)])
    x = np.random.default_rng(3).standard_normal((6, 5)).astype("float32")
    return compare_models(t, k, x, weights="own")


def test_a_square_dense_kernel_not_transposed_is_named():
    assert _dense_ln_port(transposed=False).passed
    named, d = _named(_dense_ln_port(transposed=True))
    assert named == [[("dense_kernel_transposed", "0_dense")]], d


def test_layernorm_epsilon_left_at_keras_default_is_named():
    named, d = _named(_dense_ln_port(transposed=False, ln_eps=1e-3))
    assert named == [[("ln_epsilon", "1_layer_normalization")]], d
