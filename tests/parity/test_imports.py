"""The command modules import their shared helpers from parity.cli_checks, never each other:
parity.bench does not import parity.cli (which imports parity.bench for its subcommand)."""
import ast
from pathlib import Path

PARITY = Path(__file__).resolve().parents[2] / "parity"


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` anywhere in ``source`` names."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_bench_never_imports_the_cli():
    offenders = {path.name for path in (PARITY / "bench").glob("*.py")
                 if "parity.cli" in imported_modules(path.read_text())}
    assert offenders == set()


def test_the_check_sees_a_lazy_import():
    assert "parity.cli" in imported_modules("def f():\n    from parity.cli import UsageError\n")
    assert "parity.cli" not in imported_modules("from parity.cli_checks import UsageError\n")
