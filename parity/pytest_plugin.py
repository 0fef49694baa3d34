"""The pytest plugin (entry point ``parity``): a ``parity_check`` fixture, so that a test reads
``def test_my_case(parity_check): parity_check("my-case.json")``."""
from __future__ import annotations

import pytest


@pytest.fixture
def parity_check():
    """``parity.testing.assert_parity``, as a fixture."""
    from parity.testing import assert_parity

    return assert_parity
