"""The Keras 3 defect on repeated embedding ids, measured for the newer optimizers and the clipping
modes (the numbers of ``parity.mappings.defects.AFFECTED_OPTIMIZERS`` and ``AFFECTED_OPTIONS``): one id used twice, lr 0.1,
the row's move with the IndexedSlices gradient against the same gradient densified
(``tf.convert_to_tensor``). A test that fails when Keras changes, so the table is re-measured."""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SAME = np.array([[1.0, 2.0, -1.0], [1.0, 2.0, -1.0]])  # the id's two occurrences
MIXED = np.array([[1.0, 2.0, -1.0], [-3.0, 0.5, 2.0]])


def row_moves(make, slices):
    import keras
    import tensorflow as tf

    out = {}
    for dense in (False, True):
        emb = keras.layers.Embedding(4, 3, embeddings_initializer="zeros", dtype="float64")
        emb.build((None, 2))
        with tf.GradientTape() as tape:
            y = emb(tf.constant([[2, 2]]))  # id 2 twice, (1, 2, 3)
            loss = tf.reduce_sum(y * tf.constant(slices[None]))
        g = tape.gradient(loss, emb.trainable_variables)[0]
        assert isinstance(g, tf.IndexedSlices)
        make().apply_gradients([(tf.convert_to_tensor(g) if dense else g, emb.embeddings)])
        out[dense] = emb.embeddings.numpy()[2]
    return out[False], out[True]


@pytest.mark.parametrize("name, kw, slices, ratio", [
    ("Nadam", {}, SAME, [1.414, 1.414, 1.414]), ("Nadam", {}, MIXED, [0.632, 1.213, 0.447]),
    ("Adamax", {}, SAME, [1.0, 1.0, 1.0]), ("Adamax", {}, MIXED, [0.5, 1.0, 0.333]),
    ("Adadelta", {}, SAME, [1.414, 1.414, 1.414]), ("Adadelta", {}, MIXED, [0.632, 1.213, 0.447]),
    ("Lion", {}, SAME, [1.0, 1.0, 1.0]), ("Lion", {}, MIXED, [1.0, 1.0, 1.0]),
    ("SGD", dict(clipnorm=0.5), SAME, [1.414, 1.414, 1.414]), ("SGD", dict(clipnorm=0.5), MIXED, [0.764] * 3),
    ("SGD", dict(global_clipnorm=0.5), SAME, [1.414, 1.414, 1.414]),
    ("SGD", dict(clipvalue=0.5), SAME, [2.0, 2.0, 2.0]),
    ("SGD", {}, MIXED, [1.0, 1.0, 1.0]),  # linear in g: the duplicates' sum is applied either way
])
def test_sparse_duplicate_ids_measured(name, kw, slices, ratio):
    import keras

    sparse, dense = row_moves(lambda: getattr(keras.optimizers, name)(learning_rate=0.1, **kw), slices)
    np.testing.assert_allclose(sparse / dense, ratio, atol=1e-3)
