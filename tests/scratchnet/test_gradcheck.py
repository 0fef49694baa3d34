"""Finite differences that scale (scratchnet.gradcheck): element differences at chosen indices,
directional differences, sampling, kinks, and the directional tolerance, on functions whose
gradient is known in closed form."""
import numpy as np
import pytest

from scratchnet import gradcheck as gc


def smooth(shape, seed=0):
    """f(x) = sum(w * sin(x)) + (sum(x * c))^2 / 2, gradient w cos(x) + (sum(x c)) c: every element
    distinct, curvature in every direction."""
    rng = np.random.default_rng(seed)
    w, c = rng.standard_normal(shape), rng.standard_normal(shape) / np.sqrt(np.prod(shape))
    x = rng.standard_normal(shape)
    f = lambda: float(np.sum(w * np.sin(x)) + np.sum(x * c) ** 2 / 2)
    grad = lambda: w * np.cos(x) + np.sum(x * c) * c
    return x, f, grad


def test_element_differences_at_indices_match_the_closed_form():
    x, f, grad = smooth((5, 7))
    idx = np.array([0, 3, 17, 34])
    values, kinks = gc.numerical_gradient_at(f, x, idx)
    assert not kinks.any()
    assert gc.rel_error(grad().reshape(-1)[idx], values) < 1e-8
    full, _ = gc.numerical_gradient_with_kinks(f, x)
    assert gc.rel_error(grad(), full) < 1e-8


def test_directional_difference_matches_g_dot_d_within_the_derived_tolerance():
    x, f, grad = smooth((40, 30))
    before = x.copy()
    rng = np.random.default_rng(1)
    for _ in range(4):
        v = gc.random_direction(rng, x.shape)
        assert np.linalg.norm(v) == pytest.approx(1.0)
        n, d, jump = gc.directional_difference(f, x, v)
        assert np.array_equal(x, before)  # restored
        # the step taken: x +- eps v each round by half an ulp, u |x| (u = 2^-53), so d = v up to u |x| / eps
        assert np.all(np.abs(d - v) <= 2.0 ** -53 * (np.abs(x) + 1e-6) / 1e-6)
        assert not np.array_equal(d, v)  # ... and that rounding is real (why d, not v, is compared)
        g = grad()
        scale = np.linalg.norm(g) * np.linalg.norm(d)
        assert abs(n - np.sum(g * d)) <= gc.directional_tolerance(f(), scale) * scale
        assert jump < 1e-3 * abs(n) or jump < 1e-4  # smooth: the one-sided slopes agree to ~eps |H|


def test_directional_difference_catches_one_wrong_element_it_was_never_told_about():
    x, f, grad = smooth((40, 30), seed=2)
    g = grad()
    wrong = g.copy()
    i = np.argsort(np.abs(g).reshape(-1))[g.size // 2]  # a median-sized element, not the largest
    wrong.reshape(-1)[i] *= 1.5
    n, d, _ = gc.directional_difference(f, x, gc.random_direction(np.random.default_rng(3), x.shape))
    scale = np.linalg.norm(g) * np.linalg.norm(d)
    tol = gc.directional_tolerance(f(), scale) * scale
    assert abs(n - np.sum(g * d)) <= tol
    assert abs(n - np.sum(wrong * d)) > 100 * tol


def test_small_tensors_are_checked_in_full_large_ones_sampled_and_by_directions():
    small, fs, _ = smooth((16, 16))  # 256 = the cap
    t = gc.tensor_differences(fs, small, np.random.default_rng(0))
    assert t.exhaustive and t.indices.size == 256 and t.steps.shape == (0, 16, 16)
    large, fl, grad = smooth((17, 23))
    t = gc.tensor_differences(fl, large, np.random.default_rng(0))
    assert not t.exhaustive and t.indices.size == gc.SAMPLED_ELEMENTS
    assert len(set(t.indices.tolist())) == t.indices.size  # without replacement
    assert t.steps.shape == (gc.DIRECTIONS, 17, 23) and not t.crossed.any()
    assert gc.rel_error(grad().reshape(-1)[t.indices], t.values) < 1e-8
    dense = t.dense()
    assert np.isnan(dense).sum() == 17 * 23 - gc.SAMPLED_ELEMENTS
    again = gc.tensor_differences(fl, large, np.random.default_rng(0))
    assert np.array_equal(again.indices, t.indices) and np.array_equal(again.steps, t.steps)  # the Generator alone


def test_kinks_are_flagged_on_elements_and_directions_that_cross_them():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((19, 21))
    x[3, 5] = 0.0  # |x| has a kink there: every direction through it crosses it
    w = rng.standard_normal(x.shape)
    f = lambda: float(np.sum(w * np.abs(x)))
    t = gc.tensor_differences(f, x, rng)
    assert t.crossed.all() and t.crossed.size == gc.DIRECTIONS * gc.KINK_TRIES  # retried, then reported
    on = np.flatnonzero(t.indices == 3 * 21 + 5)
    assert (t.kinks[on]).all() and t.kinks.sum() == on.size
    full, kinks = gc.numerical_gradient_with_kinks(f, x)
    assert kinks[3, 5] and kinks.sum() == 1


def test_a_direction_that_crosses_a_kink_is_replaced_by_a_fresh_draw(monkeypatch):
    x = np.zeros((20, 20))
    # (n, d, jump): the first direction's one-sided slopes differ, the others' agree
    draws = iter([(1.0, np.ones(x.shape), 1.0)] + [(1.0, np.ones(x.shape), 0.0)] * 4)
    monkeypatch.setattr(gc, "directional_difference", lambda *a, **k: next(draws))
    t = gc.tensor_differences(lambda: 0.0, x, np.random.default_rng(0))
    assert t.crossed.tolist() == [True, False, False, False, False]


def test_directional_tolerance_grows_with_the_rounding_of_the_loss():
    assert gc.directional_tolerance(1.0, 1.0, rtol=1e-7) == pytest.approx(1e-7 + 4 * 2.0 ** -53 / 1e-6)
    assert gc.directional_tolerance(1e6, 1.0, rtol=1e-7) > 1e-4
    assert gc.directional_tolerance(1.0, 0.0) == np.inf


def test_float32_and_strided_arrays_are_refused():
    with pytest.raises(ValueError, match="float64"):
        gc.tensor_differences(lambda: 0.0, np.zeros(3, np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="contiguous"):
        gc.numerical_gradient_at(lambda: 0.0, np.zeros((4, 4))[:, ::2], [0])


@pytest.mark.parametrize("sigma", [1e-13, 1e-11])
def test_evaluation_noise_measures_a_planted_noise(sigma):
    """A smooth function of 7 variables plus independent noise of standard deviation sigma per
    evaluation (drawn from its own generator): the ECnoise estimate is within a factor 3 of sigma;
    without the noise it is at most a few u |f| (f's own rounding)."""
    from scratchnet.gradcheck import evaluation_noise

    x = np.linspace(-1.0, 1.3, 7)
    jitter = np.random.default_rng(11)
    noisy = lambda: float(np.sum(np.sin(x) * x) + 2.0 + sigma * jitter.standard_normal())  # noqa: E731
    estimate = evaluation_noise(noisy, x, np.random.default_rng(5))
    assert sigma / 3 <= estimate <= 3 * sigma
    smooth = lambda: float(np.sum(np.sin(x) * x) + 2.0)  # noqa: E731
    f = smooth()
    assert evaluation_noise(smooth, x, np.random.default_rng(5)) <= 8 * 2.0 ** -53 * abs(f)
    np.testing.assert_array_equal(x, np.linspace(-1.0, 1.3, 7))  # restored
