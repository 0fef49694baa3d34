"""Rule float32-rounding: a float32 row that fails strictly is noise only when the case rerun in
float64 on the same data and weights passes it and no framework's float32 error exceeds 64x the
backends' median. Found by ``parity fuzz`` (seed 2, cases 134 and 243): a BatchNorm's gamma whose
output is normalized again (its gradient nearly cancels), and a gradient torch sums more
precisely than the others."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import parity
from parity.run import Variant, prepare

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["fuzz-float32-bn-cancel", "fuzz-float32-torch-precise"])
def test_cancellation_in_float32_is_noise_demonstrated_by_the_float64_twin(name):
    r = parity.check(DATA / f"{name}.json")
    assert r.passed, r.worst
    noise = r.rows[r.rows.rule == "float32-rounding"]
    assert len(noise) and (noise.status == "noise").all()
    assert noise.note.str.contains("in float64 the pair agrees").all()


def test_a_real_difference_in_float32_is_not_noise():
    """The same case with one Keras weight moved by 1e-4 (relative): the float64 twin differs too."""
    from parity.spec import load_spec

    spec = load_spec(DATA / "fuzz-float32-bn-cancel.json")
    w = dict(prepare(spec).initial)
    key = next(k for k in w if k.endswith("kernel"))
    w[key] = w[key].copy()
    w[key].flat[0] *= 1 + 1e-4
    r = parity.check(spec, variants={"keras": Variant(initial=w)})
    assert not r.passed and r.odd_one_out == "keras"


def test_a_framework_losing_float32_precision_is_not_noise(monkeypatch):
    """A planted low-precision Keras (float32 gradients rounded to 11 mantissa bits, as TF32 or
    float16 would): the float64 twin agrees, but Keras's float32 error is far beyond 64x the median."""
    from parity.backends import keras_backend

    real = keras_backend.run

    def coarse(case, **kw):
        out = real(case, **kw)
        if case.spec.dtype == "float32":
            def r11(a):
                m, e = np.frexp(a)
                return (np.round(m * 2 ** 11) / 2 ** 11 * 2.0 ** e).astype(a.dtype)
            out = dataclasses.replace(out, grads={k: r11(g) for k, g in out.grads.items()})
        return out

    monkeypatch.setattr(keras_backend, "run", coarse)
    r = parity.check(DATA / "fuzz-float32-bn-cancel.json")
    assert not r.passed and r.odd_one_out == "keras"
    failed = r.rows[~r.rows.passed & (r.rows.quantity == "grad")]
    assert failed.note.str.contains("not all within 64x").any()
