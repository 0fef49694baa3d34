import numpy as np
import tensorflow as tf
import torch
import keras
import scratchnet as sn

# Embedding: ids (N, T) = (2, 3) into a table (V, D) = (5, 4); the table is the same array in all three.
ids = np.array([[1, 4, 1], [0, 3, 4]])                    # id 1 and id 4 repeat: their gradients add up
torch.manual_seed(0)
torch_emb = torch.nn.Embedding(num_embeddings=5, embedding_dim=4, dtype=torch.float64)
table = torch_emb.weight.detach().numpy()                 # (V, D): no transpose anywhere
keras_emb = keras.layers.Embedding(5, 4, dtype="float64")
keras_emb.build((None, 3))
keras_emb.set_weights([table])
sn_emb = sn.Embedding(5, 4).build((3,), "float64")
sn_emb.set_weights({"embeddings": table})

np.testing.assert_array_equal(torch_emb(torch.from_numpy(ids)).detach().numpy(), table[ids])
np.testing.assert_array_equal(keras_emb(ids).numpy(), table[ids])
np.testing.assert_array_equal(sn_emb.forward(ids), table[ids])

# dL/dtable for L = sum(w * y): row v gets the sum of w over every position holding id v
w = np.random.default_rng(1).standard_normal((2, 3, 4))
(torch_emb(torch.from_numpy(ids)) * torch.from_numpy(w)).sum().backward()
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(keras_emb(ids) * w)
g_keras = tf.convert_to_tensor(tape.gradient(loss, keras_emb.embeddings)).numpy()   # IndexedSlices -> dense
sn_emb.forward(ids)
sn_emb.backward(w)
expected = np.zeros((5, 4))
np.add.at(expected, ids, w)
for g in (torch_emb.weight.grad.numpy(), g_keras, sn_emb.grads["embeddings"]):
    np.testing.assert_allclose(g, expected, rtol=1e-15)
