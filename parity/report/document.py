"""The report as a list of blocks (headings, paragraphs, tables, code, figures), built once from
the run's results and rendered to markdown and to self-contained HTML by ``render``."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from parity import compare
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


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    name: str  # file name under plots/
    png: bytes
    caption: str


def _cell(group: pd.DataFrame) -> str:
    if not len(group):
        return ""
    worst = group.max_rel.max()
    if not group.passed.all():
        return f"FAIL {worst:.1e}"
    if (group.status == "convention").any():
        return f"convention {worst:.1e}"
    if (group.status == "noise").any():
        return f"noise {worst:.1e}"
    if (group.status == "deviation").any():
        return f"deviation {worst:.1e}"
    return f"pass {worst:.1e}"


def summary_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """case x dtype rows; one column per backend pair: verdict and worst max_rel; the odd one out."""
    d = df.assign(pair=df.backend_a + "-" + df.backend_b)
    rows = []
    for (case, dtype), sub in d.groupby(["case", "dtype"], sort=True):
        row = {"case": case, "dtype": dtype, "verdict": "pass" if sub.passed.all() else "FAIL"}
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
    return t.map(lambda v: "" if pd.isna(v) else f"{v:.1e}").reset_index()


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
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else f"{v:.1e}" if "rel" in col else f"{v:.0f}")
    return df


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
        rows.append({"pair": f"{a}-{b}", "largest loss difference": f"{loss:.1e}",
                     "largest weight max_rel": f"{worst:.1e}", "at step": at})
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
                   "rows in scratchnet, PyTorch and Keras from the same initial weights."),
              Figure("tutorial-losses.png", figures.tutorial_losses(tut), "Loss curves: the three frameworks overlap.")]
    for res in tut:
        preds = {"target": res.case.y.ravel()}
        for name in FRAMEWORKS:
            if res.results[name].final_output is not None:
                preds[name] = res.results[name].final_output.ravel()
        blocks += [Heading(3, f"{res.spec.name} ({res.spec.dtype}): final predictions and largest differences"),
                   Table(pd.DataFrame(preds).map(lambda v: f"{v:.6f}")),
                   Table(_largest_along_the_way(res))]
    return blocks


def not_run_section(not_run) -> list:
    """The cases that raised instead of finishing: (case, dtype, "<ExceptionType>: <message>")."""
    if not not_run:
        return []
    return [Heading(2, "Cases that did not run"),
            Para("These cases raised an error while running; they have no rows in `results.csv`."),
            Table(pd.DataFrame(list(not_run), columns=["case", "dtype", "error"]))]


def build(df: pd.DataFrame, case_results, env: dict, not_run=()) -> list:
    """The report's blocks; ``not_run`` lists (case, dtype, error) of the cases that raised."""
    blocks = [Heading(1, "Parity report"),
              Para(f"numpy {env['numpy']}, torch {env['torch']}, tensorflow {env['tensorflow']}, keras {env['keras']}, "
                   f"python {env['python']} on {env['platform']}; full details in `environment.json`."),
              Para("Every row is judged by one ordered table of rules (`parity.compare.RULES`): tolerance rules set "
                   "a row's tolerance; excuses are tried on a row that fails it, and each holds only when its "
                   "counterfactual rerun agrees strictly (otherwise the row fails: \"claimed cause X did not explain "
                   "it\"). Every optimizer step starts from the reference's weights; free-running trajectories are "
                   "compared until they part."),
              Table(pd.DataFrame(compare.rules_table())[["rule", "kind", "status", "formula", "applies"]]),
              Heading(2, "Summary"), Table(summary_matrix(df))]
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
        blocks += [Heading(3, f"{res.spec.name} ({res.spec.dtype}): {'pass' if res.passed else 'FAIL'}"),
                   Code(json.dumps(res.spec.to_dict(), indent=1))]
        if res.convention:
            blocks.append(Para(f"**Convention difference** (torch vs Keras trajectories): {res.convention}."))
        if res.spec.steps and OPTIMIZERS[res.spec.optimizer.type].note:
            blocks.append(Para(f"**Note** ({res.spec.optimizer.type}): {OPTIMIZERS[res.spec.optimizer.type].note}."))
        for dev in res.deviations:
            blocks.append(Para(f"**Deviation** ({dev.backend}; {', '.join(dev.quantities)}; rtol {dev.rtol:g}): {dev.reason}."))
        for tensor, noise in sub[sub.status == "noise"].groupby("tensor", sort=True):
            blocks.append(Para(f"**Noise** ({tensor}; up to {noise.max_rel.max():.1e} relative, {len(noise)} rows): "
                               f"{noise.note.iloc[0]}."))
        blocks += [Para("Forward, per layer (worst max_rel):"), Table(error_table(sub, ("output", "loss"))),
                   Para("Gradients, per parameter and for the input (worst max_rel):"),
                   Table(error_table(sub, ("grad", "fd")))]
        if res.spec.steps:
            blocks.append(Figure(f"{res.spec.name}-{res.spec.dtype}.png", figures.trajectory_and_losses(res),
                                 "Trajectory error against the step, and the loss curves."))
        failing = sub[~sub.passed]
        if len(failing):
            blocks.append(Para("Failing tensors:"))
            blocks.append(Table(failing[["step", "quantity", "tensor", "backend_a", "backend_b", "max_abs", "max_rel",
                                         "tolerance", "worst_index", "odd_one_out"]].head(20)))
    return blocks
