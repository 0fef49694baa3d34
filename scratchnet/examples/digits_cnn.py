"""Handwritten digits with a small CNN: conv 3x3x8 same, ReLU, max-pool 2, flatten, dense 10;
softmax cross-entropy (from logits), Adam.

    python -m scratchnet.examples.digits_cnn

prints the test accuracy and the training time.
"""
from __future__ import annotations

import argparse

import numpy as np

import scratchnet as sn
from scratchnet.examples.data import accuracy, load_digits_split


def build(seed: int = 0, dtype: str = "float32") -> sn.Sequential:
    model = sn.Sequential([
        sn.Conv2D(8, 3, padding="same", activation="relu", name="conv"),  # (N, 8, 8, 8)
        sn.MaxPool2D(2, name="pool"),  # (N, 4, 4, 8)
        sn.Flatten(name="flatten"),  # (N, 128)
        sn.Dense(10, name="logits"),
    ])
    model.build((8, 8, 1), dtype, np.random.default_rng(seed))
    return model


def run(epochs: int = 15, batch_size: int = 32, seed: int = 0, dtype: str = "float32", verbose: bool = True):
    x_train, y_train, x_test, y_test = load_digits_split(dtype, seed=seed, images=True)
    model = build(seed, dtype)
    model.compile("sparse_categorical_crossentropy", sn.optimizers.get("adam", learning_rate=0.01), from_logits=True)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        rng=np.random.default_rng(seed), verbose=verbose)
    return accuracy(model.predict(x_test), y_test), history["time"][0], history


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    acc, seconds, _ = run(args.epochs, dtype=args.dtype)
    print(f"digits CNN (conv3x3x8-pool-dense, {args.dtype}): test accuracy {acc:.4f}, training time {seconds:.2f} s")


if __name__ == "__main__":
    main()
