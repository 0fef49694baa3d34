"""parity.spec: parsing, defaults, errors (one line naming file and field), shapes, round trips."""
from __future__ import annotations

import copy
import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scratchnet
from parity import spec as spec_mod
from parity.spec import (ACTIVATION_LAYER_TYPES, LAYER_TYPES, FrozenDict, LayerSpec, SpecError,
                         catalog_dir, infer_shapes, load_catalog, load_spec, parse_spec, scratch_layer)
from parity.spec.vocabulary import _TRAINABLE_LAYERS


def need(*class_names: str) -> None:
    """Skip while a scratchnet layer class written by someone else has not landed yet."""
    missing = [c for c in class_names if not hasattr(scratchnet, c)]
    if missing:
        pytest.skip(f"scratchnet has no {', '.join(missing)} yet")


DESIGN_EXAMPLE = """
{
  "name": "cnn-same-stride2",
  "seed": 0,
  "dtype": "float64",
  "input_shape": [4, 9, 11, 2],
  "input": {"kind": "normal"},
  "layers": [
    {"type": "conv2d", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 5}
  ],
  "loss": {"type": "categorical_crossentropy", "from_logits": true},
  "optimizer": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.875, "beta_2": 0.9375},
  "steps": 3
}
"""

DESIGN_EXAMPLE_TOML = """
name = "cnn-same-stride2"
seed = 0
dtype = "float64"
input_shape = [4, 9, 11, 2]
steps = 3
input = { kind = "normal" }

[[layers]]
type = "conv2d"
filters = 3
kernel_size = 3
strides = 2
padding = "same"
activation = "relu"

[[layers]]
type = "max_pool2d"
pool_size = 2

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 5

[loss]
type = "categorical_crossentropy"
from_logits = true

[optimizer]
type = "adam"
learning_rate = 0.01
beta_1 = 0.875
beta_2 = 0.9375
"""


def base() -> dict:
    """A minimal valid spec using only Dense and activations (always available)."""
    return {
        "name": "mlp",
        "input_shape": [5, 4],
        "layers": [{"type": "dense", "units": 6, "activation": "tanh"}, {"type": "dense", "units": 3}],
        "loss": {"type": "mean_squared_error"},
        "optimizer": {"type": "sgd"},
    }


def error_of(data, source="case.json", from_scratchnet=False) -> SpecError:
    """The SpecError parse_spec raises: one line, starting with the file. Our own messages say
    "expected ..., got ..."; a message passed on from scratchnet keeps scratchnet's wording."""
    with pytest.raises(SpecError) as info:
        parse_spec(data, source)
    err = info.value
    text = str(err)
    assert "\n" not in text, text
    assert text.startswith(f"{source}: "), text
    if not from_scratchnet:
        assert ", got " in text, text
    return err


# ---- the DESIGN example, defaults, TOML ------------------------------------------------------------
def test_design_example_parses_with_defaults_filled():
    need("Conv2D", "MaxPool2D", "Flatten")
    s = parse_spec(json.loads(DESIGN_EXAMPLE), "case.json")
    assert s.name == "cnn-same-stride2" and s.input_shape == (4, 9, 11, 2) and s.steps == 3
    conv, pool, flat, dense = s.layers
    assert conv.type == "conv2d"
    assert conv.params == {"filters": 3, "kernel_size": (3, 3), "strides": (2, 2), "padding": "same",
                           "dilation_rate": (1, 1), "groups": 1, "activation": "relu", "use_bias": True}
    assert pool.params == {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}
    assert flat.params == {}
    assert dense.params == {"units": 5, "activation": "linear", "use_bias": True}
    assert s.optimizer.params == {"learning_rate": 0.01, "beta_1": 0.875, "beta_2": 0.9375,
                                  "epsilon": 1e-7, "weight_decay": 0.0, **NO_OPTIONS}
    assert s.loss.params == {"from_logits": True, "label_smoothing": 0.0, "class_weight": None,
                             "reduction": "sum_over_batch_size", "sample_weight": False}
    # 9x11 'same' stride 2 -> ceil: 5x6; pool 2 -> 2x3; flatten 18; dense 5
    assert infer_shapes(s) == [(5, 6, 3), (2, 3, 3), (18,), (5,)]


def test_toml_equivalent_gives_the_same_spec(tmp_path):
    need("Conv2D", "MaxPool2D", "Flatten")
    (tmp_path / "case.json").write_text(DESIGN_EXAMPLE)
    (tmp_path / "case.toml").write_text(DESIGN_EXAMPLE_TOML)
    a, b = load_spec(tmp_path / "case.json"), load_spec(tmp_path / "case.toml")
    assert a == b and hash(a) == hash(b)
    assert a.source.endswith("case.json") and b.source.endswith("case.toml")


def test_toml_equivalent_dense_only(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(base()))
    (tmp_path / "m.toml").write_text(
        'name = "mlp"\ninput_shape = [5, 4]\n[[layers]]\ntype = "dense"\nunits = 6\nactivation = "tanh"\n'
        '[[layers]]\ntype = "dense"\nunits = 3\n[loss]\ntype = "mean_squared_error"\n'
        '[optimizer]\ntype = "sgd"\n')
    assert load_spec(tmp_path / "m.json") == load_spec(tmp_path / "m.toml")


def test_top_level_defaults_filled():
    s = parse_spec(base(), "case.json")
    assert (s.seed, s.dtype, s.steps, s.training, s.data) == (0, "float64", 1, True, None)
    assert s.input.to_dict() == {"kind": "normal"}
    assert s.layers[1].params == {"units": 3, "activation": "linear", "use_bias": True}
    assert s.loss.params == {"reduction": "sum_over_batch_size", "sample_weight": False}
    assert s.optimizer.params == {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
                                  **NO_OPTIONS}
    assert infer_shapes(s) == [(6,), (3,)]


# the options every optimizer takes, unset by default
NO_OPTIONS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "exclude_from_weight_decay": None}


@pytest.mark.parametrize("opt, defaults", [
    ("sgd", {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}),
    ("rmsprop", {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    ("adam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0}),
    ("adamw", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.004}),
    ("adagrad", {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    ("nadam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0}),
    ("adamax", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0}),
    ("adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, "weight_decay": 0.0}),
    ("lion", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99, "weight_decay": 0.0}),
])
def test_optimizer_defaults_are_keras(opt, defaults):
    d = base()
    d["optimizer"] = {"type": opt}
    assert parse_spec(d).optimizer.params == {**defaults, **NO_OPTIONS}


@pytest.mark.parametrize("loss, defaults, final", [
    ("sum_squared_error", {}, "linear"),
    ("huber", {"delta": 1.0, "reduction": "sum_over_batch_size", "sample_weight": False}, "linear"),
    ("binary_crossentropy", {"from_logits": False, "label_smoothing": 0.0, "reduction": "sum_over_batch_size", "sample_weight": False}, "sigmoid"),
    ("categorical_crossentropy", {"from_logits": False, "label_smoothing": 0.0, "class_weight": None, "reduction": "sum_over_batch_size", "sample_weight": False}, "softmax"),
    ("sparse_categorical_crossentropy", {"from_logits": False, "class_weight": None, "reduction": "sum_over_batch_size", "sample_weight": False}, "softmax"),
    ("mean_absolute_error", {"reduction": "sum_over_batch_size", "sample_weight": False}, "linear"),
    ("cosine_similarity", {"axis": -1, "reduction": "sum_over_batch_size", "sample_weight": False}, "linear"),
    ("binary_focal_crossentropy", {"gamma": 2.0, "alpha": 0.25, "apply_class_balancing": False, "from_logits": False,
                                   "label_smoothing": 0.0, "reduction": "sum_over_batch_size", "sample_weight": False}, "sigmoid"),
    ("categorical_focal_crossentropy", {"gamma": 2.0, "alpha": 0.25, "from_logits": False, "label_smoothing": 0.0,
                                        "class_weight": None, "reduction": "sum_over_batch_size", "sample_weight": False}, "softmax"),
])
def test_loss_defaults(loss, defaults, final):
    d = base()
    d["layers"][-1]["activation"] = final
    d["loss"] = {"type": loss}
    assert parse_spec(d).loss.params == defaults


def test_layer_defaults_for_activation_types_match_scratchnet():
    for t in ACTIVATION_LAYER_TYPES:
        d = base()
        d["layers"].append({"type": t})
        layer = parse_spec(d).layers[-1]
        from parity.mappings.activations import FOLLOW_ONLY  # scratchnet-only keywords, never spec fields

        assert dict(layer.params) == {k: v for k, v in scratchnet.activations.get(t).params.items()
                                      if k not in FOLLOW_ONLY}, t
    d = base()
    d["layers"].append({"type": "leaky_relu"})
    assert parse_spec(d).layers[-1].params == {"negative_slope": 0.2}  # keras.activations, not torch 0.01


def test_int_and_float_normalisation():
    d = base()
    d["optimizer"] = {"type": "adam", "learning_rate": 1, "epsilon": 0}
    d["layers"].append({"type": "dropout", "rate": 0})
    s = parse_spec(d)
    assert s.optimizer.params["learning_rate"] == 1.0 and isinstance(s.optimizer.params["learning_rate"], float)
    assert isinstance(s.layers[-1].params["rate"], float)


def test_null_activation_means_linear():
    d = base()
    d["layers"][0]["activation"] = None
    assert parse_spec(d).layers[0].params["activation"] == "linear"


# ---- errors ---------------------------------------------------------------------------------------
def _set(path, value):
    """A mutation of base(): set data[path...] = value (path segments: keys and list indices)."""
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return d
    return mutate


def _delete(path):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return d
    return mutate


ERRORS = [
    # (id, mutation, field path, text in message)
    ("unknown top key", _set(["stepz"], 3), "stepz", 'did you mean "steps"'),
    ("unknown layer key", _set(["layers", 0, "unit"], 3), "layers[0].unit", 'unknown key "unit"'),
    ("unknown loss key", _set(["loss", "from_logits"], True), "loss.from_logits", "unknown key"),
    ("unknown optimizer key", _set(["optimizer", "lr"], 0.1), "optimizer.lr", "unknown key"),
    ("unknown input key", _set(["input"], {"kind": "normal", "high": 3}), "input.high", "unknown key"),
    ("missing name", _delete(["name"]), "name", "(required)"),
    ("missing layers", _delete(["layers"]), "layers", "(required)"),
    ("missing loss", _delete(["loss"]), "loss", "(required)"),
    ("missing optimizer", _delete(["optimizer"]), "optimizer", "(required)"),
    ("missing input_shape", _delete(["input_shape"]), "input_shape", "(required)"),
    ("missing units", _delete(["layers", 1, "units"]), "layers[1].units", "required by dense"),
    ("missing layer type", _delete(["layers", 0, "type"]), "layers[0].type", "(required)"),
    ("missing loss type", _set(["loss"], {}), "loss.type", "(required)"),
    ("empty layers", _set(["layers"], []), "layers", "got []"),
    ("layers not a list", _set(["layers"], {"type": "dense"}), "layers", "(an object)"),
    ("layer not an object", _set(["layers", 0], "dense"), "layers[0]", "(a string)"),
    ("wrong type units", _set(["layers", 0, "units"], "6"), "layers[0].units", 'got "6" (a string)'),
    ("bool as int", _set(["layers", 0, "units"], True), "layers[0].units", "got true (a bool)"),
    ("bool as seed", _set(["seed"], False), "seed", "(a bool)"),
    ("integral float as int", _set(["layers", 0, "units"], 6.0), "layers[0].units", "got 6.0 (a float)"),
    ("integral float steps", _set(["steps"], 2.0), "steps", "(a float)"),
    ("zero units", _set(["layers", 0, "units"], 0), "layers[0].units", "positive int, got 0"),
    ("negative seed", _set(["seed"], -1), "seed", "got -1"),
    ("negative steps", _set(["steps"], -1), "steps", "got -1"),
    ("bad dtype", _set(["dtype"], "float16"), "dtype", 'got "float16"'),
    ("bad training", _set(["training"], "yes"), "training", "(a string)"),
    ("bad name", _set(["name"], ""), "name", 'got ""'),
    ("bad data", _set(["data"], "mnist"), "data", 'got "mnist"'),
    ("bad input_shape", _set(["input_shape"], [5, 0]), "input_shape", "got [5, 0]"),
    ("input_shape float", _set(["input_shape"], [5, 4.0]), "input_shape", "got [5, 4.0]"),
    ("bad activation name", _set(["layers", 0, "activation"], "swish"), "layers[0].activation", 'got "swish"'),
    ("bool use_bias as int", _set(["layers", 0, "use_bias"], 1), "layers[0].use_bias", "(an int)"),
    ("dropout rate 1", _set(["layers", 1], {"type": "dropout", "rate": 1.0}), "layers[1].rate", "[0, 1)"),
    ("dropout rate nan", _set(["layers", 1], {"type": "dropout", "rate": float("nan")}), "layers[1].rate", "NaN"),
    ("bn momentum 1", _set(["layers", 1], {"type": "batch_normalization", "momentum": 1}),
     "layers[1].momentum", "[0, 1)"),
    ("bn epsilon 0", _set(["layers", 1], {"type": "batch_normalization", "epsilon": 0}),
     "layers[1].epsilon", "> 0"),
    ("lr zero", _set(["optimizer", "learning_rate"], 0), "optimizer.learning_rate", "> 0"),
    ("lr inf", _set(["optimizer", "learning_rate"], float("inf")), "optimizer.learning_rate", "Infinity"),
    ("beta out of range", _set(["optimizer"], {"type": "adam", "beta_1": 1.0}), "optimizer.beta_1", "[0, 1)"),
    ("negative weight decay", _set(["optimizer", "weight_decay"], -0.1), "optimizer.weight_decay", ">= 0"),
    ("nesterov without momentum", _set(["optimizer", "nesterov"], True), "optimizer.nesterov", "momentum"),
    ("huber delta", _set(["loss"], {"type": "huber", "delta": 0}), "loss.delta", "> 0"),
    ("unknown layer type", _set(["layers", 0, "type"], "dens"), "layers[0].type", 'did you mean "dense"'),
    ("unknown loss type", _set(["loss", "type"], "mse"), "loss.type", 'got "mse"'),
    ("unknown optimizer type", _set(["optimizer", "type"], "ftrl"), "optimizer.type", 'got "ftrl"'),
    ("layer type not a string", _set(["layers", 0, "type"], 3), "layers[0].type", "(an int)"),
    ("unknown input kind", _set(["input"], {"kind": "gaussian"}), "input.kind", 'got "gaussian"'),
    ("integers without high", _set(["input"], {"kind": "integers"}), "input.high", "required"),
    ("integers low >= high", _set(["input"], {"kind": "integers", "high": 3, "low": 3}), "input.low", "got 3"),
    ("integers without embedding", _set(["input"], {"kind": "integers", "high": 3}), "input.kind", "embedding"),
    ("softmax batch axis", _set(["layers", 1], {"type": "softmax", "axis": 0}), "layers[1].axis", "got 0"),
    ("softmax axis out of range", _set(["layers", 1], {"type": "softmax", "axis": 2}), "layers[1].axis", "got 2"),
    ("cce on one output", lambda d: (_set(["loss"], {"type": "categorical_crossentropy", "from_logits": True})(d),
                                     _set(["layers", 1, "units"], 1)(d))[1],
     "loss.type", "class axis of size >= 2"),
    ("probabilities from a linear layer", _set(["loss"], {"type": "categorical_crossentropy"}),
     "loss.from_logits", "ending in linear"),
    ("bce probabilities from relu", lambda d: (_set(["loss"], {"type": "binary_crossentropy"})(d),
                                              _set(["layers", 1, "activation"], "relu")(d))[1],
     "loss.from_logits", "ending in relu"),
    ("cce from sigmoid probabilities", lambda d: (_set(["loss"], {"type": "categorical_crossentropy"})(d),
                                                 _set(["layers", 1, "activation"], "sigmoid")(d))[1],
     "loss.from_logits", "ending in sigmoid"),
    ("scce from hard_sigmoid probabilities",
     lambda d: (_set(["loss"], {"type": "sparse_categorical_crossentropy"})(d),
                _set(["layers", 1, "activation"], "hard_sigmoid")(d))[1],
     "loss.from_logits", "torch does not"),
    ("steps without parameters", _set(["layers"], [{"type": "tanh"}]), "steps", "torch refuses an empty parameter list"),
    ("xor with wrong output", lambda d: (_delete(["input_shape"])(d), _set(["data"], "xor")(d))[1],
     "data", "(1,)"),
    ("xor with wrong input_shape", _set(["data"], "xor"), "input_shape", "[4, 3]"),
    ("data with a non-default input", lambda d: (_set(["data"], "xor")(d), _set(["input_shape"], [4, 3])(d),
                                           _set(["input"], {"kind": "uniform"})(d))[2], "input.kind", "uniform"),
    ("digits without input_shape", lambda d: (_set(["data"], "digits")(d), _delete(["input_shape"])(d))[1],
     "input_shape", "required"),
    ("digits wrong input_shape", _set(["data"], "digits"), "input_shape", "[N, 64]"),
    ("digits too many samples", lambda d: (_set(["data"], "digits")(d), _set(["input_shape"], [1798, 64])(d))[1],
     "input_shape", "1797"),
    ("digits wrong output", lambda d: (_set(["data"], "digits")(d), _set(["input_shape"], [20, 64])(d))[1],
     "data", "(10,)"),
    ("reshape bad target", _set(["layers", 1], {"type": "reshape", "target_shape": [-1, -1]}),
     "layers[1].target_shape", "[-1, -1]"),
    ("reshape misfit", _set(["layers", 1], {"type": "reshape", "target_shape": [4]}), "layers[1]", "target_shape"),
]


@pytest.mark.parametrize("mutate, path, text", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_one_line_naming_file_and_field(mutate, path, text):
    if path == "layers[1]":  # the misfit is found by scratchnet's Reshape
        need("Reshape")
    err = error_of(mutate(base()))
    assert err.path == path, str(err)
    assert str(err).startswith(f"case.json: {path}: "), str(err)
    assert text in str(err), str(err)


def test_spec_error_parts_and_pickle():
    err = error_of({**base(), "seed": -2})
    assert (err.source, err.path, err.message) == ("case.json", "seed", "expected an int >= 0, got -2")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == "seed" and isinstance(again, ValueError)


def test_top_level_not_an_object():
    with pytest.raises(SpecError, match=r"^case\.json: expected a spec object .*got \[1\] \(a list\)$"):
        parse_spec([1], "case.json")


def test_with_dtype():
    s = parse_spec(base(), "case.json")
    t = s.with_dtype("float32")
    assert t.dtype == "float32" and s.dtype == "float64" and t.layers == s.layers
    with pytest.raises(SpecError, match=r"^case\.json: dtype: "):
        s.with_dtype("float16")


# ---- shape errors through scratchnet ----------------------------------------------------------------
def test_conv_on_flat_input_names_the_layer():
    need("Conv2D")
    d = base()
    d["layers"].insert(1, {"type": "conv2d", "filters": 2, "kernel_size": 3})
    err = error_of(d)
    assert err.path == "layers[1]" and "(6,)" in str(err)


def test_kernel_larger_than_input():
    need("Conv2D", "Flatten")
    d = base()
    d["input_shape"] = [2, 5, 7, 3]
    d["layers"] = [{"type": "conv2d", "filters": 2, "kernel_size": [6, 3]}, {"type": "flatten"},
                   {"type": "dense", "units": 3}]
    err = error_of(d, from_scratchnet=True)
    assert err.path == "layers[0]" and "kernel_size" in str(err)


DENSE_ON_IMAGE = {"name": "dense-on-image", "seed": 3, "input_shape": [2, 3, 5, 5],
                  "layers": [{"type": "dense", "units": 4, "activation": "tanh"}, {"type": "conv2d", "filters": 2, "kernel_size": 2},
                             {"type": "flatten"}, {"type": "dense", "units": 3}],
                  "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def test_dense_on_an_unflattened_image_acts_on_the_channels_in_all_three():
    """Keras's Dense on (N, H, W, C) acts on C; torch's side moves NCHW's channels last around it."""
    from parity.run import run_case

    res = run_case(parse_spec(DENSE_ON_IMAGE))
    assert res.passed, [r for r in res.rows if not r["passed"]][:3]
    assert any(r["tensor"] == "0_dense" and r["backend_b"] == "torch" for r in res.rows)


def test_dense_on_an_image_acting_on_w_in_torch_is_caught(monkeypatch):
    """Planted: torch's Linear applied to the NCHW tensor as is (its last dim is W). W == C == units
    == 5 on purpose, so the planted module runs and its output has the expected shape; N, H stay distinct."""
    import torch.nn as nn

    from parity.mappings import dense
    from parity.run import run_case

    class OnW(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    monkeypatch.setattr(dense, "_channels_last", OnW)
    case = {**DENSE_ON_IMAGE, "layers": [{**DENSE_ON_IMAGE["layers"][0], "units": 5}, *DENSE_ON_IMAGE["layers"][1:]]}
    res = run_case(parse_spec(case))
    bad = [r for r in res.rows if not r["passed"] and r["quantity"] == "output" and r["tensor"] == "0_dense"]
    assert bad and {r["odd_one_out"] for r in bad} == {"torch"}


def test_conv_strides_with_dilation_refused():
    d = base()
    d["input_shape"] = [2, 9, 9, 1]
    d["layers"] = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}]
    assert error_of(d).path == "layers[0].dilation_rate"


def test_depthwise_unequal_strides_refused():
    d = base()
    d["input_shape"] = [2, 8, 7, 2]
    d["layers"] = [{"type": "depthwise_conv2d", "kernel_size": [3, 2], "strides": [2, 1], "padding": "same"}]
    err = error_of(d)
    assert err.path == "layers[0].strides" and "TensorFlow" in str(err) and str(err).endswith("got [2, 1]")
    d["layers"][0]["strides"] = [2, 2]
    assert parse_spec(d).layers[0].params["strides"] == (2, 2)
    d["layers"] = [{"type": "conv2d", "filters": 2, "kernel_size": 3, "strides": [2, 1]}]  # TF's conv2d takes them
    assert parse_spec(d).layers[0].params["strides"] == (2, 1)


def test_model_without_parameters_needs_zero_steps():
    d = base()
    d["layers"] = [{"type": "tanh"}]
    assert error_of(d).path == "steps"  # the default steps=1
    d["steps"] = 3
    assert "got 3" in str(error_of(d))
    d["steps"] = 0
    assert parse_spec(d).steps == 0
    d["input_shape"], d["layers"] = [2, 4, 4, 3], [{"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dropout", "rate": 0.5}]
    assert error_of({**d, "steps": 1}).path == "steps" and parse_spec(d).steps == 0
    d["layers"].append({"type": "batch_normalization"})  # any trainable layer makes steps >= 1 fine
    assert parse_spec({**d, "steps": 2}).steps == 2


def test_pool_padding_at_most_half_the_window():
    d = base()
    d["input_shape"] = [2, 9, 9, 1]
    d["layers"] = [{"type": "max_pool2d", "pool_size": 3, "padding": [1, 2]}]
    assert error_of(d).path == "layers[0].padding"


def test_conv_groups_must_divide_filters():
    need("Conv2D")
    d = base()
    d["input_shape"] = [2, 6, 6, 4]
    d["layers"] = [{"type": "conv2d", "filters": 3, "kernel_size": 3, "groups": 2}]
    assert error_of(d).path == "layers[0]"


def test_padding_and_sizes_normalised():
    need("Conv2D", "AveragePool2D", "GlobalAveragePool2D")
    d = base()
    d["input_shape"] = [2, 9, 10, 2]
    d["layers"] = [{"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "padding": 1},
                   {"type": "average_pool2d", "pool_size": [2, 3], "strides": [1, 2], "padding": [1, 1]},
                   {"type": "global_average_pool2d"}, {"type": "dense", "units": 2}]
    s = parse_spec(d)
    assert s.layers[0].params["padding"] == (1, 1) and s.layers[0].params["kernel_size"] == (3, 2)
    assert s.layers[1].params["strides"] == (1, 2)
    # conv: (9+2-3)+1 = 9, (10+2-2)+1 = 11; pool: (9+2-2)//1+1 = 10, (11+2-3)//2+1 = 6
    assert infer_shapes(s) == [(9, 11, 4), (10, 6, 4), (4,), (2,)]


def test_embedding_and_integer_input():
    need("Embedding", "LSTM")
    d = base()
    d["input_shape"] = [3, 7]
    d["input"] = {"kind": "integers", "high": 11}
    d["layers"] = [{"type": "embedding", "input_dim": 11, "output_dim": 4}, {"type": "lstm", "units": 5},
                   {"type": "dense", "units": 2}]
    s = parse_spec(d)
    assert s.input.to_dict() == {"kind": "integers", "high": 11, "low": 0}
    assert infer_shapes(s) == [(7, 4), (5,), (2,)]
    d["input"]["high"] = 12
    assert error_of(d).path == "input.high"
    d["input"] = {"kind": "normal"}
    assert error_of(d).path == "input.kind"
    d["input"] = {"kind": "integers", "high": 11}
    d["layers"].insert(1, {"type": "embedding", "input_dim": 3, "output_dim": 4})
    assert error_of(d).path == "layers[1].type"


def test_batch_norm_needs_more_than_one_value_per_channel_in_training():
    need("BatchNormalization")
    d = base()
    d["input_shape"] = [1, 4]
    d["layers"].insert(1, {"type": "batch_normalization"})
    assert error_of(d).path == "layers[1]"
    d["training"] = False
    assert parse_spec(d).layers[1].params == {"momentum": 0.99, "epsilon": 0.001}


def test_xor_implies_input_shape():
    d = base()
    del d["input_shape"]
    d["data"] = "xor"
    d["layers"][-1] = {"type": "dense", "units": 1, "activation": "sigmoid"}
    s = parse_spec(d)
    assert s.input_shape == (4, 3) and infer_shapes(s)[-1] == (1,)


def test_digits_accepts_flat_and_image_layouts():
    d = base()
    d["data"] = "digits"
    d["input_shape"] = [1797, 64]
    d["layers"][-1] = {"type": "dense", "units": 10}
    d["loss"] = {"type": "sparse_categorical_crossentropy", "from_logits": True}
    assert parse_spec(d).input_shape == (1797, 64)
    need("Flatten")
    d["input_shape"] = [32, 8, 8, 1]
    d["layers"].insert(0, {"type": "flatten"})
    assert infer_shapes(parse_spec(d))[0] == (64,)


# ---- files ------------------------------------------------------------------------------------------
def test_load_spec_file_errors(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.json: expected a readable file"):
        load_spec(tmp_path / "nope.json")
    (tmp_path / "a.yaml").write_text("name: x")
    with pytest.raises(SpecError, match=r"a\.yaml: expected a \.json or \.toml"):
        load_spec(tmp_path / "a.yaml")
    (tmp_path / "bad.json").write_text('{"name": "x",\n "seed": }')
    with pytest.raises(SpecError, match=r"bad\.json: line 2 column 10: expected valid JSON, got "):
        load_spec(tmp_path / "bad.json")
    (tmp_path / "dup.json").write_text('{"name": "x", "name": "y"}')
    with pytest.raises(SpecError, match=r"dup\.json: name: expected each key once"):
        load_spec(tmp_path / "dup.json")
    (tmp_path / "bad.toml").write_text('name = "x\n')
    with pytest.raises(SpecError, match=r"bad\.toml: expected valid TOML, got ") as info:
        load_spec(tmp_path / "bad.toml")
    assert "\n" not in str(info.value)
    (tmp_path / "case.json").write_text(json.dumps({**base(), "seed": True}))
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "case.json")
    assert str(info.value) == f"{tmp_path / 'case.json'}: seed: expected an int >= 0, got true (a bool)"


def test_catalog_loads_sorted_and_rejects_duplicate_names(tmp_path, monkeypatch):
    specs = load_catalog()
    assert [s.name for s in specs] == sorted(s.name for s in specs)
    assert catalog_dir().name == "catalog" and catalog_dir().parent.name == "parity"
    folder = tmp_path / "parity" / "catalog"
    folder.mkdir(parents=True)
    monkeypatch.setattr(spec_mod.files, "catalog_dir", lambda: folder)
    assert load_catalog() == []
    (folder / "b.json").write_text(json.dumps({**base(), "name": "zeta"}))
    (folder / "a.json").write_text(json.dumps({**base(), "name": "alpha"}))
    (folder / "notes.txt").write_text("ignored")
    assert [s.name for s in load_catalog()] == ["alpha", "zeta"]
    (folder / "c.json").write_text(json.dumps({**base(), "name": "alpha"}))
    with pytest.raises(SpecError, match=r"c\.json: name: expected a name unique in the catalog"):
        load_catalog()


# ---- immutability, scratch_layer --------------------------------------------------------------------
def test_spec_is_frozen_hashable_and_copyable():
    s = parse_spec(base(), "case.json")
    with pytest.raises(TypeError):
        s.layers[0].params["units"] = 3
    with pytest.raises(Exception):
        s.name = "other"
    assert isinstance(s.layers[0].params, dict) and isinstance(s.layers[0].params, FrozenDict)
    assert pickle.loads(pickle.dumps(s)) == s == copy.deepcopy(s)
    assert len({s, parse_spec(base(), "other.json")}) == 1
    json.dumps(s.to_dict())


def test_scratch_layer_builds_the_scratchnet_class():
    s = parse_spec(base())
    layer = scratch_layer(s.layers[0], name="first")
    assert isinstance(layer, scratchnet.Dense) and layer.name == "first" and layer.units == 6
    act = scratch_layer(LayerSpec("leaky_relu", FrozenDict(negative_slope=0.1)))
    assert isinstance(act, scratchnet.Activation) and act.activation.params == {"negative_slope": 0.1}
    act = scratch_layer(LayerSpec("activation", FrozenDict(activation="relu")))
    assert act.activation.name == "relu"


def test_every_layer_type_has_a_scratchnet_class_name():
    assert set(LAYER_TYPES) == set(spec_mod.SCRATCH_CLASSES)


# ---- property tests ----------------------------------------------------------------------------------
_ACT_NAMES = [n for n in scratchnet.activations.NAMES]


@st.composite
def dense_stacks(draw):
    """A random valid stack of dense and activation layers, and the shapes computed by hand."""
    feature_dims = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))
    input_shape = [draw(st.integers(1, 5)), *feature_dims]
    shape = tuple(feature_dims)
    layers, shapes = [], []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            units = draw(st.integers(1, 8))
            layer = {"type": "dense", "units": units}
            if draw(st.booleans()):
                layer["activation"] = draw(st.sampled_from(_ACT_NAMES + [None]))
            if draw(st.booleans()):
                layer["use_bias"] = draw(st.booleans())
            shape = (*shape[:-1], units)
        else:
            t = draw(st.sampled_from(list(ACTIVATION_LAYER_TYPES) + ["activation"]))
            layer = {"type": t}
            if t == "activation":
                layer["activation"] = draw(st.sampled_from(_ACT_NAMES))
            elif t == "leaky_relu" and draw(st.booleans()):
                layer["negative_slope"] = draw(st.floats(-2, 2, allow_nan=False))
            elif t in ("softmax", "log_softmax") and draw(st.booleans()):
                rank = len(shape) + 1
                layer["axis"] = draw(st.sampled_from([a for a in range(1 - rank, rank) if a != 0]))
        layers.append(layer)
        shapes.append(shape)
    data = {"name": "random", "seed": draw(st.integers(0, 2**31)), "input_shape": input_shape,
            "layers": layers, "loss": {"type": "mean_squared_error"},
            "optimizer": {"type": draw(st.sampled_from(spec_mod.OPTIMIZER_TYPES))},
            "dtype": draw(st.sampled_from(["float32", "float64"]))}
    if not any(layer["type"] == "dense" for layer in layers):
        data["steps"] = 0  # nothing to train: steps >= 1 is refused
    return data, shapes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_stacks())
def test_random_dense_stacks_parse_infer_and_round_trip(case):
    data, shapes = case
    s = parse_spec(data, "random.json")
    assert infer_shapes(s) == shapes
    assert len(s.layers) == len(data["layers"])
    back = parse_spec(json.loads(json.dumps(s.to_dict())), "again.json")
    assert back == s and back.to_dict() == s.to_dict()


def test_round_trip_of_every_layer_type_available():
    """to_dict -> parse_spec is the identity, also for tuple-valued fields."""
    need("Conv2D", "MaxPool2D", "Flatten")
    s = parse_spec(json.loads(DESIGN_EXAMPLE))
    assert parse_spec(s.to_dict()) == s
    d = base()
    d["layers"].append({"type": "softmax"})
    d["input"] = {"kind": "uniform"}
    d["loss"] = {"type": "categorical_crossentropy"}
    d["optimizer"] = {"type": "rmsprop", "centered": True}
    d["training"] = False
    s = parse_spec(d)
    assert parse_spec(s.to_dict()) == s


# one fitting example per layer type: (input_shape, layer, expected output shape without batch)
EVERY_LAYER = [
    ([2, 3], {"type": "dense", "units": 4}, (4,)),
    ([2, 6, 5, 2], {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "groups": 2}, (6, 5, 4)),
    ([2, 6, 5, 2], {"type": "depthwise_conv2d", "kernel_size": [3, 2], "depth_multiplier": 3}, (4, 4, 6)),
    ([2, 6, 5, 2], {"type": "max_pool2d", "pool_size": 2, "strides": 1}, (5, 4, 2)),
    ([2, 6, 5, 2], {"type": "average_pool2d", "pool_size": 3, "padding": "same"}, (2, 2, 2)),
    ([2, 6, 5, 2], {"type": "global_average_pool2d"}, (2,)),
    ([2, 6, 5, 2], {"type": "flatten"}, (60,)),
    ([2, 6, 5], {"type": "reshape", "target_shape": [-1, 3]}, (10, 3)),
    ([2, 6], {"type": "dropout", "rate": 0.25}, (6,)),
    ([2, 6], {"type": "batch_normalization", "momentum": 0.5}, (6,)),
    ([2, 4, 6], {"type": "layer_normalization", "axis": [-2, -1]}, (4, 6)),
    ([2, 4, 6], {"type": "simple_rnn", "units": 3, "return_sequences": True, "activation": "relu"}, (4, 3)),
    ([2, 4, 6], {"type": "lstm", "units": 3}, (3,)),
    ([2, 4, 6], {"type": "gru", "units": 3, "reset_after": False, "return_sequences": True}, (4, 3)),
    ([2, 4, 6], {"type": "activation", "activation": "gelu"}, (4, 6)),
    ([2, 4, 6], {"type": "gelu", "approximate": True}, (4, 6)),
    ([2, 4, 6], {"type": "softmax", "axis": 1}, (4, 6)),
    ([2, 9, 4], {"type": "conv1d", "filters": 6, "kernel_size": 3, "strides": 2, "padding": "causal"}, (5, 6)),
    ([2, 4, 3, 5], {"type": "conv2d_transpose", "filters": 2, "kernel_size": [3, 2], "strides": 2,
                    "padding": "same"}, (8, 6, 2)),
    ([2, 4, 3, 5], {"type": "up_sampling2d", "size": [2, 3], "interpolation": "bilinear"}, (8, 9, 5)),
    ([2, 4, 3, 5], {"type": "zero_padding2d", "padding": [[0, 1], [2, 3]]}, (5, 8, 5)),
    ([2, 4, 3, 5], {"type": "global_max_pool2d"}, (5,)),
    ([2, 9, 4], {"type": "max_pool1d", "pool_size": 3, "padding": "same"}, (3, 4)),
    ([2, 9, 4], {"type": "average_pool1d", "pool_size": 2, "strides": 1}, (8, 4)),
    ([2, 9, 4], {"type": "global_average_pool1d"}, (4,)),
    ([2, 9, 4], {"type": "global_max_pool1d"}, (4,)),
    ([2, 9, 4], {"type": "bidirectional", "layer": {"type": "gru", "units": 3, "return_sequences": True},
                 "merge_mode": "concat"}, (9, 6)),
    ([2, 4, 6], {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3, "output_shape": 5}, (4, 5)),
]


@pytest.mark.parametrize("input_shape, layer, expected", EVERY_LAYER, ids=[e[1]["type"] for e in EVERY_LAYER])
def test_every_layer_type_constructs_in_scratchnet(input_shape, layer, expected):
    need(spec_mod.SCRATCH_CLASSES[layer["type"]])
    d = base()
    d["input_shape"] = input_shape
    d["layers"] = [layer]
    d["steps"] = 0  # a layer without parameters alone may not be trained
    s = parse_spec(d)
    assert infer_shapes(s) == [expected]
    assert parse_spec(s.to_dict()) == s
    built = scratch_layer(s.layers[0], name="x").build(tuple(input_shape[1:]), s.dtype)
    assert built.output_shape == expected
    # the parser's table of trainable layer types is exactly the layers scratchnet gives parameters
    assert bool(built.params) == (layer["type"] in _TRAINABLE_LAYERS), layer["type"]


def test_embedding_layer_constructs():
    need("Embedding")
    d = base()
    d["input_shape"], d["input"] = [2, 5], {"kind": "integers", "high": 7, "low": 1}
    d["layers"] = [{"type": "embedding", "input_dim": 9, "output_dim": 3}]
    s = parse_spec(d)
    assert infer_shapes(s) == [(5, 3)] and s.input.to_dict() == {"kind": "integers", "high": 7, "low": 1}
    assert parse_spec(s.to_dict()) == s
    assert scratch_layer(s.layers[0], name="x").build((5,), s.dtype).params and "embedding" in _TRAINABLE_LAYERS


def test_every_layer_type_is_classified_trainable_or_not():
    from parity.mappings import REGISTRY

    merges = {t for t, m in REGISTRY.items() if m.family == "merge"}  # in a graph: test_graph_specs.py
    covered = {e[1]["type"] for e in EVERY_LAYER} | {"embedding"} | set(ACTIVATION_LAYER_TYPES) | merges
    assert covered == set(LAYER_TYPES)
    assert _TRAINABLE_LAYERS <= set(LAYER_TYPES)
    assert not _TRAINABLE_LAYERS & set(ACTIVATION_LAYER_TYPES)


def test_names_are_safe_file_names():
    from parity.spec import SpecError, parse_spec

    base = {"input_shape": [2, 3], "layers": [{"type": "dense", "units": 2}],
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}}
    for bad in ("../escaped", "a/b", ".hidden", "has space"):
        with pytest.raises(SpecError, match="name"):
            parse_spec(dict(base, name=bad))
    assert parse_spec(dict(base, name="ok-name_1.2")).name == "ok-name_1.2"


def test_momentum_of_one_is_a_spec_error():
    from parity.spec import SpecError, parse_spec

    base = {"name": "m", "input_shape": [2, 3], "layers": [{"type": "dense", "units": 2}],
            "loss": {"type": "mean_squared_error"}}
    with pytest.raises(SpecError, match=r"optimizer\.momentum"):
        parse_spec(dict(base, optimizer={"type": "sgd", "momentum": 1.0}))
