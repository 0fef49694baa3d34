"""The spec vocabulary: every layer, loss and optimizer type with its fields, checks and Keras
defaults (the tables the parser fills specs from), and the other names a spec may use."""
from __future__ import annotations

from parity.spec.checks import (_ACTIVATION, _BOOL, _FINITE, _NONNEG_F, _PADDING, _POS, _POSITIVE, _SIZE,
                                _UNIT_OPEN, _axes_check, _axis_check, _choice_check, _F, _Field,
                                _layer_object_check, _optional, _padding_1d_check, _pair_check,
                                _target_shape_check, _window_padding_check, _zero_padding_check)


_CONV_WINDOW = (_F("strides", _SIZE, (1, 1)), _F("padding", _PADDING, "valid"),
                _F("dilation_rate", _SIZE, (1, 1)))
_POOL = (_F("pool_size", _SIZE, (2, 2)), _F("strides", _optional(_SIZE), None), _F("padding", _PADDING, "valid"))
_POOL_1D = (_F("pool_size", _POS, 2), _F("strides", _optional(_POS), None), _F("padding", _window_padding_check(), "valid"))
RECURRENT_TYPES = ("simple_rnn", "lstm", "gru")
MERGE_MODES = ("concat", "sum", "mul", "ave")

# Activations usable as a layer type, with their parameters (defaults = scratchnet.activations'
# and keras.activations').
_ACTIVATION_LAYERS: dict[str, tuple[_Field, ...]] = {
    "sigmoid": (), "tanh": (), "relu": (),
    "leaky_relu": (_F("negative_slope", _FINITE, 0.2),),
    "elu": (_F("alpha", _FINITE, 1.0),),
    "selu": (),
    "gelu": (_F("approximate", _BOOL, False),),
    "softplus": (), "silu": (), "hard_sigmoid": (),
    "relu6": (), "hard_silu": (), "softsign": (), "log_sigmoid": (),
    "celu": (_F("alpha", _POSITIVE, 1.0),),
    "hard_tanh": (), "mish": (),
    "softmax": (_F("axis", _axis_check(), -1),),
    "log_softmax": (_F("axis", _axis_check(), -1),),
}

_LAYERS: dict[str, tuple[_Field, ...]] = {
    "dense": (_F("units", _POS), _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "conv2d": (_F("filters", _POS), _F("kernel_size", _SIZE), *_CONV_WINDOW, _F("groups", _POS, 1),
               _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "depthwise_conv2d": (_F("kernel_size", _SIZE), _F("depth_multiplier", _POS, 1), *_CONV_WINDOW,
                         _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "max_pool2d": _POOL,
    "average_pool2d": _POOL,
    "global_average_pool2d": (),
    "flatten": (),
    "reshape": (_F("target_shape", _target_shape_check()),),
    "dropout": (_F("rate", _UNIT_OPEN),),
    "batch_normalization": (_F("momentum", _UNIT_OPEN, 0.99), _F("epsilon", _POSITIVE, 1e-3)),
    "layer_normalization": (_F("epsilon", _POSITIVE, 1e-3), _F("axis", _axes_check(), -1)),
    "embedding": (_F("input_dim", _POS), _F("output_dim", _POS)),
    "simple_rnn": (_F("units", _POS), _F("return_sequences", _BOOL, False),
                   _F("activation", _ACTIVATION, "tanh")),
    "lstm": (_F("units", _POS), _F("return_sequences", _BOOL, False)),
    "gru": (_F("units", _POS), _F("return_sequences", _BOOL, False), _F("reset_after", _BOOL, True)),
    "conv1d": (_F("filters", _POS), _F("kernel_size", _POS), _F("strides", _POS, 1),
               _F("padding", _padding_1d_check(), "valid"), _F("dilation_rate", _POS, 1), _F("groups", _POS, 1),
               _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "conv2d_transpose": (_F("filters", _POS), _F("kernel_size", _SIZE), _F("strides", _SIZE, (1, 1)),
                         _F("padding", _window_padding_check(), "valid"),
                         _F("output_padding", _optional(_pair_check(0)), None),
                         _F("dilation_rate", _SIZE, (1, 1)), _F("use_bias", _BOOL, True)),
    "up_sampling2d": (_F("size", _SIZE, (2, 2)), _F("interpolation", _choice_check(("nearest", "bilinear")), "nearest")),
    "zero_padding2d": (_F("padding", _zero_padding_check(), ((1, 1), (1, 1))),),
    "global_max_pool2d": (),
    "max_pool1d": _POOL_1D,
    "average_pool1d": _POOL_1D,
    "global_average_pool1d": (),
    "global_max_pool1d": (),
    "bidirectional": (_F("layer", _layer_object_check(RECURRENT_TYPES)),
                      _F("merge_mode", _choice_check(MERGE_MODES), "concat")),
    "activation": (_F("activation", _ACTIVATION),),
    **_ACTIVATION_LAYERS,
    # merges: several inputs (a layer's "inputs"), one output
    "add": (), "subtract": (), "multiply": (), "average": (), "maximum": (), "minimum": (),
    "concatenate": (_F("axis", _axis_check(), -1),),
}

# Keys every layer may carry besides its type's fields (DESIGN.md "Graphs"): key -> (default, what it
# accepts, JSON Schema). parse._graph_fields checks their form, parity.spec.plan what they refer to.
LAYER_GRAPH_KEYS: dict[str, tuple[str, str, dict]] = {
    "name": ("`<index>_<type>`", 'letters, digits, _ and -; unique after defaults; not "input" (the model\'s '
             "input); tensor keys are `<name>/<param>`", {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
    "inputs": ("the layer before (the first: the input)", 'a list of names of earlier layers, or "input"; '
               "merges take two or more (subtract two), every other layer one. The model's output is the last "
               "layer's; every other layer's output must be read by a later layer",
               {"type": "array", "items": {"type": "string"}}),
}

_LOSSES: dict[str, tuple[_Field, ...]] = {
    "sum_squared_error": (),
    "mean_squared_error": (),
    "binary_crossentropy": (_F("from_logits", _BOOL, False),),
    "categorical_crossentropy": (_F("from_logits", _BOOL, False),),
    "sparse_categorical_crossentropy": (_F("from_logits", _BOOL, False),),
    "huber": (_F("delta", _POSITIVE, 1.0),),
}

_LR = _POSITIVE
_OPTIMIZERS: dict[str, tuple[_Field, ...]] = {
    "sgd": (_F("learning_rate", _LR, 0.01), _F("momentum", _UNIT_OPEN, 0.0), _F("nesterov", _BOOL, False),
            _F("weight_decay", _NONNEG_F, 0.0)),
    "rmsprop": (_F("learning_rate", _LR, 0.001), _F("rho", _UNIT_OPEN, 0.9), _F("momentum", _UNIT_OPEN, 0.0),
                _F("epsilon", _NONNEG_F, 1e-7), _F("centered", _BOOL, False)),
    "adam": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
             _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.0)),
    "adamw": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
              _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.004)),
    "adagrad": (_F("learning_rate", _LR, 0.001), _F("initial_accumulator_value", _NONNEG_F, 0.1),
                _F("epsilon", _NONNEG_F, 1e-7)),
}

LAYER_TYPES: tuple[str, ...] = tuple(_LAYERS)
ACTIVATION_LAYER_TYPES: tuple[str, ...] = tuple(_ACTIVATION_LAYERS)
LOSS_TYPES: tuple[str, ...] = tuple(_LOSSES)
OPTIMIZER_TYPES: tuple[str, ...] = tuple(_OPTIMIZERS)
DTYPES: tuple[str, ...] = ("float32", "float64")
DATASETS: tuple[str, ...] = ("xor", "digits")
INPUT_KINDS: tuple[str, ...] = ("normal", "uniform", "integers")
DIGITS_SAMPLES = 1797  # images in scikit-learn's load_digits
XOR_INPUT_SHAPE = (4, 3)

def _mapped(fact: str) -> dict:
    """{type: that fact of its mapping} for every layer type with one (the mapping is the fact's
    home: parity/mappings/<family>.py; these are the parser's views of it)."""
    from parity.mappings import REGISTRY

    return {t: getattr(REGISTRY[t], fact) for t in _LAYERS if t in REGISTRY}


# spec type -> scratchnet class name (constructor keywords = the spec's field names)
SCRATCH_CLASSES: dict[str, str] = _mapped("scratch_class")

_TOP_KEYS = ("name", "seed", "dtype", "input_shape", "input", "layers", "loss", "optimizer", "steps",
             "training", "data")
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "hard_sigmoid")
# layer types that own trainable parameters (a model with none of them gives the optimizer nothing to update)
_TRAINABLE_LAYERS = frozenset(t for t, yes in _mapped("trainable").items() if yes)
# layer types that move or select values without changing any (the final-activation check looks through them)
_VALUE_PRESERVING = tuple(t for t, yes in _mapped("value_preserving").items() if yes)
