"""Merge layers: float64 finite differences for every input, the tie rules by hand, shape
refusals, and planted bugs (a concatenate backward split at the wrong offset, a tie given to the
wrong input) caught."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import numerical_gradient, rel_error
from scratchnet.layers import merge

N, H, W, C = 3, 4, 5, 2  # distinct sizes on every axis


def merge_errors(layer, xs, rng, training=False):
    """Relative error of each input's gradient of L = sum(y * r) against central differences."""
    xs = [np.array(x) for x in xs]
    y = layer.forward(xs, training)
    r = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(xs, training) * r))

    loss()
    dxs = [np.array(dx) for dx in layer.backward(r)]
    return [rel_error(dx, numerical_gradient(loss, x)) for dx, x in zip(dxs, xs)]


ELEMENTWISE = [sn.Add, sn.Subtract, sn.Multiply, sn.Average, sn.Maximum, sn.Minimum]


@pytest.mark.parametrize("cls", ELEMENTWISE, ids=lambda c: c.__name__)
def test_elementwise_merges_pass_finite_differences(cls):
    rng = np.random.default_rng(0)
    k = 2 if cls is sn.Subtract else 3
    xs = [rng.standard_normal((N, H, W, C)) for _ in range(k)]
    errors = merge_errors(cls(), xs, rng)
    assert len(errors) == k and max(errors) < 1e-8, errors


@pytest.mark.parametrize("axis", [-1, 1, 2, 3])
def test_concatenate_passes_finite_differences_on_every_axis(axis):
    rng = np.random.default_rng(1)
    shapes = []
    for extra in (0, 1, 3):  # three inputs of distinct sizes on the joined axis
        s = list((H, W, C))
        s[(axis if axis > 0 else 3) - 1] += extra
        shapes.append(tuple(s))
    xs = [rng.standard_normal((N, *s)) for s in shapes]
    layer = sn.Concatenate(axis=axis)
    errors = merge_errors(layer, xs, rng)
    assert max(errors) < 1e-8, errors
    a = (axis if axis > 0 else 3)
    assert layer.output_shape[a - 1] == sum(s[a - 1] for s in shapes)


def test_concatenate_values_by_hand():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(10.0, 14.0).reshape(2, 2)
    layer = sn.Concatenate()
    np.testing.assert_array_equal(layer.forward([a, b]), [[0, 1, 2, 10, 11], [3, 4, 5, 12, 13]])
    da, db = layer.backward(np.arange(10.0).reshape(2, 5))
    np.testing.assert_array_equal(da, [[0, 1, 2], [5, 6, 7]])
    np.testing.assert_array_equal(db, [[3, 4], [8, 9]])


def test_planted_concatenate_backward_at_the_wrong_offset_is_caught(monkeypatch):
    def shifted(self, dy, cache):
        a, sizes = cache
        first = dy[..., 1:sizes[0] + 1]  # one column late
        return [first, dy[..., sizes[0]:]]

    monkeypatch.setattr(merge.Concatenate, "_backward", shifted)
    rng = np.random.default_rng(2)
    errors = merge_errors(sn.Concatenate(), [rng.standard_normal((N, 4)), rng.standard_normal((N, 3))], rng)
    assert errors[0] > 1e-2  # blamed on the input whose slice moved


# x0 ties x1 (and x2) in column 0, x1 ties x2 at the maximum 5 in column 1, all three tie in column 2
TIES = [np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 5.0, 3.0]]), np.array([[0.0, 5.0, 3.0]])]
TIE_DY = np.array([[6.0, 12.0, 18.0]])
EXPECTED = {  # worked out by hand from the two rules (module docstring)
    "keras": [[[6.0, 0.0, 18.0]], [[0.0, 12.0, 0.0]], [[0.0, 0.0, 0.0]]],  # the first input attaining y
    "torch": [[[3.0, 0.0, 6.0]], [[3.0, 6.0, 6.0]], [[0.0, 6.0, 6.0]]],  # split among those attaining y
}


def tie_rule_error(cls, convention: str) -> str:
    """"" when ``cls`` routes the tied gradients of TIES as ``convention`` says, else what differs."""
    layer = cls(convention=convention)
    xs = TIES if cls is sn.Maximum else [-x for x in TIES]
    layer.forward(xs)
    for i, (got, want) in enumerate(zip(layer.backward(TIE_DY), EXPECTED[convention])):
        if not np.array_equal(got, want):
            return f"input {i}: {got.tolist()} != {want}"
    return ""


@pytest.mark.parametrize("convention", ["keras", "torch"])
@pytest.mark.parametrize("cls", [sn.Maximum, sn.Minimum], ids=lambda c: c.__name__)
def test_ties_follow_the_convention(cls, convention):
    assert tie_rule_error(cls, convention) == ""


def test_planted_tie_to_the_wrong_input_is_caught(monkeypatch):
    """A Keras-rule backward that gives each tie to the LAST input attaining the maximum."""
    def last_wins(self, dy, cache):
        xs, y = cache
        taken = np.zeros(dy.shape, bool)
        out = [None] * len(xs)
        for i in range(len(xs) - 1, -1, -1):
            out[i] = dy * ((xs[i] == y) & ~taken)
            taken |= xs[i] == y
        return out

    monkeypatch.setattr(merge._Extremum, "_backward", last_wins)
    assert tie_rule_error(sn.Maximum, "keras").startswith("input 0")


def test_mismatched_shapes_are_refused_without_broadcasting():
    with pytest.raises(ValueError, match="one shape"):
        sn.Add().compute_output_shape([(H, W), (1, W)])
    with pytest.raises(ValueError, match="every axis but"):
        sn.Concatenate(axis=-1).compute_output_shape([(H, W), (H + 1, W)])
    with pytest.raises(ValueError, match="non-batch axis"):
        sn.Concatenate(axis=0).compute_output_shape([(H,), (H,)])
    with pytest.raises(ValueError, match="2 inputs"):
        sn.Subtract().compute_output_shape([(H,), (H,), (H,)])
    with pytest.raises(ValueError, match="at least 2"):
        sn.Add().compute_output_shape([(H,)])
    with pytest.raises(ValueError, match="convention"):
        sn.Maximum(convention="tf")


def test_float32_stays_float32_and_other_dtypes_are_refused():
    a = np.ones((N, C), np.float32)
    layer = sn.Add()
    assert layer.forward([a, a]).dtype == np.float32
    with pytest.raises(ValueError, match="float32"):
        layer.forward([a, a.astype(np.float64)])
