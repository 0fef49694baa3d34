"""examples/porting/ stays runnable: its pytest file's tests, run from here."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "porting" / "test_port.py"


def _example():
    spec = importlib.util.spec_from_file_location("porting_example_test_port", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["test_architecture_matches", "test_converted_weights_match",
                                  "test_forgotten_flatten_order_is_found_at_the_dense_layer",
                                  "test_public_resnet_block_port"])
def test_example(name):
    getattr(_example(), name)()
