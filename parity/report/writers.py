"""results.csv (pandas), tensors.npz, environment.json and a markdown summary."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

FIRM_COLUMNS = ["case", "dtype", "step", "quantity", "tensor", "backend_a", "backend_b", "max_abs", "max_rel",
                "tolerance", "passed"]


def results_frame(case_results) -> pd.DataFrame:
    rows = [row for res in case_results for row in res.rows]
    df = pd.DataFrame(rows)
    extra = [c for c in df.columns if c not in FIRM_COLUMNS]
    return df[FIRM_COLUMNS + extra] if len(df) else pd.DataFrame(columns=FIRM_COLUMNS)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.6g")


def tensors(case_results) -> dict[str, np.ndarray]:
    out = {}
    for res in case_results:
        p = f"{res.spec.name}@{res.spec.dtype}/"
        out[p + "input"], out[p + "target"] = res.case.x, res.case.y
        for k, v in res.case.initial.items():
            out[f"{p}initial/{k}"] = v
        for name, b in res.results.items():
            q = f"{p}{name}/"
            for k, v in b.outputs.items():
                out[f"{q}output/{k}"] = v
            out[q + "loss"] = np.asarray(b.loss)
            out[q + "losses"] = np.asarray(b.losses)
            for k, v in b.grads.items():
                out[f"{q}grad/{k}"] = v
            if b.input_grad is not None:
                out[q + "grad/input"] = b.input_grad
            for t, weights in enumerate(b.steps, start=1):
                for k, v in weights.items():
                    out[f"{q}step{t}/{k}"] = v
        if res.fd is not None:
            grads, dx, _ = res.fd
            for k, v in grads.items():
                out[f"{p}fd/grad/{k}"] = v
            if dx is not None:
                out[p + "fd/grad/input"] = dx
    return out


def write_npz(case_results, path: Path) -> None:
    np.savez_compressed(path, **tensors(case_results))


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case x dtype x backend pair: pass/fail, worst relative error, odd one out."""
    if not len(df):
        return pd.DataFrame()
    d = df[df.backend_b != "fd"].copy()
    d["pair"] = d.backend_a + "-" + d.backend_b
    g = d.groupby(["case", "dtype", "pair"], sort=True)
    out = g.agg(
        passed=("passed", "all"), worst_max_rel=("max_rel", "max"),
        conventions=("status", lambda s: int((s == "convention").sum())),
        deviations=("status", lambda s: int((s == "deviation").sum()))).reset_index()
    odd = d[d.odd_one_out != ""].groupby(["case", "dtype"]).odd_one_out.agg(lambda s: ", ".join(sorted(set(s))))
    out["odd_one_out"] = [odd.get((c, t), "") for c, t in zip(out.case, out.dtype)]
    return out


def write_markdown(df: pd.DataFrame, case_results, env: dict, path: Path) -> None:
    lines = ["# Parity report", "",
             f"numpy {env['numpy']}, torch {env['torch']}, tensorflow {env['tensorflow']}, keras {env['keras']}, "
             f"python {env['python']} on {env['platform']}.", "",
             "Tolerances: max|a - b| <= rtol * max(max|a|, max|b|), rtol 1e-12 (float64) / 1e-5 (float32), "
             "times t at optimizer step t (see parity/compare.py).", "", "## Summary", ""]
    s = summary(df)
    if len(s):
        lines += ["| case | dtype | pair | verdict | worst max_rel | convention rows | deviation rows | odd one out |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in s.itertuples():
            lines.append(f"| {r.case} | {r.dtype} | {r.pair} | {'pass' if r.passed else '**FAIL**'} | "
                         f"{r.worst_max_rel:.2e} | {r.conventions} | {r.deviations} | {r.odd_one_out} |")
    lines += ["", "## Cases", ""]
    for res in case_results:
        lines += [f"### {res.spec.name} ({res.spec.dtype}): {'pass' if res.passed else 'FAIL'}", "",
                  "```json", json.dumps(res.spec.to_dict(), indent=1), "```", ""]
        if res.convention:
            lines += [f"Convention difference (torch vs Keras trajectories): {res.convention}.", ""]
        for dev in res.deviations:
            lines += [f"Deviation ({dev.backend}, {', '.join(dev.quantities)}; rtol {dev.rtol:g}): {dev.reason}.", ""]
        sub = df[(df.case == res.spec.name) & (df.dtype == res.spec.dtype)]
        worst = sub.groupby(["quantity", "backend_a", "backend_b"]).max_rel.max().reset_index()
        lines += ["| quantity | pair | worst max_rel |", "|---|---|---|"]
        lines += [f"| {w.quantity} | {w.backend_a}-{w.backend_b} | {w.max_rel:.2e} |" for w in worst.itertuples()]
        failing = sub[~sub.passed]
        if len(failing):
            lines += ["", "Failing tensors:", ""]
            lines += [f"- step {f.step} {f.quantity} `{f.tensor}` {f.backend_a}-{f.backend_b}: max_abs {f.max_abs:.3g}, "
                      f"max_rel {f.max_rel:.3g} > {f.tolerance:.3g} at {f.worst_index}; odd one out: {f.odd_one_out or '?'}"
                      for f in failing.head(20).itertuples()]
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
