"""parity: build one model in scratchnet, PyTorch and Keras 3 from a declarative spec file and
compare every tensor (per-layer outputs, loss, parameter and input gradients, optimizer steps).

``parity.spec`` parses and validates spec files; the backends, the comparison and the reports
live in the other modules. This is the only package that imports torch and keras; it depends on
scratchnet, never the other way round. The Python API (``check``, ``check_many``, ``Result``,
``parity.testing.assert_parity``) is in ``parity.api``; a user's own model comes in through
``from_torch`` / ``from_keras`` (``parity.importers``) and is compared with its port by
``compare_models`` (``parity.porting``); importing ``parity`` imports neither
framework.
"""
_API = ("Result", "check", "check_many", "write_report")
_IMPORTERS = ("from_torch", "from_keras")
_PORTING = ("compare_models",)
__all__ = [*_API, *_IMPORTERS, *_PORTING]


def __getattr__(name: str):
    """``parity.check``, the rest of ``parity.api`` and the importers, imported on first use (so
    that ``python -m parity`` installs its Ctrl-C handler before numpy and pandas load)."""
    if name in _API:
        from parity import api

        return getattr(api, name)
    if name in _IMPORTERS:
        from parity import importers

        return getattr(importers, name)
    if name in _PORTING:
        from parity import porting

        return getattr(porting, name)
    raise AttributeError(f"module 'parity' has no attribute {name!r}")
