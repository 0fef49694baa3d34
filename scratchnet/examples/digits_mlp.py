"""Handwritten digits with an MLP 64-32-10: ReLU, softmax cross-entropy (from logits), Adam.

    python -m scratchnet.examples.digits_mlp

prints the test accuracy and the training time.
"""
from __future__ import annotations

import numpy as np

import scratchnet as sn
from scratchnet.examples.data import example_main, train_and_test


def build(seed: int = 0, dtype: str = "float64") -> sn.Sequential:
    model = sn.Sequential([sn.Dense(32, activation="relu", name="hidden"), sn.Dense(10, name="logits")])
    model.build((64,), dtype, np.random.default_rng(seed))
    return model


def run(epochs: int = 30, batch_size: int = 32, seed: int = 0, dtype: str = "float64", verbose: bool = True):
    return train_and_test(build(seed, dtype), epochs, batch_size, seed, dtype, images=False, verbose=verbose)


def main(argv=None) -> None:
    example_main(argv, __doc__.splitlines()[0], run, "digits MLP 64-32-10", epochs=30, dtype="float64")


if __name__ == "__main__":
    main()
