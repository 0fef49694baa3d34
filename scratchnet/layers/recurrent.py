"""Recurrent layers on batch-first sequences: SimpleRNN, LSTM, GRU (Keras names and layouts).

Every layer reads x (N, T, F) and runs a recurrence h_t = step(x_t, h_{t-1}) from h_0 = 0 (and
c_0 = 0 for the LSTM), or from ``initial_state=[h_0]`` (``[h_0, c_0]`` for the LSTM), each (N, U),
given to the call. Output: the last hidden state h_T (N, U), or every state h_1..h_T (N, T, U)
with ``return_sequences=True``; with ``return_state=True`` the call returns
``[output, h_T]`` (``[output, h_T, c_T]``), as Keras does, and ``backward`` takes
``[d output, dh_T(, dc_T)]``. After a backward from an ``initial_state`` call,
``layer.initial_state_grads`` holds ``[dL/dh_0(, dL/dc_0)]``: dh_0 is what flows out of step 1
through the recurrent matmul (da_1 U^T), dc_0 = dc_1 f_1 (the captioning models' image-to-state
projection trains from it).

Parameters, Keras names and layouts, k gate blocks of width U side by side along the last axis:
    kernel            (F, k U)   input weights,     blocks in Keras gate order
    recurrent_kernel  (U, k U)   recurrent weights, same blocks
    bias              (k U,)     (GRU ``reset_after=True``: (2, 3U), row 0 input bias, row 1
                                 recurrent bias)
k = 1 (SimpleRNN), 4 (LSTM: i, f, c, o), 3 (GRU: z, r, h).

How each pass is organised (the same in all three):
- Forward: the input projection of every time step is one matmul before the loop,
  ``xw = x @ kernel (+ input bias)``  (N, T, kU); the only Python loop is over t = 1..T, doing the
  recurrent matmul ``h_{t-1} @ recurrent_kernel`` and the gate nonlinearities. The cache keeps
  x, every state h_0..h_T (and c_0..c_T) and every gate activation.
- Backward (backpropagation through time): dh_t = dL/dh_t from the output (nonzero only at t = T
  without ``return_sequences``) plus what flows back from step t+1. One loop over reversed t turns
  dh_t into the gradients of the gate pre-activations, stored per step, and sends
  dh_{t-1} = (gate gradients) @ recurrent_kernel^T (+ any direct path) back. After the loop the
  weight gradients are each one matmul over all (n, t) pairs:
      d kernel = x^T da,   d recurrent_kernel = h_prev^T da_rec,   d bias = sum_{n,t} da,
      dx = da @ kernel^T
  with x, h_prev flattened to (N T, .) and da the pre-activation gradients flattened to (N T, kU).
  Nothing from the forward is recomputed.

Initialisation (Keras defaults): kernel glorot_uniform, recurrent_kernel orthogonal (``orthogonal``
below), bias zeros except the LSTM forget-gate block, which starts at 1 (Keras
``unit_forget_bias=True``).

Input shapes are fixed at build time, as for every scratchnet layer: a later call must have the
same T and F.
"""
from __future__ import annotations

import numpy as np

from scratchnet import activations, checks, initializers
from scratchnet.activations import sigmoid
from scratchnet.layers._windows import alloc as _alloc
from scratchnet.layers.base import Layer, positive_int

__all__ = ["SimpleRNN", "LSTM", "GRU"]


# -- initialiser -----------------------------------------------------------------------------------
def orthogonal(shape, rng, dtype="float64", gain=1.0):
    """Keras's ``Orthogonal`` rule: draw A ~ N(0, 1) of shape (max(r, c), min(r, c)) for a
    (r, c) target, take A = QR, fix the signs so that diag(R) > 0 (q *= sign(diag R)), and
    transpose when r < c. The result has orthonormal rows (r <= c) or columns (r >= c): for a
    recurrent kernel (U, kU) the U rows of the whole matrix are orthonormal (for k = 1 it is an
    orthogonal matrix). The draw is made in float64 and cast to ``dtype`` at the end."""
    rows, cols = int(shape[0]), int(np.prod(shape[1:]))
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)  # (max, min), (min, min)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return np.ascontiguousarray((gain * q).reshape(shape), dtype=dtype)  # q.T is F-ordered


# -- SimpleRNN -------------------------------------------------------------------------------------
def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, activation="tanh", h0=None):
    """h_t = act(x_t W + h_{t-1} U + b),  h_0 = 0 or the given h0 (N, U).

    x (N, T, F), W (F, U), U (U, U), b (U,) -> hs (N, T, U) = h_1..h_T, cache.
    """
    act = activations.get(activation)
    n, t_len, _ = x.shape
    units = recurrent_kernel.shape[0]
    xw = x @ kernel  # (N, T, U)
    if bias is not None:
        xw = xw + bias
    h = np.zeros((n, t_len + 1, units), dtype=x.dtype)  # h[:, t] = h_t, h[:, 0] = h_0
    if h0 is not None:
        h[:, 0] = h0
    act_caches = []
    for t in range(t_len):
        a = xw[:, t] + h[:, t] @ recurrent_kernel  # (N, U)
        h[:, t + 1], act_cache = act.forward(a)
        act_caches.append(act_cache)
    return h[:, 1:], (x, kernel, recurrent_kernel, h, act, act_caches)


def simple_rnn_backward(dhs, cache):
    """BPTT for ``simple_rnn_forward``; dhs = dL/dh_t from the output, (N, T, U).

    For t = T..1:  g_t = dhs_t + g_{t+1}-path,  da_t = act'(a_t) * g_t,  g_{t-1}-path = da_t U^T.
    dx = da W^T,  dW = x^T da,  dU = h_{prev}^T da,  db = sum_{n,t} da,  dh_0 = da_1 U^T.
    Returns dx (N, T, F), dW (F, U), dU (U, U), db (U,), [dh_0 (N, U)].
    """
    x, kernel, recurrent_kernel, h, act, act_caches = cache
    n, t_len, f = x.shape
    units = recurrent_kernel.shape[0]
    da = np.empty((n, t_len, units), dtype=x.dtype)  # pre-activation gradients
    dh_next = np.zeros((n, units), dtype=x.dtype)  # dL/dh_t through step t+1
    for t in reversed(range(t_len)):
        da[:, t] = act.backward(dhs[:, t] + dh_next, act_caches[t])  # (N, U)
        dh_next = da[:, t] @ recurrent_kernel.T  # (N, U)
    da2 = da.reshape(-1, units)  # (N T, U)
    dkernel = x.reshape(-1, f).T @ da2  # (F, U)
    drecurrent = h[:, :-1].reshape(-1, units).T @ da2  # (U, U)
    return da @ kernel.T, dkernel, drecurrent, da2.sum(axis=0), [dh_next]  # dh_next = dL/dh_0


# -- LSTM --------------------------------------------------------------------------------------------
def lstm_forward(x, kernel, recurrent_kernel, bias=None, buffer=None, h0=None, c0=None):
    """Keras LSTM, gate blocks i, f, c, o:
        [a_i, a_f, a_c, a_o] = x_t W + h_{t-1} U + b
        i = sig(a_i), f = sig(a_f), g = tanh(a_c), o = sig(a_o)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   h_0 = h0 or 0, c_0 = c0 or 0.

    x (N, T, F), W (F, 4U), U (U, 4U), b (4U,) -> hs (N, T, U), cache.

    This is the FAST path: fused and buffered, so the formula above is hard to see in it. The
    same step written as the formula reads is ``lstm_step_reference`` (and its backward
    ``lstm_step_backward_reference``) below; ``tests/scratchnet/test_recurrent_state.py`` checks
    the two against each other.

    Internally time-major, (T, N, .), so each step's slices are contiguous, in work arrays from
    ``buffer`` (see ``layers.base``); hs is a (N, T, U) view of them. The ufuncs take ``out``
    positionally (see the ``scratchnet`` docstring): ~10 calls a step, forward and backward. All four gates come from one
    tanh per step: sig(a) = (1 + tanh(a / 2)) / 2, i.e. [i, f, g, o] = tanh(a s) s + r with
    s = [1/2, 1/2, 1, 1/2] and r = [1/2, 1/2, 0, 1/2] per block (exact in exact arithmetic; in
    floating point an absolute error of about an ulp of 1, and no overflow for any a).
    """
    n, t_len, f_in = x.shape
    u = recurrent_kernel.shape[0]
    dt = kernel.dtype
    xt = _alloc(buffer, "xt", (t_len, n, f_in), dt)
    np.copyto(xt, x.transpose(1, 0, 2))  # (T, N, F)
    gates = _alloc(buffer, "gates", (t_len, n, 4 * u), dt)  # x_t W + b, then [i, f, g, o] in place
    np.matmul(xt.reshape(t_len * n, f_in), kernel, gates.reshape(t_len * n, 4 * u))  # (T N, 4U)
    if bias is not None:
        np.add(gates, bias, gates)
    s = np.full(4 * u, 0.5, dt)
    s[2 * u:3 * u] = 1
    r = np.full(4 * u, 0.5, dt)
    r[2 * u:3 * u] = 0
    h = _alloc(buffer, "h", (t_len + 1, n, u), dt)  # h[t] = h_t, h[0] = 0
    c = _alloc(buffer, "c", (t_len + 1, n, u), dt)
    h[0] = 0 if h0 is None else h0
    c[0] = 0 if c0 is None else c0
    tanh_c = _alloc(buffer, "tanh_c", (t_len, n, u), dt)
    rec = _alloc(buffer, "rec", (n, 4 * u), dt)
    ig = _alloc(buffer, "ig", (n, u), dt)
    for t in range(t_len):
        a = gates[t]  # (N, 4U)
        np.add(a, np.matmul(h[t], recurrent_kernel, rec), a)  # + h_{t-1} U
        np.multiply(a, s, a)
        np.tanh(a, a)
        np.multiply(a, s, a)
        np.add(a, r, a)  # [i, f, g, o]
        i, f, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
        np.multiply(f, c[t], c[t + 1])
        np.add(c[t + 1], np.multiply(i, g, ig), c[t + 1])  # c_t = f c_{t-1} + i g
        np.multiply(o, np.tanh(c[t + 1], tanh_c[t]), h[t + 1])  # h_t = o tanh(c_t)
    work = {"buffer": buffer}
    return h[1:].transpose(1, 0, 2), (x, kernel, recurrent_kernel, h, c, gates, tanh_c, xt, work)


def lstm_backward(dhs, cache, dc_last=None):
    """BPTT for ``lstm_forward`` (``dc_last``: dL/dc_T from a returned state, or None). For t = T..1, with dh = dhs_t + (from step t+1) and
    dc = (from step t+1):
        dc += dh o (1 - tanh^2 c_t)
        do = dh tanh c_t,  di = dc g,  dg = dc i,  df = dc c_{t-1}
        da = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]         (N, 4U)
        dh_{t-1} path = da U^T,   dc_{t-1} path = dc f
    dx = da W^T,  dW = x^T da,  dU = h_prev^T da,  db = sum_{n,t} da.

    The factors that do not depend on the recursion are computed for all steps at once before the
    loop: P = [g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh c_t o(1-o)] and K = o (1 - tanh^2 c_t),
    so a step is da = [dc, dc, dc, dh] P_t with dc += dh K_t.
    ``dhs``: (N, T, U), or (N, U) when only h_T reaches the output. The cache's ``work`` may name
    outputs ``dkernel``, ``drecurrent``, ``dbias``; ``dx: False`` / ``dbias: False`` skip those
    (returned as None).
    After the loop: dh_0 = da_1 U^T, dc_0 = dc_1 f_1.
    Returns dx (N, T, F) (a view of a time-major array), dW, dU, db, [dh_0, dc_0].
    """
    x, kernel, recurrent_kernel, h, c, gates, tanh_c, xt, work = cache
    buffer = work.get("buffer")
    n, t_len, f_in = x.shape
    u = recurrent_kernel.shape[0]
    dt = kernel.dtype
    one = dt.type(1)
    i, f, g, o = gates[:, :, :u], gates[:, :, u:2 * u], gates[:, :, 2 * u:3 * u], gates[:, :, 3 * u:]
    p = _alloc(buffer, "P", (t_len, n, 4 * u), dt)  # (T, N, 4U)
    np.multiply(np.subtract(one, gates, p), gates, p)  # s (1 - s) in every block
    pg = p[:, :, 2 * u:3 * u]
    np.subtract(one, np.multiply(g, g, pg), pg)  # 1 - g^2 in the c block
    np.multiply(p[:, :, :u], g, p[:, :, :u])
    np.multiply(p[:, :, u:2 * u], c[:-1], p[:, :, u:2 * u])
    np.multiply(pg, i, pg)
    np.multiply(p[:, :, 3 * u:], tanh_c, p[:, :, 3 * u:])
    k = _alloc(buffer, "K", (t_len, n, u), dt)
    np.multiply(np.subtract(one, np.multiply(tanh_c, tanh_c, k), k), o, k)  # o (1 - tanh^2 c)
    da = _alloc(buffer, "da", (t_len, n, 4 * u), dt)  # (T, N, 4U)
    dh = _alloc(buffer, "dh", (n, u), dt)
    dc = _alloc(buffer, "dc", (n, u), dt)
    tmp = _alloc(buffer, "tmp", (n, u), dt)
    last_only = dhs.ndim == 2
    np.copyto(dh, dhs if last_only else dhs[:, -1])
    if dc_last is None:
        dc.fill(0)
    else:
        np.copyto(dc, dc_last)
    rk_t = recurrent_kernel.T
    for t in reversed(range(t_len)):
        np.add(dc, np.multiply(dh, k[t], tmp), dc)  # dc += dh o (1 - tanh^2 c_t)
        da_t = da[t]
        np.multiply(p[t].reshape(n, 4, u)[:, :3], dc[:, None, :],
                    da_t.reshape(n, 4, u)[:, :3])  # [di i', df f', dg g'] (N, 3, U)
        np.multiply(p[t, :, 3 * u:], dh, da_t[:, 3 * u:])  # do o'
        if t:
            np.matmul(da_t, rk_t, dh)  # dh_{t-1} through U
            if not last_only:
                np.add(dh, dhs[:, t - 1], dh)
            np.multiply(dc, f[t], dc)  # dc_{t-1} through c_t = f c_{t-1} + ...
    dstates = [da[0] @ rk_t, dc * f[0]]  # dL/dh_0, dL/dc_0 (fresh arrays)
    da2 = da.reshape(t_len * n, 4 * u)  # (T N, 4U)
    dkernel = np.matmul(xt.reshape(t_len * n, f_in).T, da2, work.get("dkernel"))  # (F, 4U)
    drecurrent = np.matmul(h[:-1].reshape(t_len * n, u).T, da2, work.get("drecurrent"))  # (U, 4U)
    dbias = work.get("dbias")
    if dbias is not False:
        dbias = np.matmul(_alloc(buffer, "ones", (t_len * n,), dt, fill=1), da2, dbias)  # (4U,)
    else:
        dbias = None
    if work.get("dx") is False:
        return None, dkernel, drecurrent, dbias, dstates
    dxt = np.matmul(da2, kernel.T, _alloc(buffer, "dxt", (t_len * n, f_in), dt))  # (T N, F)
    return dxt.reshape(t_len, n, f_in).transpose(1, 0, 2), dkernel, drecurrent, dbias, dstates  # (N, T, F)


# -- LSTM, the plain reference -----------------------------------------------------------------
def lstm_step_reference(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias=None):
    """One LSTM step exactly as the formula reads (no fusing, no buffers): the reference the fast
    ``lstm_forward`` is tested against.

        a = x_t W + h_{t-1} U + b,  split into [a_i, a_f, a_c, a_o]
        i = sigmoid(a_i),  f = sigmoid(a_f),  g = tanh(a_c),  o = sigmoid(a_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Returns ``(h_t, c_t, cache)``."""
    a = x_t @ kernel + h_prev @ recurrent_kernel  # (N, 4U)
    if bias is not None:
        a = a + bias
    a_i, a_f, a_c, a_o = np.split(a, 4, axis=-1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_c), sigmoid(a_o)
    c_t = f * c_prev + i * g
    h_t = o * np.tanh(c_t)
    return h_t, c_t, (x_t, h_prev, c_prev, i, f, g, o, c_t)


def lstm_step_backward_reference(dh_t, dc_t, cache, kernel, recurrent_kernel):
    """The backward of ``lstm_step_reference``, line by line the chain rule:

        dc = dc_t + dh_t * o * (1 - tanh(c_t)^2)         (c_t reaches h_t through tanh)
        do = dh_t * tanh(c_t)
        df = dc * c_{t-1},   di = dc * g,   dg = dc * i,   dc_{t-1} = dc * f
        da = [di i (1 - i), df f (1 - f), dg (1 - g^2), do o (1 - o)]
        dx_t = da W^T,   dh_{t-1} = da U^T,   dW = x_t^T da,   dU = h_{t-1}^T da,   db = sum_n da

    Returns ``(dx_t, dh_prev, dc_prev, dW, dU, db)``."""
    x_t, h_prev, c_prev, i, f, g, o, c_t = cache
    tanh_c = np.tanh(c_t)
    dc = dc_t + dh_t * o * (1 - tanh_c ** 2)
    do = dh_t * tanh_c
    df, di, dg = dc * c_prev, dc * g, dc * i
    dc_prev = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=-1)
    return da @ kernel.T, da @ recurrent_kernel.T, dc_prev, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)


def lstm_reference(x, kernel, recurrent_kernel, bias, h0, c0, dhs, dh_last, dc_last):
    """Forward and full BPTT by the reference steps: ``(hs, h_T, c_T, dx, dW, dU, db, dh_0, dc_0)``
    for dL/dh_t = dhs[:, t] (N, T, U) plus dh_last at t = T, and dL/dc_T = dc_last."""
    n, t_len, _ = x.shape
    h, c, caches, outs = h0, c0, [], []
    for t in range(t_len):
        h, c, cache = lstm_step_reference(x[:, t], h, c, kernel, recurrent_kernel, bias)
        caches.append(cache)
        outs.append(h)
    dx = np.zeros_like(x)
    dw, du = np.zeros_like(kernel), np.zeros_like(recurrent_kernel)
    db = np.zeros(kernel.shape[1], x.dtype)
    dh, dc = dh_last, dc_last
    for t in reversed(range(t_len)):
        dx[:, t], dh, dc, dw_t, du_t, db_t = lstm_step_backward_reference(dhs[:, t] + dh, dc, caches[t], kernel,
                                                                          recurrent_kernel)
        dw, du, db = dw + dw_t, du + du_t, db + db_t
    return np.stack(outs, axis=1), h, c, dx, dw, du, db, dh, dc


# -- GRU ---------------------------------------------------------------------------------------------
def gru_forward(x, kernel, recurrent_kernel, bias=None, reset_after=True, h0=None):
    """Keras GRU, gate blocks z, r, h; W = [Wz Wr Wh] (F, 3U), U = [Uz Ur Uh] (U, 3U).

    reset_after=True  (bias (2, 3U): b_in = bias[0], b_rec = bias[1]):
        xw = x_t W + b_in,  hu = h_{t-1} U + b_rec                          (N, 3U) each
        z = sig(xw_z + hu_z),  r = sig(xw_r + hu_r),  hh = tanh(xw_h + r * hu_h)
    reset_after=False (bias (3U,)):
        xw = x_t W + b
        z = sig(xw_z + h_{t-1} Uz),  r = sig(xw_r + h_{t-1} Ur),  hh = tanh(xw_h + (r h_{t-1}) Uh)
    both:  h_t = z h_{t-1} + (1 - z) hh,   h_0 = 0 or the given h0 (N, U).

    x (N, T, F) -> hs (N, T, U), cache.
    """
    n, t_len, _ = x.shape
    u = recurrent_kernel.shape[0]
    b_in, b_rec = (None, None) if bias is None else ((bias[0], bias[1]) if reset_after else (bias, None))
    xw = x @ kernel  # (N, T, 3U)
    if b_in is not None:
        xw = xw + b_in
    h = np.zeros((n, t_len + 1, u), dtype=x.dtype)
    if h0 is not None:
        h[:, 0] = h0
    gates = np.empty((n, t_len, 3 * u), dtype=x.dtype)  # [z, r, hh]
    # reset_after: hu_h = h_{t-1} Uh + bh_rec (the reset gate's multiplicand);
    # else:        r h_{t-1} (the input of the Uh matmul). Either way (N, T, U).
    rec = np.empty((n, t_len, u), dtype=x.dtype)
    for t in range(t_len):
        h_prev = h[:, t]
        if reset_after:
            hu = h_prev @ recurrent_kernel  # (N, 3U)
            if b_rec is not None:
                hu = hu + b_rec
            gates[:, t, :2 * u] = sigmoid(xw[:, t, :2 * u] + hu[:, :2 * u])  # z, r
            rec[:, t] = hu[:, 2 * u:]
            gates[:, t, 2 * u:] = np.tanh(xw[:, t, 2 * u:] + gates[:, t, u:2 * u] * rec[:, t])
        else:
            gates[:, t, :2 * u] = sigmoid(xw[:, t, :2 * u] + h_prev @ recurrent_kernel[:, :2 * u])
            rec[:, t] = gates[:, t, u:2 * u] * h_prev
            gates[:, t, 2 * u:] = np.tanh(xw[:, t, 2 * u:] + rec[:, t] @ recurrent_kernel[:, 2 * u:])
        z, hh = gates[:, t, :u], gates[:, t, 2 * u:]
        h[:, t + 1] = z * h_prev + (1 - z) * hh
    return h[:, 1:], (x, kernel, recurrent_kernel, h, gates, rec, reset_after)


def gru_backward(dhs, cache):
    """BPTT for ``gru_forward``. For t = T..1, with dh = dhs_t + (from step t+1):
        dz = dh (h_{t-1} - hh),  dhh = dh (1 - z),  dh_{t-1} path starts at dh z
        da_h = dhh (1 - hh^2),   da_z = dz z (1 - z)
    reset_after=True:
        dr = da_h hu_h,  da_r = dr r (1 - r)
        d xw = [da_z, da_r, da_h],   d hu = [da_z, da_r, r da_h]
        dh_{t-1} path += d hu U^T
        dW = x^T d xw,  dU = h_prev^T d hu,  db_in = sum d xw,  db_rec = sum d hu
    reset_after=False:
        d(r h) = da_h Uh^T,  dr = d(r h) h_{t-1},  da_r = dr r (1 - r)
        dh_{t-1} path += d(r h) r + [da_z, da_r] [Uz Ur]^T
        dW = x^T da,  d[Uz Ur] = h_prev^T [da_z, da_r],  dUh = (r h_prev)^T da_h,  db = sum da
    dx = d xw W^T in both; dh_0 is the dh_{t-1} path out of step 1.
    Returns dx, dW, dU, dbias (bias-shaped: (2, 3U) for reset_after, else (3U,)), [dh_0].
    """
    x, kernel, recurrent_kernel, h, gates, rec, reset_after = cache
    n, t_len, f_in = x.shape
    u = recurrent_kernel.shape[0]
    dxw = np.empty((n, t_len, 3 * u), dtype=x.dtype)  # d of the input projection x W (+ b_in)
    dhu = np.empty((n, t_len, 3 * u), dtype=x.dtype)  # d of the recurrent matmul's output
    dh_next = np.zeros((n, u), dtype=x.dtype)
    for t in reversed(range(t_len)):
        h_prev = h[:, t]
        z, r, hh = np.split(gates[:, t], 3, axis=-1)
        dh = dhs[:, t] + dh_next
        da_h = dh * (1 - z) * (1 - hh * hh)
        da_z = dh * (h_prev - hh) * z * (1 - z)
        if reset_after:
            da_r = da_h * rec[:, t] * r * (1 - r)
            dhu[:, t, 2 * u:] = r * da_h
            dh_prev = dh * z
        else:
            drh = da_h @ recurrent_kernel[:, 2 * u:].T  # d(r h_{t-1}), (N, U)
            da_r = drh * h_prev * r * (1 - r)
            dhu[:, t, 2 * u:] = da_h  # gradient of the Uh matmul output; its input is r h_prev
            dh_prev = dh * z + drh * r
        dxw[:, t, :u], dxw[:, t, u:2 * u], dxw[:, t, 2 * u:] = da_z, da_r, da_h
        dhu[:, t, :u], dhu[:, t, u:2 * u] = da_z, da_r
        if reset_after:
            dh_next = dh_prev + dhu[:, t] @ recurrent_kernel.T  # (N, U)
        else:
            dh_next = dh_prev + dhu[:, t, :2 * u] @ recurrent_kernel[:, :2 * u].T
    dxw2 = dxw.reshape(-1, 3 * u)  # (N T, 3U)
    dhu2 = dhu.reshape(-1, 3 * u)  # (N T, 3U)
    h_prev2 = h[:, :-1].reshape(-1, u)  # (N T, U)
    dkernel = x.reshape(-1, f_in).T @ dxw2  # (F, 3U)
    if reset_after:
        drecurrent = h_prev2.T @ dhu2  # (U, 3U)
        dbias = np.stack([dxw2.sum(axis=0), dhu2.sum(axis=0)])  # (2, 3U)
    else:
        drecurrent = np.concatenate([h_prev2.T @ dhu2[:, :2 * u],  # (U, 2U)
                                     rec.reshape(-1, u).T @ dhu2[:, 2 * u:]], axis=1)  # (U, U)
        dbias = dxw2.sum(axis=0)  # (3U,)
    return dxw @ kernel.T, dkernel, drecurrent, dbias, [dh_next]  # dh_next = dL/dh_0


# -- layers ------------------------------------------------------------------------------------------
class _Recurrent(Layer):
    """Shared shape checks, parameters and the return_sequences plumbing; subclasses set
    ``_gates`` (k) and implement ``_run`` / ``_bptt`` with the pure functions above."""

    _gates = 1

    _states = 1  # initial_state / returned state entries: [h] (the LSTM: [h, c])

    def __init__(self, units, return_sequences=False, use_bias=True, return_state=False, name=None, rng=None):
        super().__init__(name, rng)
        self.units = positive_int(units, f"{self.name}: units")
        self.return_sequences = checks.boolean(return_sequences, f"{self.name}: return_sequences")
        self.return_state = checks.boolean(return_state, f"{self.name}: return_state")
        self.use_bias = checks.boolean(use_bias, f"{self.name}: use_bias")
        self.initial_state_grads: list[np.ndarray] | None = None
        self._pending_state = None  # the call's initial_state, read once by _forward
        self._pending_dstate = None  # the backward's [dh_T(, dc_T)], read once by _backward

    # -- shapes ------------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: input_shape: expected (T, F) per sample, i.e. input "
                             f"(N, T, F), got {input_shape}")
        t_len, features = input_shape
        if t_len < 1 or features < 1:
            raise ValueError(f"{self.name}: input_shape: expected T >= 1 and F >= 1, got {input_shape}")
        return (t_len, self.units) if self.return_sequences else (self.units,)

    def forward(self, x, training=False, initial_state=None):
        """Run the recurrence, from ``initial_state`` ([h_0], the LSTM [h_0, c_0], each (N, U)) when
        given, else zeros. Returns the output, or ``[output, h_T(, c_T)]`` with ``return_state``
        (the states are copies). The rank is checked before anything (a lazy build would
        otherwise report a cut shape)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: input: expected rank 3 (N, T, F), got rank {x.ndim} "
                             f"with shape {tuple(x.shape)}")
        self._pending_state = None
        if initial_state is not None:
            if not self.built:
                self._build_for(x)
            self._pending_state = self._check_state(initial_state, x.shape[0], "initial_state")
        y = super().forward(x, training)
        if not self.return_state:
            return y
        return [y, *(s.copy() for s in self._final_states())]

    __call__ = forward

    def _check_state(self, states, n, what):
        """A list of ``_states`` arrays (N, U) of the layer's dtype, or a ValueError naming ``what``."""
        if isinstance(states, np.ndarray) and self._states == 1:
            states = [states]
        if not isinstance(states, (list, tuple)) or len(states) != self._states:
            names = "[h]" if self._states == 1 else "[h, c]"
            raise ValueError(f"{self.name}: {what}: expected a list {names} of {self._states} (N, U) array(s), "
                             f"got {type(states).__name__}" + (f" of {len(states)}" if isinstance(states, (list, tuple)) else ""))
        out = []
        for k, s in enumerate(states):
            s = np.asarray(s)
            if s.shape != (n, self.units) or s.dtype != self.dtype:
                raise ValueError(f"{self.name}: {what}[{k}]: expected shape {(n, self.units)} {self.dtype}, "
                                 f"got {tuple(s.shape)} {s.dtype}")
            out.append(s)
        return out

    def backward(self, dy, input_grad=True, consume_dy=False):
        """dL/dx from dL/dy; with ``return_state``, dy is ``[d output, dh_T(, dc_T)]``. Sets
        ``initial_state_grads`` to ``[dL/dh_0(, dL/dc_0)]``."""
        self._pending_dstate = None
        if self.return_state:
            if not isinstance(dy, (list, tuple)) or len(dy) != 1 + self._states:
                raise ValueError(f"{self.name}: backward: expected [d output, d states...] "
                                 f"({1 + self._states} arrays) with return_state=True")
            n = self._cache[0].shape[0] if self._cache is not None else 0
            self._pending_dstate = self._check_state(list(dy[1:]), n, "backward state gradient")
            dy = dy[0]
        return super().backward(dy, input_grad, consume_dy)

    def _final_states(self):  # pragma: no cover - abstract
        """[h_T(, c_T)] of the last forward, read from its cache (each subclass knows where)."""
        raise NotImplementedError

    def _check_input(self, x):
        t_len, features = self.input_shape
        if x.shape[2] != features:
            raise ValueError(f"{self.name}: input features F: expected {features}, got {x.shape[2]} "
                             f"(input shape {tuple(x.shape)})")
        if x.shape[1] != t_len:
            raise ValueError(f"{self.name}: input time steps T: expected {t_len} (the built length), "
                             f"got {x.shape[1]}")
        super()._check_input(x)

    # -- parameters ------------------------------------------------------------------------------
    def _bias_init(self):
        return np.zeros((self._gates * self.units,))

    def _build(self, input_shape, rng):
        features, k_u = input_shape[-1], self._gates * self.units
        self.add_param("kernel", initializers.glorot_uniform((features, k_u), rng, self.dtype))
        self.add_param("recurrent_kernel", orthogonal((self.units, k_u), rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self._bias_init())

    # -- passes ------------------------------------------------------------------------------------
    def _forward(self, x, training):
        state, self._pending_state = self._pending_state, None
        hs, cache = self._run(x, state)
        return (hs if self.return_sequences else hs[:, -1]), cache  # hs[:, -1] = h_T (N, U)

    _last_only = False  # True: ``_bptt`` takes dhs (N, U) = dL/dh_T when only h_T is output

    def _backward(self, dy, cache):
        dstate, self._pending_dstate = self._pending_dstate, None
        if self.return_sequences or self._last_only:
            dhs = dy
        else:  # only h_T reaches the output
            x = cache[0]
            dhs = np.zeros((x.shape[0], x.shape[1], self.units), dtype=dy.dtype)  # (N, T, U)
            dhs[:, -1] = dy
        if dstate is not None:  # h_T is also the last output: its two gradients add
            dhs = dhs.copy()
            if dhs.ndim == 2:
                dhs += dstate[0]
            else:
                dhs[:, -1] += dstate[0]
        if isinstance(cache[-1], dict):  # a work dict: gradients straight into self.grads
            cache[-1].update(dkernel=self.grads["kernel"], drecurrent=self.grads["recurrent_kernel"],
                             dbias=self.grads.get("bias", False), dx=self._input_grad)
        dx, dkernel, drecurrent, dbias, dstates = self._bptt(dhs, cache, dstate)
        self.initial_state_grads = [np.array(d) for d in dstates]
        for name, value in (("kernel", dkernel), ("recurrent_kernel", drecurrent), ("bias", dbias)):
            if name in self.grads and value is not self.grads[name]:
                self.grads[name][...] = value
        return dx


class SimpleRNN(_Recurrent):
    """h_t = act(x_t W + h_{t-1} U + b),  h_0 = 0; output h_T, or h_1..h_T with return_sequences.

    Shapes: x (N, T, F) -> y (N, U) or (N, T, U); kernel W (F, U); recurrent_kernel U (U, U);
    bias b (U,).

    Forward:  a_t = x_t W + h_{t-1} U + b,  h_t = act(a_t)
    Backward: g_t = dL/dh_t (output) + da_{t+1} U^T,  da_t = act'(a_t) * g_t  (t = T..1)
              dx_t = da_t W^T,  dW = sum_t x_t^T da_t,  dU = sum_t h_{t-1}^T da_t,  db = sum da

    NOTE: torch's ``nn.RNN`` stores ``weight_ih_l0`` (U, F), ``weight_hh_l0`` (U, U) and two
    biases ``bias_ih_l0`` + ``bias_hh_l0``, so ``kernel = weight_ih.T``,
    ``recurrent_kernel = weight_hh.T``, ``bias = bias_ih + bias_hh`` (torch's
    ``nonlinearity`` is only tanh or relu). Keras's ``SimpleRNN`` is laid out exactly as here.
    """

    def __init__(self, units, activation="tanh", use_bias=True, return_sequences=False, return_state=False,
                 name=None, rng=None):
        super().__init__(units, return_sequences=return_sequences, use_bias=use_bias, return_state=return_state,
                         name=name, rng=rng)
        self.activation = activations.get(activation)

    def _run(self, x, state=None):
        return simple_rnn_forward(x, self.params["kernel"], self.params["recurrent_kernel"],
                                  self.params.get("bias"), self.activation, h0=None if state is None else state[0])

    def _bptt(self, dhs, cache, dstate=None):
        return simple_rnn_backward(dhs, cache)

    def _final_states(self):
        return [self._cache[3][:, -1]]  # h (N, T + 1, U)


class LSTM(_Recurrent):
    """Long short-term memory, Keras gate order i, f, c, o; output h_T, or h_1..h_T.

    Shapes: x (N, T, F) -> y (N, U) or (N, T, U); kernel (F, 4U); recurrent_kernel (U, 4U);
    bias (4U,). Blocks [i | f | c | o] of width U along the last axis.

    Forward:  [a_i, a_f, a_c, a_o] = x_t W + h_{t-1} U + b
              i = sig(a_i), f = sig(a_f), g = tanh(a_c), o = sig(a_o)
              c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   h_0 = c_0 = 0
    Backward (t = T..1, dh = dL/dh_t (output) + da_{t+1} U^T, dc = dc_{t+1} f_{t+1}):
              dc += dh o (1 - tanh^2 c_t);  do = dh tanh c_t; di = dc g; dg = dc i; df = dc c_{t-1}
              da = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
              dx_t = da_t W^T,  dW = sum_t x_t^T da_t,  dU = sum_t h_{t-1}^T da_t,  db = sum da
    activation tanh and recurrent_activation sigmoid are fixed (Keras's defaults).

    Initial bias: zeros except the forget block bias[U:2U] = 1 (Keras ``unit_forget_bias=True``;
    torch initialises both its biases uniformly instead).

    NOTE: torch's ``nn.LSTM`` uses the same gate order (i, f, g, o) but stores ``weight_ih_l0``
    (4U, F), ``weight_hh_l0`` (4U, U) and two biases: ``kernel = weight_ih.T``,
    ``recurrent_kernel = weight_hh.T``, ``bias = bias_ih + bias_hh`` (any split of ``bias`` into
    the two torch biases is equivalent, e.g. ``bias_ih = bias, bias_hh = 0``).
    """

    _gates = 4

    _states = 2

    def __init__(self, units, return_sequences=False, use_bias=True, return_state=False, name=None, rng=None):
        super().__init__(units, return_sequences=return_sequences, use_bias=use_bias, return_state=return_state,
                         name=name, rng=rng)

    def _bias_init(self):
        bias = np.zeros((4 * self.units,))
        bias[self.units:2 * self.units] = 1.0  # unit_forget_bias
        return bias

    _last_only = True

    def _run(self, x, state=None):
        h0, c0 = (None, None) if state is None else state
        return lstm_forward(x, self.params["kernel"], self.params["recurrent_kernel"],
                            self.params.get("bias"), buffer=self._buffer, h0=h0, c0=c0)

    def _bptt(self, dhs, cache, dstate=None):
        return lstm_backward(dhs, cache, None if dstate is None else dstate[1])

    def _final_states(self):
        h, c = self._cache[3], self._cache[4]  # time-major (T + 1, N, U)
        return [h[-1], c[-1]]


class GRU(_Recurrent):
    """Gated recurrent unit, Keras gate order z, r, h; output h_T, or h_1..h_T.

    Shapes: x (N, T, F) -> y (N, U) or (N, T, U); kernel (F, 3U); recurrent_kernel (U, 3U);
    bias (2, 3U) with ``reset_after=True`` (row 0 input bias, row 1 recurrent bias), (3U,) with
    ``reset_after=False``. Blocks [z | r | h] of width U along the last axis.

    Forward, reset_after=True (Keras's default, the cuDNN/torch variant):
              xw = x_t W + b[0],  hu = h_{t-1} U + b[1]
              z = sig(xw_z + hu_z),  r = sig(xw_r + hu_r),  hh = tanh(xw_h + r * hu_h)
    Forward, reset_after=False (the original GRU; reset applied before the matmul):
              z = sig(x_t Wz + h_{t-1} Uz + bz), r = sig(x_t Wr + h_{t-1} Ur + br),
              hh = tanh(x_t Wh + (r h_{t-1}) Uh + bh)
    both:     h_t = z h_{t-1} + (1 - z) hh,  h_0 = 0
    Backward (t = T..1, dh = dL/dh_t (output) + path from step t+1):
              da_z = dh (h_{t-1} - hh) z(1-z),  da_h = dh (1-z)(1-hh^2),  direct dh_{t-1} += dh z
              reset_after:  da_r = da_h hu_h r(1-r);  d hu = [da_z, da_r, r da_h];
                            dh_{t-1} += d hu U^T;  dU = sum h_{t-1}^T d hu;  db[1] = sum d hu
              else:         d(rh) = da_h Uh^T;  da_r = d(rh) h_{t-1} r(1-r);
                            dh_{t-1} += d(rh) r + [da_z, da_r] [Uz Ur]^T;
                            d[Uz Ur] = sum h_{t-1}^T [da_z, da_r];  dUh = sum (r h_{t-1})^T da_h
              dx_t = [da_z, da_r, da_h] W^T,  dW = sum x_t^T [da_z, da_r, da_h],
              db (or db[0]) = sum [da_z, da_r, da_h]
    activation tanh and recurrent_activation sigmoid are fixed (Keras's defaults).

    NOTE: torch's ``nn.GRU`` is Keras's ``reset_after=True`` with gate order r, z, n (n = hh) and
    ``h' = (1 - z) n + z h`` (the same update). It stores ``weight_ih_l0`` (3U, F),
    ``weight_hh_l0`` (3U, U), ``bias_ih_l0`` and ``bias_hh_l0`` (3U,): kernel = weight_ih.T and
    recurrent_kernel = weight_hh.T with the r and z column blocks swapped, and
    ``bias = stack([bias_ih, bias_hh])`` with the same swap. Keras ``reset_after=False`` has no
    torch twin.
    """

    _gates = 3

    def __init__(self, units, return_sequences=False, reset_after=True, use_bias=True, return_state=False,
                 name=None, rng=None):
        super().__init__(units, return_sequences=return_sequences, use_bias=use_bias, return_state=return_state,
                         name=name, rng=rng)
        self.reset_after = checks.boolean(reset_after, f"{self.name}: reset_after")

    def _bias_init(self):
        return np.zeros((2, 3 * self.units) if self.reset_after else (3 * self.units,))

    def _run(self, x, state=None):
        return gru_forward(x, self.params["kernel"], self.params["recurrent_kernel"],
                           self.params.get("bias"), self.reset_after, h0=None if state is None else state[0])

    def _bptt(self, dhs, cache, dstate=None):
        return gru_backward(dhs, cache)

    def _final_states(self):
        return [self._cache[3][:, -1]]  # h (N, T + 1, U)
