"""AdamW: Adam with decoupled weight decay in both conventions."""
from __future__ import annotations

import numpy as np  # noqa: F401

from scratchnet.optimizers.adam import Adam
from scratchnet.optimizers.base import decoupled_weight_decay


class AdamW(Adam):
    """Adam with decoupled weight decay, in BOTH conventions.

    Each step::

        p <- p - lr * wd * p          (decoupled, before the Adam step; torch writes p * (1 - lr * wd))
        then the Adam step of the chosen convention (see ``Adam``), with g left untouched

    keras convention: ``keras.optimizers.AdamW(learning_rate, weight_decay, beta_1, beta_2,
    epsilon, amsgrad)`` (= ``keras.optimizers.Adam(..., weight_decay=wd)``).
    torch convention: ``torch.optim.AdamW(params, lr, betas=(beta_1, beta_2), eps=epsilon,
    weight_decay, amsgrad)``. The conventions differ only in Adam's eps placement (see ``Adam``).
    Default weight_decay: 0.004 (Keras) vs 0.01 (torch); eps 1e-7 vs 1e-8.

    Float32 trap: as ``Adam``; Keras also casts ``weight_decay`` through float32 (0.004 becomes
    0.004000000189989805), so parity cases use float32-representable values such as 0.0625.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, convention="keras", **options):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, convention, **options)

    decoupled = True  # both conventions

    def _decay(self, key, p, g):
        if not self.decays(key):
            return p, g
        return decoupled_weight_decay(p, self._lr, self.weight_decay), g


