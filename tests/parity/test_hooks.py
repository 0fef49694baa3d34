"""The backends' code-level hooks (``parity.hooks``): each means the same thing in all three
backends, changes only what it says, and an unknown name is refused."""
from pathlib import Path

import numpy as np
import pytest

from parity import compare
from parity.backends import keras_backend, scratch, torch_backend
from parity.mappings import OPTIMIZERS
from parity.run import prepare
from parity.spec import load_spec

CATALOG = Path(__file__).resolve().parents[2] / "parity" / "catalog"
BACKENDS = {"scratch": scratch, "torch": torch_backend, "keras": keras_backend}


def _case(name):
    return prepare(load_spec(CATALOG / f"{name}.json"))


def _max_rel(a, b):
    return compare.metrics(a, b, "float64").max_rel


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_optimizer_hook_with_the_backends_own_rule_reproduces_its_steps(backend):
    # opt-schedule-cosine-warmup: SGD momentum under a schedule, where the two rules part, so the
    # hook must be handed the backend's own convention to reproduce it
    case = _case("opt-schedule-cosine-warmup")
    p = case.spec.optimizer.params
    own = BACKENDS[backend].run(case)
    hooked = BACKENDS[backend].run(case, hooks={"optimizer": lambda conv: OPTIMIZERS["sgd"].scratch(p, conv)})
    other = BACKENDS[backend].run(case, hooks={"optimizer": lambda conv: OPTIMIZERS["sgd"].scratch(
        p, {"keras": "torch", "torch": "keras"}[conv])})
    for t in range(case.spec.steps):
        for k in own.steps[t]:
            assert _max_rel(own.steps[t][k], hooked.steps[t][k]) < 1e-14, (t, k)
    last = case.spec.steps - 1
    assert max(_max_rel(own.steps[last][k], other.steps[last][k]) for k in own.steps[last]) > 1e-3


def test_stop_gradient_hook_drops_one_edge_alike_in_every_backend():
    # unet-skip: enc is read by the pool (edge down:0) and by the concatenation (edge skip:0)
    case = _case("unet-skip")
    hooks = {"stop_gradient": [("skip", 0)]}
    runs = {n: b.run(case, hooks=hooks) for n, b in BACKENDS.items()}
    plain = scratch.run(case)
    for n, r in runs.items():  # the forward is untouched
        for k in plain.outputs:
            assert _max_rel(plain.outputs[k], r.outputs[k]) < 1e-12, (n, k)
    # the layers after the dropped edge keep their gradients; enc's (before it) lose a branch
    assert _max_rel(plain.grads["head/kernel"], runs["scratch"].grads["head/kernel"]) < 1e-12
    assert _max_rel(plain.grads["enc/kernel"], runs["scratch"].grads["enc/kernel"]) > 1e-2
    for n in ("torch", "keras"):  # the same dropped edge in all three
        for k in plain.grads:
            assert _max_rel(runs["scratch"].grads[k], runs[n].grads[k]) < 1e-12, (n, k)
        assert _max_rel(runs["scratch"].input_grad, runs[n].input_grad) < 1e-12


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_an_unknown_hook_name_is_refused(backend):
    case = _case("loss-mse")
    with pytest.raises(ValueError, match="unknown hook name.*stop_gradients"):
        BACKENDS[backend].run(case, hooks={"stop_gradients": [("x", 0)]})


def test_no_hooks_is_the_plain_run():
    case = _case("loss-mse")
    a, b = torch_backend.run(case), torch_backend.run(case, hooks={})
    assert all(np.array_equal(a.steps[-1][k], b.steps[-1][k]) for k in a.steps[-1])
