"""scratchnet layers, one module per family. Every class follows ``base.Layer``'s protocol."""
from scratchnet.layers import (activation, attention, bidirectional, conv, conv1d, conv_transpose, dense, embedding, merge,
                               normalization, pooling, pooling1d, recurrent, regularization, reshape, resize)
from scratchnet.layers.activation import Activation
from scratchnet.layers.base import Layer
from scratchnet.layers.dense import Dense

__all__ = ["Layer", "Dense", "Activation"]
for _module in (conv, conv1d, conv_transpose, pooling, pooling1d, resize, normalization, regularization,
                embedding, reshape, recurrent, bidirectional, merge, attention):
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
