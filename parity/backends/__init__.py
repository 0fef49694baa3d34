"""The three backends. Each takes a ``PreparedCase`` (spec, data, canonical initial weights,
dropout masks) and returns a ``BackendResult`` in the canonical layout, so that ``compare`` never
needs to know which framework produced a tensor. Backends never import each other."""
from parity.backends.common import BackendResult, PreparedCase, layer_key

__all__ = ["BackendResult", "PreparedCase", "layer_key"]
