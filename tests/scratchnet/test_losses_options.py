"""The Keras losses and their options: float64 central differences of every loss and option on
targets that reach every branch (hinge margins on both sides, saturated probabilities and logits,
log_cosh at |e| ~ 1000, norms below eps), distinct sizes on every axis (N=5, T=3, C=4), the
reductions, sample and class weights, and the argument checks.

Finite differences use a step per element: 1e-6, or less where a clip or a max holds the value
(a saturated probability 1e-9 is moved by 1e-10, so both evaluations stay inside the clipped
region, where the loss is exactly constant and the difference exactly 0)."""
from __future__ import annotations

import numpy as np
import pytest

from scratchnet import losses as L
from scratchnet.gradcheck import rel_error

N, T, C = 5, 3, 4
SHAPE = (N, T, C)


def fd_grad(f, x, steps):
    """Central differences of the scalar f(x) with a step per element."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat, hflat = x.reshape(-1), g.reshape(-1), np.broadcast_to(steps, x.shape).reshape(-1)
    for i in range(flat.size):
        old, h = flat[i], hflat[i]
        flat[i] = old + h
        plus = f(x)
        flat[i] = old - h
        minus = f(x)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return g


def fd_error(name, params, y_true, y_pred, steps=1e-6, sample_weight=None):
    """rel_error of the analytic dL/dy_pred against central differences (for reduction "none":
    of sum(L), the gradient the protocol returns)."""
    loss = L.get(name, **params)
    value, grad = loss(y_true, y_pred, sample_weight)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), name
    assert grad.shape == np.shape(y_pred) and grad.dtype == np.float64
    numeric = fd_grad(lambda p: float(np.sum(loss(y_true, p, sample_weight)[0])), y_pred, steps)
    return rel_error(grad, numeric)


def rng_():
    return np.random.default_rng(16)


def one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def saturated_probabilities(rng, shape):
    """Probabilities in (0.05, 0.95) with a few at 5e-8 and 1 - 5e-8 (inside the clip to
    [1e-7, 1 - 1e-7]), and the per-element steps (2e-8) that keep those inside it."""
    p = rng.uniform(0.05, 0.95, size=shape)
    steps = np.full(shape, 1e-6)
    flat, sflat = p.reshape(-1), steps.reshape(-1)
    flat[::7], sflat[::7] = 5e-8, 2e-8
    flat[3::11], sflat[3::11] = 1 - 5e-8, 2e-8
    return p, steps


def large_logits(rng, shape):
    """Logits ~ N(0, 4) with some at +-1000, and steps: 1e-3 there (the loss is linear in them:
    no truncation error), 1e-4 elsewhere (the loss is ~100 here: a rounding error u L / h of a
    1e-6 step would be ~1e-6 of the gradient)."""
    z = 2 * rng.standard_normal(shape)
    steps = np.full(shape, 1e-4)
    z.reshape(-1)[::5], steps.reshape(-1)[::5] = 1000.0, 1e-3
    z.reshape(-1)[2::9], steps.reshape(-1)[2::9] = -1000.0, 1e-3
    return z, steps


# -- the regression and hinge losses ---------------------------------------------------------
def test_mae_mape_msle():
    rng = rng_()
    t, y = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    assert fd_error("mean_absolute_error", {}, t, y) < 1e-8
    t0 = t.copy()
    t0.reshape(-1)[::6] = 0.0  # max(|t|, eps) at eps: a 1e9 gradient, still exact
    assert fd_error("mean_absolute_percentage_error", {}, t0, y) < 1e-8
    ym = np.abs(y) + 0.01
    ym.reshape(-1)[::4] = -0.5  # max(y, eps) holds y: gradient 0
    assert fd_error("mean_squared_logarithmic_error", {}, t, ym) < 1e-8
    assert np.all(L.mean_squared_logarithmic_error(t, ym, reduction="none")[1].reshape(-1)[::4] == 0)


def test_log_cosh_is_finite_and_exact_at_large_arguments():
    rng = rng_()
    t = rng.standard_normal(SHAPE)
    e = rng.standard_normal(SHAPE)
    e.reshape(-1)[::3] = 1000.0 + rng.uniform(0, 1, size=e.reshape(-1)[::3].shape)
    e.reshape(-1)[1::3] = -1000.0 - rng.uniform(0, 1, size=e.reshape(-1)[1::3].shape)
    steps = np.full(SHAPE, 1e-4)  # the loss is ~700: see large_logits
    steps.reshape(-1)[::3] = steps.reshape(-1)[1::3] = 1e-3  # linear there (tanh = +-1 exactly)
    # rounding bound u L / (h max|g|) = 2.2e-16 * 450 / (1e-4 / 60) = 6e-8
    assert fd_error("log_cosh", {}, t, t + e, steps) < 1e-7
    for dtype in (np.float32, np.float64):
        value, grad = L.log_cosh(np.zeros((2, 3), dtype), np.array([[1000.0, -1000.0, 0.5]] * 2, dtype))
        # log cosh(1000) = 1000 - log 2 (cosh itself overflows: exp(1000) is inf even in float64)
        want = (2 * (1000 - np.log(2)) + np.log(np.cosh(0.5))) / 3
        assert value.dtype == dtype and value == pytest.approx(want, rel=1e-6)
        np.testing.assert_allclose(grad, np.array([[1.0, -1.0, np.tanh(0.5)]] * 2) / 6, rtol=1e-6)


@pytest.mark.parametrize("axis", [-1, 1])
def test_cosine_similarity(axis):
    rng = rng_()
    t, y = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    assert fd_error("cosine_similarity", {"axis": axis}, t, y) < 1e-8
    value, _ = L.cosine_similarity(t, t, axis=axis)
    assert value == pytest.approx(-1.0)


def test_cosine_similarity_below_eps_norms():
    """A prediction of norm < eps is divided by eps (Keras's normalize): linear there."""
    rng = rng_()
    t = rng.standard_normal((N, C))
    y = rng.standard_normal((N, C))
    y[1] *= 1e-10  # norm ~ 2e-10 < 1e-7
    t[2] = 0.0  # a zero target: u = 0, loss 0 for that row
    steps = np.full(y.shape, 1e-6)
    steps[1] = 1e-12
    value, grad = L.cosine_similarity(t, y, reduction="none")
    assert value[2] == 0 and np.all(grad[2] == 0)
    u1 = t[1] / np.linalg.norm(t[1])
    np.testing.assert_allclose(grad[1], -u1 / 1e-7, rtol=1e-12)
    np.testing.assert_allclose(value[1], -np.sum(u1 * y[1]) / 1e-7, rtol=1e-12)
    numeric = fd_grad(lambda p: float(np.sum(L.cosine_similarity(t, p, reduction="none")[0])), y, steps)
    assert rel_error(grad[1], numeric[1]) < 1e-6 and rel_error(np.delete(grad, 1, 0), np.delete(numeric, 1, 0)) < 1e-8


def margins_both_sides(rng, t_pm):
    """Predictions with margins m = 1 - t y on both sides of 0, none within 0.05 of the kink."""
    m = rng.uniform(0.05, 1.5, size=t_pm.shape) * rng.choice([-1.0, 1.0], size=t_pm.shape)
    return (1 - m) * t_pm  # t y = 1 - m


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("labels", ["01", "pm1"])
def test_hinge_margins_on_both_sides(name, labels):
    rng = rng_()
    t01 = rng.integers(0, 2, size=SHAPE).astype(np.float64)
    t_pm = 2 * t01 - 1
    y = margins_both_sides(rng, t_pm)
    t = t01 if labels == "01" else t_pm
    assert fd_error(name, {}, t, y) < 1e-8
    m = 1 - t_pm * y
    assert (m > 0).any() and (m < 0).any()
    # 0/1 labels mean the same as -1/+1 (Keras maps them): same value and gradient
    a, b = L.get(name)(t01, y), L.get(name)(t_pm, y)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def test_hinge_labels_are_mapped_only_when_all_are_binary():
    t = np.array([[0.0, 1.0, -1.0]])  # not all 0/1: used as given, 0 stays 0
    y = np.array([[0.5, 0.5, 0.5]])
    assert L.hinge(t, y)[0] == pytest.approx((1 + 0.5 + 1.5) / 3)
    assert L.hinge(np.array([[0.0, 1.0, 1.0]]), y)[0] == pytest.approx((1.5 + 0.5 + 0.5) / 3)


def test_categorical_hinge_both_sides_and_keras_neg_quirk():
    rng = rng_()
    t = one_hot(rng, SHAPE)
    y = rng.standard_normal(SHAPE)
    y[0] += 5 * t[0]  # margin < 0 for every row of sample 0: loss and gradient 0
    y[1] = -np.abs(y[1]) - 0.1  # every other score negative: neg is the target's own (1-1) y = 0
    assert fd_error("categorical_hinge", {}, t, y) < 1e-8
    value, grad = L.categorical_hinge(t, y, reduction="none")
    assert np.all(value[0] == 0) and np.all(grad[0] == 0) and np.all(value[2:] > 0)
    pos = np.sum(t[1] * y[1], axis=-1)
    np.testing.assert_allclose(value[1], np.maximum(0 - pos + 1, 0))


# -- the probabilistic losses ----------------------------------------------------------------
def test_kl_divergence_and_poisson():
    rng = rng_()
    t = softmax(rng.standard_normal(SHAPE))
    t.reshape(-1)[::5] = 0.0  # clipped to eps
    p = softmax(rng.standard_normal(SHAPE))
    steps = np.full(SHAPE, 1e-6)
    p.reshape(-1)[::7], steps.reshape(-1)[::7] = 5e-8, 2e-8  # clipped: gradient 0
    assert fd_error("kl_divergence", {}, t, p, steps) < 1e-7
    assert np.all(L.kl_divergence(t, p)[1].reshape(-1)[::7] == 0)
    rates = rng.uniform(0.05, 3.0, size=SHAPE)
    counts = rng.poisson(1.5, size=SHAPE).astype(np.float64)
    assert fd_error("poisson", {}, counts, rates) < 1e-8


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_binary_crossentropy_smoothing_saturated(from_logits, label_smoothing):
    rng = rng_()
    t = rng.integers(0, 2, size=SHAPE).astype(np.float64)
    if from_logits:
        y, steps = large_logits(rng, SHAPE)
    else:
        y, steps = saturated_probabilities(rng, SHAPE)
    params = {"from_logits": from_logits, "label_smoothing": label_smoothing}
    assert fd_error("binary_crossentropy", params, t, y, steps) < 1e-7
    ts = t * (1 - label_smoothing) + label_smoothing / 2
    assert L.binary_crossentropy(t, y, **params)[0] == L.binary_crossentropy(ts, y, from_logits=from_logits)[0]


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("axis", [-1, 1])
def test_categorical_crossentropy_smoothing_axis(from_logits, axis):
    rng = rng_()
    t = np.moveaxis(one_hot(rng, (N, C, T)), -1, 1) if axis == 1 else one_hot(rng, SHAPE)
    if from_logits:
        y, steps = large_logits(rng, SHAPE)
    else:
        y = softmax(rng.standard_normal(SHAPE), axis=axis)
        steps = np.full(SHAPE, 1e-6)
        y.reshape(-1)[::7], steps.reshape(-1)[::7] = 1e-8, 4e-9  # renormalised q stays < eps
    params = {"from_logits": from_logits, "label_smoothing": 0.1, "axis": axis}
    assert fd_error("categorical_crossentropy", params, t, y, steps) < 1e-7


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "categorical_focal_crossentropy"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_class_weight(name, from_logits):
    """Each sample weighted by its class's weight, divided by the number of samples (Keras), not
    by the sum of the weights used (torch's CrossEntropyLoss(weight=))."""
    rng = rng_()
    labels = rng.integers(0, 4, size=6)
    t = np.eye(4)[labels]
    y = rng.standard_normal((6, 4)) if from_logits else softmax(rng.standard_normal((6, 4)))
    y_true = labels if name.startswith("sparse") else t
    weights = [0.5, 2.0, 1.25, 3.0]
    params = {"from_logits": from_logits, "class_weight": weights}
    assert fd_error(name, params, y_true, y) < 1e-7
    per_sample = L.get(name, from_logits=from_logits, reduction="none")(y_true, y)[0]
    value = L.get(name, **params)(y_true, y)[0]
    w = np.asarray(weights)[labels]
    assert value == pytest.approx(np.sum(w * per_sample) / 6, rel=1e-14)
    assert abs(value - np.sum(w * per_sample) / np.sum(w)) > 1e-3 * value  # the torch divisor differs
    # with a sample weight too: the product of both
    sw = rng.uniform(0.5, 1.5, size=6)
    both = L.get(name, **params)(y_true, y, sample_weight=sw)[0]
    assert both == pytest.approx(np.sum(sw * w * per_sample) / 6, rel=1e-14)


def test_sparse_accepts_keras_n1_labels():
    rng = rng_()
    labels = rng.integers(0, C, size=N)
    z = rng.standard_normal((N, C))
    for from_logits in (True, False):
        y = z if from_logits else softmax(z)
        a = L.sparse_categorical_crossentropy(labels[:, None], y, from_logits=from_logits)
        b = L.sparse_categorical_crossentropy(labels, y, from_logits=from_logits)
        assert a[0] == b[0] and np.array_equal(a[1], b[1])


# -- focal ------------------------------------------------------------------------------------
BINARY_FOCAL = [
    {"gamma": 2.0, "alpha": 0.25, "apply_class_balancing": False},
    {"gamma": 2.0, "alpha": 0.25, "apply_class_balancing": True, "label_smoothing": 0.1},
    {"gamma": 0.5, "alpha": 0.6, "apply_class_balancing": True},
    {"gamma": 1.0, "alpha": 0.25, "apply_class_balancing": False},
    {"gamma": 0.0, "alpha": 0.25, "apply_class_balancing": False},
]


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("params", BINARY_FOCAL, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_binary_focal(params, from_logits):
    rng = rng_()
    t = rng.integers(0, 2, size=SHAPE).astype(np.float64)
    if from_logits:
        y = 2 * rng.standard_normal(SHAPE)
        y.reshape(-1)[::5] = 30.0  # sigmoid(30) = 1 - 1e-13: saturated, bce from logits stays exact
        y.reshape(-1)[2::9] = -30.0
        steps = 1e-6
    elif params["gamma"] in (0.0, 1.0, 2.0):
        y, steps = saturated_probabilities(rng, SHAPE)
    else:  # gamma < 1: x^gamma is too curved at x = 5e-8 for a difference step; saturation is tested above
        y, steps = rng.uniform(0.05, 0.95, size=SHAPE), 1e-6
    p = {**params, "from_logits": from_logits}
    assert fd_error("binary_focal_crossentropy", p, t, y, steps) < 1e-6
    if params["gamma"] == 0 and not params["apply_class_balancing"]:  # no focal factor: the bce
        a = L.binary_focal_crossentropy(t, y, **p)
        b = L.binary_crossentropy(t, y, from_logits=from_logits)
        assert a[0] == pytest.approx(b[0], rel=1e-14) and rel_error(a[1], b[1]) < 1e-13


def test_binary_focal_at_exactly_saturated_sigmoid():
    """sigmoid(40) rounds to 1.0: x = 1 - p_t is 0 for a target 1, where the focal factor and its
    derivative are 0 (gamma 2); value and gradient stay finite."""
    t = np.array([[1.0, 0.0, 1.0]])
    z = np.array([[40.0, 40.0, -40.0]])
    value, grad = L.binary_focal_crossentropy(t, z, from_logits=True)
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and grad[0, 0] == 0
    assert value == pytest.approx((40 + 40) / 3, rel=1e-12)  # f = 1 at both wrong saturated entries


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("params", [{"gamma": 2.0, "alpha": 0.25}, {"gamma": 0.5, "alpha": 1.5, "label_smoothing": 0.2},
                                    {"gamma": 3.0, "alpha": 0.25, "axis": 1}], ids=["default", "g0.5-ls", "axis1"])
def test_categorical_focal(params, from_logits):
    rng = rng_()
    axis = params.get("axis", -1)
    t = np.moveaxis(one_hot(rng, (N, C, T)), -1, 1) if axis == 1 else one_hot(rng, SHAPE)
    if from_logits:
        y, steps = 3 * rng.standard_normal(SHAPE), 1e-6
    else:
        y = softmax(rng.standard_normal(SHAPE), axis=axis)
        steps = np.full(SHAPE, 1e-6)
        y.reshape(-1)[::7], steps.reshape(-1)[::7] = 1e-8, 4e-9  # renormalised q stays < eps
    assert fd_error("categorical_focal_crossentropy", {**params, "from_logits": from_logits}, t, y, steps) < 1e-6


def test_categorical_focal_gamma0_alpha1_is_the_crossentropy():
    rng = rng_()
    t = one_hot(rng, SHAPE)
    z = rng.standard_normal(SHAPE)
    a = L.categorical_focal_crossentropy(t, z, gamma=0.0, alpha=1.0, from_logits=True)
    b = L.categorical_crossentropy(t, z, from_logits=True)
    assert a[0] == pytest.approx(b[0], rel=1e-13) and rel_error(a[1], b[1]) < 1e-12


# -- reductions and sample weights, on every loss ----------------------------------------------
def targets_for(name, rng, shape):
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[-1], size=shape[:-1])
    if name in ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge"):
        return one_hot(rng, shape)
    if name in ("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"):
        return rng.integers(0, 2, size=shape).astype(np.float64)
    if name == "kl_divergence":
        return softmax(rng.standard_normal(shape))
    if name == "poisson":
        return rng.poisson(1.5, size=shape).astype(np.float64)
    return rng.standard_normal(shape)


def preds_for(name, rng, shape):
    if name in ("kl_divergence", "poisson", "mean_squared_logarithmic_error") or "crossentropy" in name:
        return softmax(rng.standard_normal(shape))
    return rng.standard_normal(shape)


WEIGHTED = [n for n in L.NAMES if n != "sum_squared_error"]


@pytest.mark.parametrize("name", WEIGHTED)
def test_reductions_and_sample_weights(name):
    rng = rng_()
    t, y = targets_for(name, rng, SHAPE), preds_for(name, rng, SHAPE)
    per_sample, g_none = L.get(name, reduction="none")(t, y)
    assert per_sample.shape == (N, T)
    mean, g_mean = L.get(name)(t, y)
    total, g_sum = L.get(name, reduction="sum")(t, y)
    assert mean == pytest.approx(np.sum(per_sample) / (N * T), rel=1e-13)
    assert total == pytest.approx(np.sum(per_sample), rel=1e-13)
    np.testing.assert_allclose(g_mean * (N * T), g_none, rtol=1e-12)
    np.testing.assert_allclose(g_sum, g_none, rtol=1e-12)
    sw = rng.uniform(0.5, 1.5, size=N)  # one per sample, broadcast over T
    weighted, g_w = L.get(name)(t, y, sample_weight=sw)
    assert weighted == pytest.approx(np.sum(sw[:, None] * per_sample) / (N * T), rel=1e-13)
    np.testing.assert_allclose(g_w, g_mean * sw[:, None, None], rtol=1e-12)
    for shape in [(N, 1), (N, T), (N, T, 1)]:  # Keras's spellings of the same weights
        w = np.broadcast_to(sw.reshape(N, *([1] * (len(shape) - 1))), shape)
        assert L.get(name)(t, y, sample_weight=w)[0] == pytest.approx(weighted, rel=1e-14)
    assert fd_error(name, {"reduction": "sum"}, t, y, 1e-7, sample_weight=sw) < 1e-6
    assert fd_error(name, {"reduction": "none"}, t, y, 1e-7, sample_weight=sw) < 1e-6


@pytest.mark.parametrize("name", L.NAMES)
def test_float32_in_float32_out(name):
    rng = rng_()
    t = targets_for(name, rng, SHAPE)
    y = preds_for(name, rng, SHAPE).astype(np.float32)
    value, grad = L.get(name)(t if np.asarray(t).dtype.kind in "iu" else t.astype(np.float32), y)
    assert value.dtype == np.float32 and grad.dtype == np.float32


def test_planted_missing_factor_two_in_squared_hinge_is_caught(monkeypatch):
    from scratchnet.losses import margin as H

    real = H.reduce_weighted
    monkeypatch.setattr(H, "reduce_weighted", lambda name, v, g, *a, **k: real(name, v, g / 2 if name == "squared_hinge" else g, *a, **k))
    rng = rng_()
    t = rng.integers(0, 2, size=SHAPE).astype(np.float64)
    assert fd_error("squared_hinge", {}, t, margins_both_sides(rng, 2 * t - 1)) > 0.4


# -- argument checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,params,message", [
    ("mean_squared_error", {"reduction": "mean"}, "reduction: expected one of sum_over_batch_size, sum, none"),
    ("hinge", {"reduction": None}, "reduction: expected one of"),
    ("binary_crossentropy", {"label_smoothing": 1.5}, r"label_smoothing: expected a number in \[0, 1\]"),
    ("sparse_categorical_crossentropy", {"label_smoothing": 0.1}, "unknown parameter"),
    ("mean_squared_error", {"class_weight": [1.0]}, "unknown parameter"),
    ("categorical_crossentropy", {"class_weight": [1.0, -1.0]}, "class_weight: expected a non-empty list"),
    ("categorical_crossentropy", {"class_weight": "1,2"}, "class_weight: expected a non-empty list"),
    ("binary_focal_crossentropy", {"gamma": -1.0}, "gamma: expected a finite number >= 0"),
    ("binary_focal_crossentropy", {"alpha": 2.0}, r"alpha: expected a number in \[0, 1\]"),
    ("binary_focal_crossentropy", {"apply_class_balancing": "yes"}, "apply_class_balancing: expected True or False"),
    ("cosine_similarity", {"axis": 1.0}, "axis: expected an int axis"),
])
def test_bad_parameters_are_one_line_errors(name, params, message):
    with pytest.raises(ValueError, match=message) as err:
        L.get(name, **params)
    assert "\n" not in str(err.value)


def test_bad_weights_are_one_line_errors():
    t, y = np.eye(4)[[0, 1, 2]], np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=r"class_weight has 3 entries, expected one per class \(4\)"):
        L.get("categorical_crossentropy", class_weight=[1.0, 2.0, 3.0])(t, y)
    with pytest.raises(ValueError, match="class_weight applies to \\(N, C\\) outputs only"):
        L.get("categorical_crossentropy", class_weight=[1.0] * 4)(np.stack([t, t], 1), np.stack([y, y], 1))
    with pytest.raises(ValueError, match=r"sample_weight shape \(4,\) does not fit the per-sample loss shape \(3,\)"):
        L.get("categorical_crossentropy")(t, y, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="'sum_squared_error': takes no sample_weight"):
        L.get("sum_squared_error")(t, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"poisson: y_pred must be > -1e-7"):
        L.poisson(t, y - 1)


def test_get_objects_return_value_and_gradient_like_the_functions():
    rng = rng_()
    for name in L.NAMES:
        t, y = targets_for(name, rng, SHAPE), preds_for(name, rng, SHAPE)
        loss = L.get(name)
        value, grad = loss(t, y)
        fn_value, fn_grad = getattr(L, name)(t, y)
        assert value == fn_value and np.array_equal(grad, fn_grad), name
        assert loss.forward(t, y) == value and np.array_equal(loss.backward(), grad)
