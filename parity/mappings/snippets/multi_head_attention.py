import math

import numpy as np
import torch
import torch.nn.functional as F
import keras
import scratchnet as sn

# Causal self-attention, E = 6 features split into H = 2 heads of Dk = 3 (a torch twin: H * Dk == E).
rng = np.random.default_rng(0)
N, T, E, H, D = 2, 4, 6, 2, 3
x = rng.standard_normal((N, T, E))
# Keras's layout (scratchnet's): kernels (E, H, D) for query/key/value, (H, D, E) for the output
Wq, Wk, Wv = (rng.standard_normal((E, H, D)) for _ in range(3))
bq, bk, bv = (rng.standard_normal((H, D)) for _ in range(3))
Wo, bo = rng.standard_normal((H, D, E)), rng.standard_normal(E)

# scratchnet: parameters named as Keras's sublayers' variables
sn_mha = sn.MultiHeadAttention(num_heads=H, key_dim=D, causal=True).build([(T, E)], "float64")
sn_mha.set_weights({"query/kernel": Wq, "query/bias": bq, "key/kernel": Wk, "key/bias": bk, "value/kernel": Wv,
                    "value/bias": bv, "attention_output/kernel": Wo, "attention_output/bias": bo})
y = sn_mha.forward([x])

# Keras: called as (query, value[, key]); its four sublayers each name their variables kernel, bias
keras_mha = keras.layers.MultiHeadAttention(num_heads=H, key_dim=D, dtype="float64")
keras_mha.build((None, T, E), (None, T, E))
keras_mha.set_weights([Wq, bq, Wk, bk, Wv, bv, Wo, bo])  # order: query, key, value, attention_output
y_keras = keras.ops.convert_to_numpy(keras_mha(x, x, use_causal_mask=True))

# torch: x W^T + b with W (H*D, E), row h*D + d = head h's feature d; kdim == vdim == E packs q, k, v
torch_mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)  # batch_first: (N, T, E)
with torch.no_grad():
    torch_mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([W.reshape(E, H * D).T for W in (Wq, Wk, Wv)])))
    torch_mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([b.ravel() for b in (bq, bk, bv)])))
    torch_mha.out_proj.weight.copy_(torch.from_numpy(Wo.reshape(H * D, E).T))
    torch_mha.out_proj.bias.copy_(torch.from_numpy(bo))
xt = torch.from_numpy(x)
blocked = torch.ones(T, T, dtype=torch.bool).triu(1)  # the module's polarity: True = may NOT attend
y_torch, _ = torch_mha(xt, xt, xt, attn_mask=blocked, need_weights=False)  # order: query, key, value

# ... and back: kernel = in_proj_weight[i*E:(i+1)*E].T.reshape(E, H, D)
back = torch_mha.in_proj_weight.detach().numpy()[E:2 * E].T.reshape(E, H, D)
np.testing.assert_array_equal(back, Wk)
np.testing.assert_array_equal(torch_mha.out_proj.weight.detach().numpy().T.reshape(H, D, E), Wo)

# SDPA's polarity is the other one: a boolean attn_mask True = may attend (or is_causal=True)
q, k, v = (torch.einsum("nte,ehd->nhtd", xt, torch.from_numpy(W)) + torch.from_numpy(b)[:, None, :]
           for W, b in ((Wq, bq), (Wk, bk), (Wv, bv)))
allowed = ~blocked
o_mask = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=1 / math.sqrt(D))
o_causal = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / math.sqrt(D))
y_sdpa = (torch.einsum("nhid,hde->nie", o_causal, torch.from_numpy(Wo)) + torch.from_numpy(bo)).numpy()

# every entry of row i past i is masked: position 0 attends only to itself
np.testing.assert_allclose(o_mask.numpy(), o_causal.numpy(), rtol=1e-13)
np.testing.assert_allclose(y_keras, y, rtol=1e-7)  # float64 TF scales by the float32-rounded 1/sqrt(3) ...
sn_tf = sn.MultiHeadAttention(num_heads=H, key_dim=D, causal=True, score_scale_dtype="float32").build([(T, E)])
sn_tf.set_weights(sn_mha.params)
np.testing.assert_allclose(y_keras, sn_tf.forward([x]), rtol=1e-13)  # ... which scratchnet can follow
np.testing.assert_allclose(y_torch.detach().numpy(), y, rtol=1e-12)
np.testing.assert_allclose(y_sdpa, y, rtol=1e-12)
