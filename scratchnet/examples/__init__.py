"""Runnable examples (``python -m scratchnet.examples.<name>``). They use scikit-learn's bundled
digits data set, which ships inside the package: nothing is downloaded. Not imported by
``import scratchnet``."""
