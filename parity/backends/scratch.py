"""scratchnet backend: the case plan as a scratchnet graph ``Model`` (each layer reading the tensors
its plan names); every gradient by hand."""
from __future__ import annotations

import numpy as np

from parity import hooks as backend_hooks
from parity.backends.common import BackendResult, PreparedCase
from parity.mappings import LOSSES, OPTIMIZERS
from parity.spec import scratch_layer


def build_model(case: PreparedCase, convention: str = "keras", stop_gradient: frozenset = frozenset(),
                follow: dict[str, dict] | None = None, round_off=None):
    """The case's scratchnet ``Model``, weights loaded; ``stop_gradient``: ``(layer name, input
    index)`` edges whose gradient the layer's backward returns as zeros (hook ``stop_gradient`` of
    ``parity.hooks``); ``follow``: layer name -> extra constructor keywords (a framework's constant
    followed: ``parity.mappings.base.Deviation.follow``)."""
    import scratchnet as sn

    nodes = []
    for node in case.plan:
        layer = scratch_layer(node.spec, name=node.name, **(follow or {}).get(node.name, {}))
        if hasattr(layer, "convention"):
            layer.convention = convention
        dropped = [i for i in range(len(node.inputs)) if (node.name, i) in stop_gradient]
        if dropped:
            _drop_gradients(layer, dropped, many=len(node.inputs) > 1)
        if round_off is not None:
            _round_off(layer, round_off)
        nodes.append((layer, list(node.inputs)))
    model = sn.Model(nodes)
    model.build(case.spec.input_shape[1:], case.spec.dtype, np.random.default_rng([case.spec.seed, 0]))  # data draw from seed alone
    if case.initial:
        model.set_weights(case.initial)
    for key, mask in case.masks.items():
        next(l for l in model.layers if l.name == key).set_mask(mask)
    return model


def _drop_gradients(layer, dropped: list[int], many: bool) -> None:
    """Make this one layer instance's backward return zeros for its inputs ``dropped``."""
    backward = layer.backward

    def stopped_backward(dy, *args, **kwargs):  # the layer's own signature passed through
        dxs = backward(dy, *args, **kwargs)
        if dxs is None:
            return None
        if not many:
            return np.zeros_like(dxs)
        return [np.zeros_like(dx) if i in dropped and dx is not None else dx for i, dx in enumerate(dxs)]

    layer.backward = stopped_backward


def rounded(a, rng):
    """a (1 + s u), s = +-1 from ``rng`` per element, computed in float64 and rounded to a's dtype."""
    if a is None or a.dtype.kind != "f":
        return a
    u = float(np.finfo(a.dtype).eps) / 2
    return (a * (1 + u * rng.choice([-1.0, 1.0], a.shape))).astype(a.dtype)


def _round_off(layer, rng) -> None:
    """Hook ``round_off`` on this one layer instance: its output and the gradients its backward
    returns each moved by one rounding."""
    forward, backward = layer.forward, layer.backward

    def rounded_forward(*args, **kwargs):
        return rounded(forward(*args, **kwargs), rng)

    def rounded_backward(*args, **kwargs):
        dxs = backward(*args, **kwargs)
        return [rounded(dx, rng) for dx in dxs] if isinstance(dxs, list) else rounded(dxs, rng)

    layer.forward, layer.backward = rounded_forward, rounded_backward


def parameter_keys(spec) -> list[str]:
    """The trainable parameters' keys (``<layer>/<name>``) of the spec's model, built without data."""
    import scratchnet as sn
    from parity.spec.plan import plan_of

    model = sn.Model([(scratch_layer(node.spec, name=node.name), list(node.inputs)) for node in plan_of(spec)])
    model.build(spec.input_shape[1:], spec.dtype, np.random.default_rng(0))
    return list(model.parameters())


def run(case: PreparedCase, convention: str = "keras", name: str = "scratch",
        sync: list[dict[str, np.ndarray]] | None = None, optimizer_params: dict | None = None,
        hooks=None, follow: dict[str, dict] | None = None) -> BackendResult:
    """The case in scratchnet, in ``convention``. ``sync``: as in ``torch_backend.run`` (reference
    weights loaded before each step t >= 2). ``optimizer_params``: other hyperparameters than the
    spec's, ``follow``: layer name -> extra layer keywords (counterfactual reruns). ``hooks``:
    code-level changes (``parity.hooks``)."""
    spec = case.spec
    model = build_model(case, convention, backend_hooks.stopped(hooks), follow, backend_hooks.round_off(hooks))
    loss = LOSSES[spec.loss.type].scratch(spec.loss.params)
    opt_spec = spec.optimizer
    factory = backend_hooks.optimizer_factory(hooks)
    optimizer = (factory(convention) if factory is not None
                 else OPTIMIZERS[opt_spec.type].scratch(optimizer_params or opt_spec.params, convention))
    result = None
    for step in range(max(spec.steps, 1)):
        if sync is not None and step >= 1:
            model.set_weights(sync[step - 1])
        out = model.forward(case.x, training=spec.training)
        value = float(loss.forward(case.y, out, case.sample_weight))
        dx = model.backward(loss.backward())
        params = model.parameters()
        if result is None:
            result = BackendResult(
                name, outputs={k: o.copy() for k, o in model.outputs.items()}, loss=value,
                grads={k: g.copy() for k, (_, g) in params.items()},
                input_grad=None if case.x.dtype.kind in "iu" else dx.copy())
        result.losses.append(value)
        result.step_grads.append({k: g.copy() for k, (_, g) in params.items()})
        if spec.steps:
            optimizer.apply({k: p for k, (p, _) in params.items()}, {k: g for k, (_, g) in params.items()})
            result.steps.append(model.get_weights())
    result.final_output = model.forward(case.x, training=False).copy()
    return result


def _loss_at(case: PreparedCase):
    """(value, tensors): the case's loss at scratchnet's initial weights as a function of no
    arguments, and the arrays it reads, perturbed in place by the callers: every parameter, and
    the input unless it is integer ids."""
    model = build_model(case)
    loss = LOSSES[case.spec.loss.type].scratch(case.spec.loss.params)
    x = np.array(case.x)

    def value() -> float:
        return float(loss.forward(case.y, model.forward(x, training=case.spec.training), case.sample_weight))

    tensors = {k: p for k, (p, _) in model.parameters().items()}
    if x.dtype.kind not in "iu":
        tensors["input"] = x
    return value, tensors


def loss_noise(case: PreparedCase, key: str) -> float:
    """The evaluation noise of the case's loss along a random direction of tensor ``key`` (a
    parameter, or ``input``): ``scratchnet.gradcheck.evaluation_noise``, directions from
    Generator([seed, 4]), one BLAS thread as ``finite_difference_grads``."""
    from threadpoolctl import threadpool_limits

    from scratchnet.gradcheck import evaluation_noise

    value, tensors = _loss_at(case)
    with threadpool_limits(limits=1, user_api="blas"):
        return evaluation_noise(value, tensors[key], np.random.default_rng([case.spec.seed, 4]))


def finite_difference_grads(case: PreparedCase, eps: float = 1e-6, keys: tuple | None = None) -> dict:
    """Finite differences of the loss at the initial weights (float64 only), for every parameter and
    the input (unless it is integer ids): ``{"<layer>/<param>" | "input": TensorDifferences}``, see
    ``scratchnet.gradcheck.tensor_differences`` (every element of a small tensor; sampled elements
    and random directions of a large one, with kink flags). Tensor i's draws come from its own
    generator, seeded (case seed, 2, i), so adding a tensor moves no other tensor's draws.

    numpy's BLAS runs one thread meanwhile: the loss is evaluated a thousand times on small
    matrices, where a thread pool's hand-offs cost more than they save (LeNet-5 on a batch of 4:
    1.0 ms of CPU per evaluation on one thread, 6.7 ms on two threads of a busy 2-core machine),
    and every evaluation then sums in the same order."""
    from threadpoolctl import threadpool_limits

    from scratchnet.gradcheck import tensor_differences

    value, tensors = _loss_at(case)
    with threadpool_limits(limits=1, user_api="blas"):
        return {k: tensor_differences(value, t, np.random.default_rng([case.spec.seed, 2, i]), eps)
                for i, (k, t) in enumerate(tensors.items()) if keys is None or k in keys}
