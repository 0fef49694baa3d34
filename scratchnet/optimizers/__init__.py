"""Optimizers: SGD (momentum, Nesterov), RMSprop, Adam, AdamW, Adagrad, Nadam, Adamax, Adadelta,
Lion; gradient clipping, learning-rate schedules, weight-decay exclusion; one module per algorithm.

Every optimizer follows one of two conventions, chosen by ``convention="keras"|"torch"``, where
Keras 3 and PyTorch write the same algorithm differently (where momentum lives, where epsilon
sits, whether weight decay is coupled). Names and defaults are Keras's; the torch convention
changes the formulas, never the defaults, so a torch-faithful run passes torch's values (for
example ``epsilon=1e-8``) explicitly.

Layout (as Keras keeps one optimizer per file): ``base`` (the ``Optimizer`` class: argument
checks, weight decay and its exclusion, the state API), ``clipping`` (clipnorm, clipvalue,
global_clipnorm in both conventions), ``schedules`` (exponential, cosine with warmup, piecewise
constant), then ``sgd``, ``rmsprop``, ``adam``, ``adamw``, ``adagrad``, ``nadam``, ``adamax``,
``adadelta``, ``lion``, each holding its class and its update in both conventions side by side.
Every public name is re-exported here.

Math lives in pure functions (``sgd_keras(...) -> (p_new, velocity_new)``); the classes only keep
per-parameter state and write the results back IN PLACE, so that layers see their own arrays
change. The API is described in ``scratchnet.optimizers.base``.

NOTE (the float32-rounding trap): on the TensorFlow backend Keras casts Python float
hyperparameters (momentum, rho, betas inside beta**t, epsilon, weight_decay, the Adagrad initial
accumulator) through float32 even when the variables are float64, and its learning rate lives in
a floatx variable: 0.9 becomes 0.8999999761581421. scratchnet uses the Python value exactly, so
float64 parity with Keras needs float32-representable hyperparameters (0.5, 0.875, 0.9375, 2**-10,
...); the parity harness and the tests here use such values.
"""
from __future__ import annotations

import inspect

from scratchnet.optimizers.adagrad import Adagrad, adagrad_keras, adagrad_torch
from scratchnet.optimizers.adam import Adam, adam_keras, adam_torch
from scratchnet.optimizers.adamw import AdamW
from scratchnet.optimizers.base import (CONVENTIONS, Optimizer, convention_name, coupled_weight_decay,
                                        decoupled_weight_decay, in_place, non_negative, optional_weight_decay,
                                        positive_learning_rate, unit_interval)
from scratchnet.optimizers.adadelta import Adadelta, adadelta_keras, adadelta_torch
from scratchnet.optimizers.adamax import Adamax, adamax_keras, adamax_torch
from scratchnet.optimizers.lion import Lion, lion_keras, lion_paper
from scratchnet.optimizers.nadam import Nadam, nadam_keras, nadam_torch
from scratchnet.optimizers.rmsprop import RMSprop, rmsprop_keras, rmsprop_torch
from scratchnet.optimizers.sgd import SGD, sgd_keras, sgd_torch
from scratchnet.optimizers import clipping, schedules
from scratchnet.optimizers.adam import adam_keras_reference, adam_torch_reference

__all__ = ["CONVENTIONS", "OPTIMIZERS", "OPTIONS", "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad",
           "Nadam", "Adamax", "Adadelta", "Lion", "get", "clipping", "schedules",
           "adam_keras_reference", "adam_torch_reference", "nadam_keras", "nadam_torch", "adamax_keras",
           "adamax_torch", "adadelta_keras", "adadelta_torch", "lion_keras", "lion_paper",
           "sgd_keras", "sgd_torch", "rmsprop_keras", "rmsprop_torch", "adam_keras", "adam_torch",
           "adagrad_keras", "adagrad_torch", "decoupled_weight_decay", "coupled_weight_decay", "in_place",
           "convention_name", "non_negative", "optional_weight_decay", "positive_learning_rate", "unit_interval"]

# -- lookup -------------------------------------------------------------------------------------
OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "nadam": Nadam,
              "adamax": Adamax, "adadelta": Adadelta, "lion": Lion}
# keywords every optimizer takes (``Optimizer.__init__``) beside its own
OPTIONS = ("clipnorm", "clipvalue", "global_clipnorm", "exclude_from_weight_decay")


def get(name_or_optimizer, **kwargs) -> Optimizer:
    """An ``Optimizer`` instance (returned as is) or a name (a key of ``OPTIMIZERS``;
    case-insensitive) built with ``kwargs`` (an unknown keyword raises, listing the accepted ones)."""
    if isinstance(name_or_optimizer, Optimizer):
        if kwargs:
            raise ValueError(f"optimizer: keyword arguments {sorted(kwargs)} given with an Optimizer instance")
        return name_or_optimizer
    if isinstance(name_or_optimizer, str) and name_or_optimizer.lower() in OPTIMIZERS:
        cls = OPTIMIZERS[name_or_optimizer.lower()]
        accepted = [k for k, p in inspect.signature(cls).parameters.items() if p.kind != p.VAR_KEYWORD]
        accepted += OPTIONS
        unknown = set(kwargs) - set(accepted)
        if unknown:
            raise ValueError(f"optimizer {name_or_optimizer!r}: unknown parameter(s) {sorted(unknown)}; "
                             f"accepts {sorted(accepted)}")
        return cls(**kwargs)
    raise ValueError(f"optimizer: expected one of {', '.join(map(repr, OPTIMIZERS))} or an Optimizer, "
                     f"got {name_or_optimizer!r}")
