"""The atlas: every runnable snippet runs (and a planted wrong weight copy in it fails), the
Markdown has real headings and a contents list whose links land, and ``explain`` takes spec types,
framework class names in any case, and suggests the nearest name for a typo."""
import re

import pytest

from parity import atlas
from parity.cli import main
from parity.mappings import LOSSES, OPTIMIZERS, REGISTRY

ALL = {**{t: m.atlas for t, m in REGISTRY.items()}, **{t: m.atlas for t, m in LOSSES.items()},
       **{t: m.atlas for t, m in OPTIMIZERS.items()}}
WITH_SNIPPET = sorted(t for t, a in ALL.items() if a.snippet)
# one snippet may cover a family (every activation, every 2-D pool): each distinct one runs once,
# named by the first entry that shows it
SNIPPETS = {}
for _t in WITH_SNIPPET:
    SNIPPETS.setdefault(ALL[_t].snippet, _t)
# the entries students ask about most must carry a worked, runnable example
REQUIRED = {"dense", "conv2d", "lstm", "gru", "batch_normalization", "adam", "multi_head_attention"}


def _run(code: str, name: str) -> dict:
    namespace = {"__name__": f"atlas_snippet_{name}"}
    exec(compile(code, f"<atlas snippet {name}>", "exec"), namespace)
    return namespace


def test_the_most_asked_entries_have_snippets():
    assert REQUIRED <= set(WITH_SNIPPET)


@pytest.mark.parametrize("type_name", sorted(SNIPPETS.values()))
def test_every_snippet_runs(type_name):
    _run(ALL[type_name].snippet, type_name)


@pytest.mark.parametrize("type_name, right, wrong", [
    ("dense", "torch.from_numpy(kernel.T)", "torch.from_numpy(kernel.T[::-1].copy())"),
    ("conv2d", "torch_conv(F.pad(x_nchw, (0, 1, 0, 1)))", "torch_conv(F.pad(x_nchw, (1, 0, 1, 0)))"),
    ("lstm", "keras_lstm.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])", "keras_lstm.set_weights([w_ih.T, w_hh.T, b_ih])"),
    ("gru", "return np.concatenate([z, r, n])", "return np.concatenate([r, z, n])"),
    ("batch_normalization", "momentum=0.01, dtype=torch.float64", "momentum=0.99, dtype=torch.float64"),
    ("adam", 'epsilon=eps, convention="torch"', 'epsilon=eps, convention="keras"'),
    ("sgd", 'opt.param_groups[0]["lr"] = lr', 'opt.param_groups[0]["lr"] = lrs[0]'),
    ("categorical_crossentropy", "CategoricalCrossentropy(from_logits=True)", "CategoricalCrossentropy()"),
    ("relu", '"hard_silu": (nn.Hardswish()', '"hard_silu": (nn.Hardsigmoid()'),
    ("relu", "nn.Softmax(dim=1)(torch.from_numpy(img", "nn.Softmax(dim=2)(torch.from_numpy(img"),
    ("max_pool2d", "nn.ConstantPad2d((0, 1, 0, 1)", "nn.ConstantPad2d((1, 0, 1, 0)"),
    ("max_pool2d", "count_include_pad=False", "count_include_pad=True"),
    ("max_pool1d", "F.pad(nct(t), (0, 1), value=", "F.pad(nct(t), (1, 0), value="),
    ("max_pool1d", "t.amax(dim=1)", "t.max(dim=1).values * 0.5"),
    ("conv1d", "F.pad(torch.from_numpy(x).transpose(1, 2), (4, 0))", "F.pad(torch.from_numpy(x).transpose(1, 2), (0, 4))"),
    ("depthwise_conv2d", "W[:, 0].transpose(1, 2, 0)", "W[:, 0].transpose(2, 1, 0)"),
    ("conv2d_transpose", "keras_same(x).numpy(), y_full[:, 0:8, 0:6]", "keras_same(x).numpy(), y_full[:, 1:9, 1:7]"),
    ("layer_normalization", "x.var(axis=(1, 2), keepdims=True)", "x.var(axis=(1, 2), keepdims=True, ddof=1)"),
    ("dropout", "sn_drop.set_mask(y_torch != 0)", "sn_drop.set_mask(y_keras != 0)"),
    ("embedding", "np.add.at(expected, ids, w)", "expected[ids] = w"),
    ("flatten", "kernel = torch_dense.weight.detach().numpy().T[perm]", "kernel = torch_dense.weight.detach().numpy().T"),
    ("simple_rnn", "b_ih + b_hh])", "b_ih])"),
    ("bidirectional", "torch.cat([h_n[0], h_n[1]], dim=-1)", "out[:, -1]"),
    ("up_sampling2d", "nn.ZeroPad2d((3, 0, 1, 2))", "nn.ZeroPad2d((1, 2, 3, 0))"),
    ("up_sampling2d", '{"align_corners": False} if mode', '{"align_corners": True} if mode'),
    ("add", "lambda t: torch.stack(t).amax(0), sn.Maximum()", "lambda t: torch.stack(t).amin(0), sn.Maximum()"),
    ("add", "np.testing.assert_array_equal(ga.numpy(), [[1.0, 1.0]])", "np.testing.assert_array_equal(ga.numpy(), [[0.5, 1.0]])"),
    ("multi_head_attention", "W.reshape(E, H * D).T for W in (Wq, Wk, Wv)", "W.reshape(E, H * D).T for W in (Wk, Wq, Wv)"),
    ("multi_head_attention", "attn_mask=blocked, need_weights", "attn_mask=~blocked, need_weights"),
    ("multi_head_attention", "Wo.reshape(H * D, E).T", "Wo.transpose(1, 0, 2).reshape(H * D, E).T"),
    ("huber", "PoissonNLLLoss(log_input=False, eps=1e-7", "PoissonNLLLoss(log_input=False, eps=1e-8"),
    ("huber", 'KLDivLoss(reduction="batchmean")', 'KLDivLoss(reduction="mean")'),
    ("huber", "4 * float(keras_loss(keras.losses.Huber", "1 * float(keras_loss(keras.losses.Huber"),
    ("hinge", "hinge_t = 2 * bits - 1", "hinge_t = bits"),
    ("hinge", "(alpha * (1 - q) ** gamma", "((1 - q) ** gamma"),
    ("rmsprop", "alpha=rho, eps=eps, momentum=0.5", "alpha=rho, eps=eps * 4, momentum=0.5"),
    ("rmsprop", 'KERAS_ONLY = {"nadam": {"tf_float32_decay": True}}', "KERAS_ONLY = {}"),
    ("rmsprop", "momentum_decay=1.0, decoupled_weight_decay=True", "momentum_decay=0.004, decoupled_weight_decay=True"),
])
def test_a_planted_wrong_copy_in_a_snippet_fails(type_name, right, wrong):
    code = ALL[type_name].snippet
    assert code.count(right) == 1, (type_name, right)
    with pytest.raises(AssertionError):
        _run(code.replace(right, wrong), type_name)


def test_markdown_headings_are_outside_code_fences_and_the_contents_links_land():
    text = atlas.render(None)
    fenced, headings = False, []
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("## ") and not fenced:
            headings.append(line[3:])
    assert not fenced
    anchors = {"".join(c for c in h.lower().replace(" ", "-") if c.isalnum() or c in "-_") for h in headings}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) == sum(len(types) for _, types in atlas.ordered_types()) and set(links) <= anchors
    for t in ALL:
        assert f"## {ALL[t].title} (" in text, t
    assert text.count("```python") == len(WITH_SNIPPET)
    assert "$$" in text  # LaTeX where the mappings give it


def test_every_layer_loss_and_optimizer_entry_points_to_a_snippet_that_runs():
    """Every entry shows a runnable snippet (test_every_snippet_runs runs each distinct one);
    only the optimizer options (clipping, weight-decay exclusion) are notes without one."""
    assert sorted(t for t, a in ALL.items() if not a.snippet) == []
    assert len(SNIPPETS) < len(ALL)  # families share one (every activation, the merges, the losses)


def test_entries_without_latex_or_snippet_still_render():
    options = atlas.OPTIMIZER_OPTIONS
    plain = next(t for t in sorted(options) if not options[t].latex and not options[t].snippet)
    md = atlas.entry_markdown(plain)
    assert md.startswith("## ") and "```text" in md and "```python" not in md


@pytest.mark.parametrize("name, expected", [
    ("lstm", "lstm"), ("LSTM", "lstm"), ("nn.LSTM", "lstm"), ("torch.nn.LSTM", "lstm"), ("keras.layers.LSTM", "lstm"),
    ("nn.Linear", "dense"), ("Dense", "dense"), ("nn.Conv2d", "conv2d"), ("keras.layers.Conv2D", "conv2d"),
    ("BatchNorm2d", "batch_normalization"), ("keras.layers.BatchNormalization", "batch_normalization"),
    ("nn.RNN", "simple_rnn"), ("SimpleRNN", "simple_rnn"), ("nn.MaxPool2d", "max_pool2d"),
    ("MaxPooling2D", "max_pool2d"), ("nn.LeakyReLU", "leaky_relu"), ("torch.optim.Adam", "adam"),
    ("keras.optimizers.SGD", "sgd"), ("nn.CrossEntropyLoss", "categorical_crossentropy"),
    ("keras.losses.SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
    ("nn.MSELoss", "mean_squared_error"), ("Batch_Normalization", "batch_normalization"),
])
def test_explain_resolves_framework_names(name, expected):
    assert atlas.resolve(name) == expected


def test_explain_suggests_the_nearest_name(capsys):
    assert main(["explain", "lstmm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'lstm'?" in err
    assert main(["explain", "nn.LSTM"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lstm  (layer)") and "keras_lstm.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])" in out


def test_the_student_answers_are_where_the_formulas_are():
    adam = OPTIMIZERS["adam"].atlas
    assert "eps_hat" in adam.math and "eps_hat is Keras's `epsilon`" in adam.notes
    assert "no constant torch eps reproduces Keras's Adam" in adam.notes
    assert "agree only then" in OPTIMIZERS["sgd"].atlas.notes
    for loss in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
        notes = LOSSES[loss].atlas.notes
        assert "from_logits=False" in notes and "(y_true, y_pred)" in notes and "(input, target)" in notes
    assert "pads symmetrically" not in REGISTRY["conv2d"].atlas.defaults
