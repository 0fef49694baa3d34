"""A convolution's ReLU moved behind the max-pool that reads it, for training steps.

For z the convolution's pre-activation and a max-pooling window W (padded cells -inf), p*(w) the
cell the pool routes the window's gradient to (its first maximum; in a window with a NaN, the
first maximum of the cells before the NaN: ``MaxPool2D``):

    y[w]        = max_{p in W} relu(z[p]) = relu(max_{p in W} z[p])   (relu is monotone, max exact,
                                                                       relu(NaN) = NaN)
    dL/dz[p]    = dL/dy[w] [p = p*(w)] [z[p*] > 0]                    (pool, then relu's derivative)

and p* is the same cell whether the pool reads relu(z) or z wherever it matters: if the cells it
compares hold a z > 0, the first maximum of relu(z) is the first maximum of z (cells with z <= 0
became 0 and cannot beat it; ties among positive values are ties in both); if they do not, both
routed cells have z <= 0 and get 0 (relu's derivative is 0 at and below the kink, and [NaN > 0]
is false). And z[p*] = max z = y[w] in every window without a NaN. So the fused step computes the
ReLU on the pool's output (ph pw times fewer elements: a quarter for 2x2 windows) and its
derivative as a dropped window (``max_pool2d_forward(relu=True)``), while the convolution skips both
its ReLU and the mask of its backward (``relu_deferred``): ~7% of the step of issue 12's 56 px
two-conv CNN (1 thread, float32). Exact zeros may differ in sign (0 dL/dy against dL/dy 0);
everything else is bit for bit the unfused forward and backward (``tests/scratchnet/test_fusion.py``).

The convolution's own output is then z, not relu(z), so only a caller that keeps no per-layer
outputs fuses: ``train_step`` and ``fit`` (``Sequential._train_step``). ``forward``, ``backward``
and the parity harness, which compares every layer's output, never do.

A pair fuses when the convolution (``Conv2D``, ``DepthwiseConv2D``) has a plain ReLU activation,
the ``MaxPool2D`` reads it, and nothing else reads the convolution's output.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Sequence

from scratchnet.layers.base import Layer
from scratchnet.layers.conv import _ConvBase
from scratchnet.layers.pooling import MaxPool2D

__all__ = ["relu_pool_pairs", "relu_after_pool"]


def relu_pool_pairs(layers: Sequence[Layer], inputs: Mapping[str, tuple[str, ...]]) -> list[tuple[Layer, Layer]]:
    """The (convolution, max-pool) pairs of a model that fuse: ``inputs`` maps each layer's name
    to the names it reads (``Sequential``: the layer before; ``Model``: its nodes)."""
    by_name = {layer.name: layer for layer in layers}
    readers: dict[str, int] = {}
    for names in inputs.values():
        for name in names:
            readers[name] = readers.get(name, 0) + 1
    pairs = []
    for pool in layers:
        read = inputs.get(pool.name, ())
        if not isinstance(pool, MaxPool2D) or len(read) != 1:
            continue
        conv = by_name.get(read[0])
        if isinstance(conv, _ConvBase) and conv.relu_activation() and readers[conv.name] == 1:
            pairs.append((conv, pool))
    return pairs


@contextlib.contextmanager
def relu_after_pool(pairs: Sequence[tuple[Layer, Layer]]) -> Iterator[None]:
    """Within the block, each pair's forward is the fused one (module docstring); the flags are
    cleared on the way out, whatever happens. The backwards follow what the forwards cached."""
    for conv, pool in pairs:
        conv.relu_deferred, pool.relu_output = True, True
    try:
        yield
    finally:
        for conv, pool in pairs:
            conv.relu_deferred, pool.relu_output = False, False
