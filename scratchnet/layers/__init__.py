"""scratchnet layers, one module per family. Every class follows ``base.Layer``'s protocol."""
from scratchnet.layers import (activation, conv, dense, embedding, merge, normalization, pooling,
                               recurrent, regularization, reshape)
from scratchnet.layers.activation import Activation
from scratchnet.layers.base import Layer
from scratchnet.layers.dense import Dense

__all__ = ["Layer", "Dense", "Activation"]
for _module in (conv, pooling, normalization, regularization, embedding, reshape, recurrent, merge):
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
