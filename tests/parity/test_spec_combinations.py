"""parity.spec: which final layers each cross-entropy accepts with ``from_logits`` false.

The categorical losses from probabilities need rows that sum to 1, because Keras (and scratchnet)
divide by the row sum and torch does not: only a softmax over the class axis as the LAST layer
gives that. binary_crossentropy only needs values in [0, 1], so value-preserving layers (pooling,
flatten, reshape) after a sigmoid or softmax are fine there.
"""
from __future__ import annotations

import pytest

from parity.spec import SpecError, parse_spec

FLAT = [4, 5]
IMAGES = [2, 4, 4, 3]
SEQUENCE = [2, 4, 5]


def dense(activation="linear", units=3):
    return {"type": "dense", "units": units, "activation": activation}


def conv(activation="linear"):
    return {"type": "conv2d", "filters": 3, "kernel_size": 1, "activation": activation}


def spec(input_shape, layers, loss, from_logits=False):
    return {"name": "combo", "input_shape": input_shape, "layers": layers,
            "loss": {"type": loss, "from_logits": from_logits}, "optimizer": {"type": "sgd"}}


CLASS_LOSSES = ["categorical_crossentropy", "sparse_categorical_crossentropy"]

# (id, input_shape, layers): the last layer's output rows sum to 1 over the class (last) axis
SOFTMAX_LAST = [
    ("fused softmax", FLAT, [dense("softmax")]),
    ("softmax layer", FLAT, [dense(), {"type": "softmax"}]),
    ("softmax layer, positive axis", FLAT, [dense(), {"type": "softmax", "axis": 1}]),
    ("activation layer softmax", FLAT, [dense(), {"type": "activation", "activation": "softmax"}]),
    ("per-pixel fused softmax", IMAGES, [conv("softmax")]),
    ("per-pixel softmax layer, axis 3", IMAGES, [conv(), {"type": "softmax", "axis": 3}]),
    ("per-step softmax layer, axis 2", SEQUENCE, [dense(), {"type": "softmax", "axis": 2}]),
    ("recurrent softmax", SEQUENCE, [{"type": "simple_rnn", "units": 3, "activation": "softmax"}]),
]

# (id, input_shape, layers, what the message says the last layer ends in)
NOT_SOFTMAX_LAST = [
    ("sigmoid", FLAT, [dense("sigmoid")], "ending in sigmoid"),
    ("hard_sigmoid layer", FLAT, [dense(), {"type": "hard_sigmoid"}], "ending in hard_sigmoid"),
    ("softmax then max pool", IMAGES, [conv("softmax"), {"type": "max_pool2d"}], "(max_pool2d) ending in no activation"),
    ("softmax then average pool", IMAGES, [conv("softmax"), {"type": "global_average_pool2d"}], "no activation"),
    ("softmax then flatten", IMAGES, [conv("softmax"), {"type": "flatten"}], "(flatten)"),
    ("softmax then reshape", FLAT, [dense("softmax", 4), {"type": "reshape", "target_shape": [2, 2]}], "(reshape)"),
    ("softmax over time", SEQUENCE, [dense(), {"type": "softmax", "axis": 1}], "softmax over axis 1"),
    ("softmax over rows", IMAGES, [conv(), {"type": "softmax", "axis": -2}], "softmax over axis -2"),
    ("log_softmax", FLAT, [dense(), {"type": "log_softmax"}], "ending in log_softmax"),
]


@pytest.mark.parametrize("loss", CLASS_LOSSES)
@pytest.mark.parametrize("input_shape, layers", [c[1:] for c in SOFTMAX_LAST], ids=[c[0] for c in SOFTMAX_LAST])
def test_class_losses_accept_a_final_softmax_over_the_class_axis(loss, input_shape, layers):
    assert parse_spec(spec(input_shape, layers, loss)).loss.params["from_logits"] is False


@pytest.mark.parametrize("loss", CLASS_LOSSES)
@pytest.mark.parametrize("input_shape, layers, ending", [c[1:] for c in NOT_SOFTMAX_LAST],
                         ids=[c[0] for c in NOT_SOFTMAX_LAST])
def test_class_losses_refuse_other_probabilities(loss, input_shape, layers, ending):
    with pytest.raises(SpecError) as info:
        parse_spec(spec(input_shape, layers, loss), "case.json")
    text = str(info.value)
    assert "\n" not in text and text.startswith("case.json: loss.from_logits: expected true, or a last layer "), text
    assert f"got false with layers[{len(layers) - 1}]" in text and ending in text, text
    assert "Keras renormalises" in text and loss in text, text
    # with logits there is nothing to renormalise: the same model is fine
    assert parse_spec(spec(input_shape, layers, loss, from_logits=True)).loss.params["from_logits"] is True


@pytest.mark.parametrize("input_shape, layers", [
    (FLAT, [dense("sigmoid")]),
    (FLAT, [dense("softmax")]),
    (FLAT, [dense(), {"type": "hard_sigmoid"}]),
    (IMAGES, [conv("sigmoid"), {"type": "max_pool2d"}, {"type": "flatten"}]),
    (IMAGES, [conv("softmax"), {"type": "max_pool2d"}]),
    (SEQUENCE, [dense(), {"type": "softmax", "axis": 1}]),
], ids=["sigmoid", "softmax", "hard_sigmoid", "sigmoid-pool-flatten", "softmax-pool", "softmax-over-time"])
def test_binary_crossentropy_keeps_probabilities_in_unit_interval_rule(input_shape, layers):
    assert parse_spec(spec(input_shape, layers, "binary_crossentropy")).loss.params["from_logits"] is False


def test_binary_crossentropy_still_refuses_non_probabilities():
    with pytest.raises(SpecError, match=r"^case\.json: loss\.from_logits: .*ending in relu$"):
        parse_spec(spec(IMAGES, [conv("relu"), {"type": "max_pool2d"}], "binary_crossentropy"), "case.json")


# ---- combinations the parser accepts run in all three backends ------------------------------------
def _run(data, dtype):
    from parity.run import run_case

    res = run_case(parse_spec(data).with_dtype(dtype))
    return [(r["quantity"], r["tensor"], r["backend_a"], r["backend_b"]) for r in res.rows if not r["passed"]]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("slope", [-1.5, 2.5], ids=["negative", "steeper-than-identity"])
def test_leaky_relu_with_any_slope_runs(slope, dtype):
    """keras.layers.LeakyReLU refuses a negative slope; the harness's Keras side is
    keras.activations.leaky_relu, which computes the same x if x > 0 else a*x for any a."""
    data = spec(FLAT, [dense("leaky_relu", 4), {"type": "leaky_relu", "negative_slope": slope}, dense(units=2)],
                "mean_squared_error")
    del data["loss"]["from_logits"]
    data["steps"] = 2
    assert _run(data, dtype) == []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_model_without_parameters_runs_with_zero_steps(dtype):
    data = spec(FLAT, [{"type": "tanh"}], "mean_squared_error")
    del data["loss"]["from_logits"]
    data["steps"] = 0
    assert _run(data, dtype) == []
