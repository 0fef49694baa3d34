"""parity: build one model in scratchnet, PyTorch and Keras 3 from a declarative spec file and
compare every tensor (per-layer outputs, loss, parameter and input gradients, optimizer steps).

``parity.spec`` parses and validates spec files; the backends, the comparison and the reports
live in the other modules. This is the only package that imports torch and keras; it depends on
scratchnet, never the other way round. The Python API (``check``, ``check_many``, ``Result``,
``parity.testing.assert_parity``) is in ``parity.api``; importing ``parity`` imports neither
framework.
"""
__all__ = ["Result", "check", "check_many", "write_report"]


def __getattr__(name: str):
    """``parity.check`` and the rest of ``parity.api``, imported on first use (so that ``python -m
    parity`` installs its Ctrl-C handler before numpy and pandas load)."""
    if name in __all__:
        from parity import api

        return getattr(api, name)
    raise AttributeError(f"module 'parity' has no attribute {name!r}")
