"""Recurrent layers: SimpleRNN, LSTM, GRU in scratchnet, torch (``nn.RNN/LSTM/GRU``) and Keras 3.

Canonical layout (Keras's = scratchnet's), k gate blocks of width U side by side on the last axis:
``kernel`` (F, kU), ``recurrent_kernel`` (U, kU), ``bias`` (kU,) or, for the GRU with
``reset_after=True``, (2, 3U) = [input bias; recurrent bias]. k = 1 (SimpleRNN), 4 (LSTM, gates
i, f, c, o), 3 (GRU, gates z, r, h).

torch stores ``weight_ih_l0`` (kU, F) and ``weight_hh_l0`` (kU, U), i.e. the transposes, with its
own gate order (LSTM i, f, g, o: the same; GRU r, z, n: the first two blocks swapped), and always
two biases ``bias_ih_l0`` and ``bias_hh_l0`` (kU,). ``TORCH_ORDER[type][j]`` is the Keras block
that torch block j holds; every conversion permutes the column blocks with it.

The two torch biases of SimpleRNN and LSTM only ever appear as a sum, where Keras has one bias.
Copying ``bias_ih = bias, bias_hh = 0`` makes the forward and the gradients agree, but an optimizer
step then moves both torch biases with the same gradient g, so their sum moves twice as far
(SGD: b - 2 lr g against Keras's b - lr g; Adam: 2 lr m_hat / (sqrt(v_hat) + eps)). The
reconciliation used here: ``bias_hh_l0`` is zeroed and FROZEN (``requires_grad_(False)``), so
torch's ``bias_ih_l0`` plays Keras's single bias, step for step. The bias rule still reads values
back as the sum ``bias_ih + bias_hh`` (what torch computes with) and the gradient as
``grad(bias_ih)``, so an unfrozen ``bias_hh`` shows up as a failing ``step`` row instead of being
hidden. The GRU has two biases on both sides (Keras ``reset_after=True``): both stay trainable.

Keras ``reset_after=False`` (reset gate applied before the recurrent matmul, the original GRU)
has no ``nn.GRU`` twin: the torch side is ``GRUResetBefore``, written from its equations with
torch's parameter names, gate order and one bias ``bias_ih_l0`` (3U,) like Keras's (3U,).
SimpleRNN activations other than tanh/relu, and a bidirectional GRU with ``reset_after=False``,
have no torch twin: ``torch_only_if`` names them and the spec is rejected (exit 2).
"""
from __future__ import annotations

import numpy as np

from parity.mappings import activations as act
from parity.mappings.base import snippet, SAME, Atlas, BuildContext, LayerMapping, WeightRule, expect_shape, register

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
# torch block j holds Keras block TORCH_ORDER[t][j]: LSTM torch i,f,g,o = Keras i,f,c,o;
# GRU torch r,z,n = Keras r (1), z (0), h (2).
TORCH_ORDER = {"simple_rnn": (0,), "lstm": (0, 1, 2, 3), "gru": (1, 0, 2)}
TORCH_ACTIVATIONS = ("tanh", "relu")  # nn.RNN's nonlinearity


def block_perm(order: tuple[int, ...], units: int) -> np.ndarray:
    """Column indices that take Keras blocks (width ``units``) into torch's order: torch column
    block j = Keras columns ``perm[j*U:(j+1)*U]``."""
    return np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])


def _use_bias(ctx: BuildContext) -> bool:
    return bool(ctx.spec.params.get("use_bias", True))


# -- torch ------------------------------------------------------------------------------------------
def _sequence_module(rnn, return_sequences: bool):
    """``rnn`` (batch_first) wrapped to return h_1..h_T (N, T, U) or h_T (N, U), like Keras."""
    import torch.nn as nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn
            self.return_sequences = return_sequences

        def forward(self, x):
            out, _ = self.rnn(x)  # (N, T, U); the final state(s) are out[:, -1] (and c_T)
            return out if self.return_sequences else out[:, -1]

    return Sequence()


def _gru_reset_before(features: int, units: int, bias: bool, dtype):
    """torch's side of Keras ``GRU(reset_after=False)``, written out (torch's gate order r, z, n):

        r_t = sigmoid(x_t W_ir^T + b_r + h_{t-1} W_hr^T)
        z_t = sigmoid(x_t W_iz^T + b_z + h_{t-1} W_hz^T)
        n_t = tanh(x_t W_in^T + b_n + (r_t * h_{t-1}) W_hn^T)      (reset before the matmul)
        h_t = (1 - z_t) * n_t + z_t * h_{t-1},   h_0 = 0

    Parameters ``weight_ih_l0`` (3U, F), ``weight_hh_l0`` (3U, U), ``bias_ih_l0`` (3U,); called
    like ``nn.GRU(batch_first=True)``: x (N, T, F) -> (h_1..h_T (N, T, U), h_T (1, N, U))."""
    import torch
    import torch.nn as nn

    class GRUResetBefore(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight_ih_l0 = nn.Parameter(torch.zeros(3 * units, features, dtype=dtype))
            self.weight_hh_l0 = nn.Parameter(torch.zeros(3 * units, units, dtype=dtype))
            self.bias_ih_l0 = nn.Parameter(torch.zeros(3 * units, dtype=dtype)) if bias else None
            self.input_size, self.hidden_size = features, units

        def forward(self, x):
            gx = x @ self.weight_ih_l0.T  # (N, T, 3U): [r | z | n] input parts
            if self.bias_ih_l0 is not None:
                gx = gx + self.bias_ih_l0
            w_hr, w_hz, w_hn = self.weight_hh_l0.split(units)  # each (U, U)
            h = x.new_zeros(x.shape[0], units)  # (N, U)
            out = []
            for t in range(x.shape[1]):
                g_r, g_z, g_n = gx[:, t].split(units, dim=-1)  # each (N, U)
                r = torch.sigmoid(g_r + h @ w_hr.T)
                z = torch.sigmoid(g_z + h @ w_hz.T)
                n = torch.tanh(g_n + (r * h) @ w_hn.T)
                h = (1 - z) * n + z * h
                out.append(h)
            return torch.stack(out, dim=1), h[None]  # (N, T, U), (1, N, U)

    return GRUResetBefore()


def _torch_builder(kind: str):
    def build(ctx: BuildContext):
        import torch
        import torch.nn as nn

        if ctx.in_layout.kind != "same":
            raise AssertionError(f"{kind}: expected a (N, T, F) sequence in the same layout, got {ctx.in_layout}")
        p, dtype = ctx.spec.params, getattr(torch, ctx.dtype)
        features, units, bias = ctx.in_shape[-1], p["units"], _use_bias(ctx)
        common = dict(bias=bias, batch_first=True, dtype=dtype)
        if kind == "simple_rnn":
            rnn = nn.RNN(features, units, nonlinearity=p["activation"], **common)
        elif kind == "lstm":
            rnn = nn.LSTM(features, units, **common)
        elif p["reset_after"]:
            rnn = nn.GRU(features, units, **common)
        else:
            rnn = _gru_reset_before(features, units, bias, dtype)
        if bias and kind != "gru":  # one Keras bias = bias_ih alone: bias_hh stays 0 (see module doc)
            with torch.no_grad():
                rnn.bias_hh_l0.zero_()
            rnn.bias_hh_l0.requires_grad_(False)
        return _sequence_module(rnn, p["return_sequences"]), SAME

    return build


# -- keras ------------------------------------------------------------------------------------------
def _keras_builder(kind: str):
    def build(ctx: BuildContext):
        import keras

        p = ctx.spec.params
        common = dict(use_bias=_use_bias(ctx), return_sequences=p["return_sequences"])
        if kind == "simple_rnn":
            return keras.layers.SimpleRNN(p["units"], activation=act.keras_function(p["activation"], act._fn_params(p)),
                                          **common)
        gates = dict(activation="tanh", recurrent_activation="sigmoid", use_cudnn=False)
        if kind == "lstm":
            return keras.layers.LSTM(p["units"], unit_forget_bias=True, **gates, **common)
        return keras.layers.GRU(p["units"], reset_after=p["reset_after"], **gates, **common)

    return build


# -- weights ----------------------------------------------------------------------------------------
def make_rules(ctx: BuildContext, order: tuple[int, ...] | None = None) -> list[WeightRule]:
    """canonical <-> torch for one recurrent layer. ``order`` overrides the gate order (tests plant
    a wrong one); the default is ``TORCH_ORDER``."""
    kind = ctx.spec.type
    k, units, features = GATES[kind], ctx.spec.params["units"], ctx.in_shape[-1]
    perm = block_perm(order or TORCH_ORDER[kind], units)
    inv = np.argsort(perm)
    ku = k * units

    def matrix_rule(name: str, rows: int, torch_name: str) -> WeightRule:
        def to_torch(a, _):
            return expect_shape(a, (rows, ku), f"{kind} {name}")[:, perm].T.copy()  # (kU, rows)

        def to_canonical(w, _):
            return expect_shape(w, (ku, rows), f"torch {torch_name}").T[:, inv].copy()  # (rows, kU)

        return WeightRule(name, torch_name, to_torch, to_canonical)

    rules = [matrix_rule("kernel", features, "rnn.weight_ih_l0"),
             matrix_rule("recurrent_kernel", units, "rnn.weight_hh_l0")]
    if not _use_bias(ctx):
        return rules
    names = ("rnn.bias_ih_l0", "rnn.bias_hh_l0")
    if kind == "gru" and not ctx.spec.params["reset_after"]:  # (3U,) = GRUResetBefore's bias_ih_l0
        def one_to_torch(b, _):
            return expect_shape(b, (ku,), "gru bias")[perm].copy()

        def one_to_canonical(b, _):
            return expect_shape(b, (ku,), "torch rnn.bias_ih_l0")[inv].copy()

        rules.append(WeightRule("bias", "rnn.bias_ih_l0", one_to_torch, one_to_canonical))
    elif kind == "gru":  # (2, 3U) = [bias_ih; bias_hh], each row with the r/z swap
        def gru_to_torch(b, _):
            b = expect_shape(b, (2, ku), "gru bias (reset_after)")
            return b[0, perm].copy(), b[1, perm].copy()

        def gru_to_canonical(pair, _):
            b_ih, b_hh = (expect_shape(t, (ku,), f"torch {n}") for t, n in zip(pair, names))
            return np.stack([b_ih[inv], b_hh[inv]])  # (2, 3U)

        rules.append(WeightRule("bias", names, gru_to_torch, gru_to_canonical))
    else:  # bias = bias_ih + bias_hh; bias_hh is 0 (and frozen by the torch builder)
        def sum_to_torch(b, _):
            b = expect_shape(b, (ku,), f"{kind} bias")
            return b[perm].copy(), np.zeros_like(b)

        def sum_to_canonical(pair, _):
            b_ih, b_hh = (expect_shape(t, (ku,), f"torch {n}") for t, n in zip(pair, names))
            return (b_ih + b_hh)[inv]  # what torch adds into every pre-activation

        def grad_to_canonical(pair, _):
            g_ih = expect_shape(pair[0], (ku,), "torch grad bias_ih_l0")
            return g_ih[inv].copy()  # dL/d(b_ih + b_hh) = dL/db_ih (= dL/db_hh)

        rules.append(WeightRule("bias", names, sum_to_torch, sum_to_canonical, grad_to_canonical))
    return rules


# -- what torch cannot do -----------------------------------------------------------------------------
def _simple_rnn_torch_only_if(ctx: BuildContext) -> str | None:
    name = ctx.spec.params["activation"]
    if name not in TORCH_ACTIVATIONS:
        return (f'activation: expected "tanh" or "relu" (torch nn.RNN\'s nonlinearity has only these, so '
                f'there is no torch twin), got "{name}"')
    return None


def _gru_bidirectional_torch_only_if(ctx: BuildContext) -> str | None:
    """A bidirectional GRU is one ``nn.GRU(bidirectional=True)``, which resets after the matmul."""
    if not ctx.spec.params["reset_after"]:
        return ("reset_after: expected true in a bidirectional gru (torch nn.GRU applies the reset gate after "
                "the recurrent matmul, Keras reset_after=true; Keras reset_after=false has no bidirectional "
                "torch twin), got false")
    return None


# -- the way back (parity.importers) --------------------------------------------------------------
TORCH_CLASSES = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
KERAS_CLASSES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _from_torch(kind: str):
    """The harness's ``Sequence(rnn=...)``, or a bare ``nn.RNN/LSTM/GRU(batch_first=True)`` whose
    ``return_sequences`` the importer reads from how its outputs are used (``ictx.hints``: ``out``
    itself, or ``out[:, -1]`` / ``h_n[-1]`` for the last step)."""
    def hook(module, ictx):
        import torch.nn as nn

        from parity.mappings.base import Refused, TorchImport, torch_tensors

        cls = getattr(nn, TORCH_CLASSES[kind])
        sequence = type(module).__qualname__ == "_sequence_module.<locals>.Sequence"
        if kind == "gru" and sequence and type(module.rnn).__qualname__ == "_gru_reset_before.<locals>.GRUResetBefore":
            rnn = module.rnn
            if rnn.bias_ih_l0 is None or len(ictx.in_shape) != 2 or ictx.in_shape[-1] != rnn.input_size:
                raise Refused(f"GRUResetBefore({rnn.input_size}, {rnn.hidden_size}) on input (N, "
                              f"{', '.join(map(str, ictx.in_shape))})")
            fields = {"type": kind, "units": rnn.hidden_size, "return_sequences": bool(module.return_sequences),
                      "reset_after": False}
            return TorchImport(fields, torch_tensors(rnn, "rnn."))
        if sequence and type(module.rnn) is cls:
            rnn, return_sequences = module.rnn, bool(module.return_sequences)
        elif type(module) is cls:
            if module.bidirectional and module.num_layers == 1:
                return None  # bidirectional.py reads it
            rnn, return_sequences = module, ictx.hints.get("return_sequences", True)
        else:
            return None
        name = f"nn.{TORCH_CLASSES[kind]}"
        if not rnn.batch_first or rnn.num_layers != 1 or rnn.bidirectional or getattr(rnn, "proj_size", 0):
            raise Refused(f"{name}(batch_first={rnn.batch_first}, num_layers={rnn.num_layers}, bidirectional="
                          f"{rnn.bidirectional}): parity maps one batch_first layer, one direction")
        if not rnn.bias:
            raise Refused(f"{name}(bias=False): the spec's {kind} always has a bias")
        if len(ictx.in_shape) != 2 or ictx.in_shape[-1] != rnn.input_size:
            raise Refused(f"{name}({rnn.input_size}, ...) on input (N, {', '.join(map(str, ictx.in_shape))})")
        fields = {"type": kind, "units": rnn.hidden_size, "return_sequences": return_sequences}
        if kind == "simple_rnn":
            fields["activation"] = rnn.nonlinearity
        if kind == "gru":
            fields["reset_after"] = True  # torch's GRU applies the reset gate after the recurrent matmul
        return TorchImport(fields, torch_tensors(rnn, "rnn."))

    return hook


def _from_keras(kind: str):
    def hook(layer, ictx):
        import keras

        from parity.mappings.base import Refused

        cls = getattr(keras.layers, KERAS_CLASSES[kind])
        if type(layer) is not cls:
            return None
        name = KERAS_CLASSES[kind]
        if layer.return_state or layer.go_backwards or layer.stateful or not layer.use_bias:
            raise Refused(f"{name}(return_state={layer.return_state}, go_backwards={layer.go_backwards}, stateful="
                          f"{layer.stateful}, use_bias={layer.use_bias}): parity maps a forward layer with a bias "
                          "returning its output only")
        fields = {"type": kind, "units": layer.units, "return_sequences": bool(layer.return_sequences)}
        activation = act.keras_activation(layer.activation)
        if kind == "simple_rnn":
            fields["activation"] = activation[0] if activation else None
            if activation is None or activation[1]:
                raise Refused(f"{name}: activation {layer.activation!r} has no spec name")
        else:
            gates = (activation, act.keras_activation(layer.recurrent_activation))
            if gates != (("tanh", {}), ("sigmoid", {})):
                raise Refused(f"{name}(activation, recurrent_activation) other than (tanh, sigmoid): no torch twin")
        if kind == "gru":
            fields["reset_after"] = bool(layer.reset_after)
        return fields

    return hook


# -- atlas ------------------------------------------------------------------------------------------
_OUTPUT = "output: h_1..h_T (N, T, U) with return_sequences, else h_T (N, U); h_0 = 0"
_SUM_BIAS = ("torch has two biases, bias_ih_l0 and bias_hh_l0 ({k}U,), that only ever appear as a sum; Keras one. "
             "RECONCILIATION: bias_ih_l0 = bias, bias_hh_l0 = 0 and FROZEN (requires_grad False); read back: "
             "bias = bias_ih + bias_hh, dL/dbias = grad(bias_ih). Why frozen: both torch biases get the same "
             "gradient g, so an optimizer step moves their sum twice as far (SGD: b - 2 lr g vs Keras b - lr g; "
             "Adam: 2 lr m_hat/(sqrt(v_hat)+eps)): two biases are a different parameterisation for training, "
             "not only a different layout.")

SIMPLE_RNN_ATLAS = Atlas(
    title="simple_rnn", snippet=snippet("simple_rnn"),
    math=("forward: a_t = x_t W + h_{t-1} R + b, h_t = act(a_t)     x (N, T, F), W (F, U), R (U, U), b (U,)\n"
          f"{_OUTPUT}\n"
          "backward (BPTT, t = T..1): g_t = dy_t + da_{t+1} R^T, da_t = act'(a_t) * g_t\n"
          "          dx_t = da_t W^T, dW = sum_t x_t^T da_t, dR = sum_t h_{t-1}^T da_t, db = sum_{n,t} da_t"),
    scratch="scratchnet.SimpleRNN(units, activation=activation, return_sequences=return_sequences)",
    torch=("Sequence(rnn=nn.RNN(F, units, nonlinearity=activation, bias=True, batch_first=True)): out, _ = rnn(x); "
           "y = out if return_sequences else out[:, -1]; rnn.bias_hh_l0 zeroed and frozen"),
    keras="keras.layers.SimpleRNN(units, activation=activation, use_bias=True, return_sequences=return_sequences)",
    layout=("kernel (F, U) = weight_ih_l0.T, recurrent_kernel (U, U) = weight_hh_l0.T. "
            + _SUM_BIAS.format(k="")),
    defaults=("torch nn.RNN takes only tanh or relu (other activations are rejected: no torch twin); "
              "initialisers differ (Keras glorot_uniform / orthogonal / zeros, torch U(+-1/sqrt U)) but weights "
              "are copied; torch returns (out, h_n) and needs batch_first=True for (N, T, F)"),
    notes="Keras 3 keeps the variables in the cell (path simple_rnn/simple_rnn_cell/kernel); their names are "
          "kernel, recurrent_kernel, bias.")

LSTM_ATLAS = Atlas(
    title="lstm", snippet=snippet("lstm"), aliases=("LSTM",),
    latex=(r"[a_i, a_f, a_c, a_o] = x_t W + h_{t-1} R + b,\qquad W \in \mathbb{R}^{F \times 4U},\ R \in \mathbb{R}^{U \times 4U}" "\n"
           r"i = \sigma(a_i),\ f = \sigma(a_f),\ g = \tanh(a_c),\ o = \sigma(a_o)" "\n"
           r"c_t = f \odot c_{t-1} + i \odot g,\qquad h_t = o \odot \tanh(c_t),\qquad h_0 = c_0 = 0"),
    math=("forward: [a_i a_f a_c a_o] = x_t W + h_{t-1} R + b        W (F, 4U), R (U, 4U), b (4U,); blocks i,f,c,o\n"
          "         i = sig(a_i), f = sig(a_f), g = tanh(a_c), o = sig(a_o)\n"
          "         c_t = f c_{t-1} + i g,  h_t = o tanh(c_t),  c_0 = 0\n"
          f"{_OUTPUT}\n"
          "backward (BPTT, t = T..1): dh = dy_t + da_{t+1} R^T,  dc = dc_{t+1} f_{t+1} + dh o (1 - tanh^2 c_t)\n"
          "          do = dh tanh c_t, di = dc g, dg = dc i, df = dc c_{t-1}\n"
          "          da_t = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]\n"
          "          dx_t = da_t W^T, dW = sum_t x_t^T da_t, dR = sum_t h_{t-1}^T da_t, db = sum_{n,t} da_t"),
    scratch="scratchnet.LSTM(units, return_sequences=return_sequences)",
    torch=("Sequence(rnn=nn.LSTM(F, units, bias=True, batch_first=True)): out, _ = rnn(x); "
           "y = out if return_sequences else out[:, -1]; rnn.bias_hh_l0 zeroed and frozen"),
    keras=("keras.layers.LSTM(units, activation='tanh', recurrent_activation='sigmoid', use_bias=True, "
           "unit_forget_bias=True, return_sequences=return_sequences, use_cudnn=False)"),
    layout=("kernel (F, 4U) = weight_ih_l0.T, recurrent_kernel (U, 4U) = weight_hh_l0.T; the gate order is the "
            "same (torch i, f, g, o = Keras i, f, c, o): no block permutation. " + _SUM_BIAS.format(k="4")),
    defaults=("Keras unit_forget_bias=True starts the forget block of the bias at 1, torch draws both biases "
              "U(+-1/sqrt U) (irrelevant: weights are copied); Keras use_cudnn='auto' picks cuDNN on a GPU, pinned "
              "to False here (the generic kernel, CPU); torch returns (out, (h_n, c_n))"),
    notes="Keras 3 variables live in the cell (lstm/lstm_cell/kernel) and are named kernel, recurrent_kernel, bias.")

GRU_ATLAS = Atlas(
    title="gru", snippet=snippet("gru"), aliases=("GRU",),
    latex=(r"xw = x_t W + b_{in},\quad hu = h_{t-1} R + b_{rec}\qquad (\text{blocks } z, r, h;\ \texttt{reset\_after=True})" "\n"
           r"z = \sigma(xw_z + hu_z),\quad r = \sigma(xw_r + hu_r),\quad \tilde h = \tanh(xw_h + r \odot hu_h)" "\n"
           r"h_t = z \odot h_{t-1} + (1 - z) \odot \tilde h"),
    math=("forward (reset_after=True; blocks z, r, h):  W (F, 3U), R (U, 3U), b (2, 3U)\n"
          "         xw = x_t W + b[0],  hu = h_{t-1} R + b[1]\n"
          "         z = sig(xw_z + hu_z), r = sig(xw_r + hu_r), hh = tanh(xw_h + r * hu_h)\n"
          "         h_t = z h_{t-1} + (1 - z) hh\n"
          "         (torch: r, z as above, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1-z) n + z h: the same)\n"
          f"{_OUTPUT}\n"
          "backward (BPTT, t = T..1): dh = dy_t + (path from t+1)\n"
          "          da_z = dh (h_{t-1} - hh) z(1-z), da_h = dh (1-z)(1-hh^2), da_r = da_h hu_h r(1-r)\n"
          "          d xw = [da_z, da_r, da_h], d hu = [da_z, da_r, r da_h], dh_{t-1} = dh z + d hu R^T\n"
          "          dx_t = d xw W^T, dW = sum x^T d xw, dR = sum h_{t-1}^T d hu, db = [sum d xw; sum d hu]"),
    scratch="scratchnet.GRU(units, return_sequences=return_sequences, reset_after=reset_after)",
    torch=("Sequence(rnn=nn.GRU(F, units, bias=True, batch_first=True)): out, _ = rnn(x); "
           "y = out if return_sequences else out[:, -1]; reset_after=False: Sequence(rnn=GRUResetBefore(F, units)), "
           "the original GRU written out in torch (n = tanh(W_in x + b_n + W_hn (r * h))), no nn.GRU twin"),
    keras=("keras.layers.GRU(units, activation='tanh', recurrent_activation='sigmoid', use_bias=True, "
           "reset_after=reset_after, return_sequences=return_sequences, use_cudnn=False)"),
    layout=("torch gate order r, z, n vs Keras z, r, h: swap the first two U-wide blocks in every tensor. "
            "kernel (F, 3U) = weight_ih_l0.T[:, perm], recurrent_kernel (U, 3U) = weight_hh_l0.T[:, perm], "
            "bias (2, 3U) = stack([bias_ih_l0, bias_hh_l0])[:, perm], perm = [U:2U, 0:U, 2U:3U] (its own inverse). "
            "Two biases exist on both sides (b_hh sits inside r * (...)), so both stay trainable: no reconciliation "
            "needed."),
    defaults=("Keras reset_after=True is the default and the only variant torch has; reset_after=False (reset "
              "applied before the recurrent matmul, bias (3U,) = GRUResetBefore's bias_ih_l0 in torch's gate order) has no "
              "nn.GRU twin (written out; refused inside bidirectional, which is one nn.GRU); Keras "
              "use_cudnn pinned to False"),
    notes="Keras 3 variables live in the cell (gru/gru_cell/kernel) and are named kernel, recurrent_kernel, bias.")


def _gate_shapes(k: int):
    """k gates: kernel (F, k*U) and recurrent kernel (U, k*U)."""
    return lambda p, s: [("kernel", (s[-1], k * p["units"])), ("recurrent_kernel", (p["units"], k * p["units"]))]


register(
    LayerMapping(type="simple_rnn", family="recurrent", atlas=SIMPLE_RNN_ATLAS, torch=_torch_builder("simple_rnn"),
                 keras=_keras_builder("simple_rnn"), rules=make_rules, from_torch=_from_torch("simple_rnn"),
                 from_keras=_from_keras("simple_rnn"), torch_only_if=_simple_rnn_torch_only_if,
                 scratch_class="SimpleRNN", trainable=True, parameter_shapes=_gate_shapes(1)),
    LayerMapping(type="lstm", family="recurrent", atlas=LSTM_ATLAS, torch=_torch_builder("lstm"),
                 keras=_keras_builder("lstm"), rules=make_rules, from_torch=_from_torch("lstm"),
                 from_keras=_from_keras("lstm"),
                 scratch_class="LSTM", trainable=True, parameter_shapes=_gate_shapes(4)),
    LayerMapping(type="gru", family="recurrent", atlas=GRU_ATLAS, torch=_torch_builder("gru"),
                 keras=_keras_builder("gru"), rules=make_rules, from_torch=_from_torch("gru"),
                 from_keras=_from_keras("gru"),
                 scratch_class="GRU", trainable=True, parameter_shapes=_gate_shapes(3)),
)
