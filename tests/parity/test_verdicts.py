"""The one ordered table of statuses (DESIGN.md): a case's verdict is its worst row, and the exit
code follows the verdicts."""
from parity import verdicts


def test_order_is_the_firm_one():
    assert verdicts.NAMES == ("pass", "convention", "noise", "deviation", "defect", "diverged", "fail", "error")
    assert verdicts.PASSING == {"pass", "convention", "noise", "deviation", "defect"}


def test_worst_row_decides_and_unknown_statuses_never_pass():
    assert verdicts.worst([]) == "pass"
    assert verdicts.worst(["pass", "noise", "convention"]) == "noise"
    assert verdicts.worst(["defect", "deviation", "pass"]) == "defect"
    assert verdicts.worst(["fail", "diverged", "defect"]) == "fail"
    assert verdicts.worst(["fail", "error"]) == "error"
    assert verdicts.worst(["pass", "brand-new"]) == "brand-new"
    assert not verdicts.passed("brand-new")


def test_exit_code():
    assert verdicts.exit_code(["pass", "convention", "deviation", "noise", "defect"]) == 0
    for bad in ("fail", "error", "diverged"):
        assert verdicts.exit_code(["pass", bad]) == 1


def test_every_verdict_has_distinct_colours_and_a_meaning():
    assert len({v.colour for v in verdicts.ORDER}) == len(verdicts.ORDER)
    assert all(v.meaning and v.ink != v.colour for v in verdicts.ORDER)
    assert verdicts.label("fail") == "FAIL" and verdicts.label("convention") == "convention"
