"""The spec vocabulary: every layer, loss and optimizer type with its fields, checks and Keras
defaults (the tables the parser fills specs from), and the other names a spec may use."""
from __future__ import annotations

from parity.spec.checks import (MAX_LAYER_NAME_LENGTH, _ACTIVATION, _BOOL, _FINITE, _NONNEG, _NONNEG_F, _PADDING, _POS, _POSITIVE, _SIZE,
                                _UNIT_CLOSED, _UNIT_OPEN, _WEIGHTS, _axes_check, _axis_check, _Check, _choice_check,
                                _F, _Field, _float_check, _is_int, _layer_object_check, _learning_rate_check,
                                _optional, _padding_1d_check, _pair_check, _representable, _strings_check, _target_shape_check,
                                _window_padding_check, _zero_padding_check)
from parity.spec.errors import _Bad


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
    # attention: inputs [query], [query, value] or [query, value, key] (parity/mappings/attention.py)
    "multi_head_attention": (_F("num_heads", _POS), _F("key_dim", _POS), _F("value_dim", _optional(_POS), None),
                             _F("use_bias", _BOOL, True), _F("output_shape", _optional(_POS), None),
                             _F("causal", _BOOL, False)),
}

# Keys every layer may carry besides its type's fields (DESIGN.md "Graphs"): key -> (default, what it
# accepts, JSON Schema). parse._graph_fields checks their form, parity.spec.plan what they refer to.
LAYER_GRAPH_KEYS: dict[str, tuple[str, str, dict]] = {
    "name": ("`<index>_<type>`", f'at most {MAX_LAYER_NAME_LENGTH} letters, digits, _ and -; unique after defaults; '
             'not "input" (the model\'s input); tensor keys are `<name>/<param>`',
             {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": MAX_LAYER_NAME_LENGTH}),
    "inputs": ("the layer before (the first: the input)", 'a list of names of earlier layers, or "input"; '
               "merges take two or more (subtract two), multi_head_attention [query], [query, value] or "
               "[query, value, key], every other layer one. The model's output is the last "
               "layer's; every other layer's output must be read by a later layer",
               {"type": "array", "items": {"type": "string"}}),
}

# Loss fields (Keras's names, defaults and meanings; DESIGN.md "Training options"): every loss but
# the tutorial's sum_squared_error takes `reduction` and `sample_weight` (true: one weight per sample
# drawn in [0.5, 1.5) from the case's seed); `label_smoothing` the binary, categorical and focal
# cross-entropies; `class_weight` the categorical ones (one weight per class, (N, C) outputs).
LOSS_REDUCTIONS = ("sum_over_batch_size", "sum")
_WEIGHTED = (_F("reduction", _choice_check(LOSS_REDUCTIONS), "sum_over_batch_size"),
             _F("sample_weight", _BOOL, False))
_LOGITS = _F("from_logits", _BOOL, False)
_SMOOTHING = _F("label_smoothing", _UNIT_CLOSED, 0.0)
_CLASS_WEIGHT = _F("class_weight", _optional(_WEIGHTS), None)
_LOSSES: dict[str, tuple[_Field, ...]] = {
    "sum_squared_error": (),
    "mean_squared_error": _WEIGHTED,
    "mean_absolute_error": _WEIGHTED,
    "mean_absolute_percentage_error": _WEIGHTED,
    "mean_squared_logarithmic_error": _WEIGHTED,
    "huber": (_F("delta", _POSITIVE, 1.0), *_WEIGHTED),
    "log_cosh": _WEIGHTED,
    "cosine_similarity": (_F("axis", _axis_check(), -1), *_WEIGHTED),
    "hinge": _WEIGHTED,
    "squared_hinge": _WEIGHTED,
    "categorical_hinge": _WEIGHTED,
    "kl_divergence": _WEIGHTED,
    "poisson": _WEIGHTED,
    "binary_crossentropy": (_LOGITS, _SMOOTHING, *_WEIGHTED),
    "categorical_crossentropy": (_LOGITS, _SMOOTHING, _CLASS_WEIGHT, *_WEIGHTED),
    "sparse_categorical_crossentropy": (_LOGITS, _CLASS_WEIGHT, *_WEIGHTED),
    "binary_focal_crossentropy": (_F("gamma", _NONNEG_F, 2.0), _F("alpha", _UNIT_CLOSED, 0.25),
                                  _F("apply_class_balancing", _BOOL, False), _LOGITS, _SMOOTHING, *_WEIGHTED),
    "categorical_focal_crossentropy": (_F("gamma", _NONNEG_F, 2.0), _F("alpha", _NONNEG_F, 0.25), _LOGITS,
                                       _SMOOTHING, _CLASS_WEIGHT, *_WEIGHTED),
}
# why a loss field is refused on a loss type that lacks it (the parser's one-line message)
LOSS_FIELD_REFUSALS = {
    "label_smoothing": "Keras has label_smoothing only on the binary, categorical and focal cross-entropies "
                       "(not on sparse_categorical_crossentropy)",
    "class_weight": "class_weight applies to the categorical losses (categorical_crossentropy, "
                    "sparse_categorical_crossentropy, categorical_focal_crossentropy)",
    "sample_weight": "sum_squared_error (the tutorial's loss, no Keras class) takes no sample_weight",
    "reduction": "sum_squared_error (the tutorial's loss, no Keras class) has no reduction",
}

def _int_list_check() -> _Check:
    def fn(v):
        if not isinstance(v, (list, tuple)) or not all(_is_int(b) for b in v):
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        if not v or any(b < 0 for b in v):
            raise _Bad()
        return tuple(int(b) for b in v)
    return _Check("a non-empty list of step numbers (ints >= 0)", fn,
                  {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}})


def _rate_list_check() -> _Check:
    def fn(v):
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                       for x in v):
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        if not v or not all(x > 0 and _representable(float(x)) for x in v):
            raise _Bad()
        return tuple(float(x) for x in v)
    return _Check("a non-empty list of learning rates (finite numbers > 0)", fn,
                  {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}})


# Learning-rate schedules (Keras's keras.optimizers.schedules, snake_case; the key is "schedule")
_SCHEDULES: dict[str, tuple[_Field, ...]] = {
    "exponential_decay": (_F("initial_learning_rate", _POSITIVE), _F("decay_steps", _POS),
                          _F("decay_rate", _POSITIVE), _F("staircase", _BOOL, False)),
    "cosine_decay": (_F("initial_learning_rate", _POSITIVE), _F("decay_steps", _POS), _F("alpha", _UNIT_CLOSED, 0.0),
                     _F("warmup_target", _optional(_POSITIVE), None), _F("warmup_steps", _NONNEG, 0)),
    "piecewise_constant_decay": (_F("boundaries", _int_list_check()), _F("values", _rate_list_check())),
}
SCHEDULE_TYPES: tuple[str, ...] = tuple(_SCHEDULES)
CLIP_FIELDS = ("clipnorm", "clipvalue", "global_clipnorm")

_LR = _learning_rate_check(SCHEDULE_TYPES)
# fields of every optimizer (Keras's base optimizer), after its own
_OPTIONS = (*(_F(name, _optional(_POSITIVE), None) for name in CLIP_FIELDS),
            _F("exclude_from_weight_decay", _optional(_strings_check()), None))
_LION_BETA_1 = _float_check("a number in (0, 1] (0 makes Lion signSGD)", lambda x: 0 < x <= 1,
                            {"exclusiveMinimum": 0, "maximum": 1})
_OPTIMIZERS: dict[str, tuple[_Field, ...]] = {name: (*fields, *_OPTIONS) for name, fields in {
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
    "nadam": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
              _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.0)),
    "adamax": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
               _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.0)),
    "adadelta": (_F("learning_rate", _LR, 0.001), _F("rho", _UNIT_OPEN, 0.95), _F("epsilon", _NONNEG_F, 1e-7),
                 _F("weight_decay", _NONNEG_F, 0.0)),
    "lion": (_F("learning_rate", _LR, 0.001), _F("beta_1", _LION_BETA_1, 0.9), _F("beta_2", _UNIT_OPEN, 0.99),
             _F("weight_decay", _NONNEG_F, 0.0)),
}.items()}

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
