"""Handwritten digits with a small CNN: conv 3x3x8 same, ReLU, max-pool 2, flatten, dense 10;
softmax cross-entropy (from logits), Adam.

    python -m scratchnet.examples.digits_cnn

prints the test accuracy and the training time.
"""
from __future__ import annotations

import numpy as np

import scratchnet as sn
from scratchnet.examples.data import example_main, train_and_test


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
    return train_and_test(build(seed, dtype), epochs, batch_size, seed, dtype, images=True, verbose=verbose)


def main(argv=None) -> None:
    example_main(argv, __doc__.splitlines()[0], run, "digits CNN (conv3x3x8-pool-dense)", epochs=15, dtype="float32")


if __name__ == "__main__":
    main()
