"""One module per family: how a spec entry becomes a scratchnet, torch and Keras object, how
weights convert, which defaults differ, and the atlas text. Importing this package registers every
layer mapping in ``REGISTRY``; losses and optimizers live in ``LOSSES`` and ``OPTIMIZERS``.
Frameworks are imported lazily, inside the build functions, so ``parity explain`` stays fast."""
import importlib

from parity.mappings.base import REGISTRY, Atlas, BuildContext, Convention, Deviation, Layout, LayerMapping
from parity.mappings.losses import MAPPINGS as LOSSES
from parity.mappings.optimizers import MAPPINGS as OPTIMIZERS

FAMILIES = ("activations", "dense", "conv", "pooling", "normalization", "regularization", "embedding",
            "reshape", "recurrent", "conv1d", "resize", "conv_transpose", "bidirectional", "merge", "attention")
for _family in FAMILIES:
    try:
        importlib.import_module(f"parity.mappings.{_family}")
    except ModuleNotFoundError as exc:  # a family not written yet
        if exc.name != f"parity.mappings.{_family}":
            raise


def layer_mapping(type_name: str) -> LayerMapping:
    if type_name not in REGISTRY:
        raise KeyError(f"no parity mapping for layer type {type_name!r} (have {sorted(REGISTRY)})")
    return REGISTRY[type_name]


__all__ = ["REGISTRY", "LOSSES", "OPTIMIZERS", "Atlas", "BuildContext", "Convention", "Deviation", "Layout", "LayerMapping",
           "layer_mapping"]
