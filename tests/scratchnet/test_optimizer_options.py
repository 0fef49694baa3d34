"""scratchnet.optimizers: Nadam, Adamax, Adadelta, Lion; clipping, schedules, weight-decay exclusion;
the state API; Adam's in-place step against its reference; Keras's own golden values.

Every expected value here is computed by the test from the algorithm box written out below (plain
float64 numpy, one formula per line), never by calling the code under test. Two parameters of
distinct shapes, (3, 2) and (4,), so a global norm really spans more than one array.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from scratchnet import optimizers as O
from scratchnet.optimizers import clipping, schedules

SHAPES = {"d/kernel": (3, 2), "d/bias": (4,)}
STEPS = 3
BOX_TOL = 1e-13


def data(seed):
    rng = np.random.default_rng(seed)
    p0 = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads = [{k: 1.5 * rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    return p0, grads


def run(opt, p0, grads):
    p = {k: v.copy() for k, v in p0.items()}
    out = []
    for g in grads:
        opt.apply(p, {k: v.copy() for k, v in g.items()})
        out.append({k: v.copy() for k, v in p.items()})
    return out


def assert_close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err, scale = np.max(np.abs(actual - expected)), np.max(np.abs(expected))
    assert err <= rtol * scale, f"{what}: max abs err {err:.3g} > {rtol:g} * {scale:.3g}"


# -- the algorithm boxes, one step each: box(s, p, g, lr, t, hp, convention) -> p; s is the state --
def box_sgd(s, p, g, lr, t, hp, conv):
    mu = hp["momentum"]
    if conv == "keras":
        s["velocity"] = mu * s.get("velocity", 0.0 * p) - lr * g
        return p + s["velocity"]
    s["buf"] = g if "buf" not in s else mu * s["buf"] + g
    return p - lr * s["buf"]


def box_rmsprop(s, p, g, lr, t, hp, conv):
    rho, eps = hp["rho"], hp["epsilon"]
    s["v"] = rho * s.get("v", 0.0 * p) + (1 - rho) * g ** 2
    if conv == "keras":
        return p - lr * g / np.sqrt(s["v"] + eps)
    return p - lr * g / (np.sqrt(s["v"]) + eps)


def box_adam(s, p, g, lr, t, hp, conv):
    b1, b2, eps = hp["beta_1"], hp["beta_2"], hp["epsilon"]
    s["m"] = b1 * s.get("m", 0.0 * p) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0 * p) + (1 - b2) * g ** 2
    if conv == "keras":
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return p - alpha * s["m"] / (np.sqrt(s["v"]) + eps)
    m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def box_adagrad(s, p, g, lr, t, hp, conv):
    s["acc"] = s.get("acc", np.full_like(p, hp["initial_accumulator_value"])) + g ** 2
    if conv == "keras":
        return p - lr * g / np.sqrt(s["acc"] + hp["epsilon"])
    return p - lr * g / (np.sqrt(s["acc"]) + hp["epsilon"])


def box_nadam(s, p, g, lr, t, hp, conv):
    b1, b2, eps = hp["beta_1"], hp["beta_2"], hp["epsilon"]
    mu_t = b1 * (1 - 0.5 * 0.96 ** t)  # Keras's schedule (momentum_decay 1)
    mu_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
    s["prod"] = s.get("prod", 1.0) * mu_t
    s["m"] = b1 * s.get("m", 0.0 * p) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0 * p) + (1 - b2) * g ** 2
    m_hat = mu_next * s["m"] / (1 - s["prod"] * mu_next) + (1 - mu_t) * g / (1 - s["prod"])
    v_hat = s["v"] / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def box_adamax(s, p, g, lr, t, hp, conv):
    b1, b2, eps = hp["beta_1"], hp["beta_2"], hp["epsilon"]
    s["m"] = b1 * s.get("m", 0.0 * p) + (1 - b1) * g
    if conv == "keras":
        s["u"] = np.maximum(b2 * s.get("u", 0.0 * p), np.abs(g))
        return p - lr * s["m"] / ((1 - b1 ** t) * (s["u"] + eps))
    s["u"] = np.maximum(b2 * s.get("u", 0.0 * p), np.abs(g) + eps)
    return p - lr / (1 - b1 ** t) * s["m"] / s["u"]


def box_adadelta(s, p, g, lr, t, hp, conv):
    rho, eps = hp["rho"], hp["epsilon"]
    s["eg"] = rho * s.get("eg", 0.0 * p) + (1 - rho) * g ** 2
    delta = np.sqrt(s.get("ed", 0.0 * p) + eps) / np.sqrt(s["eg"] + eps) * g
    s["ed"] = rho * s.get("ed", 0.0 * p) + (1 - rho) * delta ** 2
    return p - lr * delta


def box_lion(s, p, g, lr, t, hp, conv):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    m = s.get("m", 0.0 * p)
    p = p - lr * np.sign(b1 * m + (1 - b1) * g)
    s["m"] = b2 * m + (1 - b2) * g
    return p


# name -> (box, hyperparameters given to both the box and scratchnet, does the torch convention differ)
BOXES = {
    "sgd": (box_sgd, dict(momentum=0.75), True),
    "rmsprop": (box_rmsprop, dict(rho=0.8, epsilon=0.05), True),
    "adam": (box_adam, dict(beta_1=0.8, beta_2=0.9, epsilon=0.05), True),
    "adagrad": (box_adagrad, dict(initial_accumulator_value=0.2, epsilon=0.05), True),
    "nadam": (box_nadam, dict(beta_1=0.8, beta_2=0.9, epsilon=0.05), False),
    "adamax": (box_adamax, dict(beta_1=0.8, beta_2=0.9, epsilon=0.05), True),
    "adadelta": (box_adadelta, dict(rho=0.8, epsilon=0.05), False),
    "lion": (box_lion, dict(beta_1=0.8, beta_2=0.9), False),
}


# -- clipping and schedules written out ---------------------------------------------------------------
def clip_box(grads: dict, mode, c, conv) -> dict:
    if mode is None:
        return grads
    if mode == "clipvalue":
        return {k: np.minimum(np.maximum(g, -c), c) for k, g in grads.items()}
    if mode == "clipnorm":
        out = {}
        for k, g in grads.items():
            n = math.sqrt(float(np.sum(g * g)))
            out[k] = g * c / max(n, c) if conv == "keras" else g * min(1.0, c / (n + 1e-6))
        return out
    n = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))  # global
    scale = min(1.0, c / n) if conv == "keras" else min(1.0, c / (n + 1e-6))
    return {k: g * scale for k, g in grads.items()}


CLIPS = {None: None, "clipnorm": 0.75, "clipvalue": 0.5, "global_clipnorm": 1.25}


def lr_exponential(s):  # 0.1 * 0.5 ** (s / 2)
    return 0.1 * 0.5 ** (s / 2)


def lr_cosine_warmup(s):  # from 0.05 up to 0.2 over 1 step, then half a cosine over 2 steps to 0.25 * 0.2
    if s < 1:
        return 0.05 + (0.2 - 0.05) * s / 1
    frac = min(s - 1, 2) / 2
    return 0.2 * ((1 - 0.25) * 0.5 * (1 + math.cos(math.pi * frac)) + 0.25)


def lr_piecewise(s):  # 0.1 while s <= 0, 0.03 while 0 < s <= 1, then 0.07
    return 0.1 if s <= 0 else 0.03 if s <= 1 else 0.07


SCHEDULES = {
    "exponential_decay": (lr_exponential, lambda: schedules.ExponentialDecay(0.1, 2, 0.5)),
    "cosine_decay": (lr_cosine_warmup, lambda: schedules.CosineDecay(0.05, 2, alpha=0.25, warmup_target=0.2,
                                                                     warmup_steps=1)),
    "piecewise_constant_decay": (lr_piecewise, lambda: schedules.PiecewiseConstantDecay([0, 1], [0.1, 0.03, 0.07])),
}


def expected(name, conv, p0, grads, lrs, clip_mode=None, clip_value=None):
    box, hp, _ = BOXES[name]
    p, state, out = {k: v.copy() for k, v in p0.items()}, {k: {} for k in p0}, []
    for t, g in enumerate(grads, start=1):
        g = clip_box(g, clip_mode, clip_value, conv)
        p = {k: box(state[k], p[k], g[k], lrs[t - 1], t, hp, conv) for k in p}
        out.append(p)
    return out


@pytest.mark.parametrize("clip_mode", list(CLIPS), ids=str)
@pytest.mark.parametrize("convention", ["keras", "torch"])
@pytest.mark.parametrize("name", list(BOXES))
def test_first_three_steps_with_each_clipping_mode(name, convention, clip_mode):
    p0, grads = data(21)
    value = CLIPS[clip_mode]
    options = {clip_mode: value} if clip_mode else {}
    opt = O.get(name, learning_rate=0.1, convention=convention, **BOXES[name][1], **options)
    got = run(opt, p0, grads)
    want = expected(name, convention, p0, grads, [0.1] * STEPS, clip_mode, value)
    for t, (a, b) in enumerate(zip(got, want), 1):
        for k in p0:
            assert_close(a[k] - p0[k], b[k] - p0[k], BOX_TOL, f"{name} {convention} {clip_mode} step {t} {k}")


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("convention", ["keras", "torch"])
@pytest.mark.parametrize("name", list(BOXES))
def test_first_three_steps_with_each_schedule(name, convention, schedule):
    p0, grads = data(22)
    lr_box, make = SCHEDULES[schedule]
    lrs = [lr_box(t - 1) for t in range(1, STEPS + 1)]  # update t uses schedule(t - 1)
    assert len(set(lrs)) == STEPS  # the schedule really moves over the three steps
    opt = O.get(name, learning_rate=make(), convention=convention, **BOXES[name][1])
    got = run(opt, p0, grads)
    want = expected(name, convention, p0, grads, lrs)
    for t, (a, b) in enumerate(zip(got, want), 1):
        for k in p0:
            assert_close(a[k] - p0[k], b[k] - p0[k], BOX_TOL, f"{name} {convention} {schedule} step {t} {k}")


@pytest.mark.parametrize("name", ["nadam", "adamax", "adadelta", "lion"])
@pytest.mark.parametrize("wd", [0.1])
def test_new_optimizers_weight_decay_by_convention(name, wd):
    """keras: p -= lr wd p before the step (decoupled); torch: g += wd p (coupled), except Lion,
    whose paper form is decoupled in both."""
    p0, grads = data(23)
    box, hp, _ = BOXES[name]
    for conv in ("keras", "torch"):
        got = run(O.get(name, learning_rate=0.1, weight_decay=wd, convention=conv, **hp), p0, grads)
        p, state = {k: v.copy() for k, v in p0.items()}, {k: {} for k in p0}
        for t, g in enumerate(grads, start=1):
            for k in p:
                decoupled = conv == "keras" or name == "lion"
                gk = g[k] if decoupled else g[k] + wd * p[k]
                pk = p[k] - 0.1 * wd * p[k] if decoupled else p[k]
                p[k] = box(state[k], pk, gk, 0.1, t, hp, conv)
            for k in p0:
                assert_close(got[t - 1][k] - p0[k], p[k] - p0[k], BOX_TOL, f"{name} {conv} wd step {t} {k}")


@pytest.mark.parametrize("name", [n for n in BOXES if BOXES[n][2]])
def test_conventions_really_differ_where_the_box_says(name):
    p0, grads = data(24)
    lr = SCHEDULES["piecewise_constant_decay"][1]  # a changing lr: SGD's momentum units part only then
    k = run(O.get(name, learning_rate=lr(), convention="keras", **BOXES[name][1]), p0, grads)
    t = run(O.get(name, learning_rate=lr(), convention="torch", **BOXES[name][1]), p0, grads)
    assert np.max(np.abs(k[-1]["d/kernel"] - t[-1]["d/kernel"])) > 1e-4


def test_nadam_with_torch_default_momentum_decay_differs_from_keras():
    p0, grads = data(25)
    kw = dict(learning_rate=0.1, **BOXES["nadam"][1])
    keras_like = run(O.Nadam(**kw), p0, grads)
    torch_default = run(O.Nadam(**kw, momentum_decay=0.004, convention="torch"), p0, grads)
    matched = run(O.Nadam(**kw, momentum_decay=1.0, convention="torch"), p0, grads)
    gap = np.max(np.abs(keras_like[0]["d/kernel"] - torch_default[0]["d/kernel"]))
    assert gap > 5e-4  # 9.6e-4 here: lr 0.1
    assert_close(matched[-1]["d/kernel"] - p0["d/kernel"], keras_like[-1]["d/kernel"] - p0["d/kernel"], 1e-14,
                 "momentum_decay matched")


# -- planted bugs: the box comparison catches them -----------------------------------------------------
def test_planted_global_clipping_per_parameter_is_caught():
    """clipnorm (each on its own) under the global_clipnorm name must fail the global box."""
    p0, grads = data(21)
    got = run(O.SGD(0.1, momentum=0.75, clipnorm=1.25), p0, grads)
    want = expected("sgd", "keras", p0, grads, [0.1] * STEPS, "global_clipnorm", 1.25)
    assert np.max(np.abs(got[0]["d/bias"] - want[0]["d/bias"])) > 1e-3


def test_planted_schedule_off_by_one_is_caught():
    """An optimizer using schedule(t) instead of schedule(t - 1) must fail the box."""
    p0, grads = data(22)
    lrs_shifted = [lr_exponential(t) for t in range(1, STEPS + 1)]
    got = run(O.SGD(learning_rate=schedules.ExponentialDecay(0.1, 2, 0.5), momentum=0.75), p0, grads)
    wrong = expected("sgd", "keras", p0, grads, lrs_shifted)
    assert np.max(np.abs(got[0]["d/kernel"] - wrong[0]["d/kernel"])) > 1e-3


def test_torch_clip_grad_norm_eps_is_a_measurable_difference():
    g = np.array([3.0, 4.0, 0.0])  # norm 5
    k = clipping.clip([g], "clipnorm", 1.0, "keras")[0]
    t = clipping.clip([g], "clipnorm", 1.0, "torch")[0]
    assert abs(np.linalg.norm(k) - 1.0) < 1e-15
    assert abs(np.linalg.norm(t) - 5.0 / (5.0 + 1e-6)) < 1e-15  # 0.9999998
    assert clipping.clip([g], "clipnorm", 10.0, "keras")[0] is not g  # never the caller's array


@pytest.mark.parametrize("kw, match", [
    (dict(clipnorm=1.0, clipvalue=1.0), "at most one"), (dict(clipnorm=1.0, global_clipnorm=2.0), "at most one"),
    (dict(clipnorm=0.0), "clipnorm"), (dict(clipvalue=-1.0), "clipvalue"), (dict(global_clipnorm=float("nan")),
                                                                          "global_clipnorm"),
    (dict(exclude_from_weight_decay="bias"), "exclude_from_weight_decay"),
    (dict(exclude_from_weight_decay=["("]), "regular expression"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        O.Adam(**kw)


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.2]), "values"),
    (lambda: schedules.PiecewiseConstantDecay([3, 1], [0.1, 0.2, 0.3]), "increasing"),
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), "alpha"),
    (lambda: schedules.get("linear_decay"), "schedule"),
])
def test_bad_schedules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_values_typed_in():
    """Keras's documented / measured values: cosine lr 0.1 -> target 1.0, 5 warmup, 10 decay, alpha
    0.5 gives 0.1, 0.28, 1.0, 0.75, 0.5, 0.5 at s = 0, 1, 5, 10, 15, 20 (CONVENTIONS.md)."""
    cos = schedules.CosineDecay(0.1, 10, alpha=0.5, warmup_target=1.0, warmup_steps=5)
    for s, want in zip([0, 1, 5, 10, 15, 20], [0.1, 0.28, 1.0, 0.75, 0.5, 0.5]):
        assert abs(cos(s) - want) < 1e-15, s
    exp = schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)
    assert [exp(s) for s in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    pw = schedules.PiecewiseConstantDecay([1, 3], [0.3, 0.2, 0.1])
    assert [pw(s) for s in range(6)] == [0.3, 0.3, 0.2, 0.2, 0.1, 0.1]
    assert schedules.CosineDecay(0.5, 4, alpha=0.25)(100) == 0.5 * 0.25  # ends at alpha * lr0


def test_schedule_optimizer_refuses_a_plain_number_later():
    opt = O.SGD(learning_rate=schedules.ExponentialDecay(0.1, 2, 0.5))
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = 0.5
    assert opt.learning_rate == 0.1 and opt.get_config()["learning_rate"]["schedule"] == "exponential_decay"


# -- weight-decay exclusion: Keras's re.search on the variable name --------------------------------------
def test_exclude_from_weight_decay_uses_re_search_on_the_name():
    params = {"0_lstm/kernel": np.ones((3, 8)), "0_lstm/recurrent_kernel": np.ones((2, 8)),
              "0_lstm/bias": np.ones(8), "1_dense/kernel": np.ones((2, 5))}
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    opt = O.SGD(learning_rate=0.5, weight_decay=0.25, exclude_from_weight_decay=["kernel"])
    opt.apply(params, zeros)
    # p - lr wd p = 1 - 0.125 for the bias alone: "kernel" also matches "recurrent_kernel"
    assert {k: float(v.flat[0]) for k, v in params.items()} == {
        "0_lstm/kernel": 1.0, "0_lstm/recurrent_kernel": 1.0, "0_lstm/bias": 0.875, "1_dense/kernel": 1.0}
    # the layer name is not searched (Keras matches variable.name, not its path)
    opt = O.SGD(learning_rate=0.5, weight_decay=0.25, exclude_from_weight_decay=["lstm"])
    assert opt.decays("0_lstm/kernel") and not O.SGD(weight_decay=0.25, exclude_from_weight_decay=["^bias$"]).decays("x/bias")
    for conv in ("keras", "torch"):  # both conventions, coupled decay too
        opt = O.Adam(learning_rate=0.5, weight_decay=0.25, exclude_from_weight_decay=["bias"], convention=conv)
        p = {"w/bias": np.ones(3), "w/kernel": np.ones((3, 2))}
        opt.apply(p, {k: np.zeros_like(v) for k, v in p.items()})
        assert np.all(p["w/bias"] == 1.0) and np.all(p["w/kernel"] < 1.0), conv


# -- the state API ---------------------------------------------------------------------------------------
def test_state_api_reads_and_sets_by_algorithm_box_names():
    opt = O.Adam(learning_rate=0.1, beta_1=0.5, beta_2=0.75, epsilon=0.01)
    assert opt.state_names() == ("m", "v")
    with pytest.raises(ValueError, match="no state for parameter 'w'"):
        opt.get_state("w")
    m0, v0 = np.full((2, 3), 0.5), np.full((2, 3), 0.25)
    opt.set_state("w", {"m": m0, "v": v0})
    p, g = np.ones((2, 3)), np.full((2, 3), 2.0)
    opt.apply({"w": p}, {"w": g})
    m = 0.5 * m0 + 0.5 * g  # the box from the seeded state
    v = 0.75 * v0 + 0.25 * g ** 2
    want = 1.0 - 0.1 * math.sqrt(1 - 0.75) / (1 - 0.5) * m / (np.sqrt(v) + 0.01)
    assert_close(p, want, 1e-15, "Adam from a seeded state")
    assert_close(opt.get_state("w", "m"), m, 1e-15, "m read back")
    with pytest.raises(ValueError, match="no state 'velocity'"):
        opt.get_state("w", "velocity")
    got = opt.get_state("w")
    got["m"][...] = 7.0  # a copy: the optimizer's state is untouched
    assert not np.any(opt.get_state("w", "m") == 7.0)
    with pytest.raises(TypeError):
        opt.state["w"]["m"] = np.zeros((2, 3))  # the raw view is read-only


@pytest.mark.parametrize("opt, values, match", [
    (O.SGD(0.1, momentum=0.5), {"momentum": np.zeros(3)}, r"unknown \['momentum'\]; missing \['velocity'\]"),
    (O.RMSprop(centered=True), {"v": np.zeros(3)}, r"missing \['mg'\]"),
    (O.Adam(), {"m": np.zeros(3), "v": np.zeros(3), "v_hat": np.zeros(3)}, r"unknown \['v_hat'\]"),
    (O.Adam(), {"m": np.zeros(3, dtype=int), "v": np.zeros(3)}, "floating"),
])
def test_state_api_refuses_unknown_or_missing_names(opt, values, match):
    with pytest.raises(ValueError, match=match):
        opt.set_state("w", values)
    assert "w" not in opt.state


def test_set_state_of_the_wrong_shape_is_refused_at_apply_and_changes_nothing():
    opt = O.Adam()
    opt.set_state("w", {"m": np.zeros((2, 2)), "v": np.zeros((2, 2))})
    p = np.ones((2, 3))
    with pytest.raises(ValueError, match="state 'm'"):
        opt.apply({"w": p}, {"w": np.ones((2, 3))})
    assert np.all(p == 1.0) and opt.iterations == 0


# -- Adam: the fast in-place step against the readable reference, bit for bit ---------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("cls, convention, wd", [(O.Adam, "keras", None), (O.Adam, "keras", 0.125),
                                                 (O.Adam, "torch", None), (O.Adam, "torch", 0.125),
                                                 (O.AdamW, "keras", 0.125), (O.AdamW, "torch", 0.125)])
def test_adam_in_place_step_equals_its_reference(cls, convention, wd, amsgrad, dtype):
    rng = np.random.default_rng(26)
    p = rng.normal(size=(5, 3)).astype(dtype)
    grads = [rng.normal(size=(5, 3)).astype(dtype) for _ in range(4)]
    grads[1][0, 0] = 0.0
    opt = cls(learning_rate=0.01, epsilon=1e-3, amsgrad=amsgrad, weight_decay=wd, convention=convention)
    ref = O.adam_keras_reference if convention == "keras" else O.adam_torch_reference
    q, m, v, vmax = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p) if amsgrad else None
    for t, g in enumerate(grads, start=1):
        qq, gg = q, g
        if wd and (convention == "keras" or cls is O.AdamW):
            qq = O.decoupled_weight_decay(q, 0.01, wd)
        elif wd:
            gg = O.coupled_weight_decay(g, q, wd)
        q, m, v, vmax = ref(qq, gg, m, v, vmax, t, 0.01, 0.9, 0.999, 1e-3)
        opt.apply({"w": p}, {"w": g})
        assert np.array_equal(p, q), f"step {t}"
        assert np.array_equal(opt.get_state("w", "m"), m) and np.array_equal(opt.get_state("w", "v"), v)


def _peak_bytes_of_second_step(opt, params, grads):
    opt.apply(params, grads)  # state and work arrays made here
    tracemalloc.start()
    opt.apply(params, grads)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_adam_step_allocates_no_array_per_step(monkeypatch):
    """After the first step a step allocates less than the smallest parameter (a few hundred bytes
    of Python objects, no temporary array); the functional reference, planted, allocates arrays."""
    rng = np.random.default_rng(27)
    params = {"a": rng.normal(size=(64, 48)), "b": rng.normal(size=(160,))}
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    for conv in ("keras", "torch"):
        peak = _peak_bytes_of_second_step(O.Adam(learning_rate=0.01, weight_decay=0.01, convention=conv), params, grads)
        assert peak < params["b"].nbytes, f"{conv}: {peak} bytes allocated in one step"
    monkeypatch.setattr(O.adam, "adam_keras", O.adam_keras_reference)
    peak = _peak_bytes_of_second_step(O.Adam(learning_rate=0.01), params, grads)
    assert peak > params["a"].nbytes


# -- Keras's own test golden values (keras/src/optimizers/*_test.py, Keras 3), typed in -----------------
# test_correctness_with_golden: x = ones(10); first step with gradient 0.01 everywhere, then steps
# with arange(0.1, 1.1, 0.1); golden[i] is x before the (i+1)-th arange step; rtol = atol = 5e-4.
_T = np.tile
GOLDEN = {
    "adam": (dict(amsgrad=True), _T([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))),
    "sgd": (dict(nesterov=True), np.array(
        [[0.9999] * 10,
         [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
         [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
         [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
         [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599]])),
    "rmsprop": (dict(centered=True), _T([[0.9967], [0.9933], [0.9908], [0.9885], [0.9864]], (1, 10))),
    "adagrad": (dict(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6), np.array(
        [[0.9963] * 10,
         [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
         [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
         [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
         [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825]])),
    "adamw": (dict(learning_rate=1.0, weight_decay=0.5, epsilon=2.0), np.array(
        [[0.4998] * 10,
         [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
         [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
         [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
         [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159]])),
    "nadam": (dict(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5), np.array(
        [[0.4281] * 10,
         [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
         [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
         [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
         [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455, -1.7454]])),
    "adamax": (dict(learning_rate=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6), np.array(
        [[0.8] * 10,
         [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
         [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
         [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
         [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126]])),
    "adadelta": (dict(learning_rate=1.0, rho=0.8, epsilon=1e-6),
                 _T([[0.9978], [0.9947], [0.9915], [0.9882], [0.9849]], (1, 10))),
    "lion": (dict(), _T([[0.999], [0.998], [0.997], [0.996], [0.995]], (1, 10))),
}
# test_single_step: lr 0.5, vars [1, 2, 3, 4], grads [1, 6, 7, 2]; rtol = atol = 1e-4
SINGLE = {"adam": [0.5, 1.5, 2.5, 3.5], "sgd": [0.5, -1.0, -0.5, 3.0],
          "rmsprop": [-0.5811, 0.4189, 1.4189, 2.4189], "adagrad": [0.5233, 1.5007, 2.5005, 3.5061],
          "adamw": [0.4980, 1.4960, 2.494, 3.492], "nadam": [0.4686, 1.4686, 2.4686, 3.4686],
          "adamax": [0.5, 1.5, 2.5, 3.5], "adadelta": [0.9993, 1.9993, 2.9993, 3.9993],
          "lion": [0.5, 1.5, 2.5, 3.5]}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_keras_correctness_with_golden(name):
    kw, golden = GOLDEN[name]
    opt = O.get(name, **kw)
    x = np.ones(10, dtype=np.float32)
    opt.apply({"x": x}, {"x": np.full(10, 0.01, dtype=np.float32)})
    grads = np.arange(0.1, 1.1, 0.1).astype(np.float32)
    for i in range(5):
        np.testing.assert_allclose(x, golden[i], rtol=5e-4, atol=5e-4, err_msg=f"{name} golden row {i}")
        opt.apply({"x": x}, {"x": grads})
    assert opt.iterations == 6 and set(opt.get_state("x")) == set(opt.state_names())


@pytest.mark.parametrize("name", list(SINGLE))
def test_keras_single_step(name):
    opt = O.get(name, learning_rate=0.5)
    v = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    opt.apply({"vars": v}, {"vars": np.array([1.0, 6.0, 7.0, 2.0], dtype=np.float32)})
    np.testing.assert_allclose(v, SINGLE[name], rtol=1e-4, atol=1e-4)
    if name == "sgd":  # Keras also checks its variables: iterations 1, learning rate 0.5
        assert (opt.iterations, opt.learning_rate) == (1, 0.5)


@pytest.mark.parametrize("name", list(SINGLE))
def test_keras_weight_decay_and_its_exclusion(name):
    """Keras's test_weight_decay: zero gradients, lr 1, wd 0.004; var1 decayed by three optimizers,
    var2 excluded by name ("exclude"); var3 (excluded by object in Keras) by its own name here."""
    var1, var2, var3 = np.array(2.0), np.array(2.0), np.array(2.0)
    zero = np.array(0.0)
    O.get(name, learning_rate=1.0, weight_decay=0.004).apply({"v1/variable": var1}, {"v1/variable": zero})
    O.get(name, learning_rate=1.0, weight_decay=0.004, exclude_from_weight_decay=["exclude"]).apply(
        {"v1/variable": var1, "v2/exclude": var2}, {"v1/variable": zero, "v2/exclude": zero})
    O.get(name, learning_rate=1.0, weight_decay=0.004, exclude_from_weight_decay=["v3_only"]).apply(
        {"v1/variable": var1, "v3/v3_only": var3}, {"v1/variable": zero, "v3/v3_only": zero})
    assert round(float(var1), 6) == round(1.9760959, 6)
    assert float(var2) == 2.0 and float(var3) == 2.0


def test_keras_clipping_golden():
    """Keras's test_clip_norm / test_clip_value / test_global_clip_norm (optimizer_test.py)."""
    g = np.array([100.0, 100.0])
    np.testing.assert_allclose(clipping.clip([g], "clipnorm", 1, "keras")[0], [2 ** 0.5 / 2, 2 ** 0.5 / 2])
    np.testing.assert_allclose(clipping.clip([g], "clipvalue", 1, "keras")[0], [1.0, 1.0])
    g2 = np.array([50.0, 100.0], dtype=np.float32)
    np.testing.assert_allclose(clipping.clip([g2], "global_clipnorm", 1, "keras")[0], g2 / np.linalg.norm(g2),
                               rtol=1e-6)


def test_keras_golden_count():
    """How many Keras values the tests above type in and check: 9 optimizers x 50 golden values,
    9 x 4 single-step values, 9 x 3 weight-decay values, 6 clipping values (each test counts its own)."""
    assert sum(g.size for _, g in GOLDEN.values()) == 450 and sum(len(v) for v in SINGLE.values()) == 36
    assert len(GOLDEN) == len(SINGLE) == 9
