"""Losses with their gradients, as pure functions ``f(y_true, y_pred, ...) -> (value, dL/dy_pred)``,
and a thin ``Loss`` class (``get(name, **params)``) with the same protocol: calling it returns
``(value, gradient)``; ``forward`` returns the value and keeps the gradient for ``backward()``.

Every loss is Keras's (same name, parameters, defaults and meaning), except the tutorial's
``sum_squared_error`` (L = sum (y - t)^2, no Keras class, no options). Each is a per-sample loss
over one axis followed by one reduction (``_common``):
    "sum_over_batch_size" (default, = torch's reduction='mean' for the mean losses): sum of the
        weighted per-sample losses over their count; "sum": their sum; "none": the array.
``sample_weight`` is a call argument (one weight per sample, or per per-sample loss entry);
``class_weight`` (categorical_crossentropy, sparse_categorical_crossentropy,
categorical_focal_crossentropy; (N, C) outputs) weights each sample by its class's weight, as
Keras's ``fit(class_weight=)`` does, divided by the number of samples all the same;
``label_smoothing`` (binary, categorical and the focal cross-entropies) as Keras. The formulas of
each family are in its module's docstring: ``regression`` (mse, mae, mape, msle, huber, log_cosh,
cosine_similarity), ``margin`` (hinge, squared_hinge, categorical_hinge), ``probabilistic``
(binary/categorical/sparse cross-entropy, kl_divergence, poisson), ``focal``.
"""
from __future__ import annotations

from scratchnet.checks import boolean
from scratchnet.losses._common import (_DOT_MAX, EPSILON, REDUCTIONS, axis_check, class_ids,
                                       class_weight_check, non_negative, one_hot, positive_delta,
                                       reduction_check, sum_of_squares, unit_interval)
from scratchnet.losses.focal import binary_focal_crossentropy, categorical_focal_crossentropy
from scratchnet.losses.margin import categorical_hinge, hinge, squared_hinge
from scratchnet.losses.probabilistic import (binary_crossentropy, categorical_crossentropy, kl_divergence,
                                             poisson, sparse_categorical_crossentropy)
from scratchnet.losses.regression import (cosine_similarity, huber, log_cosh, mean_absolute_error,
                                          mean_absolute_percentage_error, mean_squared_error,
                                          mean_squared_logarithmic_error, sum_squared_error)

_R = {"reduction": "sum_over_batch_size"}
_LOSSES = {
    "sum_squared_error": (sum_squared_error, {}),
    "mean_squared_error": (mean_squared_error, {**_R}),
    "mean_absolute_error": (mean_absolute_error, {**_R}),
    "mean_absolute_percentage_error": (mean_absolute_percentage_error, {**_R}),
    "mean_squared_logarithmic_error": (mean_squared_logarithmic_error, {**_R}),
    "huber": (huber, {"delta": 1.0, **_R}),
    "log_cosh": (log_cosh, {**_R}),
    "cosine_similarity": (cosine_similarity, {"axis": -1, **_R}),
    "hinge": (hinge, {**_R}),
    "squared_hinge": (squared_hinge, {**_R}),
    "categorical_hinge": (categorical_hinge, {**_R}),
    "kl_divergence": (kl_divergence, {**_R}),
    "poisson": (poisson, {**_R}),
    "binary_crossentropy": (binary_crossentropy, {"from_logits": False, "label_smoothing": 0.0, "axis": -1, **_R}),
    "categorical_crossentropy": (categorical_crossentropy, {"from_logits": False, "label_smoothing": 0.0,
                                                            "axis": -1, "class_weight": None, **_R}),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, {"from_logits": False,
                                                                          "class_weight": None, **_R}),
    "binary_focal_crossentropy": (binary_focal_crossentropy, {
        "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0, "from_logits": False,
        "label_smoothing": 0.0, "axis": -1, **_R}),
    "categorical_focal_crossentropy": (categorical_focal_crossentropy, {
        "alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0, "axis": -1,
        "class_weight": None, **_R}),
}
NAMES = tuple(_LOSSES)

_CHECKS = {"delta": positive_delta, "reduction": reduction_check, "label_smoothing": unit_interval,
           "alpha": unit_interval, "gamma": non_negative, "class_weight": class_weight_check, "axis": axis_check}


def _checked(name: str, key: str, value, default):
    """A parameter checked once, at construction: a bool default (from_logits,
    apply_class_balancing) takes only True or False (a truthy "false" would silently switch to
    logits); delta a finite number > 0; the others by ``_CHECKS`` (categorical focal's alpha, a
    weight on every class, any number >= 0)."""
    what = f"loss {name!r}: {key}"
    if isinstance(default, bool):
        return boolean(value, what)
    if name == "categorical_focal_crossentropy" and key == "alpha":
        return non_negative(value, what)
    check = _CHECKS.get(key)
    return check(value, what) if check else value


class Loss:
    """A loss bound to its parameters. ``loss(y_true, y_pred, sample_weight=None)`` returns
    ``(value, dL/dy_pred)`` like the module functions; ``forward`` returns the value and keeps
    dL/dy_pred for ``backward()``. A loss without a ``reduction`` parameter (sum_squared_error)
    takes no sample_weight."""

    def __init__(self, name: str, **params):
        if name not in _LOSSES:
            raise ValueError(f"loss: unknown name {name!r}; expected one of {', '.join(NAMES)}")
        fn, defaults = _LOSSES[name]
        unknown = set(params) - set(defaults)
        if unknown:
            raise ValueError(f"loss {name!r}: unknown parameter(s) {sorted(unknown)}; accepts {sorted(defaults) or 'none'}")
        checked = {k: _checked(name, k, v, defaults[k]) for k, v in params.items()}
        self.name, self.fn, self.params = name, fn, {**defaults, **checked}
        self._grad = None

    @property
    def takes_sample_weight(self) -> bool:
        return "reduction" in self.params

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            value, self._grad = self.fn(y_true, y_pred, **self.params)
        elif not self.takes_sample_weight:
            raise ValueError(f"loss {self.name!r}: takes no sample_weight (it has no Keras counterpart)")
        else:
            value, self._grad = self.fn(y_true, y_pred, sample_weight=sample_weight, **self.params)
        return value, self._grad

    def forward(self, y_true, y_pred, sample_weight=None):
        return self(y_true, y_pred, sample_weight)[0]

    def backward(self):
        if self._grad is None:
            raise RuntimeError(f"loss {self.name}: backward called before forward")
        return self._grad

    def __repr__(self):
        return f"Loss({self.name!r}, {self.params})"


def get(name, **params) -> Loss:
    """A ``Loss`` by name (or the Loss itself)."""
    return name if isinstance(name, Loss) else Loss(name, **params)


__all__ = ["Loss", "get", "NAMES", "EPSILON", "REDUCTIONS", *NAMES, "class_ids", "one_hot", "sum_of_squares",
           "positive_delta", "_DOT_MAX"]
