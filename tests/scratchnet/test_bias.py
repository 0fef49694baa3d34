"""``layers._bias.add_bias`` (the wide-row fast path) against its plain reference: bit-identical
in float64 and float32 for distinct sizes on every axis, leftover rows, short and long bias axes,
and the small and non-contiguous arrays that take the plain path; a planted wrong tiling fails."""
import numpy as np
import pytest

from scratchnet.layers import _bias


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(3, 37, 41, 16), (2, 5, 7, 3), (701, 10), (5, 1025, 3), (9, 600), (4, 3, 2048)])
def test_add_bias_is_the_reference_bit_for_bit(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    want = _bias.add_bias_reference(y.copy(), b)
    got = y.copy()
    assert _bias.add_bias(got, b) is got
    np.testing.assert_array_equal(got, want)


def test_a_non_contiguous_output_takes_the_plain_path():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((64, 90, 16)).transpose(1, 0, 2)  # (90, 64, 16), not C-contiguous
    b = rng.standard_normal(16)
    want = y + b
    _bias.add_bias(y, b)
    np.testing.assert_array_equal(y, want)


def test_a_planted_wrong_tiling_is_caught(monkeypatch):
    """A tile that repeats the bias reversed in every other copy: the comparison must fail."""
    def bad_tile(b, reps):
        return np.concatenate([b if i % 2 == 0 else b[::-1] for i in range(reps)])

    monkeypatch.setattr(_bias.np, "tile", bad_tile)
    rng = np.random.default_rng(1)
    y, b = rng.standard_normal((3, 37, 41, 16)), rng.standard_normal(16)
    want = _bias.add_bias_reference(y.copy(), b)
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(_bias.add_bias(y.copy(), b), want)
