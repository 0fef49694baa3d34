"""Harness bugs found by ``parity fuzz``, each kept as a case that failed before its fix."""
import json

import numpy as np
import pytest

import parity
from parity.mappings import LOSSES
from parity.mappings.base import SAME


def _learning_rate_times(spec, factor: float):
    """``spec`` with its learning rate multiplied by ``factor``: a planted optimizer bug."""
    import dataclasses

    from parity.spec import FrozenDict

    params = FrozenDict({**spec.optimizer.params, "learning_rate": spec.optimizer.params["learning_rate"] * factor})
    return dataclasses.replace(spec, optimizer=dataclasses.replace(spec.optimizer, params=params))


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_labels_after_a_flatten_index_the_canonical_classes(from_logits):
    """fuzz seed 1 case 74: the model's output is a Flatten of an image (torch flattens C,H,W;
    the canonical order is H,W,C), read by a sparse cross-entropy: torch must pick each label's
    class through the flatten's permutation. Before the fix torch's loss was 12% off and blamed."""
    layers = [{"type": "conv2d", "filters": 3, "kernel_size": 2}, {"type": "flatten"}]
    if not from_logits:
        layers.append({"type": "softmax"})
    spec = {"name": "flat-sparse", "seed": 5, "input_shape": [4, 4, 3, 2], "dtype": "float32", "layers": layers,
            "loss": {"type": "sparse_categorical_crossentropy", "from_logits": from_logits, "reduction": "sum",
                     "sample_weight": True},
            "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 1}
    r = parity.check(spec)
    assert r.verdict == "pass", r.worst


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_torch_reads_probabilities_as_keras_does_clipped_and_renormalised(loss):
    """A target probability below 1e-7 (Keras clips it to 1e-7) and a row summing to 0.9 (Keras
    renormalises): torch's side of the harness gives Keras's value, and the scratchnet loss too."""
    import keras
    import torch

    p = np.array([[1e-9, 0.3, 0.6], [0.2, 0.5, 0.3 - 1e-12]])  # row 0 sums to 0.9
    labels = np.array([0, 2])
    t = np.eye(3)[labels]
    target = labels if loss.startswith("sparse") else t
    params = {"from_logits": False, "reduction": "sum_over_batch_size", "sample_weight": False,
              **({"label_smoothing": 0.0} if not loss.startswith("sparse") else {}), "class_weight": None}
    keras_value = float(getattr(keras.losses, "".join(w.title() for w in loss.split("_")))()(target, p))
    torch_value = float(LOSSES[loss].torch(params, SAME)(torch.tensor(p), torch.tensor(target)))
    scratch_value = float(LOSSES[loss].scratch(params).forward(target, p))
    assert abs(torch_value - keras_value) <= 1e-6 * abs(keras_value)
    assert abs(scratch_value - keras_value) <= 1e-6 * abs(keras_value)
    naive = float(np.mean(-np.log(p[np.arange(2), labels])))  # the planted alternative: no clip, no renormalising
    assert abs(naive - keras_value) > 1e-2 * abs(keras_value)


@pytest.mark.parametrize("name, verdict, rules", [
    # an embedding with repeated ids under RMSprop (Keras's sparse-duplicate defect), TF's float32
    # momentum, and a Dense with leaky_relu's default slope 0.2 (float32 in TF): the Dense's
    # constant is followed (Dense takes the activation's keywords), torch vs Keras is convention
    ("fuzz-2-0106", "defect", {"declared-deviation", "defect"}),
    # Adagrad with an embedding (the defect), a Dense with GELU (TF's float32 constant) and
    # TF's float32 initial accumulator: torch vs Keras takes the scratch-Keras row's excuse
    ("fuzz-2-0272", "defect", {"declared-deviation", "defect"}),
])
def test_several_causes_in_one_row_are_each_demonstrated(name, verdict, rules):
    from pathlib import Path

    r = parity.check(Path(__file__).parent / "data" / f"{name}.json")
    assert r.passed and r.verdict == verdict, r.worst
    excused = r.rows[r.rows.passed & (r.rows.status != "pass")]
    assert rules <= set(excused.rule)
    assert not excused.note.str.contains("declared rtol").any()  # demonstrated, not bounded


def test_a_torch_difference_does_not_take_the_scratch_keras_excuse():
    from pathlib import Path

    from parity.run import Variant, prepare
    from parity.spec import load_spec

    spec = load_spec(Path(__file__).parent / "data" / "fuzz-2-0272.json")
    w = dict(prepare(spec).initial)
    key = next(k for k in w if k.endswith("kernel"))
    w[key] = w[key] * (1 + 1e-6)
    r = parity.check(spec, variants={"torch": Variant(initial=w)})
    assert not r.passed and r.odd_one_out == "torch"


def test_a_zero_gradient_against_zero_differences_passes_its_fd_row():
    """fuzz seed 3 case 6: log_sigmoid's outputs are all below Keras's MSLE clip (epsilon), so every
    gradient is exactly 0 and so is every difference of the loss; the directional part has nothing
    to be relative to (scale 0, rtol inf) and 0 <= inf * 0 was NaN: a failed row on exact agreement.
    An exact agreement passes; a planted gradient where the loss is flat still fails."""
    from parity import fdcheck

    spec = {"name": "msle-flat", "seed": 7, "dtype": "float64", "input_shape": [5, 70],
            "layers": [{"type": "dense", "units": 3, "activation": "log_sigmoid"}],
            "loss": {"type": "mean_squared_logarithmic_error"}, "optimizer": {"type": "sgd"}, "steps": 1}
    r = parity.check(spec)
    fd = r.rows[r.rows.quantity == "fd"]
    assert (fd.note.str.contains("directions").any()), "the kernel must be large enough to be sampled"
    assert fd.passed.all() and r.verdict == "pass", fd
    zero = fdcheck._Part(0.0, 0.0, np.inf, 0.0, 0.0, "direction 0", False)
    assert zero.passed and not zero._replace(max_abs=1e-12).passed


@pytest.mark.parametrize("loss", [{"type": "binary_crossentropy"}, {"type": "binary_focal_crossentropy"},
                                  {"type": "kl_divergence"}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_reads_saturated_probabilities_as_keras_does(loss, dtype):
    """fuzz seeds 2 and 3 (fuzz-2-0024, fuzz-3-0088, 0077 and 12 more): a softmax over one unit is 1
    exactly; on the xor targets (0 and 1) Keras clips p to [1e-7, 1 - 1e-7] (BCE, the focal loss's BCE)
    and t, q to [1e-7, 1] (KL). Plain BCELoss (log clamped at -100) and kl_div (0 log 0 = 0) give
    other losses, and torch was blamed; the torch side clamps as Keras does."""
    import torch
    import torch.nn.functional as F

    spec = {"name": "saturated", "seed": 4, "dtype": dtype, "data": "xor",
            "layers": [{"type": "dense", "units": 1, "activation": "softmax"}],
            "loss": loss, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 2}
    r = parity.check(spec)
    assert r.verdict == "pass", r.worst
    import keras

    p, t = np.ones((4, 1)), np.array([[0.0], [1.0], [1.0], [0.0]])
    keras_value = float({"binary_crossentropy": keras.losses.BinaryCrossentropy(),
                         "binary_focal_crossentropy": keras.losses.BinaryFocalCrossentropy(),
                         "kl_divergence": keras.losses.KLDivergence()}[loss["type"]](t, p))
    pt, tt = torch.tensor(p), torch.tensor(t)
    plain = float({"binary_crossentropy": F.binary_cross_entropy,  # the planted alternative: no clip
                   "binary_focal_crossentropy": F.binary_cross_entropy,  # (1 - p_t)^gamma is 1 where t = 0
                   "kl_divergence": lambda q, y: F.kl_div(torch.log(q), y, reduction="batchmean")}[loss["type"]](pt, tt))
    assert abs(plain - keras_value) > 1e-3 * max(abs(keras_value), 1e-6), (plain, keras_value)


def test_a_loss_whose_per_sample_terms_cancel_is_judged_against_their_magnitudes():
    """fuzz seed 3 case 248: a cosine similarity over one unit is sign(t) sign(y) per sample: on the
    xor targets 0, -1, +1 ... the per-sample losses cancel to exactly 0 in scratchnet and torch, and
    Keras's l2_normalize (x * rsqrt(x^2)) leaves 1.5e-8; strict, relative to the loss itself, that
    was a 100% failure. Rule loss-condition: relative to S = mean |l_i| = 2/4 (two samples with
    t = 1 have |cos| = 1, two with t = 0 have 0)."""
    from parity import compare
    from parity.run import loss_condition, run_case
    from parity.spec import parse_spec

    spec = parse_spec({"name": "cos-one-unit", "seed": 2, "dtype": "float32", "data": "xor",
                       "layers": [{"type": "dense", "units": 1}], "loss": {"type": "cosine_similarity"},
                       "optimizer": {"type": "sgd"}, "steps": 0})
    res = run_case(spec)
    assert loss_condition(res) == pytest.approx(0.5)
    loss_rows = [r for r in res.rows if r["quantity"] == "loss"]
    assert all(r["passed"] for r in loss_rows)
    assert compare.judge(0.0, 1.5e-8, "float32", "loss", floor=0.5).rule == "loss-condition"
    planted = compare.judge(0.0, 1e-5, "float32", "loss", floor=0.5)  # 2e-5 of S: past rtol 1e-5
    assert not planted.passed and planted.rule == "loss-condition"


def _subnormal_focal(dtype="float32"):
    # alpha the smallest normal float32: the focal loss's products fall below it, and TF flushes them
    return {"name": "focal-subnormal", "seed": 3, "dtype": dtype, "input_shape": [4, 6],
            "layers": [{"type": "dense", "units": 3, "activation": "softmax"}],
            "loss": {"type": "categorical_focal_crossentropy", "alpha": 1.1754943508222875e-38},
            "optimizer": {"type": "sgd"}, "steps": 0}


def test_tensorflow_flushing_subnormals_is_demonstrated_not_assumed():
    """fuzz seed 3 case 66: a focal loss scaled by alpha = 1.18e-38 is subnormal in its products;
    TF's kernels flush subnormals to zero (FTZ/DAZ), numpy and torch keep them: Keras's loss was 0,
    the others' 1.2e-38 (100% apart). Rule tf-flush reruns scratchnet and torch with the flags set
    and asks strict agreement; the flags are cleared afterwards."""
    from parity.run import run_case
    from parity.spec import parse_spec

    res = run_case(parse_spec(_subnormal_focal()))
    assert res.verdict == "deviation", [r for r in res.rows if not r["passed"]]
    flushed = [r for r in res.rows if r["rule"] == "tf-flush"]
    assert flushed and all("keras" in (r["backend_a"], r["backend_b"]) for r in flushed)
    assert np.float32(1e-39) * np.float32(1.5) != 0  # numpy keeps subnormals again


def test_the_flush_excuse_does_not_hide_a_keras_weight_off_by_1e_3():
    from parity.run import Variant, prepare, run_case
    from parity.spec import parse_spec

    spec = parse_spec(_subnormal_focal())
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    key = next(k for k in initial if k.endswith("/kernel"))
    initial[key][4, 1] += 1e-3
    res = run_case(spec, variants={"keras": Variant(initial=initial)})
    failing = [r for r in res.rows if not r["passed"]]
    assert failing and {r["odd_one_out"] for r in failing if r["quantity"] == "output"} == {"keras"}
    assert res.verdict == "fail"


def test_a_case_gives_the_same_tensors_before_and_after_other_cases_in_one_process():
    """fuzz seed 1 case 31 (float64, a graph that reads its input twice) failed once in a campaign
    (torch's input gradient 100% off) and passed alone: a suspected state leak between cases of one
    process (a campaign runs them all in one). The case is run, then cases that touch
    every piece of global state the backends set and restore (Keras's floatx and policy in the
    other dtype, dropout's random state, torch's flush-to-zero flags under rule tf-flush, a Keras
    crash the crash defect explains), then run again: every tensor is bit for bit the same."""
    from pathlib import Path

    from parity.run import run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-1-0031.json").read_text()))
    before = run_case(spec)
    others = [_subnormal_focal(), {**_subnormal_focal("float64"), "loss": {"type": "binary_crossentropy"}},
              {"name": "dropout32", "seed": 9, "dtype": "float32", "training": True, "input_shape": [5, 7],
               "layers": [{"type": "dense", "units": 6}, {"type": "dropout", "rate": 0.4}, {"type": "dense", "units": 3}],
               "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "adam"}, "steps": 2},
              {"name": "emb-crash", "seed": 3, "dtype": "float32", "input_shape": [4, 3],
               "input": {"kind": "integers", "high": 4},
               "layers": [{"type": "embedding", "input_dim": 7, "output_dim": 2}, {"type": "flatten"},
                          {"type": "dense", "units": 5}],
               "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "rmsprop", "epsilon": 0.0}, "steps": 1}]
    import keras

    floatx = keras.config.floatx()
    for other in others:
        run_case(parse_spec(other))
    assert np.float32(1e-39) * np.float32(1.5) != 0 and keras.config.floatx() == floatx  # flags and floatx restored
    after = run_case(spec)
    assert [(r["quantity"], r["tensor"], r["status"]) for r in after.rows] == \
        [(r["quantity"], r["tensor"], r["status"]) for r in before.rows]
    for name, result in before.results.items():
        again = after.results[name]
        assert set(result.grads) == set(again.grads)
        for key in result.grads:
            np.testing.assert_array_equal(result.grads[key], again.grads[key], err_msg=f"{name} {key}")
        if result.input_grad is not None:
            np.testing.assert_array_equal(result.input_grad, again.input_grad, err_msg=f"{name} input")
        for t, (w, w2) in enumerate(zip(result.steps, again.steps)):
            for key in w:
                np.testing.assert_array_equal(w[key], w2[key], err_msg=f"{name} step {t + 1} {key}")


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "categorical_focal_crossentropy"])
def test_class_weights_after_a_flatten_weigh_the_canonical_classes(loss):
    """fuzz seed 3 case 460: the classes are a Flatten of an image (torch's position perm[i] holds
    canonical class i), weighted by class_weight: torch must read each sample's weight through the
    flatten's permutation. Before the fix torch's loss was 0.8% off and its input gradient 65%."""
    from parity.run import Variant
    from parity.spec import parse_spec

    def spec(class_weight):
        return {"name": "flat-class-weight", "seed": 28, "dtype": "float32", "input_shape": [6, 3, 2, 2],
                "layers": [{"type": "flatten"}, {"type": "softmax"}],
                "loss": {"type": loss, "class_weight": class_weight}, "optimizer": {"type": "sgd"}, "steps": 0}

    cw = [0.5, 2.0, 1.25, 0.75, 1.5, 1.0, 0.25, 1.75, 3.0, 0.125, 2.5, 1.125]  # 12 classes = 3 x 2 x 2, distinct
    r = parity.check(spec(cw))
    assert r.verdict == "pass", r.worst
    # planted: torch weighs by the weights in another order (what reading them in torch's positions did)
    r = parity.check(spec(cw), variants={"torch": Variant(spec=parse_spec(spec(cw[::-1])))})
    assert not r.passed and r.odd_one_out == "torch"


def test_a_noise_element_under_nadam_is_allowed_its_propagated_steps_in_trajectories_and_reruns():
    """fuzz seed 2 case 152 (digits, dense relu, MAE summed, Nadam, float64): one kernel element's
    gradient is 5e-18, zero by the math; Nadam (epsilon 1e-7) turns that noise into steps of ~1e-12,
    which rule step-propagation allows in the step rows. The trajectory rows (free-running) and the
    tf-rounding rerun's rows were judged without it and failed (2.4e-12, 4.8e-12 relative).
    The planted half: a Keras learning rate 1e-6 off must fail. The tf-rounding rerun gave every
    variant the case's rounded hyperparameters, which removed the planted rate too and excused it
    as a deviation; each backend's own values are rounded."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-2-0152.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    assert any(r["rule"] == "trajectory" and r["quantity"] == "trajectory" for r in res.rows)
    planted = _learning_rate_times(spec, 1 + 1e-6)
    bad = run_case(spec, variants={"keras": Variant(spec=planted)})
    failing = [r for r in bad.rows if not r["passed"]]
    assert failing and {r["odd_one_out"] for r in failing if r["quantity"] == "step"} == {"keras"}


BILINEAR_ADAM = {"name": "bilinear-adam", "seed": 847, "dtype": "float64", "training": True, "input_shape": [3, 8, 7, 5],
                 "layers": [{"type": "up_sampling2d", "interpolation": "bilinear"}, {"type": "flatten"},
                            {"type": "dense", "units": 3, "activation": "softmax"}],
                 "loss": {"type": "sum_squared_error"}, "optimizer": {"type": "adam"}, "steps": 1}


def test_a_declared_deviation_is_carried_through_the_optimizer_like_any_allowed_gradient_difference():
    """fuzz seed 3 case 70: TF's bilinear resize in float32 arithmetic is a declared deviation of the
    outputs and gradients (rtol 1e-6); Adam normalises a gradient that small differences dominate,
    so Keras's step differed 2e-6 while the step row held it to the declared 1e-6 of scale. The
    allowed gradient difference is the declared rtol: its propagation through the update scales
    with it. A Keras learning rate 1e-3 off still fails (1e-5 off moves the steps 2e-8, less than
    the float32 resize itself moves them through Adam: 1.2e-6)."""
    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(BILINEAR_ADAM)
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    assert any(r["quantity"] == "step" and r["status"] == "deviation" for r in res.rows)
    planted = _learning_rate_times(spec, 1 + 1e-3)
    bad = run_case(spec, variants={"keras": Variant(spec=planted)})
    assert {r["odd_one_out"] for r in bad.rows if not r["passed"] and r["quantity"] == "step"} == {"keras"}


def test_a_noisy_loss_is_judged_by_its_measured_evaluation_noise_and_a_wrong_gradient_still_fails(monkeypatch):
    """fuzz seed 3 case 103 (embedding, attention, bidirectional LSTM, two BatchNorms, float64): the
    analytic gradients agree across the frameworks to 1e-14, but the central differences at h = 1e-6
    were off by up to 4.4e-5 relative: the loss's evaluation is noisier than the u |L| the bound
    assumes (measured 1.7 to 3.4 u |L|). A failing fd row is judged again with the measured noise;
    a Dense kernel gradient planted 1e-4 too large still fails its fd row."""
    from pathlib import Path

    from parity.run import run_case
    from parity.spec import parse_spec
    from scratchnet.layers import dense as dense_layer

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-3-0103-min.json").read_text()))
    res = run_case(spec)
    fd = [r for r in res.rows if r["quantity"] == "fd"]
    assert all(r["passed"] for r in fd), [r for r in fd if not r["passed"]]
    assert any("measured evaluation noise" in r["note"] for r in fd)
    real = dense_layer.dense_backward
    monkeypatch.setattr(dense_layer, "dense_backward",
                        lambda dy, cache, **out: (lambda r: (r[0], (1 + 1e-4) * r[1], r[2]))(real(dy, cache)))
    bad = run_case(spec)
    assert any(not r["passed"] and r["tensor"].startswith("l6") for r in bad.rows if r["quantity"] == "fd")


def test_a_gradient_left_small_by_cancellation_is_judged_by_its_measured_condition():
    """fuzz seed 3 case 419 (two multi_head_attention layers, float64): a query/key kernel gradient
    of 2.5e-7 is a sum of terms up to 0.05, and the frameworks' sums differ by 1.8e-12 of it, past
    the strict 1e-12; scratchnet's own gradient moves by 6.4e-19 (2.6e-12 of it) when its inputs
    move by one rounding. Rule grad-condition accepts 2 e + rtol * scale; a torch weight off by 1e-9
    relative still fails, blamed on torch."""
    import dataclasses
    from pathlib import Path

    from parity.run import Variant, prepare, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-3-0419-min.json").read_text()))
    from parity import compare
    from parity.run import _conditioned

    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    # whether a row needs the rule depends on the frameworks' summation order (threads): the rule is
    # checked on the measured pair itself
    key = next(k for k in res.results["scratch"].grads if k.startswith("l4") and k.endswith("kernel"))
    m = compare.metrics(res.results["scratch"].grads[key], res.results["torch"].grads[key], "float64")
    assert _conditioned(res, key, m)[0]
    assert not _conditioned(res, key, dataclasses.replace(m, max_abs=1e-9 * m.scale))[0]
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    key = next(k for k in initial if k.startswith("l4") and k.endswith("kernel"))
    initial[key] *= 1 + 1e-9
    bad = run_case(spec, variants={"torch": Variant(initial=initial)})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] in ("output", "grad")]
    assert failing and {r["odd_one_out"] for r in failing if r["odd_one_out"]} == {"torch"}


def test_two_demonstrated_causes_one_on_each_side_explain_the_torch_keras_row():
    """fuzz seed 5 case 280 (digits, dense hard_sigmoid, Adagrad with initial_accumulator_value
    1.85e-7, float64): scratch vs torch is torch's float32 Hardsigmoid constant (followed), scratch vs
    Keras is TF's float32 accumulator (rerun): each demonstrated, and torch vs Keras, 5.7e-11, is
    both at once. max|t - k| <= max|t - s| + max|s - k|: the row passes under the worse of the two.
    A torch learning rate 1e-6 off still fails, blamed on torch."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-5-0280.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    tk = [r for r in res.rows if (r["backend_a"], r["backend_b"]) == ("torch", "keras") and r["quantity"] == "step"]
    assert any("common reference" in r["note"] for r in tk)
    planted = _learning_rate_times(spec, 1 + 1e-6)
    bad = run_case(spec, variants={"torch": Variant(spec=planted)})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] == "step"]
    assert failing and {r["odd_one_out"] for r in failing} == {"torch"}


def test_zero_over_zero_under_epsilon_0_is_demonstrated_by_a_rerun_and_a_wrong_rate_still_fails():
    """fuzz seed 3 case 101 and seed 5 case 152: a bias before a BatchNorm (zero by the math) under
    Adam or Nadam with epsilon 0; a framework whose gradient element is exactly 0 computes 0 / 0 =
    NaN, one whose is rounding noise +-lr. Every backend rerun with epsilon the smallest normal
    passes the row; a Keras learning rate 1e-3 off still fails."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-3-0101-min.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    # which framework's noise element is exactly 0 depends on its summation order (threads, BLAS):
    # the 0 / 0 is planted in Keras's step 1 at the noise bias, and the rows judged again
    from parity.run import build_rows

    noise_key = next(k for k in sorted(res.noise.tensors) if k in res.results["keras"].steps[0])
    res.results["keras"].steps[0][noise_key] = res.results["keras"].steps[0][noise_key].copy()
    res.results["keras"].steps[0][noise_key].flat[0] = np.nan
    res.rows = build_rows(res)
    planted_nan = [r for r in res.rows if r["tensor"] == noise_key and r["step"] == 1 and r["quantity"] == "step"
                   and (r["backend_a"], r["backend_b"]) == ("scratch", "keras")]
    assert planted_nan and all(r["passed"] and r["rule"] == "zero-over-zero" for r in planted_nan), planted_nan
    planted = _learning_rate_times(spec, 1 + 1e-3)
    bad = run_case(spec, variants={"keras": Variant(spec=planted)})
    assert not bad.passed
    assert {r["odd_one_out"] for r in bad.rows if not r["passed"] and r["quantity"] == "step"} == {"keras"}


def test_a_truncation_error_is_shown_by_a_shorter_step_and_a_wrong_gradient_still_fails(monkeypatch):
    """fuzz seed 5 case 453 (depthwise conv, layer norm, log_sigmoid, BatchNorm, multiply, Huber,
    float64): a bias's central difference at h = 1e-6 was 2.3e-7 off, all three frameworks'
    gradients agreeing to 1e-12: the step crosses Huber's transition (a kink of the second
    derivative), the error linear in h (1.1e-4 at 1e-4, 3.6e-10 at 1e-7). The row is measured again
    at h / 10 with the rounding bound there; a Dense kernel gradient 1e-4 off still fails."""
    from pathlib import Path

    from parity.run import run_case
    from parity.spec import parse_spec
    from scratchnet.layers import dense as dense_layer

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-5-0453.json").read_text()))
    res = run_case(spec)
    fd = [r for r in res.rows if r["quantity"] == "fd"]
    assert all(r["passed"] for r in fd) and any("measured at h = 1e-07" in r["note"] for r in fd), \
        [r for r in fd if not r["passed"]]
    real = dense_layer.dense_backward
    monkeypatch.setattr(dense_layer, "dense_backward",
                        lambda dy, cache, **out: (lambda r: (r[0], (1 + 1e-4) * r[1], r[2]))(real(dy, cache)))
    bad = run_case(spec)
    dense = spec.layers[-1].name
    assert any(not r["passed"] and r["tensor"] == f"{dense}/kernel" for r in bad.rows if r["quantity"] == "fd")


def test_a_float32_deviation_of_a_gradient_is_relative_to_the_terms_summed():
    """fuzz seed 7 case 372 (1x1 depthwise conv, bilinear UpSampling2D, BatchNorm, float64): TF's
    resize runs in float32, so Keras's BatchNorm beta gradient, 0 by the math here, is 3e-8 of
    float32 rounding where the others have 1e-17; the declared deviation (1e-6) was relative to that
    tiny gradient itself. A float32 computation's error is relative to the terms it sums: the
    deviation's bound is 1e-6 of max(scale, G). A Keras kernel 1e-4 off still fails. The case as
    drawn (Lion, 2 steps) turns that noise into +-lr steps: a gradient is noise where each framework
    is within its own precision of G (Keras's declared 1e-6 here), and the steps are allowed it."""
    from pathlib import Path

    from parity.run import Variant, prepare, run_case
    from parity.spec import parse_spec

    lion = run_case(parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-7-0372-lion.json").read_text())))
    assert lion.passed, [r for r in lion.rows if not r["passed"]][:2]
    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-7-0372.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    key = next(k for k in initial if k.endswith("kernel"))
    initial[key] *= 1 + 1e-4
    bad = run_case(spec, variants={"keras": Variant(initial=initial)})
    assert {r["odd_one_out"] for r in bad.rows if not r["passed"] and r["quantity"] == "output"} == {"keras"}


def test_a_nan_both_runs_share_has_not_moved_in_the_tf_rounding_bound():
    """fuzz seed 7 case 309 (digits, Adadelta, epsilon 0, weight decay, float64): a pixel column
    that is 0 gives gradient 0 and an update 0/0 = NaN in scratchnet and Keras alike; the tf-rounding
    bound "how far the rounding moves the run" was NaN (NaN - NaN), so the excuse failed. The same
    NaN has not moved. A Keras learning rate 1e-3 off still fails."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-7-0309.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    bad = run_case(spec, variants={"keras": Variant(spec=_learning_rate_times(spec, 1 + 1e-3))})
    assert not bad.passed
    assert {r["odd_one_out"] for r in bad.rows if not r["passed"] and r["quantity"] == "step"} == {"keras"}


def test_a_running_statistic_downstream_of_allowed_weight_differences_is_resynced():
    """fuzz seed 7 case 301 (BatchNorm, reshape, BatchNorm, dense softmax, Nadam, float64): the free
    runs' weights differ within their propagated allowances, and the second BatchNorm's moving mean,
    computed from them, 7e-10 apart, past the trajectory tolerance. Rule resync: each framework's
    statistic at step t is its reference's from that framework's own weights and statistics at t - 1.
    A Keras BatchNorm momentum 1e-3 off still fails, blamed on Keras."""
    import dataclasses
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import FrozenDict, parse_spec

    from parity.run import _resynced

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-7-0301.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    # how far the free runs part depends on their summation order (threads): the rule itself is
    # checked on every running statistic at step 2, whether or not its row needed it
    stats = [k for k in res.results["scratch"].steps[1] if k not in res.results["scratch"].grads]
    assert stats and all(_resynced(res, "scratch", "keras", 2, k)[0] for k in stats)
    layers = list(spec.layers)
    i = next(i for i, layer in enumerate(layers) if layer.type == "batch_normalization" and "momentum" in layer.params
             and layer.params["momentum"] != 0.99)
    params = FrozenDict({**layers[i].params, "momentum": layers[i].params["momentum"] * (1 + 1e-3)})
    layers[i] = dataclasses.replace(layers[i], params=params)
    bad = run_case(spec, variants={"keras": Variant(spec=dataclasses.replace(spec, layers=tuple(layers)))})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] in ("state", "trajectory")]
    assert failing and {r["odd_one_out"] for r in failing if r["odd_one_out"]} == {"keras"}
    moved = [k for k in stats if k.startswith(layers[i].name)]
    assert moved and not any(_resynced(bad, "scratch", "keras", 2, k)[0] for k in moved)


def test_a_defect_and_a_declared_constant_in_one_row_are_removed_together():
    """fuzz seed 11 case 203 (token ids into an embedding, a leaky_relu Dense, RMSprop, float64):
    Keras's step of the embeddings is off by 5.6% through its sparse duplicate-id defect, and by
    1.6e-11 more through TF's float32 leaky_relu slope. Each rerun removing one cause left the
    other: the defect's rerun (Keras on dense gradients) is compared with scratchnet following
    Keras's declared constants, so both are gone at once and the pair agrees strictly. The torch
    vs Keras row (RMSprop's epsilon convention) is then labelled by the worse of its twin rows,
    the defect. A Keras learning rate 1e-3 off still fails, blamed on Keras."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / "fuzz-11-0203.json").read_text()))
    res = run_case(spec)
    assert res.verdict == "defect", [r for r in res.rows if not r["passed"]][:2]
    rows = {(r["backend_a"], r["backend_b"]): r for r in res.rows
            if r["quantity"] == "step" and r["tensor"] == "l0/embeddings"}
    assert rows[("scratch", "keras")]["status"] == "defect" and "declared constants" in rows[("scratch", "keras")]["note"]
    assert rows[("torch", "keras")]["status"] == "defect" and "twin row defect" in rows[("torch", "keras")]["note"]
    bad = run_case(spec, variants={"keras": Variant(spec=_learning_rate_times(spec, 1 + 1e-3))})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] == "step"]
    assert failing and {r["odd_one_out"] for r in failing} == {"keras"}


@pytest.mark.parametrize("name, key", [("fuzz-11-0128", "l0/gamma"), ("fuzz-11-0230", "l3/query/kernel")])
def test_a_gradient_through_cancelling_layers_is_judged_with_every_intermediate_rounded(name, key):
    """fuzz seed 11 cases 128 (three BatchNorms in a row: the first's gamma gradient, ~9e-8, exists
    only through the epsilons) and 230 (an embedding squared into attention): the pairs differ by
    2.03 and 2.14 times what one rounding of the inputs alone moves scratchnet's gradient, past rule
    grad-condition's 2 e. Each layer's output and passed-down gradient is rounded as well in its
    reruns (hook ``round_off``), which moves it by 1.2-1.5 times more, and the pairs pass; a
    difference of 1e-9 of the tensor's scale still fails, and so does a torch weight 1e-9 off."""
    import dataclasses
    from pathlib import Path

    from parity import compare
    from parity.run import Variant, _conditioned, prepare, run_case
    from parity.spec import parse_spec

    spec = parse_spec(json.loads((Path(__file__).parent / "data" / f"{name}.json").read_text()))
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    grads = {n: res.results[n].grads[key] for n in ("scratch", "torch", "keras")}
    worst = max((compare.metrics(grads[a], grads[b], "float64") for a, b in
                 (("scratch", "torch"), ("scratch", "keras"), ("torch", "keras"))), key=lambda m: m.max_abs)
    assert _conditioned(res, key, worst)[0]
    assert not _conditioned(res, key, dataclasses.replace(worst, max_abs=1e-9 * worst.scale))[0]
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    weight = next(k for k in initial if k.startswith(key.split("/")[0]) and initial[k].size > 1)
    initial[weight] *= 1 + 1e-9
    bad = run_case(spec, variants={"torch": Variant(initial=initial)})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] in ("output", "grad")]
    assert failing and {r["odd_one_out"] for r in failing if r["odd_one_out"]} == {"torch"}


def test_the_round_off_hook_moves_every_intermediate_by_one_rounding():
    """Hook ``round_off``: the rerun's output differs from the plain run's by about one rounding
    per layer (not 0: it is applied; not more than a few u: it is one rounding)."""
    import numpy as np

    from parity.backends import scratch
    from parity.run import prepare
    from parity.spec import parse_spec

    spec = parse_spec({"name": "ro", "seed": 3, "input_shape": [5, 7], "dtype": "float64",
                       "layers": [{"type": "dense", "units": 6, "activation": "tanh"}, {"type": "dense", "units": 4}],
                       "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.1},
                       "steps": 0})
    case = prepare(spec)
    plain = scratch.run(case)
    moved = scratch.run(case, hooks={"round_off": np.random.default_rng(0)})
    out = plain.outputs["1_dense"]
    rel = np.max(np.abs(moved.outputs["1_dense"] - out)) / np.max(np.abs(out))
    assert 0 < rel < 50 * np.finfo(np.float64).eps
    assert not np.array_equal(moved.grads["0_dense/kernel"], plain.grads["0_dense/kernel"])


def test_tf_rounding_rerun_keeps_a_declared_deviation_no_rerun_removes():
    """A spec written from DESIGN.md alone (bilinear up_sampling2d, Adam with default betas,
    float64): the step differs by TF's float32 betas (tf-rounding's rerun removes them) and by
    Keras's float32 resize (declared, no rerun removes it), 1.9e-8 left in the rerun. The rerun
    is judged with the deviation's propagated allowance, as the row would be without the betas.
    A Keras learning rate 1e-3 off still fails, blamed on Keras."""
    from pathlib import Path

    from parity.run import Variant, run_case
    from parity.spec import parse_spec

    raw = json.loads((Path(__file__).parent / "data" / "bilinear-plus-adam-rounding.json").read_text())
    spec = parse_spec({**raw, "dtype": "float64"})
    res = run_case(spec)
    assert res.passed, [r for r in res.rows if not r["passed"]][:2]
    assert any(r["rule"] == "tf-rounding" and "declared deviation" in r["note"] for r in res.rows)
    bad = run_case(spec, variants={"keras": Variant(spec=_learning_rate_times(spec, 1 + 1e-3))})
    failing = [r for r in bad.rows if not r["passed"] and r["quantity"] == "step"]
    assert failing and {r["odd_one_out"] for r in failing} == {"keras"}
