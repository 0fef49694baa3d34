"""Sums over several axes in float32 stay as exact as torch's (float64 accumulation)."""
import numpy as np

from scratchnet.layers._reduce import reduce_mean, reduce_sum


def test_float32_sums_over_non_contiguous_axes_are_accurate():
    """numpy's own sum over N, H, W of a channels-last array adds one term after another: at
    32 x 16 x 16 terms its float32 error is ~1e-6, the float64-accumulated sum's ~1e-8."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((32, 16, 16, 3)) + 3.0).astype(np.float32)
    exact = x.astype(np.float64).sum(axis=(0, 1, 2))
    ours = reduce_sum(x, (0, 1, 2), keepdims=False)
    assert ours.dtype == np.float32 and ours.shape == (3,)
    assert np.max(np.abs(ours - exact) / np.abs(exact)) < 1e-7
    plain = x.sum(axis=(0, 1, 2))
    assert np.max(np.abs(plain - exact) / np.abs(exact)) > 1e-7  # what the float64 accumulator avoids
    mean = reduce_mean(x, (1, 2))
    assert mean.shape == (32, 1, 1, 3) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(1, 2), keepdims=True), rtol=1e-7)
