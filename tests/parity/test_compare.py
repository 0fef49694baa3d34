"""The tolerance policy itself: unsigned, magnitude-scaled, and finite differences that cannot
excuse a wrong gradient when the true one is about zero."""
import math
import random

import numpy as np

from parity import compare


def test_negative_error_cannot_pass_by_sign():
    m = compare.metrics(np.array([1.0, 2.0]), np.array([1.0, 3.0]), "float64")
    assert m.max_abs == 1.0 and not compare.passes(m, 1e-12)


def test_nan_never_passes():
    m = compare.metrics(np.array([1.0, np.nan]), np.array([1.0, 2.0]), "float64")
    assert not compare.passes(m, 1.0)


def test_trajectory_tolerance_grows_with_the_square_root_of_the_step():
    assert compare.tolerance("float32", "step", 1) == 1e-5
    assert compare.tolerance("float32", "step", 100) == 1e-5  # every step starts from the reference weights
    assert math.isclose(compare.tolerance("float32", "trajectory", 100), 1e-4)
    assert compare.tolerance("float32", "grad", 100) == 1e-5


def test_fd_rounding_bound_does_not_excuse_a_large_analytic_gradient():
    numeric = np.array([1e-10, -2e-10, 5e-11])  # a true gradient of ~0, seen through rounding
    analytic = np.array([5.0, -3.0, 1.0])
    rtol = compare.fd_tolerance(1.0, analytic, numeric)
    assert not compare.passes(compare.metrics(analytic, numeric, "float64"), rtol)
    noise = np.array([3e-11, -1e-10, 0.0])  # the analytic side also ~0: rounding noise passes
    rtol = compare.fd_tolerance(1.0, noise, numeric)
    assert compare.passes(compare.metrics(noise, numeric, "float64"), rtol)


def test_odd_one_out():
    assert compare.odd_one_out({("a", "b"): False, ("a", "c"): False, ("b", "c"): True}) == "a"
    assert compare.odd_one_out({("a", "b"): True, ("a", "c"): True, ("b", "c"): True}) == ""
    assert compare.odd_one_out({("a", "b"): False, ("a", "c"): True, ("b", "c"): True}) == "a|b"
    assert compare.odd_one_out({("a", "b"): False, ("a", "c"): False, ("b", "c"): False}) == "all disagree"


def test_a_run_leaves_global_random_state_alone():
    import torch

    from parity.run import run_case
    from parity.spec import parse_spec

    spec = parse_spec({"name": "rng", "input_shape": [3, 4], "layers": [{"type": "dense", "units": 2}],
                       "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}, "steps": 1})
    torch_before, py_before = torch.random.get_rng_state(), random.getstate()
    run_case(spec)
    assert torch.equal(torch.random.get_rng_state(), torch_before)
    assert random.getstate() == py_before
