"""results.csv (pandas), tensors.npz and environment.json; the report itself is document + render."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from parity.fdcheck import fd_tensors

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
        out.update(fd_tensors(res.fd, p))
    return out


def write_npz(case_results, path: Path) -> None:
    np.savez_compressed(path, **tensors(case_results))


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")


def write_repros(case_results, folder: Path) -> list[Path]:
    """``repro/<defect>.py`` for every known framework defect a case's rows were excused by: a
    standalone script that shows the bug (``parity.mappings.defects``)."""
    written = []
    for res in case_results:
        for defect, _ in getattr(res, "defects", []):
            if not any(r["status"] == "defect" and defect.name in r["note"] for r in res.rows):
                continue
            path = folder / "repro" / f"{defect.name}.py"
            if path not in written:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(defect.repro(res.case))
                written.append(path)
    return written
