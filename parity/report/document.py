"""The report as a list of blocks (headings, paragraphs, tables, code, figures, the verdict banner
and legend, one collapsible block per case), built once from the run's results and rendered to
markdown and to self-contained HTML by ``render``.

Numbers in the report are rounded to what is stable across runs and machines: errors to 2
significant digits (``1.2e-16``), ULP counts to 2 significant digits, measured tolerances to 2;
``results.csv`` keeps full precision. Verdicts and statuses come from ``parity.verdicts``."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from parity import compare, terminal, verdicts
from parity.mappings import OPTIMIZERS
from parity.report import figures

PAIRS = ["scratch-torch", "scratch-keras", "torch-keras", "scratch[torch]-torch", "scratch-fd"]
FRAMEWORKS = ("scratch", "torch", "keras")


@dataclass
class Heading:
    level: int
    text: str

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.text.lower()).strip("-")


@dataclass
class Para:
    text: str  # inline `code` and **bold** only


@dataclass
class Table:
    df: pd.DataFrame
    anchors: list[str] | None = None  # per row: the id its first cell links to
    sortable: bool = False
    caption: str = ""


@dataclass
class Banner:
    """Cases per verdict (``counts``: verdict -> cases, in ``verdicts.ORDER``), and the legend."""

    counts: dict[str, int]


@dataclass
class Case:
    """One case and dtype: collapsible in HTML (open unless it passed cleanly)."""

    anchor: str
    name: str
    dtype: str
    verdict: str
    blocks: list

    @property
    def title(self) -> str:
        return f"{self.name} ({self.dtype}): {verdicts.label(self.verdict)}"


@dataclass
class Details:
    """Blocks shown on demand (closed in HTML; a bold line and the blocks in markdown)."""

    summary: str
    blocks: list
    open: bool = False


def case_anchor(name: str, dtype: str) -> str:
    return "case-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{name}-{dtype}")


def e2(value) -> str:
    """An error to 2 significant digits, the precision that is stable across runs and machines."""
    return "" if pd.isna(value) else f"{float(value):.1e}"


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    name: str  # file name under plots/
    png: bytes
    caption: str


def _statuses(group: pd.DataFrame) -> list[str]:
    if "status" in group:
        return [s if isinstance(s, str) and s else ("pass" if p else "fail")
                for s, p in zip(group.status, group.passed)]
    return ["pass" if p else "fail" for p in group.passed]


def verdict_of(group: pd.DataFrame) -> str:
    return verdicts.worst(_statuses(group))


def _cell(group: pd.DataFrame) -> str:
    if not len(group):
        return ""
    return f"{verdicts.label(verdict_of(group))} {e2(group.max_rel.max())}"


def summary_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """case x dtype rows; one column per backend pair: verdict and worst max_rel; the odd one out."""
    d = df.assign(pair=df.backend_a + "-" + df.backend_b)
    rows = []
    for (case, dtype), sub in d.groupby(["case", "dtype"], sort=True):
        row = {"case": case, "dtype": dtype, "verdict": verdicts.label(verdict_of(sub))}
        for pair in PAIRS:
            row[pair] = _cell(sub[sub.pair == pair])
        odd = sorted(set(sub.odd_one_out[sub.odd_one_out != ""]))
        row["odd one out"] = ", ".join(odd)
        rows.append(row)
    return pd.DataFrame(rows)


def error_table(sub: pd.DataFrame, quantities: tuple[str, ...]) -> pd.DataFrame:
    """tensor x pair -> worst max_rel (formatted), for the given quantities at step 0."""
    s = sub[sub.quantity.isin(quantities)].assign(pair=sub.backend_a + "-" + sub.backend_b)
    if not len(s):
        return pd.DataFrame()
    t = s.pivot_table(index="tensor", columns="pair", values="max_rel", aggfunc="max", sort=False)
    t = t[[p for p in PAIRS if p in t.columns]]
    return t.map(e2).reset_index()


def float32_vs_float64(case_results) -> pd.DataFrame:
    """How far each framework's float32 result lands from the float64 reference (scratchnet in
    float64, itself checked against finite differences and both frameworks): relative to the
    reference's magnitude, and in float32 ULPs of the reference."""
    by_key = {(r.spec.name, r.spec.dtype): r for r in case_results}
    rows = []
    for (name, dtype), r32 in sorted(by_key.items()):
        r64 = by_key.get((name, "float64"))
        if dtype != "float32" or r64 is None:
            continue
        ref = r64.results["scratch"]
        last = r64.case.keys[-1]
        for backend in FRAMEWORKS:
            b = r32.results[backend]
            out = compare.metrics(b.outputs[last], ref.outputs[last], "float32")
            grads = [compare.metrics(b.grads[k], ref.grads[k], "float32") for k in ref.grads]
            row = {"case": name, "backend": backend, "output max_rel": out.max_rel, "output max ULP": out.max_ulp,
                   "loss rel": abs(b.loss - ref.loss) / max(abs(ref.loss), 1e-300),
                   "grads max_rel": max((g.max_rel for g in grads), default=0.0),
                   "grads max ULP": max((g.max_ulp for g in grads), default=0.0)}
            if b.steps and ref.steps:
                final = [compare.metrics(b.steps[-1][k], ref.steps[-1][k], "float32") for k in ref.steps[-1]]
                row["final weights max_rel"] = max(m.max_rel for m in final)
            rows.append(row)
    df = pd.DataFrame(rows)
    for col in df.columns[2:]:
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else e2(v) if "rel" in col else _ulps(v))
    return df


def _ulps(v: float) -> str:
    """A ULP count to 2 significant digits (small counts exactly)."""
    return f"{v:.0f}" if v < 100 else f"{float(f'{v:.2g}'):.0f}"


def _largest_along_the_way(res) -> pd.DataFrame:
    rows = []
    for a, b in (("scratch", "torch"), ("scratch", "keras"), ("torch", "keras")):
        ra, rb = res.results[a], res.results[b]
        loss = float(np.max(np.abs(np.asarray(ra.losses) - np.asarray(rb.losses))))
        worst, at = 0.0, 0
        for t, (wa, wb) in enumerate(zip(ra.steps, rb.steps), start=1):
            m = max(compare.metrics(wa[k], wb[k], res.spec.dtype).max_rel for k in wa)
            if m > worst:
                worst, at = m, t
        rows.append({"pair": f"{a}-{b}", "largest loss difference": e2(loss),
                     "largest weight max_rel": e2(worst), "at step": at})
    return pd.DataFrame(rows)


def is_seed_tutorial(spec) -> bool:
    """Whether ``spec`` is the seed tutorial's case, whatever its name: its four xor rows and its
    network (3 inputs, 4 sigmoid hidden units, 1 sigmoid output, no biases), the sum of squared
    errors and plain gradient descent: what the tutorial section describes and tabulates."""
    layers = spec.layers
    opt = spec.optimizer.params
    return (spec.data == "xor" and len(layers) == 2
            and all(l.type == "dense" and l.params["activation"] == "sigmoid" and not l.params["use_bias"]
                    for l in layers)
            and [l.params["units"] for l in layers] == [4, 1]
            and spec.loss.type == "sum_squared_error" and spec.optimizer.type == "sgd"
            and not opt.get("momentum") and not opt.get("weight_decay"))


def tutorial_section(case_results) -> list:
    tut = [r for r in case_results if is_seed_tutorial(r.spec)]
    if not tut:
        return []
    runs = sorted({(r.spec.optimizer.params["learning_rate"], r.spec.steps) for r in tut})
    how = "; ".join(f"learning rate {lr:g}, {steps} iterations" for lr, steps in runs)
    blocks = [Heading(2, "The seed tutorial in three frameworks"),
              Para("The tutorial's network (3 inputs, 4 sigmoid hidden units, 1 sigmoid output, no biases, the sum of "
                   f"squared errors, plain gradient descent: {how}) trained on its four "
                   "rows in scratchnet, PyTorch and Keras from the same initial weights. These are not the numbers "
                   "`python -m scratchnet.tutorial` prints: the tutorial module draws its initial weights uniform in "
                   "[0, 1) (`rng.random`, seed 0, as the original tutorial), while the catalog case `tutorial-xor` "
                   "starts from scratchnet's Dense initializer (Glorot uniform) drawn from the case's seed; both "
                   "runs round to the targets [0, 1, 1, 0]."),
              Figure("tutorial-losses.png", figures.tutorial_losses(tut), "Loss curves: the three frameworks overlap.")]
    for res in tut:
        preds = {"target": res.case.y.ravel()}
        for name in FRAMEWORKS:
            if res.results[name].final_output is not None:
                preds[name] = res.results[name].final_output.ravel()
        blocks += [Heading(3, f"{res.spec.name} ({res.spec.dtype}): final predictions and largest differences"),
                   Table(pd.DataFrame(preds).map(lambda v: f"{v:.4f}")),
                   Table(_largest_along_the_way(res))]
    return blocks


def not_run_section(not_run) -> list:
    """The cases that raised instead of finishing: (case, dtype, "<ExceptionType>: <message>")."""
    if not not_run:
        return []
    return [Heading(2, "Cases that did not run"),
            Para("These cases raised an error while running; they have no rows in `results.csv`."),
            Table(pd.DataFrame(list(not_run), columns=["case", "dtype", "error"]))]


def _counts(df: pd.DataFrame, not_run) -> dict[str, int]:
    found = [verdict_of(sub) for _, sub in df.groupby(["case", "dtype"], sort=True)] if len(df) else []
    found += ["error"] * len(not_run)
    return {v: found.count(v) for v in sorted(set(found), key=verdicts.rank)}


def _case_blocks(res, sub: pd.DataFrame) -> list:
    blocks = []
    if res.convention:
        blocks.append(Para(f"**Convention difference** (torch vs Keras trajectories): {res.convention}."))
    if res.spec.steps and OPTIMIZERS[res.spec.optimizer.type].note:
        blocks.append(Para(f"**Note** ({res.spec.optimizer.type}): {OPTIMIZERS[res.spec.optimizer.type].note}."))
    for dev in res.deviations:
        blocks.append(Para(f"**Deviation** ({dev.backend}; {', '.join(dev.quantities)}; rtol {dev.rtol:.2g}): "
                           f"{dev.reason}."))
    status = pd.Series(_statuses(sub), index=sub.index)
    for name in verdicts.NAMES:  # every other excused status the rows carry (noise, defect, ...)
        if name in ("pass", "convention", "deviation", "fail"):
            continue
        for tensor, rows in sub[status == name].groupby("tensor", sort=True):
            size = e2(rows.max_rel.max())  # empty for rows without a size (a known crash)
            blocks.append(Para(f"**{name.capitalize()}** ({tensor}; {f'up to {size} relative, ' if size else ''}"
                               f"{len(rows)} rows): {rows.note.iloc[0]}."))
    failing = sub[~status.map(verdicts.passed)]
    if len(failing):
        caption, cells = terminal.failing_table(failing.to_dict("records"))
        blocks.append(Details(f"Failing tensors: {caption}", [
            Table(pd.DataFrame(cells, columns=list(terminal.TABLE_COLUMNS)))], open=True))
    if res.spec.steps:
        blocks += [Figure(f"{res.spec.name}-{res.spec.dtype}.png", figures.trajectory(res),
                          "The worst difference of the weights after each step, per pair, over the tolerance band."),
                   Figure(f"{res.spec.name}-{res.spec.dtype}-loss.png", figures.losses(res),
                          "The loss before each step in every framework.")]
    blocks.append(Details("Tables: forward per layer and gradients per parameter (worst max_rel)", [
        Para("Forward, per layer:"), Table(error_table(sub, ("output", "loss"))),
        Para("Gradients, per parameter and for the input:"), Table(error_table(sub, ("grad", "fd")))]))
    blocks.append(Details("The filled-in spec", [Code(json.dumps(res.spec.to_dict(), indent=1))]))
    return blocks


def build(df: pd.DataFrame, case_results, env: dict, not_run=()) -> list:
    """The report's blocks; ``not_run`` lists (case, dtype, error) of the cases that raised."""
    summary = summary_matrix(df)
    blocks = [Heading(1, "Parity report"), Banner(_counts(df, not_run)),
              Para(f"numpy {env['numpy']}, torch {env['torch']}, tensorflow {env['tensorflow']}, keras {env['keras']}, "
                   f"python {env['python']} on {env['platform']}; full details in `environment.json`."),
              Para("Every row is judged by one ordered table of rules (`parity.compare.RULES`): tolerance rules set "
                   "a row's tolerance; excuses are tried on a row that fails it, and each holds only when its "
                   "counterfactual rerun agrees strictly (otherwise the row fails: \"claimed cause X did not explain "
                   "it\"). Every optimizer step starts from the reference's weights; free-running trajectories are "
                   "compared until they part. Errors are shown to 2 significant digits; `results.csv` has them in full."),
              Table(pd.DataFrame(compare.rules_table())[["rule", "kind", "status", "formula", "applies"]]),
              Heading(2, "Summary"),
              Table(summary, anchors=[case_anchor(c, d) for c, d in zip(summary.case, summary.dtype)] if len(summary)
                    else None, sortable=True)]
    blocks += not_run_section(not_run)
    blocks += tutorial_section(case_results)
    f3264 = float32_vs_float64(case_results)
    if len(f3264):
        blocks += [Heading(2, "float32 against the float64 reference"),
                   Para("Each framework's float32 run against scratchnet's float64 run of the same case (last layer's "
                        "output, loss, all gradients, weights after the last step)."), Table(f3264)]
    blocks.append(Heading(2, "Cases"))
    for res in case_results:
        sub = df[(df.case == res.spec.name) & (df.dtype == res.spec.dtype)]
        blocks.append(Case(case_anchor(res.spec.name, res.spec.dtype), res.spec.name, res.spec.dtype,
                           verdict_of(sub), _case_blocks(res, sub)))
    return blocks
