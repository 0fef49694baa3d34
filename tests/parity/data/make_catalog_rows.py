"""Write catalog_rows.json: every catalog case's comparison rows as (quantity, tensor, step,
backend_a, backend_b), per case and dtype, as the code imported from PYTHONPATH produces them.

Run it from main's code (the commit a branch is based on), never from the change under test:
``tests/parity/test_catalog.py`` compares each case's rows against this file, so a refactor that
drops, adds or renames a row is caught.

    PYTHONPATH=<main checkout> python tests/parity/data/make_catalog_rows.py [OUT]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from parity.run import run_case
from parity.spec import load_catalog


def row_keys(rows) -> list[list]:
    """The identity of each row, in the order the run produced them."""
    return [[r["quantity"], r["tensor"], int(r["step"]), r["backend_a"], r["backend_b"]] for r in rows]


def main(out: str) -> None:
    table = {}
    for spec in load_catalog():
        for dtype in ("float64", "float32"):
            table[f"{spec.name}@{dtype}"] = row_keys(run_case(spec.with_dtype(dtype)).rows)
            print(spec.name, dtype, len(table[f"{spec.name}@{dtype}"]), flush=True)
    lines = [f"{json.dumps(case)}: {json.dumps(table[case], separators=(',', ':'))}" for case in sorted(table)]
    Path(out).write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one line per case: diffs read per case


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("catalog_rows.json")))
