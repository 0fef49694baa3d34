"""from_torch on public architectures as their authors write them (small sizes, the same code
idioms): the PyTorch tutorial's LeNet (``F.max_pool2d``, ``x.view(-1, 16 * 5 * 5)``), torchvision's
ResNet BasicBlock (one ``self.relu`` called twice, a downsample shortcut, ``out += identity``),
torchvision's VGG head (``nn.AdaptiveAvgPool2d((7, 7))``) and ``F.dropout(x, p, self.training)``.
Each import is checked by the importer against the module's own output; the refusals below show
that what is not a spec layer is still refused by name."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import parity  # noqa: E402
from parity import importers as imp  # noqa: E402


def _randomise_bn(module):
    """Trained-looking BatchNorm statistics and affine parameters (a fresh BN is the identity-ish)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return module.eval()


class TutorialLeNet(nn.Module):
    """The PyTorch 60-minute blitz's network, on 1 x 20 x 16 images (one channel: the importer's check feeds
    a fresh C-order NCHW tensor, not a transposed NHWC one that torch reads as channels_last memory)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 3 * 2, 12)
        self.fc2 = nn.Linear(12, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 16 * 3 * 2)
        return self.fc2(F.relu(self.fc1(x)))


def test_tutorial_lenet_functional_pools_and_view_minus_one():
    torch.manual_seed(0)
    m = TutorialLeNet().eval()
    spec, w = parity.from_torch(m, (3, 20, 16, 1))
    assert [l["type"] for l in spec["layers"]] == ["conv2d", "relu", "max_pool2d", "conv2d", "relu", "max_pool2d",
                                                  "flatten", "dense", "relu", "dense"]
    assert spec["layers"][2]["pool_size"] == [2, 2] and spec["layers"][2]["strides"] == [2, 2]
    # the flatten is torch's (C, H, W) order: fc1's rows are permuted to the spec's (H, W, C)
    perm = np.arange(96).reshape(16, 3, 2).transpose(1, 2, 0).ravel()
    np.testing.assert_array_equal(w["fc1/kernel"], m.fc1.weight.detach().numpy().T[perm])


def test_view_that_is_not_a_flatten_is_refused():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x).view(-1, 6)  # 12 values a sample: two rows per sample

    with pytest.raises(imp.ImportRefused, match=r"^view \(view\): a reshape other than"):
        parity.from_torch(Half(), (2, 4, 5, 1))


def test_functional_pool_arguments_are_read():
    class Pools(nn.Module):
        def forward(self, x):
            return F.avg_pool2d(F.max_pool2d(x, 3, 2, 1), kernel_size=2, stride=1)

    spec, _ = parity.from_torch(Pools(), (2, 9, 7, 2))
    mp, ap = spec["layers"]
    assert (mp["type"], mp["pool_size"], mp["strides"], mp["padding"]) == ("max_pool2d", [3, 3], [2, 2], "same")
    assert (ap["type"], ap["pool_size"], ap["strides"]) == ("average_pool2d", [2, 2], [1, 1])

    class Counted(nn.Module):
        def forward(self, x):
            return F.avg_pool2d(x, 3, 1, 1)  # count_include_pad=True by default: not Keras's average

    with pytest.raises(imp.ImportRefused, match=r"count_include_pad=True\) counts the padded zeros"):
        parity.from_torch(Counted(), (2, 6, 5, 2))


def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, verbatim but for the norm_layer argument."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
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


def test_resnet_basic_block_reuses_its_relu_and_downsamples():
    torch.manual_seed(1)
    down = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))
    m = _randomise_bn(nn.Sequential(BasicBlock(4, 6, 2, down), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                    nn.Linear(6, 3)))
    spec, _ = parity.from_torch(m, (2, 7, 6, 4))
    named = [(l["name"], l["type"], l["inputs"]) for l in spec["layers"]]
    assert named == [
        ("0_conv1", "conv2d", ["input"]), ("0_bn1", "batch_normalization", ["0_conv1"]), ("0_relu", "relu", ["0_bn1"]),
        ("0_conv2", "conv2d", ["0_relu"]), ("0_bn2", "batch_normalization", ["0_conv2"]),
        ("0_downsample_0", "conv2d", ["input"]), ("0_downsample_1", "batch_normalization", ["0_downsample_0"]),
        ("add", "add", ["0_bn2", "0_downsample_1"]), ("0_relu_2", "relu", ["add"]),
        ("1", "global_average_pool2d", ["0_relu_2"]), ("3", "dense", ["1"])]


def test_a_module_with_weights_called_twice_is_still_refused():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    with pytest.raises(imp.ImportRefused, match=r"^fc \(Linear\): called twice: shared weights have no spec"):
        parity.from_torch(Shared(), (2, 4))


def test_vgg_adaptive_average_pool_to_a_divisor_is_a_fixed_pool():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((2, 3)),
                      nn.Flatten(), nn.Linear(4 * 2 * 3, 5)).eval()
    spec, _ = parity.from_torch(m, (2, 6, 9, 3))
    pool = spec["layers"][2]
    assert (pool["type"], pool["pool_size"], pool["strides"]) == ("average_pool2d", [3, 3], [3, 3])
    with pytest.raises(imp.ImportRefused, match=r"^2 \(AdaptiveAvgPool2d\): .*only an output size dividing"):
        parity.from_torch(m, (2, 7, 9, 3))  # 7 rows into 2 windows overlap: no fixed pool


def test_functional_dropout_reads_as_dropout_and_runs():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(5, 7)
            self.fc2 = nn.Linear(7, 3)

        def forward(self, x):
            return self.fc2(F.dropout(F.relu(self.fc1(x)), p=0.25, training=self.training))

    torch.manual_seed(3)
    spec, _ = parity.from_torch(Head().train(), (4, 5))
    assert [l["type"] for l in spec["layers"]] == ["dense", "relu", "dropout", "dense"]
    assert spec["layers"][2]["rate"] == 0.25 and spec["training"] is True


class TextClassifier(nn.Module):
    """The embedding -> (bi)LSTM -> linear text classifier of the tutorials, in its three readings
    of the recurrent output: ``out[:, -1, :]``, the final states ``cat(h[-2], h[-1])``, the mean over
    time."""

    def __init__(self, read: str, bidirectional: bool):
        super().__init__()
        self.read = read
        self.embedding = nn.Embedding(13, 5)
        self.lstm = nn.LSTM(5, 6, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(12 if bidirectional else 6, 3)

    def forward(self, x):
        out, (h, _) = self.lstm(self.embedding(x))
        if self.read == "last":
            return self.fc(out[:, -1, :])
        if self.read == "states":
            return self.fc(torch.cat((h[-2], h[-1]), dim=1))
        return self.fc(out.mean(dim=1))


def _text(read, bidirectional):
    torch.manual_seed(4)
    return TextClassifier(read, bidirectional).eval()


def test_last_step_with_a_trailing_slice():
    spec, _ = parity.from_torch(_text("last", False), (3, 7))
    assert [l["type"] for l in spec["layers"]] == ["embedding", "lstm", "dense"]
    assert spec["layers"][1]["return_sequences"] is False


def test_bidirectional_lstm_final_states_and_mean_over_time():
    m = _text("states", True)
    spec, w = parity.from_torch(m, (3, 7))
    bi = spec["layers"][1]
    assert (bi["type"], bi["merge_mode"], bi["layer"]["type"], bi["layer"]["units"], bi["layer"]["return_sequences"]) \
        == ("bidirectional", "concat", "lstm", 6, False)
    # the backward direction's input kernel is weight_ih_l0_reverse, transposed (gates i, f, g, o alike)
    np.testing.assert_array_equal(w["lstm/backward/kernel"], m.lstm.weight_ih_l0_reverse.detach().numpy().T)
    spec, _ = parity.from_torch(_text("mean", True), (3, 7))
    assert [l["type"] for l in spec["layers"]] == ["embedding", "bidirectional", "global_average_pool1d", "dense"]
    assert spec["layers"][1]["layer"]["return_sequences"] is True


def test_bidirectional_last_step_is_refused_with_the_reason():
    with pytest.raises(imp.ImportRefused, match=r"^lstm \(LSTM\): .*out\[:, -1\].*backward half there is one step in"):
        parity.from_torch(_text("last", True), (3, 7))


def test_bidirectional_import_runs_three_ways():
    spec, _ = parity.from_torch(_text("states", True).double(), (3, 7), steps=1)
    r = parity.check(spec)
    assert r.passed, r.worst


class PostNormEncoder(nn.Module):
    """A transformer encoder block written out by hand (the "Attention is all you need" post-norm
    order): a bare nn.MultiheadAttention called ``out, _ = self.attn(x, x, x)``."""

    def __init__(self, d=8, heads=2, ff=12):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x):
        a, _ = self.attn(x, x, x, need_weights=False)
        x = self.ln1(x + a)
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class CausalBlock(nn.Module):
    """A GPT block with nn.MultiheadAttention and a registered causal mask (True above the diagonal)."""

    def __init__(self, d=8, t=5, float_mask=False):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        if float_mask:  # nn.Transformer.generate_square_subsequent_mask's form
            mask = torch.zeros(t, t).masked_fill(mask, float("-inf"))
        self.register_buffer("mask", mask)

    def forward(self, x):
        h = self.ln(x)
        return x + self.attn(h, h, h, attn_mask=self.mask)[0]


def test_bare_multihead_attention_in_a_hand_written_encoder():
    torch.manual_seed(5)
    m = PostNormEncoder().eval()
    spec, w = parity.from_torch(m, (2, 5, 8))
    assert [l["type"] for l in spec["layers"]] == ["multi_head_attention", "add", "layer_normalization", "dense",
                                                  "gelu", "dense", "add", "layer_normalization"]
    attn = spec["layers"][0]
    assert (attn["num_heads"], attn["key_dim"], attn["causal"], attn["inputs"]) == (2, 4, False, ["input"])
    # Keras's query kernel (E, heads, key_dim) is the first E rows of torch's packed in_proj_weight, transposed
    q = m.attn.in_proj_weight.detach().numpy()[:8].T.reshape(8, 2, 4)
    np.testing.assert_array_equal(w["attn/query/kernel"], q)


@pytest.mark.parametrize("float_mask", [False, True])
def test_causal_mask_buffer_reads_as_causal(float_mask):
    torch.manual_seed(6)
    spec, _ = parity.from_torch(CausalBlock(float_mask=float_mask).eval(), (2, 5, 8))
    assert spec["layers"][1]["type"] == "multi_head_attention" and spec["layers"][1]["causal"] is True


def test_cross_attention_inputs_are_reordered_and_other_masks_refused():
    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            k = torch.tanh(self.proj(x))
            return self.attn(x, k, x)[0]  # query x, key k, value x: the spec's [query, value, key]

    spec, _ = parity.from_torch(Cross().eval(), (2, 5, 8))
    assert spec["layers"][-1]["inputs"] == ["input", "input", "tanh"]
    # a mask that is not the causal one (the diagonal blocked too) has no spec
    with pytest.raises(imp.ImportRefused, match=r"^attn \(MultiheadAttention\): attn_mask is not the causal mask"):
        m = CausalBlock().eval()
        m.mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 0)
        parity.from_torch(m, (2, 5, 8))


def test_attention_weights_used_or_dropout_refused():
    class Weights(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            out, weights = self.attn(x, x, x)
            return out * weights.mean()

    with pytest.raises(imp.ImportRefused, match=r"^attn \(MultiheadAttention\): its attention weights"):
        parity.from_torch(Weights(), (2, 5, 8))
    m = PostNormEncoder()
    m.attn.dropout = 0.1
    with pytest.raises(imp.ImportRefused, match=r"^attn \(MultiheadAttention\): nn.MultiheadAttention\(dropout=0.1"):
        parity.from_torch(m, (2, 5, 8))


@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_transformer_encoder_layer_reads_as_its_pieces(norm_first):
    torch.manual_seed(7)
    layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first)
    m = nn.Sequential(nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False), nn.Linear(8, 3)).eval()
    spec, _ = parity.from_torch(m, (2, 5, 8))
    one = ["multi_head_attention", "add", "layer_normalization", "dense", "gelu", "dense", "add", "layer_normalization"]
    if norm_first:
        one = ["layer_normalization", "multi_head_attention", "add", "layer_normalization", "dense", "gelu", "dense", "add"]
    assert [l["type"] for l in spec["layers"]] == one * 2 + ["dense"]
    names = [l["name"] for l in spec["layers"]]
    assert "0_layers_1_self_attn" in names and "0_layers_0_add2" in names


def test_transformer_encoder_with_a_mask_or_dropout_is_refused():
    layer = nn.TransformerEncoderLayer(8, 2, 12, batch_first=True)  # dropout 0.1 by default

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True)

        def forward(self, x):
            return self.layer(x, is_causal=True)  # torch's hint without its mask

    with pytest.raises(imp.ImportRefused, match=r"^self_attn \(MultiheadAttention\): nn.MultiheadAttention\(dropout=0.1"):
        parity.from_torch(layer, (2, 5, 8))
    with pytest.raises(imp.ImportRefused, match=r"^layer \(TransformerEncoderLayer\): called with masks"):
        parity.from_torch(Masked(), (2, 5, 8))


# -- torch vs Keras twins (compare_models): the spellings each framework's authors use --------------
keras = pytest.importorskip("keras")


def test_keras_relu_layer_spellings():
    from keras import layers as L

    model = keras.Sequential([keras.Input((6,)), L.Dense(5), L.ReLU(6.0), L.Dense(4), L.ReLU(negative_slope=0.125),
                              L.Dense(3), L.ReLU()])
    spec, _ = parity.from_keras(model, (2, 6))
    assert [l["type"] for l in spec["layers"]][1::2] == ["relu6", "leaky_relu", "relu"]
    assert spec["layers"][3]["negative_slope"] == 0.125
    odd = keras.Sequential([keras.Input((6,)), L.ReLU(threshold=0.5, name="thresholded")])
    with pytest.raises(imp.ImportRefused, match=r"^thresholded \(ReLU\): ReLU\(max_value=None, negative_slope=0.0, "
                                                r"threshold=0.5\)"):
        parity.from_keras(odd, (2, 6))


def _strided_torch():
    """torch's stride-2 3x3 conv with padding=1 (torchvision's ResNet downsampling, MobileNet's stem)."""
    torch.manual_seed(8)
    return _randomise_bn(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4),
                                       nn.ReLU6(inplace=True), nn.Flatten(), nn.Linear(4 * 4 * 3, 2)))


def _strided_keras(pad):
    """Keras's spelling of it (keras.applications' ResNet and MobileNet): ZeroPadding2D + a valid conv."""
    from keras import layers as L

    return keras.Sequential([keras.Input((7, 6, 3)), L.ZeroPadding2D(pad), L.Conv2D(4, 3, strides=2, use_bias=False),
                             L.BatchNormalization(momentum=0.9, epsilon=1e-5), L.Activation("relu6"), L.Flatten(), L.Dense(2)])


def test_zero_padding_then_valid_conv_is_torch_padding():
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3))
    r = parity.compare_models(_strided_torch(), _strided_keras(1), x)
    assert r.passed, r.message
    spec, _ = parity.from_keras(_strided_keras(1), (2, 7, 6, 3))
    assert imp.normalise(spec)["layers"][0]["padding"] == [1, 1]  # Keras's own spec keeps both layers
    assert [l["type"] for l in spec["layers"]][:2] == ["zero_padding2d", "conv2d"]
    # padding only bottom and right is TensorFlow's "same" for this stride: another architecture than torch's
    from parity.porting import ModelsDiffer

    with pytest.raises(ModelsDiffer, match="layer 0 differs"):
        parity.compare_models(_strided_torch(), _strided_keras(((0, 1), (0, 1))), x)


def test_self_attention_spelled_mha_x_x_and_mha_x_x_x_is_one_architecture():
    from keras import layers as L

    inp = keras.Input((5, 8))
    a = L.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)  # Keras: (query, value)
    x = L.LayerNormalization(epsilon=1e-5)(L.Add()([inp, a]))
    f = L.Dense(8)(L.Dense(12, activation="gelu")(x))
    model = keras.Model(inp, L.LayerNormalization(epsilon=1e-5)(L.Add()([x, f])))
    torch.manual_seed(9)
    r = parity.compare_models(PostNormEncoder().double().eval(), model, np.random.default_rng(1).standard_normal((2, 5, 8)))
    assert r.passed, r.message


class AudioNet(nn.Module):
    """A 1-d conv audio net on (N, T, C) clips: torch's Conv1d/BatchNorm1d on the transposed view."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(2, 6, kernel_size=5, stride=2)
        self.bn1 = nn.BatchNorm1d(6)
        self.conv2 = nn.Conv1d(6, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = x.transpose(1, 2)
        x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 2)
        return self.fc(F.relu(self.conv2(x)).mean(dim=2))


def test_batchnorm1d_and_functional_pool_on_the_transposed_sequence():
    from keras import layers as L

    torch.manual_seed(10)
    m = AudioNet().eval()
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-0.5, 0.5)
        m.bn1.running_var.uniform_(0.5, 1.5)
    spec, w = parity.from_torch(m, (2, 30, 2))
    assert [l["type"] for l in spec["layers"]] == ["conv1d", "batch_normalization", "relu", "max_pool1d", "conv1d",
                                                  "relu", "global_average_pool1d", "dense"]
    np.testing.assert_array_equal(w["bn1/moving_variance"], m.bn1.running_var.numpy())
    k = keras.Sequential([keras.Input((30, 2)), L.Conv1D(6, 5, strides=2), L.BatchNormalization(momentum=0.9, epsilon=1e-5),
                          L.ReLU(), L.MaxPooling1D(2), L.Conv1D(8, 3, padding="same", activation="relu"),
                          L.GlobalAveragePooling1D(), L.Dense(4)])
    r = parity.compare_models(m, k, np.random.default_rng(2).standard_normal((2, 30, 2)).astype("float32"))
    assert r.passed, r.message


def test_functional_interpolate_in_a_decoder():
    class Decoder(nn.Module):
        """A U-Net / FPN decoder step: upsample by F.interpolate, concatenate the skip, convolve."""

        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.fuse = nn.Conv2d(7, 2, 1)

        def forward(self, x):
            h = F.interpolate(F.relu(self.down(x)), scale_factor=2, mode="bilinear", align_corners=False)
            return self.fuse(torch.cat([x, h], dim=1))

    torch.manual_seed(11)
    spec, _ = parity.from_torch(Decoder().eval(), (2, 6, 4, 3))
    up = spec["layers"][2]
    assert (up["type"], up["size"], up["interpolation"]) == ("up_sampling2d", [2, 2], "bilinear")

    class Corners(Decoder):
        def forward(self, x):
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    with pytest.raises(imp.ImportRefused, match=r"^interpolate \(interpolate\): nn.Upsample\(.*align_corners=True\)"):
        parity.from_torch(Corners(), (2, 6, 4, 3))


class NanoGPTAttention(nn.Module):
    """nanoGPT's CausalSelfAttention: heads split by hand from ``x.size()``."""

    def __init__(self, n_embd=8, n_head=2):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def test_hand_split_attention_heads_are_refused_in_one_line_naming_the_idiom():
    with pytest.raises(imp.ImportRefused, match=r"^size \(size\): x.size\(\) beyond x.size\(0\) feeds a hand-written "
                                                r"reshape .*\(an nn.MultiheadAttention does\)$"):
        parity.from_torch(NanoGPTAttention(), (2, 6, 8))
