"""The port: the same model in Keras 3 (channels-last), with the torch weights converted by hand."""
import keras
import numpy as np


def keras_model(classes: int = 5) -> keras.Model:
    inp = keras.Input((8, 6, 3))  # (H, W, C): Keras is channels-last
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    y = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")(y)  # torch's momentum 0.1, eps 1e-5
    y = keras.layers.ReLU(name="relu")(y)
    y = keras.layers.MaxPooling2D(2, name="pool")(y)
    y = keras.layers.Flatten(name="flatten")(y)  # flattens in (H, W, C) order
    return keras.Model(inp, keras.layers.Dense(classes, name="fc")(y))


def convert(torch_model, model: keras.Model, flatten_order: bool = True) -> keras.Model:
    """torch's weights into the Keras model: conv OIHW -> HWIO; BatchNorm as is; the Dense kernel
    transposed, its rows reordered from torch's (C, H, W) flatten order to Keras's (H, W, C)."""
    t = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    model.get_layer("conv").set_weights([t["conv.weight"].transpose(2, 3, 1, 0), t["conv.bias"]])
    model.get_layer("bn").set_weights([t["bn.weight"], t["bn.bias"], t["bn.running_mean"], t["bn.running_var"]])
    w = t["fc.weight"]  # (classes, C*H*W)
    if flatten_order:
        classes = w.shape[0]
        w = w.reshape(classes, 4, 4, 3).transpose(0, 2, 3, 1).reshape(classes, -1)  # rows now in (H, W, C) order
    model.get_layer("fc").set_weights([np.ascontiguousarray(w.T), t["fc.bias"]])
    return model


def port(torch_model) -> keras.Model:
    return convert(torch_model, keras_model())
