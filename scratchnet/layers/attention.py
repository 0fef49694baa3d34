"""Multi-head attention (Keras's ``MultiHeadAttention``): query, value and an optional key in, one
sequence out.

Called with a LIST of inputs, like the merge layers: ``[query]`` (self-attention: value = key =
query), ``[query, value]`` (key = value) or ``[query, value, key]``, each a sequence (N, T, E);
its backward returns one gradient per input given, in order (a tensor used twice gets the sum of
both uses' gradients). ``scratchnet.Model`` wires it into a graph.

Shapes (H heads, Dk = key_dim, Dv = value_dim, E_out = output_shape or E_q):
    query x_q (N, T_q, E_q)   value x_v (N, T_k, E_v)   key x_k (N, T_k, E_k)  -> y (N, T_q, E_out)
    kernels (Keras's layout, its sublayers' names):
        query/kernel W_q (E_q, H, Dk)   query/bias b_q (H, Dk)
        key/kernel   W_k (E_k, H, Dk)   key/bias   b_k (H, Dk)
        value/kernel W_v (E_v, H, Dv)   value/bias b_v (H, Dv)
        attention_output/kernel W_o (H, Dv, E_out)   attention_output/bias b_o (E_out,)

Forward (indices: n batch, i query position, j key position, h head, d head feature, e feature):
    Q[n,i,h,d] = sum_e x_q[n,i,e] W_q[e,h,d] + b_q[h,d]          (K, V likewise from x_k, x_v)
    S[n,h,i,j] = s * sum_d Q[n,i,h,d] K[n,j,h,d],    s = 1/sqrt(Dk)
    causal:  S[n,h,i,j] = -inf where j > i      (position i attends to j <= i: Keras's
             band_part(ones(T_q, T_k), -1, 0), torch's tril; applied before the softmax)
    A[n,h,i,:] = softmax_j(S[n,h,i,:])          (a masked entry's probability is exactly 0)
    O[n,i,h,d] = sum_j A[n,h,i,j] V[n,j,h,d]
    y[n,i,e]   = sum_{h,d} O[n,i,h,d] W_o[h,d,e] + b_o[e]

Backward, from dy = dL/dy:
    dW_o[h,d,e] = sum_{n,i} O[n,i,h,d] dy[n,i,e]        db_o[e] = sum_{n,i} dy[n,i,e]
    dO[n,i,h,d] = sum_e dy[n,i,e] W_o[h,d,e]
    dA[n,h,i,j] = sum_d dO[n,i,h,d] V[n,j,h,d]          dV[n,j,h,d] = sum_i A[n,h,i,j] dO[n,i,h,d]
    dS[n,h,i,j] = A[n,h,i,j] (dA[n,h,i,j] - sum_j' A[n,h,i,j'] dA[n,h,i,j'])   (the softmax's
                  Jacobian-vector product; 0 at masked entries, whose A is 0)
    dQ[n,i,h,d] = s sum_j dS[n,h,i,j] K[n,j,h,d]        dK[n,j,h,d] = s sum_i dS[n,h,i,j] Q[n,i,h,d]
    for each projection P in (Q from x_q, K from x_k, V from x_v):
        dW_p[e,h,d] = sum_{n,t} x_p[n,t,e] dP[n,t,h,d]   db_p[h,d] = sum_{n,t} dP[n,t,h,d]
        dx_p[n,t,e] = sum_{h,d} dP[n,t,h,d] W_p[e,h,d]
    returned: [dx_q + dx_k + dx_v] for [query]; [dx_q, dx_v + dx_k] for [query, value];
              [dx_q, dx_v, dx_k] for [query, value, key].

The scale. Keras (TensorFlow) multiplies the scores by ``tf.cast(1/sqrt(Dk), dtype)`` of a Python
float, which TensorFlow first makes a float32 tensor: in float64 its s is the float32-rounded
1/sqrt(Dk) (exact for Dk = 1, 4, 16, 64; about 1e-8 relative off elsewhere).
``score_scale_dtype="float32"`` makes this layer use that same rounded constant; None (the
default) uses 1/sqrt(Dk) rounded once to the layer's dtype. As in Keras, s multiplies the scores
Q K^T (not Q).

Dropout on the attention probabilities is not part of this layer (Keras's ``dropout=0``).
"""
from __future__ import annotations

import numpy as np

from scratchnet import checks, initializers
from scratchnet.layers.base import Layer, as_float_dtype, positive_int

__all__ = ["MultiHeadAttention"]

SCORE_SCALE_DTYPES = (None, "float32")


def score_scale(key_dim: int, dtype, score_scale_dtype: str | None = None) -> np.ndarray:
    """s = 1/sqrt(key_dim) as a 0-d array of ``dtype``: rounded once to ``dtype``, or first to
    float32 when ``score_scale_dtype == "float32"`` (TensorFlow's constant)."""
    s = 1.0 / np.sqrt(np.float64(key_dim))
    if score_scale_dtype == "float32":
        s = np.float64(np.float32(s))
    return np.asarray(s, dtype=dtype)


def causal_mask(t_q: int, t_k: int) -> np.ndarray:
    """(T_q, T_k) boolean, True where query position i may attend key position j: j <= i."""
    return np.tril(np.ones((t_q, t_k), dtype=bool))


def softmax_last(s: np.ndarray) -> np.ndarray:
    """softmax over the last axis, max-shifted; rows holding -inf entries give them exactly 0
    (every row keeps at least one finite entry: a causal row always has j = 0)."""
    z = s - s.max(axis=-1, keepdims=True)
    np.exp(z, z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def attention_forward(xq, xk, xv, params, scale, causal=False):
    """The forward written out in the module docstring. ``params``: the eight (or four, without
    biases) arrays by name. Returns ``(y, cache)``."""
    q = np.einsum("nte,ehd->nthd", xq, params["query/kernel"], optimize=True)
    k = np.einsum("nte,ehd->nthd", xk, params["key/kernel"], optimize=True)
    v = np.einsum("nte,ehd->nthd", xv, params["value/kernel"], optimize=True)
    if "query/bias" in params:
        q += params["query/bias"]
        k += params["key/bias"]
        v += params["value/bias"]
    scores = np.einsum("nihd,njhd->nhij", q, k, optimize=True)  # (N, H, T_q, T_k)
    scores *= scale
    if causal:
        scores = np.where(causal_mask(scores.shape[-2], scores.shape[-1]), scores, -np.inf)
    a = softmax_last(scores)
    o = np.einsum("nhij,njhd->nihd", a, v, optimize=True)  # (N, T_q, H, Dv)
    y = np.einsum("nihd,hde->nie", o, params["attention_output/kernel"], optimize=True)
    if "attention_output/bias" in params:
        y += params["attention_output/bias"]
    return y, (xq, xk, xv, q, k, v, a, o)


def attention_backward(dy, cache, params, scale, input_grad=True):
    """The backward written out in the module docstring. Returns ``(dx_q, dx_k, dx_v, grads)``,
    ``grads`` by parameter name; ``input_grad=False`` skips the dx products (None in their place)."""
    xq, xk, xv, q, k, v, a, o = cache
    grads = {"attention_output/kernel": np.einsum("nihd,nie->hde", o, dy, optimize=True)}
    do = np.einsum("nie,hde->nihd", dy, params["attention_output/kernel"], optimize=True)
    da = np.einsum("nihd,njhd->nhij", do, v, optimize=True)
    dv = np.einsum("nhij,nihd->njhd", a, do, optimize=True)
    ds = a * (da - np.sum(a * da, axis=-1, keepdims=True))
    ds *= scale
    dq = np.einsum("nhij,njhd->nihd", ds, k, optimize=True)
    dk = np.einsum("nhij,nihd->njhd", ds, q, optimize=True)
    dxs = []
    for name, x, dp in (("query", xq, dq), ("key", xk, dk), ("value", xv, dv)):
        grads[f"{name}/kernel"] = np.einsum("nte,nthd->ehd", x, dp, optimize=True)
        dxs.append(np.einsum("nthd,ehd->nte", dp, params[f"{name}/kernel"], optimize=True) if input_grad else None)
        if f"{name}/bias" in params:
            grads[f"{name}/bias"] = dp.sum(axis=(0, 1))
    if "attention_output/bias" in params:
        grads["attention_output/bias"] = dy.sum(axis=(0, 1))
    return (*dxs, grads)


class MultiHeadAttention(Layer):
    """``MultiHeadAttention(num_heads, key_dim, value_dim=None, use_bias=True, output_shape=None,
    causal=False, score_scale_dtype=None)``; the math is in the module docstring.

    ``value_dim`` None: key_dim. ``output_shape`` None: the query's feature size E_q (an int
    otherwise). ``causal``: query position i attends to key positions j <= i (Keras's
    ``use_causal_mask=True``). ``score_scale_dtype``: None or "float32" (see the module docstring).
    Inputs: a list ``[query]``, ``[query, value]`` or ``[query, value, key]``; ``input_shape`` is
    the tuple of their shapes."""

    input_arity = (1, 3)  # how many inputs a Model may wire to it: least, most (scratchnet.graph)

    def __init__(self, num_heads, key_dim, value_dim=None, use_bias=True, output_shape=None, causal=False,
                 score_scale_dtype=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 name=None, rng=None):
        super().__init__(name, rng)
        self.num_heads = positive_int(num_heads, f"{self.name}: num_heads")
        self.key_dim = positive_int(key_dim, f"{self.name}: key_dim")
        self.value_dim = self.key_dim if value_dim is None else positive_int(value_dim, f"{self.name}: value_dim")
        self.use_bias = checks.boolean(use_bias, f"{self.name}: use_bias")
        self.output_size = None if output_shape is None else positive_int(output_shape, f"{self.name}: output_shape")
        self.causal = checks.boolean(causal, f"{self.name}: causal")
        if score_scale_dtype not in SCORE_SCALE_DTYPES:
            raise ValueError(f"{self.name}: score_scale_dtype: expected None or 'float32', got {score_scale_dtype!r}")
        self.score_scale_dtype = score_scale_dtype
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    # -- shapes -------------------------------------------------------------------------------
    def _listed(self, input_shapes) -> list[tuple[int, ...]]:
        """The list of input shapes; one shape alone (a tuple of ints) is self-attention's [shape]."""
        if isinstance(input_shapes, (list, tuple)) and input_shapes and \
                all(isinstance(d, (int, np.integer)) for d in input_shapes):
            input_shapes = [input_shapes]
        if not isinstance(input_shapes, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shapes):
            raise ValueError(f"{self.name}: expected a list of input shapes [query], [query, value] or "
                             f"[query, value, key], got {input_shapes!r}")
        return [tuple(int(d) for d in s) for s in input_shapes]

    def _shapes(self, input_shapes):
        """(query, value, key) shapes, each (T, E), from the list of 1 to 3 input shapes."""
        shapes = self._listed(input_shapes)
        if not 1 <= len(shapes) <= 3:
            raise ValueError(f"{self.name}: expected 1 to 3 inputs (query, value, key), got {len(shapes)}")
        for what, s in zip(("query", "value", "key"), shapes):
            if len(s) != 2:
                raise ValueError(f"{self.name}: expected the {what} to be a sequence (N, T, E), got "
                                 f"(N, {', '.join(map(str, s))})")
        q = shapes[0]
        v = shapes[1] if len(shapes) > 1 else q
        k = shapes[2] if len(shapes) > 2 else v
        if k[0] != v[0]:
            raise ValueError(f"{self.name}: expected value and key of one length, got value (N, {v[0]}, {v[1]}) "
                             f"and key (N, {k[0]}, {k[1]})")
        return q, v, k

    def compute_output_shape(self, input_shapes):
        q, _, _ = self._shapes(input_shapes)
        return (q[0], self.output_size or q[1])

    def build(self, input_shapes, dtype="float64", rng=None) -> "MultiHeadAttention":
        q, v, k = self._shapes(input_shapes)
        self.output_shape = tuple(self.compute_output_shape(input_shapes))
        self.dtype = as_float_dtype(dtype, f"{self.name}: dtype")
        self.input_shape = tuple(self._listed(input_shapes))
        rng = rng if rng is not None else (self._rng if self._rng is not None else np.random.default_rng(0))
        self.params, self.grads = {}, {}
        h, dk, dv, e_out = self.num_heads, self.key_dim, self.value_dim, self.output_shape[-1]
        # glorot over the flattened (E, H*D) / (H*Dv, E_out) matrices a dense projection would be
        for name, shape in (("query", (q[1], h, dk)), ("key", (k[1], h, dk)), ("value", (v[1], h, dv))):
            self.add_param(f"{name}/kernel", self.kernel_initializer((shape[0], h * shape[2]), rng, self.dtype)
                           .reshape(shape))
            if self.use_bias:
                self.add_param(f"{name}/bias", self.bias_initializer(shape[1:], rng, self.dtype))
        self.add_param("attention_output/kernel", self.kernel_initializer((h * dv, e_out), rng, self.dtype)
                       .reshape(h, dv, e_out))
        if self.use_bias:
            self.add_param("attention_output/bias", self.bias_initializer((e_out,), rng, self.dtype))
        self.scale = score_scale(dk, self.dtype, self.score_scale_dtype)
        self.built = True
        return self

    # -- running ------------------------------------------------------------------------------
    def forward(self, xs, training: bool = False) -> np.ndarray:
        """``xs``: the list [query], [query, value] or [query, value, key] (each (N, T, E))."""
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"{self.name}: expected a list of inputs [query], [query, value] or "
                             f"[query, value, key], got {type(xs).__name__}")
        xs = [np.asarray(x) for x in xs]
        if not self.built:
            if any(x.ndim < 1 for x in xs):
                raise ValueError(f"{self.name}: expected inputs with a batch axis first, got a scalar")
            floats = [x.dtype for x in xs if x.dtype.kind == "f"]
            self.build([x.shape[1:] for x in xs], floats[0] if floats else np.float64)
        if len(xs) != len(self.input_shape):
            raise ValueError(f"{self.name}: expected {len(self.input_shape)} inputs, got {len(xs)}")
        batch = xs[0].shape[0] if xs[0].ndim else None
        for x, shape in zip(xs, self.input_shape):
            if x.ndim != len(shape) + 1 or x.shape[1:] != shape or x.shape[0] != batch:
                raise ValueError(f"{self.name}: expected inputs of shapes "
                                 f"{[(batch, *s) for s in self.input_shape]}, got {[tuple(x.shape) for x in xs]}")
            if x.dtype.kind == "f" and x.dtype != self.dtype:
                raise ValueError(f"{self.name}: expected {self.dtype} inputs, got {x.dtype} "
                                 "(scratchnet never casts silently; cast before calling)")
        xs = [x.astype(self.dtype) if x.dtype.kind != "f" else x for x in xs]
        return self.forward_trusted(xs, training)

    __call__ = forward

    def _forward(self, xs, training):
        xq = xs[0]
        xv = xs[1] if len(xs) > 1 else xq
        xk = xs[2] if len(xs) > 2 else xv
        y, cache = attention_forward(xq, xk, xv, self.params, self.scale, self.causal)
        return y, (len(xs), cache)

    def _backward(self, dy, cache):
        count, inner = cache
        dxq, dxk, dxv, grads = attention_backward(dy, inner, self.params, self.scale, self._input_grad)
        for name, g in grads.items():
            self.grads[name][...] = g
        if not self._input_grad:
            return None
        if count == 1:
            return [dxq + dxk + dxv]
        if count == 2:
            return [dxq, dxv + dxk]
        return [dxq, dxv, dxk]
