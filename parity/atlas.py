"""The atlas: how each spec type maps onto the math and onto each framework's API, rendered from
the same mappings the backends use (never written by hand, so it cannot drift), with the agreement
measured in the last run (``reports/results.csv``) when there is one.

    python -m parity.atlas [--results reports/results.csv] > reports/atlas.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

from parity.mappings import LOSSES, OPTIMIZERS, REGISTRY
from parity.mappings.optimizers import OPTIONS as OPTIMIZER_OPTIONS

DEFAULT_RESULTS = Path(__file__).resolve().parents[1] / "reports" / "results.csv"


def known_types() -> set[str]:
    return set(REGISTRY) | set(LOSSES) | set(OPTIMIZERS) | set(OPTIMIZER_OPTIONS)


def _atlas(type_name: str):
    for table, kind in ((REGISTRY, "layer"), (LOSSES, "loss"), (OPTIMIZERS, "optimizer")):
        if type_name in table:
            return table[type_name].atlas, kind
    if type_name in OPTIMIZER_OPTIONS:
        return OPTIMIZER_OPTIONS[type_name], "optimizer option"
    raise KeyError(type_name)


def load_results(path: Path | None = None):
    """The last run's rows, or None when there is no results file."""
    import pandas as pd

    path = Path(path) if path else DEFAULT_RESULTS
    return pd.read_csv(path) if path.exists() else None


def measured(type_name: str, df) -> str:
    """Worst max_rel across frameworks per dtype for rows that exercise ``type_name``, from
    ``results.csv``: a layer's outputs and gradients; a loss's value; an optimizer's steps
    (convention rows apart)."""
    if df is None or not len(df):
        return "not measured yet (run `make report`)"
    import pandas as pd

    from parity.spec import load_catalog

    _, kind = _atlas(type_name)
    d = df[df.backend_b != "fd"]
    if kind == "layer":
        types = {(s.name, layer.name): layer.type for s in load_catalog() for layer in s.plan}
        layer_type = [types.get((case, tensor.split("/")[0])) for case, tensor in zip(d.case, d.tensor)]
        rows = d[d.quantity.isin(["output", "grad"]) & (pd.Series(layer_type, index=d.index) == type_name)]
    elif kind == "optimizer option":
        def uses(p):
            lr = p.get("learning_rate")
            return p.get(type_name) is not None or (isinstance(lr, dict) and lr.get("schedule") == type_name)
        cases = {s.name for s in load_catalog() if uses(s.optimizer.params)}
        rows = d[d.case.isin(cases) & (d.quantity == "step")]
    else:
        field = "loss" if kind == "loss" else "optimizer"
        cases = {s.name for s in load_catalog() if getattr(s, field).type == type_name}
        quantity = ["loss"] if kind == "loss" else ["step"]
        rows = d[d.case.isin(cases) & d.quantity.isin(quantity)]
    if not len(rows):
        return "no case in the last run exercises it"
    strict = rows[~rows.status.isin(["convention", "noise"])]
    parts = [f"{dtype} worst {g.max_rel.max():.1e}" for dtype, g in strict.groupby("dtype")]
    conv = rows[rows.status == "convention"]
    if len(conv):
        parts.append(f"torch vs Keras by convention up to {conv.max_rel.max():.1e}")
    verdict = "all pass" if rows.passed.all() else f"{int((~rows.passed).sum())} FAILING rows"
    return f"{', '.join(parts)} over {rows.case.nunique()} case(s), {verdict}"


def entry_text(type_name: str, results=None) -> str:
    """The entry as plain text, for the terminal (``parity explain``)."""
    a, kind = _atlas(type_name)
    parts = [f"{a.title}  ({kind})", "", "Math:", *("    " + l for l in a.math.splitlines()), "",
             f"scratchnet: {a.scratch}", f"torch:      {a.torch}", f"keras:      {a.keras}"]
    if kind == "layer":
        parts.append(f"weights:    {a.layout}")
    parts.append(f"defaults:   {a.defaults}")
    if a.notes:
        parts.append(f"notes:      {a.notes}")
    parts.append(f"measured:   {measured(type_name, results)}")
    if a.snippet:
        parts += ["", "Runnable (the exact constructors and weight copy, asserted):", "",
                  *("    " + l if l else "" for l in a.snippet.rstrip().splitlines())]
    return "\n".join(parts)


def anchor(type_name: str) -> str:
    """The GitHub-style anchor of an entry's heading (``## dense (layer)`` -> ``dense-layer``)."""
    a, kind = _atlas(type_name)
    text = f"{a.title} ({kind})".lower()
    return "".join(c for c in text.replace(" ", "-") if c.isalnum() or c in "-_")


def entry_markdown(type_name: str, results=None) -> str:
    """The entry as Markdown: a heading, the math (LaTeX where the mapping gives it), the three
    calls, the weight layout, the differing defaults, notes, the measured agreement, the snippet."""
    a, kind = _atlas(type_name)
    lines = [f"## {a.title} ({kind})", ""]
    if a.latex:
        lines += [*(f"$${l}$$" for l in a.latex.splitlines()), ""]
    else:
        lines += ["```text", a.math, "```", ""]
    lines += [f"- **scratchnet**: `{a.scratch}`", f"- **torch**: `{a.torch}`", f"- **keras**: `{a.keras}`"]
    if kind == "layer":
        lines.append(f"- **weights**: {a.layout}")
    lines.append(f"- **defaults**: {a.defaults}")
    if a.notes:
        lines.append(f"- **notes**: {a.notes}")
    lines.append(f"- **measured**: {measured(type_name, results)}")
    if a.snippet:
        lines += ["", "Runnable, and run by the tests (`parity/mappings/snippets/"
                  f"{type_name}.py`): the exact constructors and weight copy in all three, asserted.", "",
                  "```python", a.snippet.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def ordered_types() -> list[tuple[str, list[str]]]:
    """(section, types): layers by family, then losses, optimizers and optimizer options."""
    layers = sorted(REGISTRY, key=lambda t: (REGISTRY[t].family, t))
    return [("Layers", layers), ("Losses", list(LOSSES)), ("Optimizers", list(OPTIMIZERS)),
            ("Optimizer options", list(OPTIMIZER_OPTIONS))]


def render(results=None) -> str:
    lines = ["# Atlas: each spec type in numpy (scratchnet), PyTorch and Keras 3", "",
             "Generated by `python -m parity.atlas` from parity/mappings/ and the last run's results.csv: never "
             "edited by hand. `python -m parity explain TYPE` prints one entry (framework class names such as "
             "`nn.LSTM` or `keras.layers.LSTM` work too). Math is in LaTeX where the mapping gives it; entries "
             "with a *Runnable* block carry code the tests execute.", "", "## Contents", ""]
    for section, types in ordered_types():
        links = ", ".join(f"[{t}](#{anchor(t)})" for t in types)
        lines.append(f"- **{section}**: {links}")
    lines.append("")
    for section, types in ordered_types():
        lines += [f"<!-- {section} -->", ""]
        lines += [entry_markdown(t, results) for t in types]
    return "\n".join(lines)


# Framework spellings that differ from the spec type and its scratchnet class (matched after
# lower-casing and dropping module prefixes and underscores): torch's names mostly.
_TORCH_NAMES = {
    "linear": "dense", "rnn": "simple_rnn", "maxpool2d": "max_pool2d", "maxpooling2d": "max_pool2d",
    "avgpool2d": "average_pool2d", "averagepooling2d": "average_pool2d",
    "adaptiveavgpool2d": "global_average_pool2d", "globalaveragepooling2d": "global_average_pool2d",
    "layernorm": "layer_normalization", "leakyrelu": "leaky_relu", "hardsigmoid": "hard_sigmoid",
    "logsoftmax": "log_softmax", "mseloss": "mean_squared_error", "huberloss": "huber",
    "unflatten": "reshape",
}
_PREFIXES = ("tf.keras.layers.", "tf.keras.", "keras.layers.", "keras.losses.", "keras.optimizers.", "keras.",
             "torch.nn.functional.", "torch.nn.", "torch.optim.", "torch.", "nn.functional.", "nn.", "f.", "optim.",
             "layers.", "losses.", "optimizers.", "scratchnet.layers.", "scratchnet.", "sn.")


def _key(name: str) -> str:
    name = name.strip().lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name.replace("_", "")


def aliases() -> dict[str, str]:
    """Every accepted spelling (normalised by ``_key``) -> the spec type."""
    from parity.spec.vocabulary import SCRATCH_CLASSES

    out = {_key(k): v for k, v in _TORCH_NAMES.items() if v in known_types()}
    for t in known_types():
        a, _ = _atlas(t)
        for alias in a.aliases:
            out.setdefault(_key(alias), t)
        cls = SCRATCH_CLASSES.get(t)
        if cls and cls != "Activation":
            out.setdefault(_key(cls), t)
    for t in known_types():
        out[_key(t)] = t  # the spec type itself always wins
    return out


def resolve(name: str) -> str:
    """The spec type that ``name`` means (``LSTM``, ``nn.LSTM``, ``keras.layers.LSTM`` -> ``lstm``);
    KeyError with the nearest known name when there is none."""
    table = aliases()
    key = _key(name)
    if key in table:
        return table[key]
    import difflib

    near = difflib.get_close_matches(key, list(table), n=1, cutoff=0.6)
    hint = f"; did you mean {table[near[0]]!r}?" if near else ""
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise KeyError(f"unknown type {shown!r}{hint} (python -m parity.atlas lists them all)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="render the atlas")
    parser.add_argument("--results", type=Path, default=None, help="results.csv of the run to quote")
    args = parser.parse_args(argv)
    print(render(load_results(args.results)))


if __name__ == "__main__":
    main()
