"""pytest for the port: run with ``pytest examples/porting`` from the repository root."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import parity  # noqa: E402
import keras_port  # noqa: E402
import keras_port_misconverted  # noqa: E402
from torch_model import make_torch  # noqa: E402

X = np.random.default_rng(0).standard_normal((4, 8, 6, 3)).astype("float32")  # (N, H, W, C)


def test_architecture_matches():
    """torch's weights in all three frameworks: the Keras architecture is the torch one."""
    torch_model = make_torch()
    result = parity.compare_models(torch_model, keras_port.keras_model(), X)
    assert result.passed, result.message


def test_converted_weights_match():
    """The port's own weights and fields: the hand conversion is right."""
    torch_model = make_torch()
    result = parity.compare_models(torch_model, keras_port.port(torch_model), X, weights="own")
    assert result.passed, result.message


def test_forgotten_flatten_order_is_found_at_the_dense_layer():
    torch_model = make_torch()
    result = parity.compare_models(torch_model, keras_port_misconverted.port(torch_model), X, weights="own")
    assert not result.passed
    assert result.odd_one_out == "keras"
    assert result.names[result.first_parting_layer] == ("fc", "fc")


def test_diagnose_names_the_forgotten_flatten_order():
    torch_model = make_torch()
    result = parity.compare_models(torch_model, keras_port_misconverted.port(torch_model), X, weights="own")
    diagnosis = result.diagnose()
    assert [[f.switch for f in flips] for flips in diagnosis.explained] == [["flatten_order"]]
    assert "permuted from C,H,W to H,W,C order" in diagnosis.sentences()[0]


def test_public_resnet_block_port():
    """torchvision's BasicBlock and its keras.applications-style port (ZeroPadding2D + a valid
    stride-2 conv, one ReLU module reused in torch) are one architecture, through one SGD step."""
    import resnet_block

    x = np.random.default_rng(1).standard_normal((2, 9, 8, 3)).astype("float32")
    result = parity.compare_models(resnet_block.make_torch(), resnet_block.keras_model(), x, steps=1,
                                   optimizer={"type": "sgd", "learning_rate": 0.05, "momentum": 0.5})
    assert result.passed, result.message
