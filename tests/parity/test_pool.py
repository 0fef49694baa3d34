"""``parity run -j N``, ``--shard I/N`` and ``parity merge``: the same bytes as one process running
every case (results.csv, tensors.npz, report.md, report.html, plots), and one-line refusals of bad
arguments (exit 2, nothing written)."""
import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.cli import main
from parity.pool import parse_shard, shard

ROOT = Path(__file__).resolve().parents[2]
SELECT = ["-k", "act-relu", "-k", "conv-valid", "-k", "opt-sgd"]  # 3 catalog cases x 2 dtypes
ARTIFACTS = ("results.csv", "tensors.npz", "report.md", "report.html", "environment.json")


def same_report(a: Path, b: Path) -> list[str]:
    """The artifacts and plots in which folders a and b differ (empty: identical bytes)."""
    differ = [f for f in ARTIFACTS if not filecmp.cmp(a / f, b / f, shallow=False)]
    plots = filecmp.dircmp(a / "plots", b / "plots")
    return differ + [f"plots/{f}" for f in plots.diff_files + plots.left_only + plots.right_only]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("j1") / "out"
    assert main(["run", *SELECT, "-q", "--out", str(out)]) == 0
    return out


def test_two_workers_write_the_same_bytes_as_one_process(one_process, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "parity", "run", *SELECT, "-q", "-j", "2", "--out", str(out)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "6 pass" in proc.stdout and "Traceback" not in proc.stderr
    assert same_report(one_process, out) == []
    assert not (out / "shard.pickle").exists()


def test_shards_merged_are_the_unsharded_report(one_process, tmp_path, capsys):
    s1, s2, merged = tmp_path / "s1", tmp_path / "s2", tmp_path / "merged"
    assert main(["run", *SELECT, "-q", "--shard", "1/2", "--out", str(s1)]) == 0
    assert main(["run", *SELECT, "-q", "--shard", "2/2", "--out", str(s2)]) == 0
    csv = [(d / "results.csv").read_text().splitlines() for d in (one_process, s1, s2)]
    # every case in exactly one shard, the shards' rows together the unsharded rows
    assert sorted(csv[1][1:] + csv[2][1:]) == sorted(csv[0][1:])
    # ... but not in the unsharded order: the naive concatenation is not the report (the planted miss)
    assert csv[2][1:] + csv[1][1:] != csv[0][1:]
    assert main(["merge", str(s2), str(s1), "-q", "--out", str(merged)]) == 0
    assert "6 pass; merged 2 shards" in capsys.readouterr().out
    assert same_report(one_process, merged) == []
    assert same_report(one_process, s1) != []  # the comparison sees a shard's partial report


def test_shards_cover_the_selection_once_in_order():
    items = list(range(11))
    for n in (1, 2, 3, 4, 11, 12):
        parts = [shard(items, i, n) for i in range(1, n + 1)]
        assert sorted(x for p in parts for x in p) == items
        assert all(p == sorted(p) for p in parts)
    assert shard(items, 2, 3) == [1, 4, 7, 10]
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1/1 ") == (1, 1)
    for bad in ("0/2", "3/2", "1/0", "a/2", "2", "-1/2", "1/2/3"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv, text", [
    (["-j", "0"], "-j 0: expected a whole number of worker processes >= 1"),
    (["-j", "two"], "-j two: expected a whole number"),
    (["-j", "1.5"], "-j 1.5: expected a whole number"),
    (["--shard", "3/2"], "--shard: expected 1 <= I <= N, got '3/2'"),
    (["--shard", "0/2"], "--shard: expected 1 <= I <= N"),
    (["--shard", "half"], "--shard: expected I/N (e.g. 2/4), got 'half'"),
    (["--shard", "9/9"], "--shard 9/9: selects no case (the selection has 2)"),
])
def test_bad_run_arguments_exit_2_in_one_line(tmp_path, capsys, argv, text):
    out = tmp_path / "out"
    assert main(["run", "-k", "act-relu", *argv, "--out", str(out)]) == 2
    assert text in _one_error_line(capsys)
    assert not out.exists()


def test_bad_merges_exit_2_in_one_line(one_process, tmp_path, capsys):
    s1, s2, t1 = tmp_path / "s1", tmp_path / "s2", tmp_path / "t1"
    assert main(["run", "-k", "act-relu", "-q", "--shard", "1/2", "--out", str(s1)]) == 0
    assert main(["run", "-k", "act-relu", "-q", "--shard", "2/2", "--out", str(s2)]) == 0
    assert main(["run", "-k", "act-relu", "--dtype", "float32", "-q", "--shard", "1/1", "--out", str(t1)]) == 0
    capsys.readouterr()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "shard.pickle").write_bytes(b"not a pickle")
    out = tmp_path / "merged"
    for dirs, text in [
        ([s1], "shard 2/2 missing (got 1 of 2)"),
        ([s1, s1], "shard 1/2 given twice"),
        ([s1, t1], "shard 1/1, but"),
        ([tmp_path / "nowhere"], "no such folder"),
        ([one_process], "no shard.pickle (not written by parity run --shard I/N)"),
        ([tmp_path / "junk"], "unreadable (UnpicklingError"),
    ]:
        assert main(["merge", *map(str, dirs), "--out", str(out)]) == 2
        assert text in _one_error_line(capsys), text
        assert not out.exists()
    assert main(["merge", str(s1), str(s2)]) == 2
    assert "--out" in _one_error_line(capsys)


def _spawned_workers(pid: int) -> list[int]:
    """The pids of ``pid``'s children that are multiprocessing spawn workers (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to see the workers")
def test_ctrl_c_ends_the_workers_at_once(tmp_path):
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "parity", "run", *SELECT, "-j", "2", "--out", str(out)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = _spawned_workers(proc.pid)
    assert len(workers) == 2, "the two workers never started"
    time.sleep(3)  # the workers importing the frameworks or running their first cases
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "interrupted\n", (proc.returncode, err)
    assert time.monotonic() - start < 20  # not waiting for the running cases to finish
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not out.exists()


def test_a_dask_cluster_of_two_workers_writes_the_same_bytes(one_process, tmp_path, capsys):
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed (the [cluster] extra)")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(["run", *SELECT, "-q", "--scheduler", cluster.scheduler_address, "--out", str(out)]) == 0
        assert set(cluster.workers) and len(cluster.workers) == 2
    assert "6 pass" in capsys.readouterr().out
    assert same_report(one_process, out) == []


def test_a_scheduler_nobody_runs_exits_2_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="dask.distributed not installed (the [cluster] extra)")
    assert main(["run", "-k", "act-relu", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")]) == 2
    err = _one_error_line(capsys)
    assert "--scheduler tcp://127.0.0.1:9: cannot reach a dask scheduler there" in err
    assert not (tmp_path / "o").exists()
