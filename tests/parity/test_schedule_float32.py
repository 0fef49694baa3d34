"""scratchnet's float32 evaluation of the learning-rate schedules (``Rounded``, the tf-rounding
rerun's schedule) against Keras's own schedule objects, which compute in float32 even for a float64
model. Exponential decay and piecewise constants agree bit for bit; cosine decay within one
float32 ulp (TensorFlow's float32 cos is Eigen's polynomial, not numpy's)."""
import numpy as np
import pytest

from scratchnet.optimizers.schedules import CosineDecay, ExponentialDecay, PiecewiseConstantDecay, Rounded

RNG = np.random.default_rng(7)
DRAWS = [(float(RNG.uniform(1e-4, 1)), int(RNG.integers(1, 20)), float(RNG.uniform(0.1, 0.99)), bool(RNG.integers(0, 2)))
         for _ in range(40)]


@pytest.mark.parametrize("lr, decay_steps, rate, staircase", DRAWS[:20])
def test_exponential_decay_in_float32_is_keras_bit_for_bit(lr, decay_steps, rate, staircase):
    import keras

    k = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps, rate, staircase=staircase)
    s = ExponentialDecay(lr, decay_steps, rate, staircase)
    assert [Rounded(s)(t) for t in range(25)] == [float(k(t)) for t in range(25)]


def test_rounding_the_float64_value_is_not_tf_computation():
    """The planted alternative: the float64 value rounded to float32 misses Keras on most steps."""
    import keras

    k = keras.optimizers.schedules.ExponentialDecay(0.0020351540763272275, 3, 0.8419697490350427)
    s = ExponentialDecay(0.0020351540763272275, 3, 0.8419697490350427)
    assert sum(float(np.float32(s(t))) != float(k(t)) for t in range(25)) >= 10
    assert [Rounded(s)(t) for t in range(25)] == [float(k(t)) for t in range(25)]


@pytest.mark.parametrize("lr, decay_steps, alpha, warm", [(d[0], d[1], d[2], i % 2) for i, d in enumerate(DRAWS[20:])])
def test_cosine_decay_in_float32_is_keras_within_one_ulp(lr, decay_steps, alpha, warm):
    import keras

    target, steps = (lr * 1.5, 3) if warm else (None, 0)
    k = keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha=alpha, warmup_target=target, warmup_steps=steps)
    s = Rounded(CosineDecay(lr, decay_steps, alpha, target, steps))
    ours = np.array([s(t) for t in range(25)], np.float32)
    theirs = np.array([float(k(t)) for t in range(25)], np.float32)
    assert np.all(np.abs(ours - theirs) <= np.spacing(np.maximum(np.abs(ours), np.abs(theirs))))


def test_piecewise_constant_values_are_rounded_like_keras():
    import keras

    k = keras.optimizers.schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.03, 0.007])
    s = Rounded(PiecewiseConstantDecay([2, 5], [0.1, 0.03, 0.007]))
    assert [s(t) for t in range(8)] == [float(k(t)) for t in range(8)]


def test_a_float64_case_with_an_exponential_schedule_is_a_demonstrated_deviation():
    """Found by ``parity fuzz`` (seed 1, case 93): Adamax with an exponential schedule in float64.
    Keras's schedule runs in float32; the tf-rounding rerun (every backend on Keras's float32
    learning rates) agrees strictly, so the rows are a deviation, not a failure."""
    from pathlib import Path

    import parity

    r = parity.check(Path(__file__).parent / "data" / "fuzz-schedule-float32.json")
    assert r.passed and r.verdict == "deviation"
    assert set(r.rows[r.rows.status == "deviation"].rule) == {"tf-rounding"}
