"""Handwritten digits with an MLP 64-32-10: ReLU, softmax cross-entropy (from logits), Adam.

    python -m scratchnet.examples.digits_mlp

prints the test accuracy and the training time.
"""
from __future__ import annotations

import argparse

import numpy as np

import scratchnet as sn
from scratchnet.examples.data import accuracy, load_digits_split


def build(seed: int = 0, dtype: str = "float64") -> sn.Sequential:
    model = sn.Sequential([sn.Dense(32, activation="relu", name="hidden"), sn.Dense(10, name="logits")])
    model.build((64,), dtype, np.random.default_rng(seed))
    return model


def run(epochs: int = 30, batch_size: int = 32, seed: int = 0, dtype: str = "float64", verbose: bool = True):
    x_train, y_train, x_test, y_test = load_digits_split(dtype, seed=seed)
    model = build(seed, dtype)
    model.compile("sparse_categorical_crossentropy", sn.optimizers.get("adam", learning_rate=0.01), from_logits=True)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        rng=np.random.default_rng(seed), verbose=verbose)
    return accuracy(model.predict(x_test), y_test), history["time"][0], history


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    args = parser.parse_args(argv)
    acc, seconds, _ = run(args.epochs, dtype=args.dtype)
    print(f"digits MLP 64-32-10 ({args.dtype}): test accuracy {acc:.4f}, training time {seconds:.2f} s")


if __name__ == "__main__":
    main()
