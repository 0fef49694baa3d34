"""Code-level hooks of the three backends: ``run(case, ..., hooks={name: value})``.

A hook changes what one backend computes where no spec field or weight expresses it (a mutation
planted by ``parity selftest``, a convention switch flipped by ``parity diagnose``; both are
``parity.mutations.Switch`` entries). Hooks are passed per call, never stored: no global state.
An unknown hook name is refused (``check``), so a typo cannot silently plant nothing.

Hook names (the values each takes):

- ``"optimizer"``: ``factory(convention) -> optimizer`` with scratchnet's optimizer API
  (``apply(params, grads)`` on ``{key: ndarray}``, every parameter updated in place). The backend
  steps its own parameters with it instead of its framework's optimizer: torch on
  ``p.detach().numpy()`` (torch's layout; every update rule and clipping norm is elementwise or a
  norm, so the layout does not matter), Keras on the variables' values (assigned back after the
  update), scratchnet directly. ``convention`` is the backend's own (``"torch"`` for torch and
  scratch[torch], ``"keras"`` otherwise), so a factory can build the other convention's rule.
- ``"stop_gradient"``: a collection of ``(layer name, input index)`` edges that carry no gradient
  back (torch ``detach()``, ``tf.stop_gradient``, a zero in scratchnet's fan-out sum): the forward
  is unchanged, the gradient reaching that input through that layer is dropped.
- ``"round_off"`` (scratchnet only): a ``numpy.random.Generator``; every layer's output and every
  gradient it returns are multiplied by (1 + s u), s = +-1 drawn from it per element, u the
  dtype's unit roundoff, in float64 and rounded back: one rounding error in every intermediate
  (rule grad-condition's reruns, ``parity.run.condition_runs``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

HOOKS: dict[str, str] = {
    "optimizer": "factory(convention) -> an optimizer with scratchnet's apply(params, grads), stepping the "
                 "backend's own parameters instead of its framework's optimizer",
    "stop_gradient": "(layer name, input index) edges whose gradient is dropped (the forward unchanged)",
    "round_off": "a numpy Generator: every scratchnet layer's output and returned gradients moved by one rounding, "
                 "(1 + s u) with random signs s",
}


def check(hooks: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``hooks`` (an empty mapping for None), every name known; ValueError naming an unknown one."""
    hooks = hooks or {}
    unknown = sorted(set(hooks) - set(HOOKS))
    if unknown:
        raise ValueError(f"hooks: unknown hook name(s) {unknown}; expected some of {sorted(HOOKS)}")
    return hooks


def stopped(hooks: Mapping[str, Any] | None) -> frozenset[tuple[str, int]]:
    """The ``stop_gradient`` edges of ``hooks``: ``{(layer name, input index), ...}``."""
    return frozenset((str(name), int(i)) for name, i in check(hooks).get("stop_gradient", ()))


def optimizer_factory(hooks: Mapping[str, Any] | None) -> Callable[[str], Any] | None:
    """The ``optimizer`` hook's factory, or None."""
    return check(hooks).get("optimizer")


def round_off(hooks: Mapping[str, Any] | None):
    """The ``round_off`` hook's Generator, or None."""
    return check(hooks).get("round_off")
