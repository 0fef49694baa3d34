"""The seed tutorial: a 2-layer neural network from scratch, kept as close to the original as
possible (its names, its shapes, its update), with an explicit random generator.

The network
-----------
Inputs x (4, 3): the four rows [[0,0,1],[0,1,1],[1,0,1],[1,1,1]]; targets y (4, 1) = [0,1,1,0].
One hidden layer of 4 sigmoid units and one sigmoid output, weights only (no biases):

1. Forward pass
       layer1 = sigmoid(x W1)            W1 = weights1 (3, 4),  layer1 (4, 4)
       output = sigmoid(layer1 W2)       W2 = weights2 (4, 1),  output (4, 1)
   with sigmoid(z) = 1 / (1 + exp(-z)), whose derivative is sigmoid(z) (1 - sigmoid(z)); written
   in terms of the output s = sigmoid(z) that is s (1 - s), which is why the tutorial's
   ``sigmoid_derivative`` takes the already-activated value.

2. Loss: the plain SUM of squared errors (not a mean)
       L = sum (y - output)^2

3. Chain rule, from the loss back to each weight matrix
       dL/doutput = -2 (y - output)
       delta2     = dL/doutput * output (1 - output)                 (4, 1)  through the sigmoid
       dL/dW2     = layer1^T delta2                                   (4, 1)
       delta1     = (delta2 W2^T) * layer1 (1 - layer1)               (4, 4)  back through W2, sigmoid
       dL/dW1     = x^T delta1                                        (3, 4)

4. Update: plain gradient descent with learning rate 1. The tutorial computes
   d_weights = -dL/dW (it writes 2 (y - output), which carries the minus sign) and ADDS it:
       W1 += -dL/dW1,   W2 += -dL/dW2

Run ``python -m scratchnet.tutorial`` to train 1500 iterations: the loss falls monotonically and
the predictions round to [0, 1, 1, 0]. The one change from the original: ``np.random.rand`` (the
global random state) becomes ``rng.random`` from an explicit ``numpy.random.Generator``.
"""
from __future__ import annotations

import numpy as np

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_derivative(s):
    """The sigmoid's derivative written in terms of its OUTPUT s = sigmoid(x): s (1 - s)."""
    return s * (1.0 - s)


class NeuralNetwork:
    """The tutorial's network: x -> sigmoid(x W1) -> sigmoid(. W2), sum-of-squares loss."""

    def __init__(self, x, y, rng: np.random.Generator | None = None):
        rng = rng if rng is not None else np.random.default_rng(0)
        self.input = np.asarray(x, dtype=np.float64)
        self.weights1 = rng.random((self.input.shape[1], 4))  # (3, 4), uniform in [0, 1)
        self.weights2 = rng.random((4, 1))  # (4, 1)
        self.y = np.asarray(y, dtype=np.float64)
        self.output = np.zeros(self.y.shape)

    def feedforward(self):
        """Step 1: layer1 = sigmoid(x W1), output = sigmoid(layer1 W2)."""
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))  # (4, 4)
        self.output = sigmoid(np.dot(self.layer1, self.weights2))  # (4, 1)

    def loss(self) -> float:
        """Step 2: L = sum (y - output)^2."""
        return float(np.sum((self.y - self.output) ** 2))

    def weight_updates(self):
        """Step 3: the chain rule. Returns (d_weights1, d_weights2) = (-dL/dW1, -dL/dW2)."""
        delta2 = 2 * (self.y - self.output) * sigmoid_derivative(self.output)  # (4, 1) = -dL/dz2
        d_weights2 = np.dot(self.layer1.T, delta2)  # (4, 1)
        delta1 = np.dot(delta2, self.weights2.T) * sigmoid_derivative(self.layer1)  # (4, 4)
        d_weights1 = np.dot(self.input.T, delta1)  # (3, 4)
        return d_weights1, d_weights2

    def backprop(self):
        """Step 4: add the updates (learning rate 1)."""
        d_weights1, d_weights2 = self.weight_updates()
        self.weights1 += d_weights1
        self.weights2 += d_weights2


def train(iterations: int = 1500, rng: np.random.Generator | None = None):
    """Train the tutorial's network on the four rows; returns (network, losses per iteration)."""
    nn = NeuralNetwork(X, Y, rng)
    losses = []
    for _ in range(iterations):
        nn.feedforward()
        losses.append(nn.loss())
        nn.backprop()
    nn.feedforward()
    return nn, losses


def main() -> None:
    nn, losses = train(1500, np.random.default_rng(0))
    for i in (0, 1, 2, 5, 10, 50, 100, 200, 500, 1000, 1499):
        print(f"iteration {i:5d}   loss {losses[i]:.6f}")
    falling = all(b <= a for a, b in zip(losses, losses[1:]))
    print(f"loss fell monotonically over {len(losses)} iterations: {falling}")
    print("prediction   target")
    for pred, target in zip(nn.output.ravel(), nn.y.ravel()):
        print(f"  {pred:.4f}      {target:.0f}")


if __name__ == "__main__":
    main()
