"""The way in for a user's own model: ``from_torch(module, input_shape)`` and ``from_keras(model)``
give back (spec dict, weights): a spec file's content and the model's own weights in the
canonical layout, keyed ``<layer name>/<param>``.

Every layer is read back through the SAME mapping modules that build it (``parity/mappings/*``:
each ``LayerMapping``'s ``from_torch`` / ``from_torch_call`` / ``from_keras`` hook gives the spec
fields, its ``WeightRule.to_canonical`` converts torch's tensors), so a fact about a layer type
lives in one place. Layouts: ``input_shape`` (and any ``x`` given with it) is the spec's,
canonical channels-last and batch first (an image batch ``(N, H, W, C)``: the torch module is fed
its NCHW transpose). Names: torch module paths with dots made underscores (``features.0`` ->
``features_0``), fx node names for function calls (``add``); Keras layer names.

``normalise(spec)`` is the form two specs of one model are compared in (``compare_models``, the
round-trip tests). See ``torch_import`` and ``keras_import`` for how each walks a model.
"""
_HOMES = {"from_torch": "torch_import", "from_keras": "keras_import", "ImportRefused": "common",
          "normalise": "normal", "rename_weights": "normal"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    """Each name from its module on first use (``parity import --help`` loads no framework)."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"parity.importers.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'parity.importers' has no attribute {name!r}")
