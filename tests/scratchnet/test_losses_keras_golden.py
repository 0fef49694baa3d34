"""Keras's own loss tests, recomputed through scratchnet's public API.

Source: keras-team/keras, keras/src/losses/losses_test.py (Keras 3; the same file ships in the
installed keras as keras/src/losses/losses_test.py). Every input and every expected value below
is typed from that file, test by test (the ``# Keras: Class.test_name`` comments name each one):
literal numbers where Keras wrote numbers, and Keras's own numpy formula where its test computes
the expectation (cosine, huber, log_cosh, kl, poisson), never scratchnet's code. The comparisons
are Keras's: ``assertAlmostEqual(a, b, decimal=3)`` (|a - b| < 1.5 * 10**-decimal) and
``assertAllClose`` (atol = rtol = 1e-6 unless the test says otherwise).

Keras computes in its floatx, float32, whatever the input dtype; so does every call here (a
saturated probability clipped to 1 - 1e-7 is 1 - 1.19e-7 in float32, which the binary
cross-entropy records depend on). Not recomputed: ``mean_with_sample_weight`` reductions
(scratchnet has only sum_over_batch_size, sum and none), ``ignore_class`` and the segmentation
records of sparse cross-entropy (no such option here), config/dtype/serialisation tests.

GOLDEN_RECORDS counts the expected values checked (test_the_count_is_what_the_report_says).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from scratchnet import losses

F32 = np.float32
CHECKED: list[str] = []


def almost(actual, desired, decimal=3):
    """Keras's assertAlmostEqual: numpy's assert_almost_equal, elementwise."""
    np.testing.assert_almost_equal(np.asarray(actual, np.float64), np.asarray(desired, np.float64), decimal=decimal)


def allclose(actual, desired, atol=1e-6, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(desired, np.float64), atol=atol, rtol=rtol)


def loss(name, y_true, y_pred, sample_weight=None, **params):
    """The value of scratchnet's ``losses.get(name, **params)`` in float32, as Keras computes."""
    y_true = np.asarray(y_true)
    if y_true.dtype.kind == "f" or name != "sparse_categorical_crossentropy":
        y_true = y_true.astype(F32)
    value, grad = losses.get(name, **params)(y_true, np.asarray(y_pred, F32), sample_weight)
    assert np.asarray(value).dtype == F32 and grad.dtype == F32
    return value


# the regression records share these inputs
YT = [[1, 9, 2], [-5, -2, 6]]
YP = [[4, 8, 12], [8, 1, 3]]
YT_STEPS = np.asarray([1, 9, 2, -5, -2, 6]).reshape(2, 3, 1)
YP_STEPS = np.asarray([4, 8, 12, 8, 1, 3]).reshape(2, 3, 1)
STEP_WEIGHTS = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3))

# (loss, records): each record (test name, kwargs of ``loss``, expected, comparison)
MEAN_LOSS_RECORDS = {
    "mean_squared_error": [
        ("MeanSquaredErrorTest.test_all_correct_unweighted", dict(y_true=[[4, 8, 12], [8, 1, 3]], y_pred=[[4, 8, 12], [8, 1, 3]]), 0.0),
        ("MeanSquaredErrorTest.test_unweighted", dict(y_true=YT, y_pred=YP), 49.5),
        ("MeanSquaredErrorTest.test_scalar_weighted", dict(y_true=YT, y_pred=YP, sample_weight=2.3), 113.85),
        ("MeanSquaredErrorTest.test_sample_weighted", dict(y_true=YT, y_pred=YP, sample_weight=np.array([[1.2], [3.4]])), 767.8 / 6),
        ("MeanSquaredErrorTest.test_timestep_weighted", dict(y_true=YT_STEPS, y_pred=YP_STEPS, sample_weight=STEP_WEIGHTS), 97.833336),
        ("MeanSquaredErrorTest.test_zero_weighted", dict(y_true=YT, y_pred=YP, sample_weight=0), 0.0),
        ("MeanSquaredErrorTest.test_no_reduction", dict(y_true=YT, y_pred=YP, sample_weight=2.3, reduction="none"), [84.3333, 143.3666]),
        ("MeanSquaredErrorTest.test_sum_reduction", dict(y_true=YT, y_pred=YP, sample_weight=2.3, reduction="sum"), 227.69998),
    ],
    "mean_absolute_error": [
        ("MeanAbsoluteErrorTest.test_all_correct_unweighted", dict(y_true=[[4, 8, 12], [8, 1, 3]], y_pred=[[4, 8, 12], [8, 1, 3]]), 0.0),
        ("MeanAbsoluteErrorTest.test_unweighted", dict(y_true=YT, y_pred=YP), 5.5),
        ("MeanAbsoluteErrorTest.test_scalar_weighted", dict(y_true=YT, y_pred=YP, sample_weight=2.3), 12.65),
        ("MeanAbsoluteErrorTest.test_sample_weighted", dict(y_true=YT, y_pred=YP, sample_weight=np.array([[1.2], [3.4]])), 81.4 / 6),
        ("MeanAbsoluteErrorTest.test_timestep_weighted", dict(y_true=YT_STEPS, y_pred=YP_STEPS, sample_weight=STEP_WEIGHTS), 13.833333),
        ("MeanAbsoluteErrorTest.test_zero_weighted", dict(y_true=YT, y_pred=YP, sample_weight=0), 0.0),
        ("MeanAbsoluteErrorTest.test_no_reduction", dict(y_true=YT, y_pred=YP, sample_weight=2.3, reduction="none"), [10.7333, 14.5666]),
        ("MeanAbsoluteErrorTest.test_sum_reduction", dict(y_true=YT, y_pred=YP, sample_weight=2.3, reduction="sum"), 25.29999),
    ],
    "mean_absolute_percentage_error": [
        ("MeanAbsolutePercentageErrorTest.test_all_correct_unweighted", dict(y_true=[[4, 8, 12], [8, 1, 3]], y_pred=[[4, 8, 12], [8, 1, 3]]), 0.0),
        ("MeanAbsolutePercentageErrorTest.test_unweighted", dict(y_true=YT, y_pred=YP), 211.8518),
        ("MeanAbsolutePercentageErrorTest.test_scalar_weighted", dict(y_true=YT, y_pred=YP, sample_weight=2.3), 487.259),
        ("MeanAbsolutePercentageErrorTest.test_sample_weighted", dict(y_true=YT, y_pred=YP, sample_weight=np.array([[1.2], [3.4]])), 422.8888),
        ("MeanAbsolutePercentageErrorTest.test_timestep_weighted", dict(y_true=YT_STEPS, y_pred=YP_STEPS, sample_weight=STEP_WEIGHTS), 694.4444),
        ("MeanAbsolutePercentageErrorTest.test_zero_weighted", dict(y_true=YT, y_pred=YP, sample_weight=0), 0.0),
        ("MeanAbsolutePercentageErrorTest.test_no_reduction", dict(y_true=YT, y_pred=YP, sample_weight=2.3, reduction="none"), [621.8518, 352.6666]),
    ],
    "mean_squared_logarithmic_error": [
        ("MeanSquaredLogarithmicErrorTest.test_unweighted", dict(y_true=YT, y_pred=YP), 1.4370),
        ("MeanSquaredLogarithmicErrorTest.test_scalar_weighted", dict(y_true=YT, y_pred=YP, sample_weight=2.3), 3.3051),
        ("MeanSquaredLogarithmicErrorTest.test_sample_weighted", dict(y_true=YT, y_pred=YP, sample_weight=np.array([[1.2], [3.4]])), 3.7856),
        ("MeanSquaredLogarithmicErrorTest.test_timestep_weighted", dict(y_true=YT_STEPS, y_pred=YP_STEPS, sample_weight=STEP_WEIGHTS), 2.647374),
        ("MeanSquaredLogarithmicErrorTest.test_zero_weighted", dict(y_true=YT, y_pred=YP, sample_weight=0), 0.0),
    ],
}

# hinge records: y_true [[0, 1], [0, 0]], y_pred [[0.6, 0.4], [0.4, 0.6]]
HT, HP = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
HINGE_RECORDS = {  # loss -> (unweighted: sobs, sum, none), (weighted [1, 0]: sobs, sum, none)
    "hinge": ((1.3, 2.6, [1.1, 1.5]), (0.55, 1.1, [1.1, 0.0])),
    "squared_hinge": ((1.86, 3.72, [1.46, 2.26]), (0.73, 1.46, [1.46, 0.0])),
    "categorical_hinge": ((1.4, 2.8, [1.2, 1.6]), (0.6, 1.2, [1.2, 0.0])),
}
HINGE_CLASS = {"hinge": "HingeTest", "squared_hinge": "SquaredHingeTest", "categorical_hinge": "CategoricalHingeTest"}


@pytest.mark.parametrize("name", list(MEAN_LOSS_RECORDS))
def test_mean_losses(name):
    for test, kwargs, expected in MEAN_LOSS_RECORDS[name]:
        almost(loss(name, **kwargs), expected)
        CHECKED.append(test)


@pytest.mark.parametrize("name", list(HINGE_RECORDS))
def test_hinge_losses(name):
    (sobs, total, none), (w_sobs, w_total, w_none) = HINGE_RECORDS[name]
    cls = HINGE_CLASS[name]
    almost(loss(name, HT, HP, reduction="sum_over_batch_size"), sobs)
    almost(loss(name, HT, HP, reduction="sum"), total)
    allclose(loss(name, HT, HP, reduction="none"), none)
    with pytest.raises(ValueError, match="reduction"):  # Keras: "Invalid value for argument"
        losses.get(name, reduction="abc")
    CHECKED.extend([f"{cls}.test_unweighted"] * 4)
    w = [1, 0]
    almost(loss(name, HT, HP, sample_weight=w, reduction="sum_over_batch_size"), w_sobs)
    almost(loss(name, HT, HP, sample_weight=w, reduction="sum"), w_total)
    almost(loss(name, HT, HP, sample_weight=w, reduction="none"), w_none)
    assert loss(name, HT, HP, sample_weight=0.0) == 0.0  # Keras: assertEqual
    CHECKED.extend([f"{cls}.test_weighted"] * 3 + [f"{cls}.test_zero_weighted"])


def keras_l2_norm(x, axis):
    """CosineSimilarityTest.l2_norm, as Keras's test writes it."""
    epsilon = 1e-12
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    x_inv_norm = 1 / np.sqrt(np.maximum(square_sum, epsilon))
    return np.multiply(x, x_inv_norm)


def test_cosine_similarity():
    np_y_true = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
    np_y_pred = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
    expected = np.sum(np.multiply(keras_l2_norm(np_y_true, 1), keras_l2_norm(np_y_pred, 1)), axis=(1,))
    almost(loss("cosine_similarity", np_y_true, np_y_pred), -np.mean(expected))
    almost(loss("cosine_similarity", np_y_true, np_y_pred, sample_weight=2.3), -np.mean(expected * 2.3))
    sw = np.asarray([1.2, 3.4])
    almost(loss("cosine_similarity", np_y_true, np_y_pred, sample_weight=sw), -np.mean(expected * sw))
    yt, yp = np_y_true.reshape((2, 3, 1)), np_y_pred.reshape((2, 3, 1))
    steps = np.sum(np.multiply(keras_l2_norm(yt, 2), keras_l2_norm(yp, 2)), axis=(2,))
    almost(loss("cosine_similarity", yt, yp, sample_weight=STEP_WEIGHTS), -np.mean(steps * STEP_WEIGHTS))
    almost(loss("cosine_similarity", np_y_true, np_y_pred, sample_weight=0), 0.0)
    almost(loss("cosine_similarity", np_y_true, np_y_pred, axis=1), -np.mean(expected))
    CHECKED.extend(f"CosineSimilarityTest.{t}" for t in ("test_unweighted", "test_scalar_weighted", "test_sample_weighted",
                                                          "test_timestep_weighted", "test_zero_weighted", "test_axis"))


def keras_huber(y_true, y_pred, delta=1.0):
    """HuberLossTest.huber_loss, as Keras's test writes it."""
    error = y_pred - y_true
    abs_error = np.abs(error)
    quadratic = np.minimum(abs_error, delta)
    linear = np.subtract(abs_error, quadratic)
    return np.add(np.multiply(0.5, np.multiply(quadratic, quadratic)), np.multiply(delta, linear))


def test_huber():
    y_pred = np.array([[0.9, 0.2, 0.2], [0.8, 0.4, 0.6]])
    y_true = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    batch_size = 6
    expected = keras_huber(y_true, y_pred)
    almost(loss("huber", y_true, y_true), 0.0)
    almost(loss("huber", y_true, y_pred), np.sum(expected) / batch_size)
    almost(loss("huber", y_true, y_pred, sample_weight=2.3), 2.3 * np.sum(expected) / batch_size)
    w = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    almost(loss("huber", y_true, y_pred, sample_weight=np.array([[1.2], [3.4]])), np.sum(expected * w) / batch_size)
    yt, yp = y_true.reshape((2, 3, 1)), y_pred.reshape((2, 3, 1))
    sw = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3, 1))
    almost(loss("huber", yt, yp, sample_weight=sw), np.sum(keras_huber(yt, yp) * sw) / batch_size)
    almost(loss("huber", y_true, y_pred, sample_weight=0), 0.0)
    almost(loss("huber", y_true, y_pred, sample_weight=2.3, delta=0.8),
           2.3 * np.sum(keras_huber(y_true, y_pred, 0.8)) / batch_size)
    CHECKED.extend(f"HuberLossTest.{t}" for t in ("test_all_correct", "test_unweighted", "test_scalar_weighted",
                                                   "test_sample_weighted", "test_timestep_weighted",
                                                   "test_zero_weighted", "test_non_default_delta"))


def test_log_cosh():
    y_true = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
    y_pred = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
    batch_size = 6
    error = y_pred - y_true
    expected = np.log((np.exp(error) + np.exp(-error)) / 2)
    almost(loss("log_cosh", y_true, y_pred), np.sum(expected) / batch_size)
    almost(loss("log_cosh", y_true, y_pred, sample_weight=2.3), 2.3 * np.sum(expected) / batch_size)
    w = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    almost(loss("log_cosh", y_true, y_pred, sample_weight=np.asarray([1.2, 3.4])), np.sum(expected * w) / batch_size)
    yt, yp = YT_STEPS, YP_STEPS
    e = yp - yt
    sw = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3, 1))
    almost(loss("log_cosh", yt, yp, sample_weight=sw), np.sum(np.log((np.exp(e) + np.exp(-e)) / 2) * sw) / batch_size)
    almost(loss("log_cosh", y_true, y_pred, sample_weight=0), 0.0)
    CHECKED.extend(f"LogCoshTest.{t}" for t in ("test_unweighted", "test_scalar_weighted", "test_sample_weighted",
                                                 "test_timestep_weighted", "test_zero_weighted"))


def test_kl_divergence():
    y_pred = np.asarray([0.4, 0.9, 0.12, 0.36, 0.3, 0.4], dtype=np.float32).reshape((2, 3))
    y_true = np.asarray([0.5, 0.8, 0.12, 0.7, 0.43, 0.8], dtype=np.float32).reshape((2, 3))
    batch_size = 2
    expected = np.multiply(y_true, np.log(y_true / y_pred))
    almost(loss("kl_divergence", y_true, y_pred), np.sum(expected) / batch_size)
    almost(loss("kl_divergence", y_true, y_pred, sample_weight=2.3), 2.3 * np.sum(expected) / batch_size)
    sw = np.asarray([1.2, 3.4], dtype=np.float32).reshape((2, 1))
    w = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4], dtype=np.float32).reshape(2, 3)
    almost(loss("kl_divergence", y_true, y_pred, sample_weight=sw), np.sum(expected * w) / batch_size)
    yt, yp = y_true.reshape(2, 3, 1), y_pred.reshape(2, 3, 1)
    per_step = np.sum(np.multiply(yt, np.log(yt / yp)), axis=-1)
    almost(loss("kl_divergence", yt, yp, sample_weight=STEP_WEIGHTS), np.sum(per_step * STEP_WEIGHTS) / (batch_size * 3))
    almost(loss("kl_divergence", y_true, y_pred, sample_weight=0), 0.0)
    CHECKED.extend(f"KLDivergenceTest.{t}" for t in ("test_unweighted", "test_scalar_weighted", "test_sample_weighted",
                                                      "test_timestep_weighted", "test_zero_weighted"))


def test_poisson():
    y_pred = np.asarray([1, 9, 2, 5, 2, 6], dtype=np.float32).reshape((2, 3))
    y_true = np.asarray([4, 8, 12, 8, 1, 3], dtype=np.float32).reshape((2, 3))
    batch_size = 6
    expected = y_pred - np.multiply(y_true, np.log(y_pred))
    almost(loss("poisson", y_true, y_pred), np.sum(expected) / batch_size)
    almost(loss("poisson", y_true, y_pred, sample_weight=2.3), 2.3 * np.sum(expected) / batch_size)
    w = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    almost(loss("poisson", y_true, y_pred, sample_weight=np.asarray([1.2, 3.4]).reshape((2, 1))),
           np.sum(expected * w) / batch_size)
    yt, yp = y_true.reshape(2, 3, 1), y_pred.reshape(2, 3, 1)
    sw = np.asarray([3, 6, 5, 0, 4, 2]).reshape(2, 3, 1)
    almost(loss("poisson", yt, yp, sample_weight=sw.reshape((2, 3))),
           np.sum((yp - np.multiply(yt, np.log(yp))) * sw) / batch_size)
    almost(loss("poisson", y_true, y_pred, sample_weight=0), 0.0)
    CHECKED.extend(f"PoissonTest.{t}" for t in ("test_unweighted", "test_scalar_weighted", "test_sample_weighted",
                                                 "test_timestep_weighted", "test_zero_weighted"))


EYE3 = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_binary_crossentropy():
    y_true = np.array(EYE3, dtype="float32")
    almost(loss("binary_crossentropy", y_true, y_true), 0.0)
    logits = np.array([[10.0, -10.0, -10.0], [-10.0, 10.0, -10.0], [-10.0, -10.0, 10.0]])
    almost(loss("binary_crossentropy", y_true, logits, from_logits=True), 0.0)
    CHECKED.extend(["BinaryCrossentropyTest.test_all_correct_unweighted"] * 2)

    y_pred = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32")
    allclose(loss("binary_crossentropy", y_true, y_pred), 0.20046903)
    y_true = np.array([1, 0, 1, 0]).reshape([2, 2])
    y_pred = np.array([1, 1, 1, 0], dtype=np.float32).reshape([2, 2])
    almost(loss("binary_crossentropy", y_true, y_pred), 3.98559)
    yt_l = np.array([[1, 0, 1], [0, 1, 1]])
    logits = np.array([[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]])
    almost(loss("binary_crossentropy", yt_l, logits, from_logits=True), 3.3333)
    CHECKED.extend(["BinaryCrossentropyTest.test_unweighted"] * 3)

    almost(loss("binary_crossentropy", y_true, y_pred, sample_weight=2.3), 9.1668)
    almost(loss("binary_crossentropy", yt_l, logits, sample_weight=2.3, from_logits=True), 7.666)
    CHECKED.extend(["BinaryCrossentropyTest.test_scalar_weighted"] * 2)
    almost(loss("binary_crossentropy", y_true, y_pred, sample_weight=np.array([1.2, 3.4]).reshape((2, 1))), 4.7827)
    almost(loss("binary_crossentropy", yt_l, logits, sample_weight=np.array([4, 3]), from_logits=True), 10.0)
    CHECKED.extend(["BinaryCrossentropyTest.test_sample_weighted"] * 2)
    allclose(loss("binary_crossentropy", yt_l, logits, from_logits=True, reduction="none"), [0.0, 6.666], atol=1e-3)
    CHECKED.append("BinaryCrossentropyTest.test_no_reduction")
    almost(loss("binary_crossentropy", [[1, 0, 1]], np.array([[10.0, -10.0, -10.0]]), from_logits=True,
                label_smoothing=0.1), (10.0 + 5.0 * 0.1) / 3.0)
    CHECKED.append("BinaryCrossentropyTest.test_label_smoothing")


CCE_PROBS = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], dtype="float32")
CCE_LOGITS = np.array([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
SW3 = np.array([[1.2], [3.4], [5.6]]).reshape((3, 1))


def test_categorical_crossentropy():
    y_true = np.array(EYE3, dtype="int64")
    almost(loss("categorical_crossentropy", y_true, np.array(EYE3, dtype="float32")), 0.0)
    almost(loss("categorical_crossentropy", y_true, np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]),
                from_logits=True), 0.0)
    CHECKED.extend(["CategoricalCrossentropyTest.test_all_correct_unweighted"] * 2)
    y_true = np.array(EYE3)
    almost(loss("categorical_crossentropy", y_true, CCE_PROBS), 0.3239)
    almost(loss("categorical_crossentropy", y_true, CCE_LOGITS, from_logits=True), 0.0573)
    almost(loss("categorical_crossentropy", y_true, CCE_PROBS, sample_weight=2.3), 0.7449)
    almost(loss("categorical_crossentropy", y_true, CCE_LOGITS, sample_weight=2.3, from_logits=True), 0.1317)
    almost(loss("categorical_crossentropy", y_true, CCE_PROBS, sample_weight=SW3), 1.0696)
    almost(loss("categorical_crossentropy", y_true, CCE_LOGITS, sample_weight=SW3, from_logits=True), 0.31829)
    allclose(loss("categorical_crossentropy", y_true, CCE_LOGITS, from_logits=True, reduction="none"),
             (0.001822, 0.000459, 0.169846))
    CHECKED.extend([f"CategoricalCrossentropyTest.test_{t}" for t in ("unweighted", "unweighted", "scalar_weighted",
                                                                      "scalar_weighted", "sample_weighted",
                                                                      "sample_weighted", "no_reduction")])
    for test in ("test_label_smoothing", "test_label_smoothing_ndarray"):
        almost(loss("categorical_crossentropy", np.asarray([[1, 0, 0]]), np.asarray([[100.0, -100.0, -100.0]]),
                    from_logits=True, label_smoothing=0.1), 400.0 * 0.1 / 3.0)
        CHECKED.append(f"CategoricalCrossentropyTest.{test}")


def test_sparse_categorical_crossentropy():
    labels_n1 = np.array([[0], [1], [2]], dtype="int64")  # Keras's (N, 1) labels
    almost(loss("sparse_categorical_crossentropy", labels_n1, np.array(EYE3, dtype="float32")), 0.0, 3)
    almost(loss("sparse_categorical_crossentropy", labels_n1,
                np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]), from_logits=True), 0.0, 3)
    labels = np.array([0, 1, 2])
    almost(loss("sparse_categorical_crossentropy", labels, CCE_PROBS), 0.3239, 3)
    almost(loss("sparse_categorical_crossentropy", labels, CCE_LOGITS, from_logits=True), 0.0573, 3)
    labels = np.array([[0], [1], [2]])
    almost(loss("sparse_categorical_crossentropy", labels, CCE_PROBS, sample_weight=2.3), 0.7449, 3)
    almost(loss("sparse_categorical_crossentropy", labels, CCE_LOGITS, sample_weight=2.3, from_logits=True), 0.1317, 3)
    almost(loss("sparse_categorical_crossentropy", labels, CCE_PROBS, sample_weight=SW3), 1.0696, 3)
    almost(loss("sparse_categorical_crossentropy", labels, CCE_LOGITS, sample_weight=SW3, from_logits=True), 0.31829, 3)
    allclose(loss("sparse_categorical_crossentropy", labels, CCE_LOGITS, from_logits=True, reduction="none"),
             (0.001822, 0.000459, 0.169846))
    CHECKED.extend([f"SparseCategoricalCrossentropyTest.test_{t}" for t in (
        "all_correct_unweighted", "all_correct_unweighted", "unweighted", "unweighted", "scalar_weighted",
        "scalar_weighted", "sample_weighted", "sample_weighted", "no_reduction")])


def test_binary_focal_crossentropy():
    y_true = np.array(EYE3, dtype="float32")
    almost(loss("binary_focal_crossentropy", y_true, y_true, gamma=1.5), 0.0, 3)
    logits = np.array([[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0], [-100.0, -100.0, 100.0]])
    almost(loss("binary_focal_crossentropy", y_true, logits, gamma=2.0, from_logits=True), 0.0, 3)
    yt = np.asarray([1, 0, 1, 0]).reshape([2, 2])
    yp = np.asarray([0.9, 0.8, 0.7, 0.2], dtype=np.float32).reshape([2, 2])
    yt_l = np.array([[1, 1, 0], [0, 1, 0]], dtype="float32")
    z = np.array([[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]])
    almost(loss("binary_focal_crossentropy", yt, yp, gamma=2.0), 0.268, 3)
    almost(loss("binary_focal_crossentropy", yt_l, z, gamma=3.0, from_logits=True), 0.799, 3)
    almost(loss("binary_focal_crossentropy", yt, yp, sample_weight=1.23, gamma=2.0), 0.3296, 3)
    almost(loss("binary_focal_crossentropy", yt_l, z, sample_weight=3.21, gamma=3.0, from_logits=True), 2.565, 3)
    sw = np.array([1.2, 3.4]).reshape((2, 1))
    almost(loss("binary_focal_crossentropy", yt, yp, sample_weight=sw, gamma=2.0), 0.34415, 3)
    almost(loss("binary_focal_crossentropy", yt_l, z, sample_weight=sw, gamma=3.0, from_logits=True), 0.95977, 3)
    allclose(loss("binary_focal_crossentropy", yt, yp, gamma=2.0, reduction="none"), (0.515547, 0.020513))
    CHECKED.extend([f"BinaryFocalCrossentropyTest.test_{t}" for t in (
        "all_correct_unweighted", "all_correct_unweighted", "unweighted", "unweighted", "scalar_weighted",
        "scalar_weighted", "sample_weighted", "sample_weighted", "no_reduction")])


def test_categorical_focal_crossentropy():
    y_true = np.array(EYE3, dtype="int64")
    almost(loss("categorical_focal_crossentropy", y_true, np.array(EYE3, dtype="float32"), alpha=0.25, gamma=2.0), 0.0, 3)
    almost(loss("categorical_focal_crossentropy", y_true,
                np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]), from_logits=True), 0.0, 3)
    y_true = np.array(EYE3)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_PROBS), 0.02059, 3)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_LOGITS, from_logits=True), 0.000345, 3)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_PROBS, sample_weight=2.3), 0.047368, 3)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_LOGITS, sample_weight=2.3, from_logits=True), 0.000794, 4)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_PROBS, sample_weight=SW3), 0.06987, 3)
    almost(loss("categorical_focal_crossentropy", y_true, CCE_LOGITS, sample_weight=SW3, from_logits=True), 0.001933, 3)
    allclose(loss("categorical_focal_crossentropy", y_true, CCE_LOGITS, from_logits=True, reduction="none"),
             (1.5096224e-09, 2.4136547e-11, 1.0360638e-03))
    almost(loss("categorical_focal_crossentropy", np.array([[1, 0, 0]]), np.array([[4.9, -0.5, 2.05]]),
                from_logits=True, label_smoothing=0.1), 0.06685, 3)
    CHECKED.extend([f"CategoricalFocalCrossentropyTest.test_{t}" for t in (
        "all_correct_unweighted", "all_correct_unweighted", "unweighted", "unweighted", "scalar_weighted",
        "scalar_weighted", "sample_weighted", "sample_weighted", "no_reduction", "label_smoothing")])


GOLDEN_RECORDS = 130  # the expected values above (the report quotes this number)


def test_the_count_is_what_the_report_says():
    """Every golden test above, run again here in one process, checks GOLDEN_RECORDS values."""
    CHECKED.clear()
    for name in list(MEAN_LOSS_RECORDS):
        test_mean_losses(name)
    for name in list(HINGE_RECORDS):
        test_hinge_losses(name)
    for test in (test_cosine_similarity, test_huber, test_log_cosh, test_kl_divergence, test_poisson,
                 test_binary_crossentropy, test_categorical_crossentropy, test_sparse_categorical_crossentropy,
                 test_binary_focal_crossentropy, test_categorical_focal_crossentropy):
        test()
    assert len(CHECKED) == GOLDEN_RECORDS, len(CHECKED)
    assert len(set(CHECKED)) >= 80  # distinct Keras test methods


def test_planted_divisor_bug_is_caught(monkeypatch):
    """The records can fail: dividing by the sum of the weights (torch's CrossEntropyLoss(weight=)
    divisor, Keras's mean_with_sample_weight) instead of the number of samples misses Keras's
    sample-weighted MSE record (767.8 / 6) by far."""
    regression = importlib.import_module("scratchnet.losses.regression")
    real = regression.reduce_weighted

    def by_weight_sum(name, values, grad, reduction, sample_weight=None, *args, **kwargs):
        value, g = real(name, values, grad, reduction, sample_weight, *args, **kwargs)
        if sample_weight is not None and reduction == "sum_over_batch_size":
            w = np.broadcast_to(np.asarray(sample_weight, values.dtype).reshape(-1), values.shape[:1])
            value = value * values.size / np.sum(w)
        return value, g

    monkeypatch.setattr(regression, "reduce_weighted", by_weight_sum)
    with pytest.raises(AssertionError):
        almost(loss("mean_squared_error", YT, YP, sample_weight=np.array([[1.2], [3.4]])), 767.8 / 6)
