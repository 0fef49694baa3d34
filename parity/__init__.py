"""parity: build one model in scratchnet, PyTorch and Keras 3 from a declarative spec file and
compare every tensor (per-layer outputs, loss, parameter and input gradients, optimizer steps).

``parity.spec`` parses and validates spec files; the backends, the comparison and the reports
live in the other modules. This is the only package that imports torch and keras; it depends on
scratchnet, never the other way round.
"""
