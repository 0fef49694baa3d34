"""Embedding: a lookup table from integer token ids to vectors."""
from __future__ import annotations

import numpy as np

from scratchnet import initializers
from scratchnet.layers.base import Layer, positive_int

__all__ = ["Embedding"]


def uniform(shape, rng, dtype="float64", limit=0.05):
    """U(-0.05, 0.05): Keras's default ``embeddings_initializer`` ("uniform")."""
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def embedding_forward(ids, embeddings):
    """y[..., :] = E[ids[...], :].  ids (N, ...) ints, E (V, D) -> y (N, ..., D)."""
    return embeddings[ids], ids  # (N, ..., D)


def embedding_backward(dy, ids, vocab_size):
    """dE[v] = sum over positions p with ids[p] == v of dy[p]: a scatter-add, so a repeated id
    accumulates (np.add.at is unbuffered: dE[ids] += dy would keep only one of the repeats)."""
    dE = np.zeros((vocab_size, dy.shape[-1]), dtype=dy.dtype)  # (V, D)
    np.add.at(dE, ids, dy)
    return dE


class Embedding(Layer):
    """y = E[ids]: row lookup.

    Shapes: ids (N, ...) integer in [0, input_dim), typically (N, T) -> y (N, ..., output_dim);
    embeddings E (input_dim, output_dim) = (V, D).

    Forward:  y[n, t, :] = E[ids[n, t], :]
    Backward: dE[v, :] = sum_{(n, t): ids[n, t] = v} dy[n, t, :]  (repeated ids accumulate;
              rows of unseen ids get 0). Token ids have no gradient: ``backward`` returns a ZERO
              array of the ids' shape in the layer dtype (so a Sequential's backward can run
              through, and nothing mistakes it for a real input gradient).

    Ids that are not integers, or fall outside [0, input_dim), raise a ValueError (numpy would
    silently wrap negative ids).

    NOTE: torch ``nn.Embedding(num_embeddings, embedding_dim)`` stores ``weight`` (V, D) exactly
    like Keras's ``embeddings`` (V, D): no transpose. Defaults differ: torch initialises N(0, 1),
    Keras U(-0.05, 0.05) (here ``embeddings_initializer="uniform"``). torch's ``padding_idx`` row
    gets a zero gradient; Keras's ``mask_zero`` only emits a mask and still trains row 0; neither
    applies here. Keras returns the gradient as ``IndexedSlices`` (the rows and their ids, repeats
    not summed); densify it (``tf.convert_to_tensor``) before comparing with this (V, D) array.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", name=None, rng=None):
        super().__init__(name, rng)
        self.input_dim = positive_int(input_dim, f"{self.name}: input_dim")
        self.output_dim = positive_int(output_dim, f"{self.name}: output_dim")
        self.embeddings_initializer = (uniform if embeddings_initializer == "uniform"
                                       else initializers.get(embeddings_initializer))

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def _build(self, input_shape, rng):
        shape = (self.input_dim, self.output_dim)
        self.add_param("embeddings", self.embeddings_initializer(shape, rng, self.dtype))

    integer_input = True

    def _check_input(self, x):
        if x.dtype.kind not in "iu":
            raise ValueError(f"{self.name}: expected integer token ids, got dtype {x.dtype}")
        super()._check_input(x)
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            bad = x[(x < 0) | (x >= self.input_dim)]
            raise ValueError(f"{self.name}: token ids: expected ids in [0, input_dim={self.input_dim}), "
                             f"got {bad.size} outside, e.g. {int(bad.flat[0])} (min {int(x.min())}, "
                             f"max {int(x.max())})")

    def _forward(self, x, training):
        return embedding_forward(x, self.params["embeddings"])

    def _backward(self, dy, ids):
        self.grads["embeddings"][...] = embedding_backward(dy, ids, self.input_dim)
        return np.zeros(ids.shape, dtype=self.dtype)  # ids have no gradient
