"""scratchnet: a neural-network library written out by hand in numpy.

Every layer, loss and optimizer states its forward and backward math in its docstring and
implements it beside the formula; nothing is differentiated automatically. scratchnet imports
numpy only (never torch, tensorflow or parity).

Conventions used throughout:
- Layouts are Keras's: a Dense kernel is (in, out), images are channels-last (N, H, W, C),
  sequences are batch-first (N, T, F). The parity harness converts to torch's layouts.
- Shapes given to ``build`` and ``compute_output_shape`` exclude the batch axis.
- float32 stays float32 and float64 stays float64: layers refuse an input of another float dtype
  instead of casting it silently; ``Sequential`` casts its input once, at the door.
- Every random draw comes from an explicit ``numpy.random.Generator``.
- Hot paths call ufuncs with ``out`` positional (``np.exp(z, z)``, ``np.add(a, b, a)``) and
  constants as read-only 0-d arrays: numpy 2.4 spends ~0.18 us parsing an ``out=`` keyword and
  ~0.18 us more on a Python-scalar operand than on a 0-d array (measured on this project's
  machine), about as long as the arithmetic of a tiny layer (the tutorial's 4x4 arrays) takes.
  (``np.maximum`` and ``np.minimum`` keep ``out=``: numpy 2.4 deprecates their positional out.)
"""
from scratchnet import activations, initializers, losses, optimizers
from scratchnet.layers import *  # noqa: F401,F403
from scratchnet.layers import __all__ as _layer_names
from scratchnet.graph import Model
from scratchnet.model import Sequential

__all__ = ["activations", "initializers", "losses", "optimizers", "Sequential", "Model", *_layer_names]
__version__ = "0.1.0"
