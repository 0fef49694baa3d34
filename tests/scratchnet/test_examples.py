"""The digits examples reach the accuracy the issues ask for (scikit-learn's bundled data)."""
from scratchnet.examples import digits_cnn, digits_mlp


def test_digits_mlp_reaches_95_percent():
    acc, seconds, history = digits_mlp.run(verbose=False)
    assert acc >= 0.95, acc
    assert history["loss"][-1] < history["loss"][0]


def test_digits_cnn_reaches_95_percent():
    acc, seconds, history = digits_cnn.run(verbose=False)
    assert acc >= 0.95, acc


def test_digits_main_prints_accuracy_and_time(capsys):
    digits_mlp.main(["--epochs", "2"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "training time" in out
