"""What goes into a backend and what comes out (all canonical layout, numpy arrays)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def layer_key(index: int, type_name: str) -> str:
    """The name a spec layer has in every backend and in every tensor key: ``"2_conv2d"``."""
    return f"{index}_{type_name}"


@dataclass
class PreparedCase:
    spec: object  # parity.spec.CaseSpec (dtype already resolved)
    x: np.ndarray  # the input, canonical layout
    y: np.ndarray  # the target, canonical layout
    initial: dict[str, np.ndarray]  # "<layer_key>/<name>" -> array: params and state
    shapes: list[tuple[int, ...]]  # per-layer output shape, no batch
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # layer_key -> dropout keep mask
    sample_weight: np.ndarray | None = None  # (N,) loss weights when the spec's loss has sample_weight: true

    @property
    def keys(self) -> list[str]:
        return [layer_key(i, l.type) for i, l in enumerate(self.spec.layers)]


@dataclass
class BackendResult:
    name: str
    outputs: dict[str, np.ndarray]  # layer_key -> output of the first forward
    loss: float
    grads: dict[str, np.ndarray]  # "<layer_key>/<param>" -> dL/dparam at the initial weights
    input_grad: np.ndarray | None  # dL/dx (None for integer token ids)
    steps: list[dict[str, np.ndarray]] = field(default_factory=list)  # params + state after each step
    losses: list[float] = field(default_factory=list)  # loss before each step (len = max(steps, 1))
    final_output: np.ndarray | None = None  # the model's output after the last step, inference mode
    step_grads: list[dict[str, np.ndarray]] = field(default_factory=list)  # scratch only: grads before each step
