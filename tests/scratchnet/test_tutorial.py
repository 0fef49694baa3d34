"""The seed tutorial, reproduced: monotone loss, XOR-like predictions, the chain rule checked."""
import numpy as np

from scratchnet import tutorial
from scratchnet.gradcheck import numerical_gradient, rel_error


def test_tutorial_trains_1500_iterations_monotonically():
    nn, losses = tutorial.train(1500, np.random.default_rng(0))
    assert len(losses) == 1500
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.01 * losses[0]
    assert np.array_equal(np.round(nn.output.ravel()), [0, 1, 1, 0])


def test_tutorial_keeps_its_names():
    nn = tutorial.NeuralNetwork(tutorial.X, tutorial.Y, np.random.default_rng(1))
    assert nn.weights1.shape == (3, 4) and nn.weights2.shape == (4, 1)
    assert nn.input.shape == (4, 3) and nn.y.shape == (4, 1) and nn.output.shape == (4, 1)
    nn.feedforward()
    nn.backprop()


def _update_error(nn):
    """Relative error of the tutorial's updates against -dL/dW by finite differences."""
    def loss():
        nn.feedforward()
        return nn.loss()

    nn.feedforward()
    d1, d2 = nn.weight_updates()
    return max(rel_error(d1, -numerical_gradient(loss, nn.weights1)),
               rel_error(d2, -numerical_gradient(loss, nn.weights2)))


def test_tutorial_update_is_minus_the_gradient():
    assert _update_error(tutorial.NeuralNetwork(tutorial.X, tutorial.Y, np.random.default_rng(2))) < 1e-7


def test_planted_bug_missing_factor_two_is_caught(monkeypatch):
    nn = tutorial.NeuralNetwork(tutorial.X, tutorial.Y, np.random.default_rng(2))
    right = nn.weight_updates
    monkeypatch.setattr(nn, "weight_updates", lambda: tuple(d / 2 for d in right()))
    assert _update_error(nn) > 0.4


def test_main_prints_loss_and_predictions(capsys):
    tutorial.main()
    out = capsys.readouterr().out
    assert "loss fell monotonically over 1500 iterations: True" in out
    assert "prediction   target" in out
