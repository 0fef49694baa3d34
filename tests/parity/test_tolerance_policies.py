"""Every rule of ``parity.compare.RULES`` that widens a tolerance or excuses a row, each shown
necessary (the case fails without it) and shown not to hide a real mismatch (a planted one still
fails, blamed on the right backend): the gradient floor, step propagation, TF's float32 rounding,
conventions, chaos, known defects, and divergence."""
import dataclasses
import warnings

import numpy as np
import pytest

from parity import compare
from parity.mappings import OPTIMIZERS
from parity import run as run_module
from parity.run import run_case
from parity.spec import parse_spec

# a bias right before a training-mode BatchNorm: its gradient is zero by the math (BN subtracts the
# batch mean), rounding noise in every framework
DENSE_BN = {"name": "dense-bn", "seed": 0, "input_shape": [8, 6],
            "layers": [{"type": "dense", "units": 4}, {"type": "batch_normalization"}, {"type": "relu"},
                       {"type": "dense", "units": 3}],
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 3}
CONV_BN_ADAM = {"name": "conv-bn-adam", "seed": 0, "input_shape": [8, 6, 5, 3],
                "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
                           {"type": "batch_normalization"}, {"type": "relu"}, {"type": "flatten"},
                           {"type": "dense", "units": 5}],
                "loss": {"type": "categorical_crossentropy", "from_logits": True},
                "optimizer": {"type": "adam", "learning_rate": 0.001, "beta_1": 0.875, "beta_2": 0.9375, "epsilon": 1e-30},
                "steps": 3}
# beta_2 = 0.999 and weight_decay = 0.3 are not float32-exact: TF rounds them in float64 math
ADAM_ROUNDED = {"name": "adam-rounded", "seed": 7, "input_shape": [5, 4],
                "layers": [{"type": "dense", "units": 3, "activation": "tanh"}, {"type": "dense", "units": 2}],
                "loss": {"type": "mean_squared_error"},
                "optimizer": {"type": "adam", "learning_rate": 0.1, "weight_decay": 0.3, "epsilon": 1e-30}, "steps": 3}


def failing(res):
    return [r for r in res.rows if not r["passed"]]


def test_passes_uses_the_floor_only_when_it_is_larger():
    m = compare.metrics(np.array([1e-16, 0.0]), np.array([-1e-16, 0.0]), "float64")
    assert not compare.passes(m, 1e-12)
    assert compare.passes(m, 1e-12, floor=1.0)
    big = compare.metrics(np.array([2.0, 1.0]), np.array([2.0, 1.0 + 1e-9]), "float64")
    assert not compare.passes(big, 1e-12, floor=1.0)  # a floor below the tensor's own scale changes nothing


def test_zero_gradient_before_batchnorm_passes_with_the_floor_and_fails_without(monkeypatch):
    res = run_case(parse_spec(DENSE_BN))
    assert not failing(res)
    monkeypatch.setattr(compare, "gradient_floor", lambda grads: 0.0)
    # rule grad-condition measures the same noise by a rerun (a noise gradient moves by about itself
    # when its inputs move by one rounding): off too, so that the floor is shown necessary on its own
    monkeypatch.setattr(run_module, "_conditioned", lambda res, tensor, m: (False, "off"))
    bias = [r for r in failing(run_case(parse_spec(DENSE_BN))) if r["tensor"] == "0_dense/bias"]
    assert bias and all(r["quantity"] == "grad" for r in bias)


def test_the_floor_does_not_hide_a_wrong_gradient(monkeypatch):
    from scratchnet.layers import dense as dense_layer

    real = dense_layer.dense_backward
    monkeypatch.setattr(dense_layer, "dense_backward",
                        lambda dy, cache, **out: (lambda r: (r[0], r[1] * 1.001, r[2]))(real(dy, cache)))
    bad = {r["tensor"] for r in failing(run_case(parse_spec(DENSE_BN))) if r["quantity"] == "grad"}
    assert "0_dense/kernel" in bad and "3_dense/kernel" in bad


def _no_propagation(monkeypatch):
    from parity import propagation

    real = propagation.step_allowances
    monkeypatch.setattr(propagation, "step_allowances",
                        lambda *a, **k: [{key: np.zeros_like(v) for key, v in s.items()} for s in real(*a, **k)])


def test_noise_steps_under_adam_pass_by_propagation_and_fail_without(monkeypatch):
    """A noise bias under Adam: its allowed gradient difference rtol * G, propagated through Adam,
    allows the +-lr steps it makes; without the propagation the bias's steps fail."""
    res = run_case(parse_spec(CONV_BN_ADAM))
    assert not failing(res)
    bias = [r for r in res.rows if r["tensor"] == "0_conv2d/bias" and r["quantity"] == "step"]
    assert bias and {r["rule"] for r in bias} == {"step-propagation"}
    with monkeypatch.context() as m:
        _no_propagation(m)
        assert any(r["tensor"] == "0_conv2d/bias" and r["quantity"] == "step" for r in failing(run_case(parse_spec(CONV_BN_ADAM))))


def test_propagation_does_not_hide_a_wrong_update(monkeypatch):
    mapping = OPTIMIZERS["adam"]
    monkeypatch.setitem(OPTIMIZERS, "adam", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "learning_rate": p["learning_rate"] * 1.01})))
    bad = failing(run_case(parse_spec(CONV_BN_ADAM)))
    assert any(r["tensor"] == "0_conv2d/kernel" and r["quantity"] == "step" and r["odd_one_out"] == "keras" for r in bad)


# the trust issue's false alarm: torch-convention RMSprop multiplies a float32 gradient difference
# by ~lr / (sqrt(v) + eps) where a gradient is ~eps / sqrt(1 - rho) (failed at 8.2e-5 > 1e-5)
RMSPROP_LSTM = {"name": "rmsprop-torch-lstm-sensitive", "seed": 1, "dtype": "float32", "input_shape": [8, 10, 16],
                "layers": [{"type": "lstm", "units": 32}, {"type": "dense", "units": 3}],
                "loss": {"type": "mean_squared_error"},
                "optimizer": {"type": "rmsprop", "learning_rate": 0.01, "rho": 0.99, "epsilon": 1e-7}, "steps": 2}


def test_rmsprop_sensitivity_is_propagated_not_a_false_alarm(monkeypatch):
    res = run_case(parse_spec(RMSPROP_LSTM))
    assert not failing(res)
    with monkeypatch.context() as m:
        _no_propagation(m)
        bad = failing(run_case(parse_spec(RMSPROP_LSTM)))
    assert any(r["backend_a"] == "scratch[torch]" and r["quantity"] == "step" for r in bad)
    mapping = OPTIMIZERS["rmsprop"]
    monkeypatch.setitem(OPTIMIZERS, "rmsprop", dataclasses.replace(
        mapping, torch=lambda params, p: mapping.torch(params, {**p, "learning_rate": p["learning_rate"] * 1.001})))
    bad = failing(run_case(parse_spec(RMSPROP_LSTM)))
    assert bad and {r["odd_one_out"] for r in bad if r["quantity"] == "step"} == {"torch"}


def test_keras_rounding_is_demonstrated_by_rerunning_all_three_and_still_catches_a_wrong_update(monkeypatch):
    from parity.mappings.optimizers import OptimizerMapping

    res = run_case(parse_spec(ADAM_ROUNDED))
    assert not failing(res)
    dev = [r for r in res.rows if r["status"] == "deviation"]
    assert dev and all(r["rule"] == "tf-rounding" and "keras" in (r["backend_a"], r["backend_b"]) for r in dev)
    assert all("beta_2=0.999" in r["note"] and "weight_decay=0.3" in r["note"] for r in dev)
    with monkeypatch.context() as m:
        m.setattr(OptimizerMapping, "tf_rounded", lambda self, params, dtype: None)
        assert {r["odd_one_out"] for r in failing(run_case(parse_spec(ADAM_ROUNDED)))} == {"keras"}
    mapping = OPTIMIZERS["adam"]
    monkeypatch.setitem(OPTIMIZERS, "adam", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "learning_rate": p["learning_rate"] * 1.001})))
    bad = failing(run_case(parse_spec(ADAM_ROUNDED)))
    assert bad and {r["odd_one_out"] for r in bad} == {"keras"}
    assert all("claimed cause tf-rounding did not explain it" in r["note"] for r in bad)


@pytest.mark.parametrize("optimizer", [
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    {"type": "adagrad", "learning_rate": 0.1},
    {"type": "sgd", "learning_rate": 0.1, "weight_decay": 0.001},
], ids=["sgd-momentum-0.9", "adagrad-initial-0.1", "sgd-weight-decay-0.001"])
def test_tf_rounding_that_is_the_same_everywhere_is_demonstrated_too(optimizer):
    """TF rounds these alike in every Keras run: the reruns of scratchnet and torch with the
    rounded values are what shows the cause."""
    res = run_case(parse_spec({**ADAM_ROUNDED, "name": "tf-rounded", "optimizer": optimizer, "steps": 4}))
    assert not failing(res)
    assert any(r["rule"] == "tf-rounding" for r in res.rows)


# the trust issue's chaos MLP: lr 3, momentum 0.9 (TF-rounded) drives a deep tanh net to a loss of
# ~1e91; the rounding allowance once grew with the chaos to rtol 2.57 and passed 1.8 differences
CHAOS = {"name": "chaos-tanh-mlp", "seed": 0, "dtype": "float64", "input_shape": [8, 16],
         "layers": [{"type": "dense", "units": 16, "activation": "tanh"}] * 6 + [{"type": "dense", "units": 16}],
         "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 3.0, "momentum": 0.9},
         "steps": 40}


def test_a_chaotic_run_diverges_and_no_passing_row_hides_a_large_difference(monkeypatch):
    res = run_case(parse_spec(CHAOS))
    assert res.verdict == "diverged" and res.diverged_at is not None
    assert all(r["max_rel"] < 1e-6 for r in res.rows if r["passed"])
    assert not any(r["step"] >= res.diverged_at for r in res.rows if r["status"] != "diverged")
    mapping = OPTIMIZERS["sgd"]
    monkeypatch.setitem(OPTIMIZERS, "sgd", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "momentum": 0.875})))
    bad = run_case(parse_spec(CHAOS))
    assert bad.verdict == "fail" and any(r["odd_one_out"] == "keras" for r in failing(bad) if r["status"] == "fail")


DIVERGING = [
    {"name": "lr-1e30", "seed": 0, "dtype": "float64", "input_shape": [5, 4],
     "layers": [{"type": "dense", "units": 3, "activation": "softplus"}, {"type": "dense", "units": 2}],
     "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 1e30}, "steps": 3},
    {"name": "elu-alpha-1e38", "seed": 0, "dtype": "float64", "input_shape": [5, 4],
     "layers": [{"type": "dense", "units": 3}, {"type": "elu", "alpha": 1e38}, {"type": "dense", "units": 2}],
     "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 3},
]


@pytest.mark.parametrize("spec", DIVERGING, ids=[s["name"] for s in DIVERGING])
def test_every_framework_overflowing_alike_is_diverged_at_the_right_step_without_warnings(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = run_case(parse_spec(spec))
    assert res.verdict == "diverged" and res.diverged_at == 1
    assert not any(r["odd_one_out"] == "all disagree" for r in res.rows)
    assert all(r["status"] in ("pass", "diverged") for r in res.rows)


def test_one_framework_alone_going_non_finite_fails_and_is_blamed(monkeypatch):
    spec = {**DIVERGING[0], "name": "torch-alone", "optimizer": {"type": "sgd", "learning_rate": 0.1}}
    mapping = OPTIMIZERS["sgd"]
    monkeypatch.setitem(OPTIMIZERS, "sgd", dataclasses.replace(
        mapping, torch=lambda params, p: mapping.torch(params, {**p, "learning_rate": 1e300})))
    res = run_case(parse_spec(spec))
    assert res.verdict == "fail" and res.diverged_at is None
    assert {r["odd_one_out"] for r in failing(res) if r["quantity"] == "step"} == {"torch"}


# the classic Keras IMDB model, scaled down: token ids repeat in the batch
IMDB = {"name": "imdb-embedding-lstm-adam", "seed": 0, "dtype": "float32", "input_shape": [4, 7],
        "input": {"kind": "integers", "high": 11},
        "layers": [{"type": "embedding", "input_dim": 11, "output_dim": 5}, {"type": "lstm", "units": 6},
                   {"type": "dense", "units": 1}],
        "loss": {"type": "binary_crossentropy", "from_logits": True},
        "optimizer": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.875, "beta_2": 0.9375, "epsilon": 1e-30},
        "steps": 2}


def test_the_keras_sparse_duplicate_defect_is_named_demonstrated_and_blamed_on_keras(monkeypatch):
    from parity.mappings import defects

    res = run_case(parse_spec(IMDB))
    rows = [r for r in res.rows if r["status"] == "defect"]
    assert res.verdict == "defect" and rows
    assert all("keras" in (r["backend_a"], r["backend_b"]) for r in rows)
    assert {r["tensor"] for r in rows if r["quantity"] == "step"} == {"0_embedding/embeddings"}  # the rest: trajectories
    assert all("keras-sparse-duplicate-ids" in r["note"] and "agrees strictly" in r["note"] for r in rows)
    with monkeypatch.context() as m:
        m.setattr(defects, "DEFECTS", ())
        bad = failing(run_case(parse_spec(IMDB)))
        assert bad and {r["odd_one_out"] for r in bad} == {"keras"}
    mapping = OPTIMIZERS["adam"]
    monkeypatch.setitem(OPTIMIZERS, "adam", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "learning_rate": p["learning_rate"] * 1.01})))
    bad = failing(run_case(parse_spec(IMDB)))
    assert any(r["tensor"] == "1_lstm/kernel" and r["odd_one_out"] == "keras" for r in bad)


def test_the_defect_repro_script_runs_and_shows_the_bug():
    import subprocess
    import sys

    from parity.mappings import defects

    out = subprocess.run([sys.executable, "-c", defects.repro_script()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "agree: False" in out.stdout


def test_no_defect_is_claimed_without_a_repeated_id():
    from parity.mappings import defects
    from parity.run import prepare

    case = prepare(parse_spec({**IMDB, "name": "imdb-one-id-each", "input_shape": [1, 1]}))
    assert defects._repeated_ids(case) == 0 and not defects.triggered(case)
    assert defects.triggered(prepare(parse_spec(IMDB)))


def test_blame_with_twins_names_keras_under_a_convention(monkeypatch):
    """RMSprop with eps in the Keras root and outside torch's: a wrong Keras update fails its
    twin row scratch-keras while scratch[torch]-torch passes: Keras is the odd one out."""
    spec = {**RMSPROP_LSTM, "name": "rmsprop-blame", "dtype": "float64", "seed": 0, "input_shape": [3, 4, 2],
            "layers": [{"type": "lstm", "units": 3}, {"type": "dense", "units": 2}]}
    mapping = OPTIMIZERS["rmsprop"]
    monkeypatch.setitem(OPTIMIZERS, "rmsprop", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "learning_rate": p["learning_rate"] * 1.001})))
    res = run_case(parse_spec(spec))
    bad = [r for r in failing(res) if r["quantity"] == "step"]
    assert bad and {r["odd_one_out"] for r in bad} == {"keras"}
    conv = [r for r in bad if (r["backend_a"], r["backend_b"]) == ("torch", "keras")]
    assert conv and all("claimed cause convention did not explain it" in r["note"] for r in conv)


def test_the_policy_is_one_table_and_every_rule_is_used():
    names = [r["rule"] for r in compare.rules_table()]
    assert len(names) == len(set(names)) == 17  # float32-rounding: test_float32_rounding.py; the rest: test_fuzz_regressions.py
    assert names[0] == "strict"


def test_noise_excuses_no_wrong_running_statistics(monkeypatch):
    """A Keras BatchNorm with the wrong momentum right after a noise bias: its running mean and
    variance differ far beyond what the bias's +-lr steps explain, and fail."""
    from parity.mappings.base import REGISTRY

    bn = REGISTRY["batch_normalization"]

    def keras_wrong_momentum(ctx):
        import keras
        return keras.layers.BatchNormalization(axis=-1, momentum=0.5, epsilon=ctx.spec.params["epsilon"])

    monkeypatch.setitem(REGISTRY, "batch_normalization", dataclasses.replace(bn, keras=keras_wrong_momentum))
    bad = {r["tensor"] for r in failing(run_case(parse_spec(CONV_BN_ADAM))) if r["quantity"] == "state"}
    assert bad == {"1_batch_normalization/moving_mean", "1_batch_normalization/moving_variance"}


def test_noise_excuses_no_parameter_that_moved_beyond_its_steps(monkeypatch):
    """torch's conv bias read back reversed and tripled: far more than +-lr steps apart."""
    from parity.mappings import conv
    from parity.mappings.base import expect_shape

    real = conv._bias_rule

    def wrong_readout(n):
        rule = real(n)
        return dataclasses.replace(rule, to_canonical=lambda b, _: (3.0 * expect_shape(b, (n,), "bias")[::-1]).copy())

    monkeypatch.setattr(conv, "_bias_rule", wrong_readout)
    bad = failing(run_case(parse_spec(CONV_BN_ADAM)))
    assert any(r["tensor"] == "0_conv2d/bias" and r["quantity"] == "step" for r in bad)


def test_a_tiny_gradient_two_frameworks_agree_on_is_signal_not_noise(monkeypatch):
    """Ten sigmoid layers in float32: the first kernel's gradient is ~1e-7 of the largest, below
    rtol * G, but torch and Keras agree on it: a sign flip in scratchnet must fail."""
    from scratchnet.layers import dense as dense_layer

    spec = parse_spec({"name": "deep-sigmoid", "seed": 3, "dtype": "float32", "input_shape": [8, 4],
                       "layers": [{"type": "dense", "units": 4, "activation": "sigmoid"}] * 10 + [{"type": "dense", "units": 3}],
                       "loss": {"type": "mean_squared_error"},
                       "optimizer": {"type": "adam", "learning_rate": 0.01, "epsilon": 1e-30}, "steps": 2})
    res = run_case(spec)
    assert not failing(res) and not res.noise.tensors
    real = dense_layer.Dense._backward

    def first_kernel_sign_flipped(self, dy, cache):
        dx = real(self, dy, cache)
        if self.name.startswith("0_"):
            self.grads["kernel"] *= -1
        return dx

    monkeypatch.setattr(dense_layer.Dense, "_backward", first_kernel_sign_flipped)
    bad = failing(run_case(spec))
    assert any(r["tensor"] == "0_dense/kernel" and r["quantity"] == "grad" and r["odd_one_out"] == "scratch" for r in bad)


POOLED = {"name": "noise-through-pool", "seed": 1, "dtype": "float64", "input_shape": [6, 6, 6, 2],
          "layers": [{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same"},
                     {"type": "max_pool2d", "pool_size": 2}, {"type": "batch_normalization"}, {"type": "flatten"},
                     {"type": "dense", "units": 2}],
          "loss": {"type": "mean_squared_error"},
          "optimizer": {"type": "adam", "learning_rate": 0.01, "epsilon": 1e-30}, "steps": 4}


def test_a_noise_bias_through_a_pool_passes_and_a_wrong_beta_still_fails(monkeypatch):
    """max(x + b) = max(x) + b: the running mean two layers down follows the noise bias; with every
    step from the reference's weights it agrees, and a wrong Keras beta_1 is still caught."""
    assert not failing(run_case(parse_spec(POOLED)))
    mapping = OPTIMIZERS["adam"]
    monkeypatch.setitem(OPTIMIZERS, "adam", dataclasses.replace(
        mapping, keras=lambda p: mapping.keras({**p, "beta_1": 0.89})))
    assert any(r["tensor"] == "0_conv2d/kernel" and r["quantity"] == "step" for r in failing(run_case(parse_spec(POOLED))))


def test_float64_noise_two_frameworks_sum_alike_is_still_noise():
    """scratch and Keras summed this bias gradient to the same 5.6e-17, torch to -1.4e-17."""
    spec = {"name": "bitwise-noise", "seed": 0, "dtype": "float64", "input_shape": [8, 5],
            "layers": [{"type": "dense", "units": 1}, {"type": "batch_normalization"}, {"type": "tanh"},
                       {"type": "dense", "units": 2}],
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 1}
    res = run_case(parse_spec(spec))
    assert "0_dense/bias" in res.noise.tensors and not failing(res)
