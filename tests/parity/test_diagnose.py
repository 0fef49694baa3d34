"""``parity diagnose`` / ``Result.diagnose()``: a conversion mistake planted in Keras's own weights
(as a port runs them: ``parity.run.Variant``) is named, and only it."""
from pathlib import Path

import numpy as np
import pytest

from parity import api
from parity.cli import main
from parity.mappings.base import flat_perm
from parity.run import Variant, prepare, run_case
from parity.spec import load_spec, parse_spec

CATALOG = Path(__file__).resolve().parents[2] / "parity" / "catalog"


def _port(case, change):
    """The case with Keras running ``change(initial)`` as its own weights."""
    spec = load_spec(CATALOG / f"{case}.json")
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    return api.Result(run_case(spec, {"keras": Variant(initial=change(initial))}))


def test_flatten_order_forgotten_is_named_alone():
    def forgot(w):  # the torch weight transposed, rows left in C,H,W order (written from the layouts)
        k = w["2_dense/kernel"]  # rows (h, w, c) of the conv output (5, 6, 3)
        w["2_dense/kernel"] = k.reshape(5, 6, 3, -1).transpose(2, 0, 1, 3).reshape(k.shape)
        return w
    r = _port("cnn-flatten-dense", forgot)
    assert not r.passed and r.odd_one_out == "keras"
    d = r.diagnose()
    assert [[(f.switch, f.direction, f.target) for f in fl] for fl in d.explained] == [[("flatten_order", 1, "2_dense")]]
    assert d.sentences() == [
        "your Keras model agrees with torch when its Dense kernel 2_dense after Flatten is permuted from C,H,W to "
        "H,W,C order (kernel = weight.T[perm], perm = arange(C*H*W).reshape(C,H,W).transpose(1,2,0).ravel())"]
    assert len(flat_perm((5, 6, 3))) == 90


def test_gru_gates_not_swapped_are_named_alone():
    def unswapped(w):
        for name in ("kernel", "recurrent_kernel", "bias"):
            a = w[f"0_gru/{name}"]
            w[f"0_gru/{name}"] = np.concatenate([a[..., 6:12], a[..., :6], a[..., 12:]], axis=-1)
        return w
    d = _port("gru-reset-after", unswapped).diagnose(pairs=False)
    assert [[(f.switch, f.target) for f in fl] for fl in d.explained] == [[("gru_gates_swapped", "0_gru")]]
    assert "update and reset gate blocks (z, r) swapped" in d.sentences()[0]


def test_lstm_biases_not_summed_are_named_by_the_tensor_and_its_rule():
    b_hh = np.random.default_rng(3).normal(0.0, 0.1, 24)

    def unsummed(w):  # Keras given bias_ih alone: the sum less bias_hh
        w["0_lstm/bias"] = w["0_lstm/bias"] - b_hh
        return w
    d = _port("lstm-last-state-dense", unsummed).diagnose(pairs=False)
    assert [[(f.switch, f.target) for f in fl] for fl in d.explained] == [[("reference_weight", "0_lstm/bias")]]
    assert "only ever appear as a sum" in d.sentences()[0]


def test_a_passing_case_has_nothing_to_diagnose(capsys):
    assert main(["diagnose", "loss-mse"]) == 0
    assert capsys.readouterr().out.strip() == "loss-mse [float64]: pass: nothing to diagnose"


def test_a_results_folder_without_failures(tmp_path, capsys):
    (tmp_path / "results.csv").write_text("case,dtype,passed\nloss-mse,float64,True\n")
    assert main(["diagnose", str(tmp_path)]) == 0
    assert "nothing to diagnose" in capsys.readouterr().out


def _spec(layers, name="port"):
    return parse_spec({"name": name, "seed": 3, "input_shape": [6, 5], "layers": layers,
                       "loss": {"type": "mean_squared_error"},
                       "optimizer": {"type": "sgd", "learning_rate": 0.125, "momentum": 0.875}, "steps": 2})


def test_a_square_dense_kernel_not_transposed_is_named_once():
    spec = _spec([{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "dense", "units": 3}])
    initial = {k: v.copy() for k, v in prepare(spec).initial.items()}
    initial["0_dense/kernel"] = initial["0_dense/kernel"].T.copy()  # torch's weight copied as it is
    d = api.Result(run_case(spec, {"keras": Variant(initial=initial)})).diagnose(pairs=False)
    assert [[(f.switch, f.target) for f in fl] for fl in d.explained] == [[("dense_kernel_transposed", "0_dense")]]


@pytest.mark.parametrize("layer", [{"type": "batch_normalization", "momentum": 0.875},
                                   {"type": "layer_normalization"}])
def test_a_normalisation_epsilon_left_at_keras_default_is_named(layer):
    def spec(eps):
        return _spec([{"type": "dense", "units": 4, "activation": "tanh"}, {**layer, "epsilon": eps},
                      {"type": "relu"}, {"type": "dense", "units": 3}])
    r = api.Result(run_case(spec(1e-5), {"keras": Variant(spec=spec(1e-3))}))
    assert not r.passed and r.odd_one_out == "keras"
    d = r.diagnose(pairs=False)
    assert [[(f.switch, f.target) for f in fl] for fl in d.explained] == [
        [("bn_epsilon" if layer["type"] == "batch_normalization" else "ln_epsilon", f"1_{layer['type']}")]]
    assert d.sentences()[0].endswith("epsilon is 1e-05 (torch's default) instead of 0.001 (Keras's default)")


def test_a_results_folder_names_its_failing_cases(tmp_path, capsys):
    (tmp_path / "results.csv").write_text("case,dtype,passed\nloss-mse,float64,False\nmy-own,float32,False\n")
    assert main(["diagnose", str(tmp_path)]) == 2  # my-own is no catalog case: its spec is not in the report
    err = capsys.readouterr().err.strip()
    assert err.endswith("case 'my-own' is not a catalog case: run parity diagnose on its spec file")
    (tmp_path / "results.csv").write_text("case,dtype,passed\nloss-mse,float32,False\nloss-mse,float32,False\n")
    assert main(["diagnose", str(tmp_path)]) == 0  # rerun once, in the folder's dtype: it passes
    assert capsys.readouterr().out.strip() == "loss-mse [float32]: pass: nothing to diagnose"


def test_two_mistakes_are_named_as_one_pair():
    def both(w):  # the flatten order forgotten and the conv kernel flipped
        k = w["2_dense/kernel"]
        w["2_dense/kernel"] = k.reshape(5, 6, 3, -1).transpose(2, 0, 1, 3).reshape(k.shape)
        w["0_conv2d/kernel"] = w["0_conv2d/kernel"][::-1, ::-1].copy()
        return w
    d = _port("cnn-flatten-dense", both).diagnose()
    assert [sorted((f.switch, f.target) for f in fl) for fl in d.explained] == [
        [("conv_kernel_flipped", "0_conv2d"), ("flatten_order", "2_dense")]]
