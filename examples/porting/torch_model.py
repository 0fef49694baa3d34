"""The original: a small PyTorch image classifier (NCHW inside, as torch models are)."""
import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    """conv 3x3 (same) -> BatchNorm -> ReLU -> 2x2 max pool -> flatten -> dense, on 8x6 RGB images."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 3, classes)

    def forward(self, x):  # x: (N, 3, 8, 6)
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))  # flattens in (C, H, W) order


def make_torch() -> SmallCNN:
    """A factory for ``parity import torch torch_model:make_torch --input-shape 2,8,6,3``."""
    torch.manual_seed(0)
    model = SmallCNN()
    with torch.no_grad():  # trained-looking running statistics
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model
