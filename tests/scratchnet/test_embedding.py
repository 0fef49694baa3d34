"""Embedding: lookup, scatter-add gradient, torch parity, errors."""
import numpy as np
import pytest
import torch

from scratchnet.gradcheck import check_layer
from scratchnet.layers import Embedding, embedding

N, T, V, D = 5, 4, 7, 3


def test_gradcheck_embeddings():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, (N, T))  # 20 ids from 7: repeats guaranteed
    errors = check_layer(Embedding(V, D), ids, rng)
    assert list(errors) == ["embeddings"] and errors["embeddings"] < 1e-7


def test_gradcheck_catches_overwriting_repeated_ids(monkeypatch):
    def buggy(dy, ids, vocab_size):
        dE = np.zeros((vocab_size, dy.shape[-1]), dy.dtype)
        dE[ids] = dy  # buffered: only the last of a repeated id survives
        return dE

    monkeypatch.setattr(embedding, "embedding_backward", buggy)
    rng = np.random.default_rng(1)
    assert check_layer(Embedding(V, D), rng.integers(0, V, (N, T)), rng)["embeddings"] > 1e-3


def test_lookup_and_repeated_id_gradient_by_hand():
    layer = Embedding(V, D)
    layer.build((3,))
    E = np.arange(V * D, dtype=np.float64).reshape(V, D)
    layer.set_weights({"embeddings": E})
    ids = np.array([[1, 3, 1], [1, 0, 2]])
    y = layer.forward(ids)
    assert y.shape == (2, 3, D)
    np.testing.assert_array_equal(y[0, 1], [9.0, 10.0, 11.0])  # row 3 = 3*D + (0, 1, 2)
    np.testing.assert_array_equal(y[1, 1], [0.0, 1.0, 2.0])
    dy = np.arange(2 * 3 * D, dtype=np.float64).reshape(2, 3, D)  # dy[n, t] = (n*3 + t)*D + (0,1,2)
    dx = layer.backward(dy)
    g = layer.grads["embeddings"]
    # id 1 sits at (0,0), (0,2), (1,0): (0,1,2) + (6,7,8) + (9,10,11)
    np.testing.assert_array_equal(g[1], [15.0, 18.0, 21.0])
    np.testing.assert_array_equal(g[3], [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(g[0], [12.0, 13.0, 14.0])
    np.testing.assert_array_equal(g[2], [15.0, 16.0, 17.0])
    np.testing.assert_array_equal(g[4:], 0.0)
    # ids have no gradient: a zero array of the ids' shape in the layer dtype
    assert dx.shape == ids.shape and dx.dtype == np.float64 and not dx.any()


def test_default_initializer_is_keras_uniform():
    layer = Embedding(50, 40)
    layer.build((T,), rng=np.random.default_rng(2))
    E = layer.params["embeddings"]
    assert E.shape == (50, 40) and np.abs(E).max() <= 0.05 and np.abs(E).max() > 0.04
    other = Embedding(V, D, embeddings_initializer="zeros")
    other.build((T,))
    assert not other.params["embeddings"].any()


def test_matches_torch():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, V, (N, T))
    E = rng.standard_normal((V, D))
    dy = rng.standard_normal((N, T, D))
    ours = Embedding(V, D)
    ours.build((T,))
    ours.set_weights({"embeddings": E})
    y = ours.forward(ids)
    ours.backward(dy)
    ref = torch.nn.Embedding(V, D, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(E))  # same (V, D) layout, no transpose
    yt = ref(torch.from_numpy(ids))
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_allclose(ours.grads["embeddings"], ref.weight.grad.numpy(), rtol=0, atol=1e-14)


def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    layer = Embedding(V, D)
    layer.build((T,), "float32")
    ids = rng.integers(0, V, (N, T), dtype=np.int32)
    y = layer.forward(ids)
    dx = layer.backward(rng.standard_normal(y.shape).astype(np.float32))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert layer.params["embeddings"].dtype == np.float32 and layer.grads["embeddings"].dtype == np.float32


@pytest.mark.parametrize("bad", [V, -1])
def test_ids_out_of_range(bad):
    ids = np.zeros((N, T), dtype=np.int64)
    ids[2, 1] = bad
    with pytest.raises(ValueError, match=rf"emb_ids: token ids: expected ids in \[0, input_dim=7\).*{bad}"):
        Embedding(V, D, name="emb_ids").forward(ids)


def test_non_integer_ids_and_bad_sizes():
    with pytest.raises(ValueError, match="emb_float: expected integer token ids, got dtype float64"):
        Embedding(V, D, name="emb_float").forward(np.zeros((N, T)))
    with pytest.raises(ValueError, match="emb_size: input_dim: expected a positive int, got 0"):
        Embedding(0, D, name="emb_size")
    with pytest.raises(ValueError, match="emb_size2: output_dim: expected a positive int, got -2"):
        Embedding(V, -2, name="emb_size2")
    layer = Embedding(V, D, name="emb_shape")
    layer.build((T,))
    with pytest.raises(ValueError, match=r"emb_shape: expected input shape \(N, 4\), got \(5, 3\)"):
        layer.forward(np.zeros((N, 3), dtype=np.int64))


def test_sequential_backward_runs_through_embedding():
    from scratchnet import losses
    from scratchnet.gradcheck import check_model
    from scratchnet.layers import Dense, Flatten
    from scratchnet.model import Sequential

    rng = np.random.default_rng(5)
    model = Sequential([Embedding(V, D), Flatten(), Dense(2)])
    model.build((T,), rng=rng)
    errors = check_model(model, rng.integers(0, V, (N, T)), rng.standard_normal((N, 2)),
                         losses.get("mean_squared_error"))
    assert "x" not in errors and len(errors) == 3 and max(errors.values()) < 1e-7, errors
