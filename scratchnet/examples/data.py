"""scikit-learn's bundled 8x8 handwritten digits (1797 images, shipped inside the package)."""
from __future__ import annotations

import numpy as np


def load_digits_split(dtype="float64", test_fraction=0.25, seed=0, images=False):
    """Pixels scaled to [0, 1]; a stratified-free random split drawn from ``default_rng(seed)``.

    Returns ``(x_train, y_train, x_test, y_test)`` with integer labels; ``images=True`` gives
    channels-last (N, 8, 8, 1) arrays, else (N, 64).
    """
    from sklearn.datasets import load_digits  # bundled data: no download

    digits = load_digits()
    x = (digits.data / 16.0).astype(dtype)  # (1797, 64)
    y = digits.target.astype(np.int64)
    if images:
        x = x.reshape(-1, 8, 8, 1)  # (1797, 8, 8, 1)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def accuracy(logits, labels) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))
