import numpy as np
import torch
import keras
import scratchnet as sn

# DepthwiseConv2D on x (N, H, W, C) = (2, 5, 6, 3), kernel 3x2, depth_multiplier m = 2: C m = 6 outputs.
x = np.random.default_rng(0).standard_normal((2, 5, 6, 3))
torch.manual_seed(0)
# torch has no depthwise class: a grouped conv with groups = C; weight (C m, 1, kh, kw)
torch_dw = torch.nn.Conv2d(3, 6, (3, 2), groups=3, dtype=torch.float64)
W = torch_dw.weight.detach().numpy()                                    # (6, 1, 3, 2)
kernel = W[:, 0].transpose(1, 2, 0).reshape(3, 2, 3, 2)                 # Keras's (kh, kw, C, m)
bias = torch_dw.bias.detach().numpy()                                   # (C m,): output channel c m + k

keras_dw = keras.layers.DepthwiseConv2D((3, 2), depth_multiplier=2, padding="valid", dtype="float64")
keras_dw.build((None, 5, 6, 3))
keras_dw.set_weights([kernel, bias])
sn_dw = sn.DepthwiseConv2D((3, 2), depth_multiplier=2).build((5, 6, 3), "float64")
sn_dw.set_weights({"kernel": kernel, "bias": bias})

y_torch = torch_dw(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)  # NHWC
np.testing.assert_allclose(keras_dw(x).numpy(), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_dw.forward(x), y_torch, rtol=1e-12)
# and back: torch's weight from the Keras kernel
np.testing.assert_array_equal(kernel.reshape(3, 2, 6).transpose(2, 0, 1)[:, None], W)
