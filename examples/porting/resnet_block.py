"""A public architecture and its Keras port: torchvision's ResNet BasicBlock with a downsampling
shortcut (``torchvision.models.resnet.BasicBlock``, small sizes), written as each framework's own
code writes it: torch reuses one ``self.relu`` and pads the stride-2 conv with ``padding=1``; Keras
(``keras.applications.ResNet``'s style) writes ``ZeroPadding2D(1)`` before a valid stride-2 conv.
``parity.compare_models`` reads both back as one architecture."""
import keras
import torch
import torch.nn as nn
from keras import layers


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """stem conv -> one BasicBlock (stride 2, 1x1 conv + BN shortcut) -> global average pool -> fc."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        down = nn.Sequential(nn.Conv2d(8, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))
        self.layer1 = nn.Sequential(BasicBlock(8, 6, 2, down))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(6, classes)

    def forward(self, x):  # x: (N, 3, H, W)
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_torch() -> TinyResNet:
    """A factory for ``parity import torch resnet_block:make_torch --input-shape 2,9,8,3``."""
    torch.manual_seed(0)
    model = TinyResNet()
    with torch.no_grad():  # trained-looking statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _bn():
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)  # torch's momentum 0.1, eps 1e-5


def keras_model(input_shape=(9, 8, 3), classes: int = 5) -> keras.Model:
    inp = keras.Input(input_shape)
    x = layers.ReLU()(_bn()(layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)))
    shortcut = _bn()(layers.Conv2D(6, 1, strides=2, use_bias=False)(x))
    y = layers.Conv2D(6, 3, strides=2, use_bias=False)(layers.ZeroPadding2D(1)(x))
    y = layers.ReLU()(_bn()(y))
    y = _bn()(layers.Conv2D(6, 3, padding="same", use_bias=False)(y))
    y = layers.ReLU()(layers.Add()([y, shortcut]))
    return keras.Model(inp, layers.Dense(classes)(layers.GlobalAveragePooling2D()(y)))
