"""Argument checks shared by activations, losses, optimizers and layers: one-line ValueErrors
naming the argument, and no truthy strings or bools passing for numbers."""
from __future__ import annotations

import math
import numbers

import numpy as np


def boolean(value, what: str) -> bool:
    """``value`` as a bool; only True or False (numpy's too): a truthy string such as "false"
    would otherwise silently switch the math."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what}: expected True or False, got {value!r}")
    return bool(value)


def finite_real(value, what: str) -> float:
    """``value`` as a float; a finite real number (not a bool, not a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{what}: expected a finite real number, got {value!r}")
    return float(value)


def integer(value, what: str) -> int:
    """``value`` as an int (numpy's integers too, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what}: expected an int, got {value!r}")
    return int(value)
