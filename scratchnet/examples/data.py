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


def train_and_test(model, epochs: int, batch_size: int = 32, seed: int = 0, dtype: str = "float64",
                   images: bool = False, verbose: bool = True):
    """Train ``model`` on the digits with softmax cross-entropy from logits and Adam (lr 0.01);
    returns (test accuracy, training seconds, history)."""
    import scratchnet as sn

    x_train, y_train, x_test, y_test = load_digits_split(dtype, seed=seed, images=images)
    model.compile("sparse_categorical_crossentropy", sn.optimizers.get("adam", learning_rate=0.01), from_logits=True)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        rng=np.random.default_rng(seed), verbose=verbose)
    return accuracy(model.predict(x_test), y_test), history["time"][0], history


def example_main(argv, description: str, run, label: str, epochs: int, dtype: str) -> None:
    """The examples' command line: --epochs, --dtype; prints test accuracy and training time."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--dtype", choices=["float32", "float64"], default=dtype)
    args = parser.parse_args(argv)
    acc, seconds, _ = run(args.epochs, dtype=args.dtype)
    print(f"{label} ({args.dtype}): test accuracy {acc:.4f}, training time {seconds:.2f} s")
