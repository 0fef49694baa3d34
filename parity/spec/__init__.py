"""Spec files: parse, validate, fill in every default, and infer shapes before anything is built.

A spec file (JSON, or TOML with the same keys) describes one case: a model (a stack, or a graph of
layers), its input,
its loss and optimizer. DESIGN.md's "Spec files" section is the contract; this module is its
strict reading. ``load_spec(path)`` / ``parse_spec(data, source)`` return a frozen ``CaseSpec``
whose every field is filled in, or raise ``SpecError`` with ONE line::

    <file>: <field path>: <what was expected>, got <what was found>
    case.json: layers[2].kernel_size: expected a positive int or an [h, w] pair of them, got 0
    case.json: layers[1]: conv2d: input_shape: expected an image (H, W, C) ..., got (10,)

(file-level problems, e.g. a file that does not exist, have no field path.)

Strictness
----------
- Unknown keys anywhere are errors (with a "did you mean" hint); so are missing required keys.
- Types are checked exactly: a bool is not an int, and an integral float (``3.0``) is not an int.
  A float field accepts an int and stores it as a float. Numbers must be finite.
- A JSON object with the same key twice is an error (json would silently keep the last).

Limits (hostile input is refused in the time a file read takes, one line each)
-----------------------------------------------------------------------------
- ``files.MAX_SPEC_BYTES`` (1 MiB): at most that many bytes are read; only a regular file is read
  (a FIFO, a device such as a symlink to /dev/zero, a socket or a folder is refused by ``fstat``
  after an ``O_NONBLOCK`` open that never blocks).
- ``parse.MAX_DEPTH`` (16) levels of nesting, ``parse.MAX_INT`` (int64) for every int, checked
  before any field; the JSON and TOML parsers' own RecursionError and digit limit become one line.
- ``parse.MAX_LAYERS`` (1024) layers; ``checks.MAX_NAME_LENGTH`` (128) characters of a name.
- ``shapes.MAX_ELEMENTS`` per tensor, ``shapes.MAX_TRAJECTORY`` for steps x parameters (here), and
  ``shapes.WORK_BUDGET`` for the work of running the case (``shapes.check_work``, called by
  ``parity.run.check_supported`` before any case runs).

Top-level keys (default in brackets)
------------------------------------
``name`` (required: a non-empty one-line string), ``seed`` [0] (int >= 0), ``dtype``
["float64"] ("float32" | "float64"), ``input_shape`` (batch first, positive ints; required unless
``data`` is "xor"), ``input`` [{"kind": "normal"}], ``layers`` (required, non-empty), ``loss``
(required), ``optimizer`` (required), ``steps`` [1] (int >= 0), ``training`` [true], ``data``
[null] (null | "xor" | "digits").

``input``: ``{"kind": "normal"}`` (standard normal), ``{"kind": "uniform"}`` (the generator's
documented range), or ``{"kind": "integers", "high": V, "low": 0}``: token ids in [low, high),
``high`` required and > low >= 0. Integer input is allowed only when the first layer is an
``embedding`` (and then required), with ``high <= input_dim``; an embedding may only be first.

Datasets (``data``): the input comes from the data set, so ``input`` may only be the default.
- "xor": the seed tutorial's four rows of three features: ``input_shape`` is [4, 3] (implied when
  left out, an error when different) and the model's output must be (1,) per sample.
- "digits": scikit-learn's 8x8 digits (1797 images). ``input_shape`` is required and must be
  [N, 64] (flat) or [N, 8, 8, 1] (images) with 1 <= N <= 1797 (the first N images). Targets are
  one-hot over 10 classes (class ids for sparse_categorical_crossentropy), so the model's output
  must be (10,) per sample, whatever the loss.

Layers (``type`` and fields; every field is filled in with the Keras default)
-----------------------------------------------------------------------------
=======================  ===================================================================
dense                    units, activation="linear", use_bias=true
conv2d                   filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                         groups=1, activation="linear", use_bias=true
depthwise_conv2d         kernel_size, depth_multiplier=1, strides=1, padding="valid",
                         dilation_rate=1, activation="linear", use_bias=true
max_pool2d               pool_size=2, strides=null (-> pool_size, as Keras), padding="valid"
average_pool2d           as max_pool2d
global_average_pool2d    (none)
flatten                  (none)
reshape                  target_shape (positive ints, at most one -1; no batch axis)
dropout                  rate (in [0, 1))
batch_normalization      momentum=0.99 (in [0, 1), Keras meaning), epsilon=0.001 (> 0)
layer_normalization      epsilon=0.001 (> 0), axis=-1 (nonzero int or list of them)
embedding                input_dim, output_dim
simple_rnn               units, return_sequences=false, activation="tanh"
lstm                     units, return_sequences=false
gru                      units, return_sequences=false, reset_after=true
activation               activation (a name)
sigmoid, tanh, relu, selu, softplus, silu, hard_sigmoid   (none)
leaky_relu               negative_slope=0.2
elu                      alpha=1.0
gelu                     approximate=false
softmax, log_softmax     axis=-1 (a nonzero int: Keras counts the batch axis as 0)
=======================  ===================================================================

- Sizes, strides and dilations: an int or an [h, w] pair of positive ints; stored as an (h, w)
  tuple. ``padding``: "valid", "same", or a non-negative int / [h, w] pair (explicit symmetric
  padding, stored as a tuple).
- ``activation`` fields take a name from ``scratchnet.activations.NAMES`` (null means "linear",
  as in Keras); a parametrised activation used this way gets its default parameters.
- leaky_relu's default slope is 0.2, the ``keras.activations.leaky_relu`` default; torch's
  ``LeakyReLU`` defaults to 0.01 and the Keras ``LeakyReLU`` *layer* to 0.3. Set it explicitly.
  Any finite slope is accepted, negative too (the Keras side is built from the function, since the
  ``LeakyReLU`` layer refuses negative slopes).

Extra checks made here, each because a backend would refuse or misread the model:
- conv2d / depthwise_conv2d: strides > 1 together with dilation_rate > 1 (Keras refuses it).
- depthwise_conv2d: unequal strides, e.g. [2, 1] (TensorFlow's depthwise kernel supports only
  equal row and column strides; it fails in float64, and ``--dtype`` may change the dtype later).
- pooling with int padding: at most half the pool size per axis (torch refuses more).
- softmax / log_softmax ``axis`` must name a non-batch axis of the layer's input.
- batch_normalization in training mode needs more than one value per channel (torch refuses).
- sgd ``nesterov`` needs ``momentum > 0`` (torch refuses).
- ``steps`` must be 0 when no layer has trainable parameters (only dense, conv2d,
  depthwise_conv2d, batch_normalization, layer_normalization, embedding, simple_rnn, lstm and gru
  have any): the optimizer has nothing to update, and torch refuses an empty parameter list.

Losses: sum_squared_error, mean_squared_error, binary_crossentropy(from_logits=false),
categorical_crossentropy(from_logits=false), sparse_categorical_crossentropy(from_logits=false),
huber(delta=1.0, > 0). Targets must fit: the categorical losses need a final class axis of size
>= 2. With ``from_logits`` false the output must be probabilities: for binary_crossentropy the
last layer that changes values (flatten, reshape and pooling are looked through) must end in
softmax, sigmoid or hard_sigmoid (otherwise scratchnet's and torch's losses refuse, or Keras
silently clips). categorical_crossentropy and sparse_categorical_crossentropy need more: the LAST
layer itself must end in a softmax over the last (class) axis (a softmax layer with axis -1 or
its positive equivalent, a fused ``activation: "softmax"``, or an ``activation`` layer naming
softmax), because Keras (and scratchnet) divide the output by its sum over the classes and torch
does not; they agree only on rows that already sum to 1, which a sigmoid, or a pooled or reshaped
softmax, does not give.

Optimizers (Keras defaults filled in; ``learning_rate`` finite > 0):
sgd(learning_rate=0.01, momentum=0.0 in [0, 1), nesterov=false, weight_decay=0.0 >= 0),
rmsprop(learning_rate=0.001, rho=0.9 in [0, 1), momentum=0.0 in [0, 1), epsilon=1e-7 >= 0,
centered=false), adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999 (in [0, 1)), epsilon=1e-7,
weight_decay=0.0), adamw(same, weight_decay=0.004), adagrad(learning_rate=0.001,
initial_accumulator_value=0.1 >= 0, epsilon=1e-7), nadam and adamax(learning_rate=0.001,
beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0), adadelta(learning_rate=0.001,
rho=0.95, epsilon=1e-7, weight_decay=0.0), lion(learning_rate=0.001, beta_1=0.9 in (0, 1],
beta_2=0.99, weight_decay=0.0). Every optimizer also takes clipnorm, clipvalue, global_clipnorm
(null or > 0; at most one: Keras refuses two) and exclude_from_weight_decay (null or a list of
strings; one that re.search finds in no parameter name of the model is refused by
``parity.run.check_supported``). ``learning_rate`` may be a schedule object: exponential_decay
(initial_learning_rate, decay_steps, decay_rate, staircase=false), cosine_decay
(initial_learning_rate, decay_steps, alpha=0.0, warmup_target=null, warmup_steps=0),
piecewise_constant_decay (boundaries strictly increasing, values: one more than boundaries).

Graphs (DESIGN.md "Graphs"): every layer may carry ``name`` (letters, digits, _ and -; default
``<index>_<type>``; unique after defaults; not "input") and ``inputs`` (a list of names of earlier
layers or "input"; default the layer before, the input for the first). Merge layers ``add``,
``subtract`` (two inputs), ``multiply``, ``average``, ``maximum``, ``minimum``, ``concatenate(axis=-1)``
take two or more, ``multi_head_attention`` (num_heads, key_dim, value_dim=null: key_dim,
use_bias=true, output_shape=null: the query's E, causal=false) reads ``[query]``, ``[query, value]``
or ``[query, value, key]`` (sequences (N, T, E); value and key of one length; causal only on query
and key of one length), every other layer one. The model's output is the last layer's; every other
layer's output must be read. Refused, naming the layer and field: an unknown or not-earlier name
in ``inputs``; ``inputs`` not a list; a duplicate or reserved name; the wrong number of inputs;
an unread output; a merge of mismatched shapes (no broadcasting; concatenate: on every axis but
its own, never the batch axis); with integer ids, a layer other than the first reading "input".

Shapes and the plan: ``parse_spec`` makes the case plan (``plan.plan_case``: the graph of layer
plans, with every layer's input and output shapes, names and tensor keys) and keeps it on the
spec (``plan_of(spec)``); each shape comes from the scratchnet layer's ``compute_output_shape``
(``scratch_layer``), whose ValueError becomes a SpecError naming ``layers[i]`` with scratchnet's
text kept, so a misfit model never reaches a backend. ``infer_shapes(spec)`` lists the output
shapes.

The dataclasses are frozen and their ``params`` are read-only dicts (``FrozenDict``); ``to_dict``
gives the filled-in, JSON-able form (tuples become lists) that reports show, and
``parse_spec(spec.to_dict())`` gives back an equal spec.

Modules: ``errors`` (SpecError), ``cases`` (the dataclasses), ``checks`` (field checks),
``vocabulary`` (the type tables), ``parse`` (parse_spec), ``plan`` (the case plan, infer_shapes),
``shapes`` (the per-layer shape rules), ``files``
(load_spec, the catalog).
"""
from __future__ import annotations

from parity.spec.cases import CaseSpec, FrozenDict, InputSpec, LayerSpec, LossSpec, OptimizerSpec
from parity.spec.errors import SpecError
from parity.spec.files import catalog_dir, load_catalog, load_spec
from parity.spec.parse import parse_spec
from parity.spec.plan import INPUT, CasePlan, LayerPlan, default_name, infer_shapes, plan_case, plan_of
from parity.spec.shapes import scratch_layer
from parity.spec.vocabulary import (ACTIVATION_LAYER_TYPES, DATASETS, DIGITS_SAMPLES, DTYPES, INPUT_KINDS, LAYER_TYPES,
                                    LOSS_TYPES, OPTIMIZER_TYPES, SCRATCH_CLASSES)

__all__ = [
    "SpecError", "FrozenDict", "InputSpec", "LayerSpec", "LossSpec", "OptimizerSpec", "CaseSpec",
    "load_spec", "parse_spec", "infer_shapes", "plan_case", "plan_of", "CasePlan", "LayerPlan", "INPUT",
    "default_name", "scratch_layer", "catalog_dir", "load_catalog",
    "LAYER_TYPES", "ACTIVATION_LAYER_TYPES", "LOSS_TYPES", "OPTIMIZER_TYPES", "DTYPES", "DATASETS",
    "INPUT_KINDS", "SCRATCH_CLASSES", "DIGITS_SAMPLES",
]
