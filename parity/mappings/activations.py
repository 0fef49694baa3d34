"""Activations in all three frameworks: as layer types of their own and fused into Dense/Conv.

Defaults that differ are in ``DEFAULTS`` (the harness always passes the value explicitly).

leaky_relu is built in Keras as ``keras.layers.Activation`` around ``keras.activations.leaky_relu``,
not as the ``keras.layers.LeakyReLU`` layer: the layer's ``call`` is that same function (TF's
``tf.nn.leaky_relu``: y = x if x > 0 else a*x, dy/dx = a at x <= 0), but its constructor refuses a
negative slope, which the function, torch's ``nn.LeakyReLU`` and scratchnet all accept.
"""
from __future__ import annotations

import numpy as np

from parity.mappings.base import Atlas, BuildContext, Deviation, LayerMapping, float32_representable, register, snippet

DEFAULTS = {
    'leaky_relu': "leaky_relu slope: torch ``nn.LeakyReLU`` 0.01, Keras ``LeakyReLU`` layer 0.3, ``keras.activations.leaky_relu`` 0.2 (the spec's default, since a spec names the function). TensorFlow keeps the slope as float32: a float64 case with a slope that float32 cannot hold exactly (0.2) deviates by ~1e-9 relative on the Keras side.",
    'gelu': "gelu: exact erf by default in torch and ``keras.activations.gelu``; ``keras.ops.gelu`` defaults to the tanh approximation. TF's float64 exact GELU uses a float32 constant for 1/sqrt(2): about 5e-9 relative off the exact value.",
    'softplus': 'softplus: torch returns x above ``threshold`` (default 20; 2e-9 off near 20). The harness sets threshold=20 in float32 (below float32 resolution) and 40 in float64 (4e-18 off).',
    'hard_sigmoid': "hard_sigmoid: Keras 3's relu6(x+3)/6 equals torch ``Hardsigmoid`` (Keras 2 used 0.2x+0.5).",
    'softmax': 'softmax / log_softmax: Keras axis -1 by default; torch needs ``dim`` (the channel dim 1 for channels-first images).',
}
DEFAULTS["log_softmax"] = DEFAULTS["softmax"]
DEFAULTS.update({
    "relu6": "relu6: torch ``nn.ReLU6`` = ``Hardtanh(0, 6)``; derivative 1 on the open interval (0, 6) in all three (measured float64: identical).",
    "hard_silu": "hard_silu: Keras's name (alias ``hard_swish``) for torch's ``nn.Hardswish``: x relu6(x + 3) / 6 (measured float64: 1.1e-16 relative apart, gradients 1.9e-16).",
    "softsign": "softsign: torch ``nn.Softsign``, Keras ``softsign``; no parameters.",
    "log_sigmoid": "log_sigmoid: torch ``nn.LogSigmoid``, Keras ``log_sigmoid`` (``tf.math.log_sigmoid``); both stable for large |x| (measured float64: 3.5e-16 relative apart).",
    "celu": "celu: alpha 1.0 in torch ``nn.CELU`` and Keras ``celu``; the harness passes it explicitly. alpha must be > 0 (it divides x).",
    "hard_tanh": "hard_tanh: torch ``nn.Hardtanh()`` (min_val -1, max_val 1), Keras ``hard_tanh``; derivative 1 on the open interval (-1, 1).",
    "mish": "mish: torch ``nn.Mish``, Keras ``mish``: x tanh(softplus(x)) (measured float64: gradients 1.4e-15 (torch) and 3.8e-15 (Keras) relative off scratchnet's closed form).",
})

MATH = {
    "linear": ("y = x", "dx = dy"),
    "sigmoid": ("y = 1 / (1 + exp(-x))", "dx = dy * y * (1 - y)"),
    "tanh": ("y = tanh(x)", "dx = dy * (1 - y^2)"),
    "relu": ("y = max(x, 0)", "dx = dy * [x > 0]  (0 at x = 0)"),
    "leaky_relu": ("y = x if x > 0 else a*x", "dx = dy if x > 0 else a*dy"),
    "elu": ("y = x if x > 0 else alpha*(exp(x) - 1)", "dx = dy if x > 0 else dy*alpha*exp(x)"),
    "selu": ("y = s*elu(x, a), a = 1.6733, s = 1.0507", "dx = s*dy if x > 0 else dy*s*a*exp(x)"),
    "gelu": ("y = x*Phi(x) = x/2*(1 + erf(x/sqrt 2))  (approximate: x/2*(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))))",
             "dx = dy*(Phi(x) + x*phi(x))"),
    "softplus": ("y = log(1 + exp(x)) = max(x,0) + log1p(exp(-|x|))", "dx = dy * sigmoid(x)"),
    "silu": ("y = x*sigmoid(x)", "dx = dy*(s + x*s*(1 - s)), s = sigmoid(x)"),
    "hard_sigmoid": ("y = relu6(x + 3)/6", "dx = dy/6 for -3 < x < 3, else 0"),
    "relu6": ("y = min(max(x, 0), 6)", "dx = dy for 0 < x < 6, else 0"),
    "hard_silu": ("y = x*relu6(x + 3)/6  (hard swish)", "dx = dy*(relu6(x + 3)/6 + x/6 [-3 < x < 3]): 0 below -3, dy above 3"),
    "softsign": ("y = x / (1 + |x|)", "dx = dy / (1 + |x|)^2"),
    "log_sigmoid": ("y = log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))", "dx = dy*sigmoid(-x)"),
    "celu": ("y = max(x, 0) + min(0, alpha*(exp(x/alpha) - 1))", "dx = dy if x > 0 else dy*exp(x/alpha)"),
    "hard_tanh": ("y = clip(x, -1, 1)", "dx = dy for -1 < x < 1, else 0"),
    "mish": ("y = x*tanh(softplus(x))", "dx = dy*(t + x*(1 - t^2)*sigmoid(x)), t = tanh(softplus(x))"),
    "softmax": ("y_i = exp(x_i - m) / sum_j exp(x_j - m) along axis", "dx = y*(dy - sum(dy*y))"),
    "log_softmax": ("y_i = x_i - m - log sum_j exp(x_j - m)", "dx = dy - softmax(x)*sum(dy)"),
}
NAMES = tuple(n for n in MATH if n != "linear")


def torch_module(name: str, params: dict, layout, rank: int, dtype: str):
    """The torch module for activation ``name`` with explicit parameters."""
    import torch.nn as nn

    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope=params["negative_slope"])
    if name == "elu":
        return nn.ELU(alpha=params["alpha"])
    if name == "gelu":
        return nn.GELU(approximate="tanh" if params["approximate"] else "none")
    if name == "celu":
        return nn.CELU(alpha=params["alpha"])
    if name == "softplus":
        return nn.Softplus(beta=1.0, threshold=20.0 if dtype == "float32" else 40.0)
    if name in ("softmax", "log_softmax"):
        dim = layout.torch_axis(params["axis"], rank)
        return nn.Softmax(dim=dim) if name == "softmax" else nn.LogSoftmax(dim=dim)
    return _torch_plain()[name]()


def _torch_plain() -> dict:
    """The activations whose torch module takes no argument: name -> class."""
    import torch.nn as nn

    return {"linear": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "selu": nn.SELU,
            "silu": nn.SiLU, "hard_sigmoid": nn.Hardsigmoid, "relu6": nn.ReLU6, "hard_silu": nn.Hardswish,
            "softsign": nn.Softsign, "log_sigmoid": nn.LogSigmoid, "hard_tanh": nn.Hardtanh, "mish": nn.Mish}


def canonical_axis(torch_dim: int, layout, rank: int) -> int:
    """The canonical axis (Keras's count, batch 0; the last axis as -1) of torch dim ``torch_dim``
    of a tensor of ``rank`` in ``layout``: the inverse of ``Layout.torch_axis``."""
    for axis in range(rank):
        if layout.torch_axis(axis, rank) == torch_dim % rank:
            return -1 if axis == rank - 1 else axis
    raise ValueError(f"torch dim {torch_dim} of a rank-{rank} tensor")


def torch_activation(module, layout, rank: int) -> tuple[str, dict] | None:
    """(name, params) of a torch activation module, the inverse of ``torch_module``; None for a
    module that is not one. Refused: a Softplus with beta != 1, a Hardtanh other than (-1, 1)."""
    import torch.nn as nn

    from parity.mappings.base import Refused

    if isinstance(module, nn.LeakyReLU):
        return "leaky_relu", {"negative_slope": float(module.negative_slope)}
    if isinstance(module, (nn.ELU, nn.CELU)):
        return ("celu" if isinstance(module, nn.CELU) else "elu"), {"alpha": float(module.alpha)}
    if isinstance(module, nn.GELU):
        return "gelu", {"approximate": module.approximate == "tanh"}
    if isinstance(module, nn.Softplus):
        if module.beta != 1:
            raise Refused(f"nn.Softplus(beta={module.beta}): only beta=1 has a Keras twin")
        return "softplus", {}  # threshold: torch's linear tail, below float resolution (DEFAULTS)
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        if module.dim is None:
            raise Refused(f"nn.{type(module).__name__}(dim=None): give the dim")
        name = "softmax" if isinstance(module, nn.Softmax) else "log_softmax"
        return name, {"axis": canonical_axis(module.dim, layout, rank)}
    if type(module) is nn.Hardtanh and (module.min_val, module.max_val) != (-1.0, 1.0):
        raise Refused(f"nn.Hardtanh({module.min_val}, {module.max_val}): only (-1, 1) is hard_tanh")
    for name, cls in _torch_plain().items():
        if type(module) is cls:
            return name, {}
    return None


def torch_function_activation(target) -> str | None:
    """The activation a torch function computes (``torch.relu``, ``F.relu``, ``torch.tanh``...)."""
    import torch
    import torch.nn.functional as F

    table = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", torch.sigmoid: "sigmoid",
             F.sigmoid: "sigmoid", F.silu: "silu", F.gelu: "gelu", F.elu: "elu", F.selu: "selu", torch.selu: "selu",
             F.softsign: "softsign", F.mish: "mish", F.relu6: "relu6", F.hardswish: "hard_silu",
             F.hardsigmoid: "hard_sigmoid", F.logsigmoid: "log_sigmoid"}
    return table.get(target)


def keras_activation(fn) -> tuple[str, dict] | None:
    """(name, params) of a Keras activation (a ``keras.activations`` function, or the
    ``functools.partial`` of one that ``keras_function`` makes); None for anything else."""
    import functools

    import keras

    base, keywords = (fn.func, dict(fn.keywords)) if isinstance(fn, functools.partial) else (fn, {})
    for name in ("linear", *NAMES):
        if getattr(keras.activations, name, None) is base:
            return name, {**_defaults(name), **keywords}
    return None


def _defaults(name: str) -> dict:
    """The spec's parameters of activation ``name`` at their defaults."""
    return _fn_params({"activation": name})


def torch_text(name: str, params: dict) -> str:
    special = {"leaky_relu": f"nn.LeakyReLU(negative_slope={params.get('negative_slope')})",
               "elu": f"nn.ELU(alpha={params.get('alpha')})",
               "gelu": f"nn.GELU(approximate={'tanh' if params.get('approximate') else 'none'!r})",
               "softplus": "nn.Softplus(beta=1, threshold=20 (float32) | 40 (float64))",
               "softmax": "nn.Softmax(dim=axis; channel dim 1 for NCHW)",
               "log_softmax": "nn.LogSoftmax(dim=axis; channel dim 1 for NCHW)",
               "hard_sigmoid": "nn.Hardsigmoid()", "linear": "nn.Identity()",
               "celu": f"nn.CELU(alpha={params.get('alpha')})", "hard_silu": "nn.Hardswish()",
               "hard_tanh": "nn.Hardtanh(min_val=-1.0, max_val=1.0)"}
    plain = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "selu": "SELU", "silu": "SiLU", "relu6": "ReLU6",
             "softsign": "Softsign", "log_sigmoid": "LogSigmoid", "mish": "Mish"}
    return special[name] if name in special else f"nn.{plain[name]}()"


def keras_function(name: str, params: dict):
    """A Keras activation: a name string where defaults suffice, else the ``functools.partial``
    of the ``keras.activations`` function with its parameter (``keras_activation`` reverses it)."""
    import functools

    import keras

    fields = {"leaky_relu": "negative_slope", "elu": "alpha", "celu": "alpha", "gelu": "approximate",
              "softmax": "axis", "log_softmax": "axis"}
    if name in fields:  # a partial, so that keras_activation reads the parameter back
        return functools.partial(getattr(keras.activations, name), **{fields[name]: params[fields[name]]})
    return name


def keras_text(name: str, params: dict) -> str:
    """The Keras layer as code that runs: the activation's name, or a lambda binding its
    parameters (``params`` maps each to the text of its value)."""
    if not params:
        return f"keras.layers.Activation({name!r})"
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"keras.layers.Activation(lambda x: keras.activations.{name}(x, {args}))"


# the parameter names as the atlas writes them (the values a spec passes)
_ATLAS_PARAMS = {"elu": {"alpha": "alpha"}, "celu": {"alpha": "alpha"}, "gelu": {"approximate": "approximate"},
                 "log_softmax": {"axis": "axis"}}


ALL = ("output", "loss", "grad", "step", "state")


def deviations(name: str, params: dict, dtype: str, layer: bool = False) -> list[Deviation]:
    """float64 precision deviations no setting removes (each measured, see CONVENTIONS.md).
    ``layer``: the layer's scratchnet class takes the activation's keywords (an activation layer,
    or a Dense / Conv with ``**activation_params``), so a float32 constant can be followed."""
    out = []
    if dtype != "float64":
        return out
    if name == "gelu":
        which = "tanh-approximate" if params.get("approximate") else "exact"
        const = "0.044715" if params.get("approximate") else "1/sqrt(2) (in x/2 erfc(-x/sqrt(2)))"
        out.append(Deviation("keras", ALL, 1e-7, f"TF's float64 {which} GELU casts its constant {const} "
                             "through float32 (measured 2.1e-9 exact, 6.8e-10 approximate, relative)",
                             follow={"float32_constants": True} if layer else None))
    if name == "leaky_relu" and not float32_representable(params["negative_slope"]):
        slope = float(np.float32(params["negative_slope"]))
        out.append(Deviation("keras", ALL, 1e-6,
                             f"TF stores the leaky_relu slope {params['negative_slope']} as float32 ({slope!r})",
                             follow={"negative_slope": slope} if layer else None))
    if name == "hard_sigmoid":
        out.append(Deviation("torch", ("grad", "step", "state"), 1e-7,
                             "torch's float64 Hardsigmoid backward multiplies by the float32 constant 1.0f/6.0f "
                             "(measured 3.0e-8 relative)", follow={"float32_constants": True} if layer else None))
    if name == "celu" and not float32_representable(params["alpha"]):
        alpha = params["alpha"]
        size = abs(alpha / float(np.float32(alpha)) - 1)
        out.append(Deviation("torch", ("grad", "step", "state"), 1e-7,
                             f"torch's float64 CELU backward scales x by 1.0 / alpha.toFloat(): dx = dy alpha s exp(x s), "
                             f"s = 1 / float32({alpha!r}), off by alpha / float32(alpha) - 1 = {size:.2g} relative",
                             follow={"float32_constants": True} if layer else None))
    return out


def axis_check(layer, in_shape, case):
    """``axis`` (Keras's count: the batch axis is 0) must name a non-batch axis of the input."""
    rank = len(in_shape) + 1
    axis = layer.params["axis"]
    if not -rank < axis < rank or axis % rank == 0:
        return ("axis", f"expected a non-batch axis of the {rank}-d input (N, {', '.join(map(str, in_shape))}): "
                f"in [1, {rank - 1}] or [{1 - rank}, -1]", axis)
    return None


def _mapping(name: str) -> LayerMapping:
    fwd, bwd = MATH[name]
    line = DEFAULTS.get(name, "none that matter")

    def build_torch(ctx: BuildContext):
        return torch_module(name, ctx.spec.params, ctx.in_layout, len(ctx.in_shape) + 1, ctx.dtype), ctx.in_layout

    def build_keras(ctx: BuildContext):
        import keras

        if name == "softmax":
            return keras.layers.Softmax(axis=ctx.spec.params["axis"])
        return keras.layers.Activation(keras_function(name, ctx.spec.params))

    return LayerMapping(
        type=name, family="activations",
        atlas=Atlas(title=f"{name} (activation)", math=f"forward: {fwd}\nbackward: {bwd}",
                    scratch=f"scratchnet.Activation({name!r}, **params)  (scratchnet.activations.{name})",
                    torch=torch_text(name, {"negative_slope": "a", "alpha": "alpha", "approximate": False}),
                    keras=("keras.layers.Activation(lambda x: keras.activations.leaky_relu(x, negative_slope=a))  "
                           "(the math of keras.layers.LeakyReLU(negative_slope=a), which refuses a < 0)"
                           if name == "leaky_relu" else
                           "keras.layers.Softmax(axis=axis)" if name == "softmax" else
                           keras_text(name, _ATLAS_PARAMS.get(name, {}))),
                    defaults=line.lstrip("- "), snippet=snippet("activations")),
        torch=build_torch, keras=build_keras,
        deviations=lambda ctx: deviations(name, ctx.spec.params, ctx.dtype, layer=True),
        scratch_class="Activation", check_input=axis_check if name in ("softmax", "log_softmax") else (lambda *a: None),
        from_torch=lambda module, ictx: _claim(name, torch_activation(module, ictx.in_layout, len(ictx.in_shape) + 1)),
        from_torch_call=lambda target, args, kwargs, ictx: _call(name, target, args, kwargs, ictx),
        from_keras=lambda layer, ictx: _keras_claim(name, layer, ictx),
    )


def _claim(name: str, found):
    """The TorchImport of activation ``name`` when ``found`` (name, params) is it (no weights)."""
    from parity.mappings.base import TorchImport

    return TorchImport({"type": name, **found[1]}, {}) if found and found[0] == name else None


def _call(name: str, target, args, kwargs, ictx) -> dict | None:
    """``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``; softmax's ``dim`` read as the axis."""
    import torch
    import torch.nn.functional as F

    from parity.mappings.base import TENSOR

    if name in ("softmax", "log_softmax") and target in ((F.softmax, torch.softmax) if name == "softmax"
                                                         else (F.log_softmax, torch.log_softmax)):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if args[:1] != (TENSOR,) or not isinstance(dim, int):
            return None
        return {"type": name, "axis": canonical_axis(dim, ictx.in_layout, len(ictx.in_shape) + 1)}
    if torch_function_activation(target) == name and args == (TENSOR,) and not set(kwargs) - {"inplace"}:
        return {"type": name, **_defaults(name)}
    return None


def _keras_relu(layer) -> tuple[str, dict]:
    """``keras.layers.ReLU(max_value, negative_slope, threshold)``: y = max_value where x >= max_value,
    x where threshold <= x < max_value, negative_slope * (x - threshold) below: ``ReLU()`` is relu,
    ``ReLU(6.0)`` relu6 (Keras's MobileNets), ``ReLU(negative_slope=a)`` leaky_relu(a)."""
    from parity.mappings.base import Refused

    cap = None if layer.max_value is None else float(layer.max_value)
    slope, threshold = float(layer.negative_slope or 0.0), float(layer.threshold or 0.0)
    if threshold == 0.0 and slope == 0.0 and cap in (None, 6.0):
        return ("relu", {}) if cap is None else ("relu6", {})
    if threshold == 0.0 and cap is None:
        return ("leaky_relu", {"negative_slope": slope})
    raise Refused(f"ReLU(max_value={layer.max_value}, negative_slope={layer.negative_slope}, threshold="
                  f"{layer.threshold}): parity reads ReLU(), ReLU(6.0) and ReLU(negative_slope=a)")


def _keras_claim(name: str, layer, ictx) -> dict | None:
    """``Activation(fn)`` naming ``name`` (any activation but linear), ``Softmax(axis)``, ``ReLU()``
    (and ``ReLU(6.0)``, ``ReLU(negative_slope=a)``), ``LeakyReLU(negative_slope)``, ``ELU(alpha)``."""
    import keras

    rank = len(ictx.in_shape) + 1
    if isinstance(layer, keras.layers.Activation):
        found = keras_activation(layer.activation)
    elif isinstance(layer, keras.layers.Softmax):
        axis = layer.axis if isinstance(layer.axis, int) else None
        found = ("softmax", {"axis": -1 if axis % rank == rank - 1 else axis % rank}) if axis is not None else None
    elif isinstance(layer, keras.layers.ReLU):
        found = _keras_relu(layer)
    elif isinstance(layer, keras.layers.LeakyReLU):
        found = ("leaky_relu", {"negative_slope": float(layer.negative_slope)})
    elif isinstance(layer, keras.layers.ELU):
        found = ("elu", {"alpha": float(layer.alpha)})
    else:
        return None
    if not found or found[0] != name:
        return None
    params = dict(found[1])
    if "axis" in params:
        params["axis"] = -1 if params["axis"] % rank == rank - 1 else params["axis"] % rank
    return {"type": name, **params}


def fused(fields: dict, found: tuple[str, dict] | None, what: str) -> dict:
    """``fields`` with the ``activation`` of a fused activation ``found`` (name, params): only the
    defaults of a parametrised activation can be fused (the spec's ``activation`` field is a name)."""
    from parity.mappings.base import Refused

    if found is None:
        raise Refused(f"{what}: an activation with no mapping")
    name, params = found
    if params != _defaults(name):
        raise Refused(f"{what}: a fused {name} with {params} (only its defaults {_defaults(name)} fuse; "
                      f"make it a separate layer)")
    return {**fields, "activation": name}


def _activation_layer() -> LayerMapping:
    def build_torch(ctx):
        p = ctx.spec.params
        return torch_module(p["activation"], _fn_params(p), ctx.in_layout, len(ctx.in_shape) + 1, ctx.dtype), ctx.in_layout

    def build_keras(ctx):
        import keras

        p = ctx.spec.params
        return keras.layers.Activation(keras_function(p["activation"], _fn_params(p)))

    return LayerMapping(
        type="activation", family="activations",
        atlas=Atlas(title="activation (any activation by name)", math="y = f(x) elementwise; see each activation",
                    scratch="scratchnet.Activation(activation)", torch="the module of that activation",
                    keras="keras.layers.Activation(activation)", snippet=snippet("activations")),
        torch=build_torch, keras=build_keras,
        deviations=lambda ctx: deviations(ctx.spec.params["activation"], _fn_params(ctx.spec.params), ctx.dtype,
                                          layer=True),
        scratch_class="Activation",
        # read back: only linear (nn.Identity, Activation("linear")); every other activation as its own type
        from_torch=lambda module, ictx: _linear(torch_activation(module, ictx.in_layout, len(ictx.in_shape) + 1), True),
        from_keras=lambda layer, ictx: _linear(_keras_linear(layer), False),
    )


FOLLOW_ONLY = ("float32_constants",)  # scratchnet keywords that follow a framework's constant: never a spec field


def _linear(found, torch: bool):
    from parity.mappings.base import TorchImport

    if not found or found[0] != "linear":
        return None
    fields = {"type": "activation", "activation": "linear"}
    return TorchImport(fields, {}) if torch else fields


def _keras_linear(layer):
    import keras

    return keras_activation(layer.activation) if isinstance(layer, keras.layers.Activation) else None


def _fn_params(p: dict) -> dict:
    """The function's parameters (its defaults) of a layer's ``activation`` field."""
    from scratchnet import activations

    name = p["activation"]
    return {k: v for k, v in activations.get(name).params.items() if k not in FOLLOW_ONLY}


register(*(_mapping(n) for n in NAMES), _activation_layer())
