"""The same port with the classic mistake: the Dense kernel transposed but its rows left in
torch's (C, H, W) flatten order. Every layer before the Dense still agrees with torch."""
from keras_port import convert, keras_model


def port(torch_model):
    return convert(torch_model, keras_model(), flatten_order=False)
