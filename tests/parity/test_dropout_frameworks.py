"""The harness gives all three frameworks one injected dropout mask, through its own masked
modules. This checks that the frameworks' real dropout layers compute the same formula on the
cells they keep, so the substitution hides nothing but the random draw."""
import numpy as np
import pytest


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_real_dropout_layers_scale_kept_cells_by_the_same_reciprocal(dtype):
    import keras
    import torch

    rate = 0.375
    x = np.random.default_rng(0).standard_normal((64, 33)).astype(dtype)
    expected = x * np.asarray(1 / (1 - rate), dtype)  # the harness's formula, times the mask
    with torch.random.fork_rng(devices=[]):  # torch's own draw, its global RNG left as it was
        torch.manual_seed(1)
        y_torch = torch.nn.Dropout(rate).train()(torch.from_numpy(x)).numpy()
    kept = y_torch != 0
    assert 0.5 < kept.mean() < 0.75
    np.testing.assert_array_equal(y_torch[kept], expected[kept])
    y_keras = np.asarray(keras.layers.Dropout(rate, seed=3, dtype=dtype)(x, training=True))
    kept = y_keras != 0
    assert 0.5 < kept.mean() < 0.75
    np.testing.assert_array_equal(y_keras[kept], expected[kept])
