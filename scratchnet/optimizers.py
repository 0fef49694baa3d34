"""Placeholder until the optimizers land: plain SGD only."""
from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, learning_rate=0.01):
        if not (isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate: expected a finite positive number, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def apply(self, params, grads):
        self.iterations += 1
        for key, p in params.items():
            self._update(key, p, grads[key])


class SGD(Optimizer):
    def _update(self, key, p, g):
        p -= p.dtype.type(self.learning_rate) * g


def get(name, **kwargs):
    if isinstance(name, Optimizer):
        return name
    return {"sgd": SGD}[name](**kwargs)
