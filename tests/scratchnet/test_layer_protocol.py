"""The layer protocol at its edges: inputs that are integers or bools, a lazy build from a bad
shape, an upstream gradient of the wrong shape, an empty batch."""
import numpy as np
import pytest

import scratchnet as sn

# (factory, per-sample input shape); every factory makes the same layer (default rng 0) each call
VALUE_LAYERS = [
    (lambda: sn.Dense(3, activation="gelu"), (5,)),
    (lambda: sn.Activation("leaky_relu"), (4, 2)),
    (lambda: sn.Activation("selu"), (3,)),
    (lambda: sn.Conv2D(2, 3, padding="same"), (5, 4, 3)),
    (lambda: sn.MaxPool2D(2), (4, 6, 2)),
    (lambda: sn.Flatten(), (3, 2)),
    (lambda: sn.SimpleRNN(3), (4, 2)),
    (lambda: sn.GRU(3), (4, 2)),
    (lambda: sn.Conv1D(2, 3, padding="causal"), (5, 3)),
    (lambda: sn.Conv2DTranspose(2, 3, strides=2, padding="same"), (3, 4, 2)),
    (lambda: sn.UpSampling2D(2, "bilinear"), (3, 4, 2)),
    (lambda: sn.ZeroPadding2D(((0, 1), (2, 0))), (3, 4, 2)),
    (lambda: sn.MaxPool1D(2), (5, 3)),
    (lambda: sn.GlobalMaxPool2D(), (3, 4, 2)),
    (lambda: sn.Bidirectional(sn.LSTM(2, return_sequences=True)), (4, 3)),
    (lambda: sn.Activation("mish"), (3,)),
]


@pytest.mark.parametrize("make,shape", VALUE_LAYERS,
                         ids=["dense-gelu", "leaky_relu", "selu", "conv2d", "max_pool", "flatten", "simple_rnn", "gru",
                              "conv1d", "conv2d_transpose", "up_sampling2d", "zero_padding2d", "max_pool1d",
                              "global_max_pool2d", "bidirectional", "mish"])
@pytest.mark.parametrize("kind", ["int64", "bool"])
def test_integer_and_bool_inputs_are_values_cast_to_the_layer_dtype(make, shape, kind):
    """Planted (the old behaviour): integer input kept as integers gives int64 hidden states,
    constants like 0.5 truncated to 0 (GELU all zeros) and int64 outputs from a float64 layer."""
    rng = np.random.default_rng(3)
    ints = rng.integers(-3, 4, size=(2, *shape))
    x = ints.astype(kind)
    want = make().forward(x.astype(np.float64))
    got = make().forward(x)
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_embedding_takes_integer_ids_as_they_are_and_refuses_floats():
    layer = sn.Embedding(7, 3)
    ids = np.array([[1, 6], [0, 2]])
    assert np.array_equal(layer.forward(ids), layer.params["embeddings"][ids])
    with pytest.raises(ValueError, match="expected integer token ids"):
        layer.forward(ids.astype(np.float64))


def test_non_numeric_input_is_refused_in_one_line():
    layer = sn.Dense(2).build((3,))
    with pytest.raises(ValueError, match="expected a numeric input, got dtype <U1"):
        layer.forward(np.array([["a", "b", "c"]]))


def test_a_lazy_build_from_a_misfit_input_names_the_whole_input_shape():
    with pytest.raises(ValueError, match=r"\(from an input of shape \(3,\), batch axis first\)"):
        sn.Dense(3).forward(np.ones(3))
    with pytest.raises(ValueError, match=r"\(from an input of shape \(4, 5, 2\), batch axis first\)"):
        sn.Conv2D(2, 3).forward(np.ones((4, 5, 2)))
    with pytest.raises(ValueError, match="expected an input with a batch axis first, got a scalar"):
        sn.Dense(3).forward(np.float64(1.0))


@pytest.mark.parametrize("make", [lambda: sn.Activation("tanh"), lambda: sn.LayerNormalization(),
                                  lambda: sn.GlobalAveragePool2D(), lambda: sn.LSTM(3), lambda: sn.Dense(3)],
                         ids=["activation", "layer_norm", "global_pool", "lstm", "dense"])
def test_an_upstream_gradient_of_another_shape_is_refused(make):
    """numpy would broadcast a dy of batch 1 over a batch of 4 and return full-size gradients."""
    layer = make()
    shape = (4, 3, 5, 2) if isinstance(layer, sn.GlobalAveragePool2D) else (4, 6, 5) if isinstance(layer, sn.LSTM) else (4, 5)
    y = layer.forward(np.random.default_rng(0).standard_normal(shape), training=True)
    with pytest.raises(ValueError, match=r"expected an upstream gradient of the output's shape"):
        layer.backward(np.ones((1, *y.shape[1:])))
    assert layer.backward(np.ones(y.shape)).shape == shape


def test_flatten_and_a_model_take_an_empty_batch():
    assert sn.Flatten().forward(np.zeros((0, 3, 4))).shape == (0, 12)
    model = sn.Sequential([sn.Flatten(), sn.Dense(2)])
    assert model.predict(np.zeros((0, 3, 4))).shape == (0, 2)


@pytest.mark.parametrize("make,flag", [
    (lambda v: sn.BatchNormalization(center=v), "center"), (lambda v: sn.LayerNormalization(scale=v), "scale"),
    (lambda v: sn.LSTM(3, return_sequences=v), "return_sequences"), (lambda v: sn.GRU(3, reset_after=v), "reset_after"),
    (lambda v: sn.SimpleRNN(3, use_bias=v), "use_bias"),
], ids=["bn-center", "ln-scale", "lstm-return_sequences", "gru-reset_after", "rnn-use_bias"])
def test_layer_flags_take_only_true_or_false(make, flag):
    """A truthy string ("no", "false") used to switch the flag on silently."""
    with pytest.raises(ValueError, match=rf"{flag}: expected True or False, got 'no'"):
        make("no")
    assert getattr(make(np.False_), flag) is False
