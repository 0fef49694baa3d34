"""Optimizer mappings: the training options (clipping, schedules, weight-decay exclusion) and the
new optimizers in the spec, the refusals (exit 2, one line), the conventions each reports with a
strict scratchnet twin on each side, and the torch side's schedule and clipping against the
formulas written out here."""
import json
import math

import numpy as np
import pytest

from parity.cli import main
from parity.mappings import OPTIMIZERS
from parity.mappings.optimizers import OPTIONS, schedule_value
from parity.spec import SpecError, parse_spec

MLP = {"name": "opt-options", "seed": 5, "input_shape": [3, 4],
       "layers": [{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "dense", "units": 2}],
       "loss": {"type": "mean_squared_error"}, "steps": 2}


def spec_with(optimizer, **extra):
    return {**MLP, "optimizer": optimizer, **extra}


@pytest.mark.parametrize("optimizer, field, text", [
    ({"type": "adam", "learning_rate": {"schedule": "linear_decay"}}, "optimizer.learning_rate.schedule",
     "expected a schedule, one of exponential_decay"),
    ({"type": "adam", "learning_rate": {"schedule": "piecewise_constant_decay", "boundaries": [1, 3],
                                        "values": [0.1, 0.2]}}, "optimizer.learning_rate.values", "expected 3 values"),
    ({"type": "adam", "learning_rate": {"schedule": "piecewise_constant_decay", "boundaries": [3, 1],
                                        "values": [0.1, 0.2, 0.3]}}, "optimizer.learning_rate.boundaries",
     "strictly increasing"),
    ({"type": "adam", "learning_rate": {"schedule": "exponential_decay", "initial_learning_rate": 0.1,
                                        "decay_steps": 2}}, "optimizer.learning_rate.decay_rate", "required"),
    ({"type": "sgd", "clipnorm": 0.0}, "optimizer.clipnorm", "> 0"),
    ({"type": "sgd", "clipvalue": -1.0}, "optimizer.clipvalue", "> 0"),
    ({"type": "sgd", "global_clipnorm": -0.5}, "optimizer.global_clipnorm", "> 0"),
    ({"type": "sgd", "clipnorm": 1.0, "global_clipnorm": 2.0}, "optimizer.global_clipnorm", "Keras refuses two"),
    ({"type": "sgd", "clipvalue": 1.0, "clipnorm": 2.0}, "optimizer.clipvalue", "Keras refuses two"),
    ({"type": "lion", "beta_1": 0.0}, "optimizer.beta_1", "(0, 1]"),
    ({"type": "adamw", "exclude_from_weight_decay": "bias"}, "optimizer.exclude_from_weight_decay", "list"),
])
def test_bad_options_are_spec_errors(optimizer, field, text):
    with pytest.raises(SpecError) as err:
        parse_spec(spec_with(optimizer), "case.json")
    assert err.value.path == field and text in err.value.message, str(err.value)


@pytest.mark.parametrize("optimizer, text", [
    ({"type": "adamw", "exclude_from_weight_decay": ["bias", "kernle"]}, "optimizer.exclude_from_weight_decay[1]"),
    ({"type": "adamw", "exclude_from_weight_decay": ["0_dense"]}, "optimizer.exclude_from_weight_decay[0]"),
    ({"type": "adam", "learning_rate": {"schedule": "cosine"}}, "optimizer.learning_rate.schedule"),
    ({"type": "sgd", "clipnorm": 1.0, "clipvalue": 1.0}, "optimizer.clipvalue"),
    ({"type": "sgd", "clipnorm": 0}, "optimizer.clipnorm"),
])
def test_refusals_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, optimizer, text):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(spec_with(optimizer)))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and text in err, err
    assert not out.exists()


def test_exclusion_matching_a_parameter_name_is_accepted():
    from parity.run import check_exclusions

    check_exclusions(parse_spec(spec_with({"type": "adamw", "exclude_from_weight_decay": ["bias", "^ker"]})))


def test_every_default_is_filled_in():
    spec = parse_spec(spec_with({"type": "nadam", "clipnorm": 1.5, "learning_rate": {
        "schedule": "cosine_decay", "initial_learning_rate": 0.25, "decay_steps": 3}}))
    assert spec.optimizer.to_dict() == {
        "type": "nadam", "learning_rate": {"schedule": "cosine_decay", "initial_learning_rate": 0.25,
                                           "decay_steps": 3, "alpha": 0.0, "warmup_target": None,
                                           "warmup_steps": 0},
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0, "clipnorm": 1.5, "clipvalue": None,
        "global_clipnorm": None, "exclude_from_weight_decay": None}
    assert parse_spec(spec.to_dict()) == spec  # the filled-in spec parses back to the same


# -- the conventions, with both formulas named -----------------------------------------------------------
@pytest.mark.parametrize("optimizer, words", [
    ({"type": "sgd", "learning_rate": 0.125, "clipnorm": 0.5}, "c / (N + 1e-6)"),
    ({"type": "sgd", "learning_rate": 0.125, "global_clipnorm": 0.5}, "all gradients together"),
    ({"type": "adamax", "epsilon": 0.001}, "inside torch's max"),
    ({"type": "adamax", "epsilon": 0.0, "weight_decay": 0.0625}, "coupled"),
    ({"type": "adadelta", "weight_decay": 0.0625}, "coupled"),
    ({"type": "nadam", "weight_decay": 0.0625}, "0.9599999785"),
    ({"type": "sgd", "momentum": 0.5, "learning_rate": {"schedule": "exponential_decay", "initial_learning_rate": 0.1,
                                                         "decay_steps": 2, "decay_rate": 0.5}}, "update units"),
])
def test_conventions_name_both_formulas(optimizer, words):
    spec = parse_spec(spec_with(optimizer))
    why = OPTIMIZERS[spec.optimizer.type].differ(spec.optimizer.params)
    assert why and words in why, why


@pytest.mark.parametrize("optimizer", [
    {"type": "sgd", "clipvalue": 0.5}, {"type": "adadelta"},
    {"type": "lion", "weight_decay": 0.0625}, {"type": "adamax", "epsilon": 0.0},
    {"type": "adam", "epsilon": 1e-30, "learning_rate": {"schedule": "piecewise_constant_decay", "boundaries": [0],
                                                         "values": [0.1, 0.05]}},
    {"type": "adamw", "epsilon": 1e-30, "exclude_from_weight_decay": ["bias"]},
])
def test_no_convention_where_the_rules_agree(optimizer):
    spec = parse_spec(spec_with(optimizer))
    assert OPTIMIZERS[spec.optimizer.type].differ(spec.optimizer.params) is None


def test_lion_reports_two_independent_implementations():
    note = OPTIMIZERS["lion"].note
    assert "two independent implementations" in note and "paper" in note
    assert "paper" in OPTIMIZERS["lion"].atlas.torch


def test_every_option_and_new_optimizer_has_an_atlas_entry():
    from parity.atlas import entry_markdown, entry_text

    for name in ("nadam", "adamax", "adadelta", "lion", *OPTIONS):
        text = entry_text(name)
        assert text.startswith(f"{name}  (optimizer") and "torch:" in text and "keras:" in text
        assert entry_markdown(name).startswith(f"## {name}")


# -- the torch side's own arithmetic against the formulas written out here --------------------------------
def test_torch_side_schedule_values():
    cos = {"schedule": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.5,
           "warmup_target": 1.0, "warmup_steps": 5}
    got = [schedule_value(cos, s) for s in (0, 1, 5, 10, 15, 20)]
    assert np.allclose(got, [0.1, 0.28, 1.0, 0.75, 0.5, 0.5], rtol=0, atol=1e-15)  # Keras's measured values
    exp = {"schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5,
           "staircase": False}
    assert [schedule_value(exp, s) for s in (0, 1, 2)] == [0.1, 0.1 * math.sqrt(0.5), 0.05]
    pw = {"schedule": "piecewise_constant_decay", "boundaries": (1, 3), "values": (0.3, 0.2, 0.1)}
    assert [schedule_value(pw, s) for s in range(6)] == [0.3, 0.3, 0.2, 0.2, 0.1, 0.1]


@pytest.mark.parametrize("mode", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_torch_step_clips_as_torch_does(mode):
    import torch

    spec = parse_spec(spec_with({"type": "sgd", "learning_rate": 0.5, mode: 0.75}))
    a = torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    ga = np.arange(6.0).reshape(3, 2) / 4 - 0.5
    gb = np.array([0.5, -1.0, 2.0, 0.25])
    a.grad, b.grad = torch.tensor(ga), torch.tensor(gb)
    step = OPTIMIZERS["sgd"].torch_step([("0_dense/kernel", a), ("0_dense/bias", b)], spec.optimizer.params)
    step.step()
    if mode == "clipvalue":
        want = [np.clip(ga, -0.75, 0.75), np.clip(gb, -0.75, 0.75)]
    elif mode == "clipnorm":
        want = [g * min(1.0, 0.75 / (np.linalg.norm(g) + 1e-6)) for g in (ga, gb)]
    else:
        n = math.sqrt(np.sum(ga ** 2) + np.sum(gb ** 2))
        want = [g * min(1.0, 0.75 / (n + 1e-6)) for g in (ga, gb)]
    for p, w in zip((a, b), want):
        np.testing.assert_allclose(-p.detach().numpy() / 0.5, w, rtol=1e-14, atol=0)


def test_torch_groups_exclude_by_re_search_on_the_name():
    import torch

    spec = parse_spec(spec_with({"type": "adamw", "weight_decay": 0.25, "learning_rate": 0.5,
                                 "exclude_from_weight_decay": ["kernel"]}))
    named = [(k, torch.nn.Parameter(torch.ones(2, dtype=torch.float64)))
             for k in ("0_lstm/kernel", "0_lstm/recurrent_kernel", "0_lstm/bias")]
    for _, p in named:
        p.grad = torch.zeros(2, dtype=torch.float64)
    OPTIMIZERS["adamw"].torch_step(named, spec.optimizer.params).step()
    assert [float(p.detach()[0]) for _, p in named] == [1.0, 1.0, 1.0 - 0.5 * 0.25]


@pytest.mark.parametrize("kind", ["nadam", "lion"])
def test_float32_keras_convention_step_matches_keras_own_step(kind):
    """In float32 Keras's Nadam and Lion cast beta_1, beta_2 to float32 and compute every 1 - beta
    in float32 (1 - float32(0.999) = 9.9998713e-4, 1.3e-5 off 0.001). scratchnet's Keras
    convention must do the same: with 0.001 in v but 1 - float32(0.999)^t in v_hat, Nadam's first
    update was 6.4e-6 relative off Keras's (a bias crossing zero failed the step row, found by an
    outsider spec: bidirectional gru + simple_rnn, nadam lr 0.01, float32)."""
    import keras

    from parity.backends.keras_backend import keras_state
    from scratchnet.optimizers import Lion, Nadam

    rng = np.random.default_rng(7)
    p0 = rng.standard_normal((3, 4)).astype(np.float32) * np.float32(0.01)  # small weights, a larger step
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3)]
    fields = {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999 if kind == "nadam" else 0.99}
    with keras_state("float32"):
        var = keras.Variable(p0.copy(), dtype="float32")
        opt = (keras.optimizers.Nadam if kind == "nadam" else keras.optimizers.Lion)(**fields)
        want = []
        for g in grads:
            opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
            want.append(np.asarray(var.numpy()))
        momentum = np.asarray(opt._momentums[0].numpy())  # Keras's m after the last step
    ours = (Nadam if kind == "nadam" else Lion)(**fields)
    p, got = p0.copy(), []
    for g in grads:
        ours.apply({"w": p}, {"w": g})  # in place
        got.append(p.copy())
    for t, (a, b) in enumerate(zip(got, want), start=1):
        update = np.max(np.abs(b - (want[t - 2] if t > 1 else p0)))
        assert a.dtype == np.float32
        assert np.max(np.abs(a - b)) <= 8 * np.finfo(np.float32).eps * max(update, np.max(np.abs(b))), (t, a - b)
    m = ours._state["w"]["m"]  # the state: Lion's sign hides the step's rounding, m keeps it
    np.testing.assert_allclose(m, momentum, rtol=0, atol=2 * np.finfo(np.float32).eps * np.max(np.abs(momentum)))
