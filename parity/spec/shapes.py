"""Shape rules the plan (``parity.spec.plan``) applies to every layer before anything is built:
the scratchnet layer that answers ``compute_output_shape``, the constraints of the other frameworks
that scratchnet's shape rule does not express, and a size limit (MAX_ELEMENTS) on the input, every
output and every large parameter; and the work budget of a case (``check_work``)."""
from __future__ import annotations

import math

import numpy as np

import scratchnet
from parity.spec.cases import CaseSpec, LayerSpec
from parity.spec.errors import SpecError, _fail
from parity.spec.vocabulary import _ACTIVATION_LAYERS

# The most elements one tensor may have (batch included): 2**26, about 64M, 512 MiB in float64.
# The harness keeps several float64 copies of every tensor per framework (outputs, gradients,
# per-step weights, the report's tensors.npz), so a spec past this cannot be held in memory and is
# refused as bad input instead of failing deep inside numpy.
MAX_ELEMENTS = 2**26
# Every framework keeps the weights after each optimizer step (the trajectory the report plots),
# so steps x parameter elements is bounded too: 2**27, 1 GiB of float64 per framework.
MAX_TRAJECTORY = 2**27

# The work of one case in ``parity run``, in multiply-adds, bounded by a time budget: numpy and the
# frameworks sustain about 1e9 multiply-adds a second on one core for these models, and a case
# should take at most about 20 minutes: WORK_BUDGET = 2**40 (1.1e12). ``check_work`` refuses a
# spec over it as bad input before any case runs (``parity.run.check_supported``), naming the field
# that makes it large (``steps``, ``input_shape``, a layer); the catalog's largest case is ~1% of it.
# (``parity bench`` times single steps: the budget is not its concern.)
# What a case costs (``case_work``):
# - a forward pass: per layer, its multiply-adds (``_layer_work``: batch x positions x kernel
#   elements for dense, convolution and recurrent layers, batch x elements x window for pooling,
#   batch x elements for the rest) plus LAYER_OVERHEAD, the fixed cost of one framework call
#   (torch and Keras spend ~10-100 us a layer whatever its size: 2**17 multiply-adds at 1e9/s);
# - training: TRAJECTORIES runs of the model (scratchnet, torch, Keras, scratchnet in torch's
#   convention, the Keras and scratchnet reruns that measure TF's float32 rounding), each
#   (steps + 1) x PASSES_PER_STEP forward passes (a backward pass costs about two forwards);
# - finite differences (float64 cases): ``fd_forward_passes`` forward passes of scratchnet's model.
WORK_BUDGET = 2**40
LAYER_OVERHEAD = 2**17
TRAJECTORIES = 6
PASSES_PER_STEP = 3


def fd_forward_passes(tensor_sizes: list[int]) -> int:
    """Forward passes the finite-difference check makes for tensors of ``tensor_sizes`` elements
    (every parameter tensor, and the input when it is float), at most: ``scratchnet.gradcheck.
    evaluations`` per tensor (1 + 2 n up to its element cap, a bounded number above it)."""
    from scratchnet.gradcheck import evaluations

    return sum(evaluations(n) for n in tensor_sizes)


def scratch_layer(layer_spec: LayerSpec, name: str | None = None, rng: np.random.Generator | None = None,
                  **follow):
    """The scratchnet layer for ``layer_spec`` (unbuilt). Its constructor keywords are the spec's
    fields, with ``follow`` (a framework's constants, ``parity.mappings.base.Deviation.follow``)
    over them; activation types become ``scratchnet.Activation(type, **params)``. Raises
    NotImplementedError when scratchnet has no class for the type yet; the constructor's own
    ValueError propagates."""
    from parity.mappings import layer_mapping

    class_name = layer_mapping(layer_spec.type).scratch_class
    cls = getattr(scratchnet, class_name, None)
    if cls is None:
        raise NotImplementedError(f"scratchnet has no {class_name} (for {layer_spec.type!r}) yet")
    params = {**layer_spec.params, **follow}
    if layer_spec.type == "activation":
        return cls(params.pop("activation"), name=name, rng=rng, **{k: v for k, v in params.items() if k in follow})
    if layer_spec.type in _ACTIVATION_LAYERS:
        return cls(layer_spec.type, name=name, rng=rng, **params)
    if layer_spec.type == "bidirectional":
        params["layer"] = scratch_layer(params["layer"], name=params["layer"].type)
    return cls(name=name, rng=rng, **params)


def _work(spec: CaseSpec):
    """What ``check_work`` needs, from the case plan: per layer the multiply-adds of a forward
    pass, and the parameter tensors' (layer index, elements)."""
    from parity.mappings import layer_mapping
    from parity.spec.plan import plan_of  # the plan applies this module's rules: imported late

    forward, tensors = [], []  # per layer: multiply-adds of a forward; FD tensors: (layer index, size)
    for node in plan_of(spec):
        layer, shape, out = node.spec, node.in_shape, node.out_shape
        mapping = layer_mapping(layer.type)
        large = mapping.parameter_shapes(layer.params, shape)
        for _, param_shape in large:
            tensors.append((node.index, math.prod(param_shape)))
        forward.append(_layer_work(layer, shape, out, spec.input_shape[0]))
        if mapping.trainable:  # biases, scales: at most 6 per channel (a GRU's biases), or
            small = 6 * out[-1] if large else 2 * math.prod(out)  # gamma and beta per element
            tensors.append((node.index, small))
    return forward, tensors


def _positions(layer: LayerSpec, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Per sample, how many times a layer applies its kernel: a dense layer once per row of its
    input, a recurrent one once per time step, a convolution once per output pixel."""
    if layer.type == "dense":
        return math.prod(in_shape[:-1])
    if layer.type in ("simple_rnn", "lstm", "gru", "bidirectional"):
        return in_shape[0]
    return math.prod(out_shape[:-1])


def _layer_work(layer: LayerSpec, in_shape: tuple[int, ...], out_shape: tuple[int, ...], batch: int) -> int:
    """Multiply-adds of one forward of ``layer`` over the batch (the comment at WORK_BUDGET)."""
    from parity.mappings import layer_mapping

    large = layer_mapping(layer.type).parameter_shapes(layer.params, in_shape)
    elements = max(math.prod(in_shape), math.prod(out_shape))
    if large and layer.type != "embedding":  # an embedding gathers rows: elements only
        kernel = sum(math.prod(s) for _, s in large)
        work = _positions(layer, in_shape, out_shape) * kernel
    elif "pool_size" in layer.params:  # an (h, w) pair, or an int for the 1-D pools
        pool = layer.params["pool_size"]
        work = math.prod(out_shape) * (math.prod(pool) if isinstance(pool, tuple) else pool)
    else:
        work = elements
    return batch * work + LAYER_OVERHEAD


def case_work(steps: int, forward: list[int], tensor_sizes: list[int]) -> tuple[int, int]:
    """(training work, finite-difference work) in multiply-adds: the comment at WORK_BUDGET."""
    one = sum(forward)
    return TRAJECTORIES * (steps + 1) * PASSES_PER_STEP * one, fd_forward_passes(tensor_sizes) * one


def check_work(spec: CaseSpec) -> None:
    """SpecError naming the field when running the case (in its dtype) is over WORK_BUDGET."""
    src = spec.source
    forward, tensors = _work(spec)
    float_input = spec.input.kind != "integers"  # token ids are not perturbed
    sizes = [n for _, n in tensors] + ([math.prod(spec.input_shape)] if float_input else [])
    training, fd = case_work(spec.steps, forward, sizes)
    if spec.dtype != "float64":
        fd = 0  # finite differences run in float64 only
    one = _count(sum(forward))
    if training > WORK_BUDGET:
        raise SpecError(src, "steps", f"expected at most {WORK_BUDGET:.3g} multiply-adds of training "
                        f"(WORK_BUDGET, about 20 minutes), got {TRAJECTORIES} runs x ({_count(spec.steps)} + 1) "
                        f"steps x {PASSES_PER_STEP} passes x {one} a forward pass = {training:.3g}")
    if fd > WORK_BUDGET:
        by_layer: dict[int, int] = {}
        for i, n in tensors:
            by_layer[i] = by_layer.get(i, 0) + n
        widest = max(by_layer, key=by_layer.get, default=None)
        if float_input and (widest is None or math.prod(spec.input_shape) >= by_layer[widest]):
            path, what = "input_shape", f"the input's {_count(math.prod(spec.input_shape))} elements"
        else:
            path, what = f"layers[{widest}]", f"its {_count(by_layer[widest])} parameters"
        raise SpecError(src, path, f"expected at most {WORK_BUDGET:.3g} multiply-adds of finite differences "
                        f"(WORK_BUDGET, about 20 minutes; {what} are the most elements to perturb), got "
                        f"{_count(fd_forward_passes(sizes))} forward passes x {one} = {fd:.3g}")


def _check_size(src: str, path: str, what: str, shape: tuple[int, ...]) -> None:
    """SpecError when a tensor of ``shape`` would have more than MAX_ELEMENTS elements."""
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise SpecError(src, path, f"expected at most {MAX_ELEMENTS} elements per tensor (MAX_ELEMENTS, "
                        f"to fit in memory), got {what} of shape ({' x '.join(map(_count, shape))}) = "
                        f"{_count(size)} elements")


def _count(n: int) -> str:
    """``n`` as digits, or ``~10^k`` when it is too long to read."""
    if n.bit_length() > 64 and n > 0:  # str() of a huge int is slow (and refused past 4300 digits)
        return f"~10^{int(math.log10(n))}"
    text = str(n)
    return text if len(text) <= 12 else f"~10^{len(text) - 1}"


def _check_layer_input(spec: CaseSpec, i: int, layer: LayerSpec, shape: tuple[int, ...]) -> None:
    """Constraints of the other frameworks that scratchnet's shape rule does not express: the
    layer mapping's ``check_input`` (parity/mappings/<family>.py), as a SpecError at ``layers[i]``."""
    from parity.mappings import layer_mapping

    found = layer_mapping(layer.type).check_input(layer, tuple(shape), spec)
    if found is not None:
        field, expected, got = found
        _fail(spec.source, f"layers[{i}].{field}" if field else f"layers[{i}]", expected, got)


def _check_layer_inputs(spec: CaseSpec, i: int, layer: LayerSpec, shapes: tuple[tuple[int, ...], ...]) -> None:
    """The same for a layer reading several inputs, given all their shapes: the mapping's
    ``check_inputs`` (attention's causal mask on query and key of one length)."""
    from parity.mappings import layer_mapping

    found = layer_mapping(layer.type).check_inputs(layer, tuple(tuple(s) for s in shapes), spec)
    if found is not None:
        field, expected, got = found
        _fail(spec.source, f"layers[{i}].{field}" if field else f"layers[{i}]", expected, got)
