"""Writers for a run's artifacts: results.csv, tensors.npz, environment.json, report.md,
report.html and the defects' repro scripts. ``write_artifacts`` writes them all into a folder;
``write_report`` publishes them as ``--out`` does (staged, swapped in whole, under its lock:
``parity.report.publish``)."""
from __future__ import annotations

from pathlib import Path


def write_artifacts(results, folder: Path, not_run: list | None = None) -> None:
    """Every artifact of ``results`` (``parity.run.CaseResult``s) into ``folder``. ``not_run``:
    (name, dtype, error) of cases that crashed."""
    from parity.report import document, environment, render, writers

    folder = Path(folder)
    env = environment.environment()
    df = writers.results_frame(results)
    writers.write_csv(df, folder / "results.csv")
    writers.write_npz(results, folder / "tensors.npz")
    writers.write_json(env, folder / "environment.json")
    writers.write_repros(results, folder)
    blocks = document.build(df, results, env, not_run=not_run or [])
    render.to_markdown(blocks, folder / "report.md", folder / "plots")
    render.to_html(blocks, folder / "report.html")


def write_report(results, out: Path, not_run: list | None = None) -> Path:
    """``write_artifacts`` published into ``out`` as ``parity run --out`` does."""
    from parity.report import publish
    from parity.spec.errors import printable

    shown = Path(out)
    out = shown.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with publish.OutputFolder(out) as folder:
            folder.publish(lambda staging: write_artifacts(results, staging, not_run))
    except publish.PublishError as exc:
        raise publish.PublishError(f"{printable(str(shown))}: {exc}") from None
    except (FileExistsError, NotADirectoryError):
        raise publish.PublishError(f"{printable(str(shown))}: a file stands where a folder of the path "
                                   "should be") from None
    return out
