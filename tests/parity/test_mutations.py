"""The registry of switches (``parity.mutations``): every transform is pure, a switch without a
``backward`` is its own inverse and one with it is undone by it, and the weight transforms do
what their sentences say, checked against formulas written here (distinct sizes on every axis)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from parity import mutations as M
from parity.mappings.base import flat_perm
from parity.run import prepare
from parity.spec import load_spec, plan_of

CATALOG = Path(__file__).resolve().parents[2] / "parity" / "catalog"


def _planted(name):
    spec = load_spec(CATALOG / f"{name}.json")
    return M.Planted(spec, prepare(spec).initial)


ALL = [(sw.name, case) for sw in M.SWITCHES for case in sw.cases]


def test_every_switch_has_a_representative_case_and_a_sentence():
    assert len(M.BY_NAME) == len(M.SWITCHES)
    for sw in M.SWITCHES:
        assert sw.cases and sw.kind in ("weights", "fields", "hook")
        p = _planted(sw.cases[0])
        for d in sw.directions:
            for t in d.targets(p.spec, plan_of(p.spec))[:1]:
                text = d.describe(p, t)
                assert text.startswith(("its ", "the ")), sw.name
                assert t in ("optimizer", "loss") or t in text, (sw.name, text)  # the sentence names its layer


@pytest.mark.parametrize("name,case", ALL)
def test_transforms_are_pure_and_undone(name, case):
    sw = M.switch(name)
    p = _planted(case)
    before = {k: v.copy() for k, v in p.initial.items()}
    t = sw.forward.targets(p.spec, plan_of(p.spec))
    if not t:
        pytest.skip(f"{name} has no forward target in {case} (the undoing applies there)")
    planted = sw.forward.plant(p, t[0])
    assert all(np.array_equal(before[k], p.initial[k]) for k in before)  # the input untouched
    assert planted.spec != p.spec or planted.hooks or any(
        not np.array_equal(planted.initial[k], p.initial[k]) for k in p.initial)
    if sw.kind == "hook" or not sw.diagnose:
        return  # a code path, or a mistake that loses information (a zeroed bias): nothing to undo
    undo = sw.backward or sw.forward
    back_targets = undo.targets(planted.spec, plan_of(planted.spec))
    if sw.name.endswith("epsilon"):
        return  # "the other framework's default" twice is a default, not the catalog's 2^-10 or 1e-30
    assert t[0] in back_targets
    restored = undo.plant(planted, t[0])
    assert restored.spec.layers == p.spec.layers and restored.spec.optimizer == p.spec.optimizer
    assert restored.spec.loss == p.spec.loss
    for k in p.initial:
        np.testing.assert_array_equal(restored.initial[k], p.initial[k])


def test_flatten_order_puts_the_rows_in_torchs_order():
    p = _planted("cnn-flatten-dense")  # conv output (5, 6, 3) flattened into a dense of 5 units
    planted = M.switch("flatten_order").forward.plant(p, "2_dense")
    k, wrong = p.initial["2_dense/kernel"], planted.initial["2_dense/kernel"]
    h, w, c = plan_of(p.spec).layer("1_flatten").in_shape
    assert (h, w, c) == (5, 6, 3)
    # written from the layouts: torch's row r = (ci, hi, wi) in C,H,W order is canonical row (hi, wi, ci)
    for ci in range(c):
        for hi in range(h):
            for wi in range(w):
                np.testing.assert_array_equal(wrong[(ci * h + hi) * w + wi], k[(hi * w + wi) * c + ci])
    assert len(flat_perm((h, w, c))) == h * w * c


def test_gate_swap_moves_whole_blocks_of_every_recurrent_tensor():
    p = _planted("gru-reset-after")  # units 6, input 4: kernel (4, 18), recurrent (6, 18), bias (2, 18)
    planted = M.switch("gru_gates_swapped").forward.plant(p, "0_gru")
    u = 6
    for name in ("kernel", "recurrent_kernel", "bias"):
        a, b = p.initial[f"0_gru/{name}"], planted.initial[f"0_gru/{name}"]
        np.testing.assert_array_equal(b[..., :u], a[..., u:2 * u])
        np.testing.assert_array_equal(b[..., u:2 * u], a[..., :u])
        np.testing.assert_array_equal(b[..., 2 * u:], a[..., 2 * u:])


def test_dense_transpose_is_the_reshape_mistake():
    p = _planted("mlp-tanh-mse")  # kernel (7, 6)
    k = p.initial["0_dense/kernel"]
    wrong = M.switch("dense_kernel_transposed").forward.plant(p, "0_dense").initial["0_dense/kernel"]
    np.testing.assert_array_equal(wrong, np.ascontiguousarray(k.T).reshape(7, 6))


def test_same_padding_side_applies_only_where_the_shape_is_kept():
    p = _planted("conv-same-stride2")  # H 8 (TF pads 0 top, 1 bottom), W 9 (1 and 1), k3 s2
    sw = M.switch("same_padding_side")
    planted = sw.forward.plant(p, "0_conv2d")
    assert plan_of(planted.spec).layer("0_conv2d").spec.params["padding"] == (1, 1)
    stride1 = dataclasses.replace(p.spec.layers[0], params={**p.spec.layers[0].params, "kernel_size": (2, 2), "strides": (1, 1)})
    spec = dataclasses.replace(p.spec, layers=(stride1,), plan=None)
    assert sw.forward.targets(spec, plan_of(spec)) == []  # k2 s1: total 1, symmetric would change the shape


def test_two_code_paths_of_one_hook_cannot_be_combined():
    p = _planted("opt-schedule-exponential")
    once = M.switch("schedule_off_by_one").forward.plant(p, "optimizer")
    with pytest.raises(ValueError, match="hook 'optimizer' is set already"):
        M.switch("epsilon_placement").forward.plant(once, "optimizer")


def test_unknown_switch_is_named():
    with pytest.raises(KeyError, match="no switch named 'flaten_order'"):
        M.switch("flaten_order")
