"""What goes into a backend and what comes out (all canonical layout, numpy arrays)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def layer_key(index: int, type_name: str) -> str:
    """The default name of a spec layer (``"2_conv2d"``), which its tensor keys start with unless
    the spec names it (``parity.spec.plan``)."""
    return f"{index}_{type_name}"


@dataclass
class PreparedCase:
    spec: object  # parity.spec.CaseSpec (dtype already resolved)
    x: np.ndarray  # the input, canonical layout
    y: np.ndarray  # the target, canonical layout
    initial: dict[str, np.ndarray]  # "<layer name>/<name>" -> array: params and state
    plan: object  # parity.spec.CasePlan: the graph every backend builds
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # layer name -> dropout keep mask
    sample_weight: np.ndarray | None = None  # (N,) loss weights when the spec's loss has sample_weight: true

    @property
    def keys(self) -> list[str]:
        """Every layer's name (its output's key), in plan order."""
        return self.plan.names

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Every layer's output shape (no batch), in plan order."""
        return [layer.out_shape for layer in self.plan]


@dataclass
class BackendResult:
    name: str
    outputs: dict[str, np.ndarray]  # layer name -> output of the first forward
    loss: float
    grads: dict[str, np.ndarray]  # "<layer name>/<param>" -> dL/dparam at the initial weights
    input_grad: np.ndarray | None  # dL/dx (None for integer token ids): one, summed over its readers
    steps: list[dict[str, np.ndarray]] = field(default_factory=list)  # params + state after each step
    losses: list[float] = field(default_factory=list)  # loss before each step (len = max(steps, 1))
    final_output: np.ndarray | None = None  # the model's output after the last step, inference mode
    step_grads: list[dict[str, np.ndarray]] = field(default_factory=list)  # scratch only: grads before each step
