"""Hostile arguments found by mutating every field of every catalog spec and by calling every
subcommand and API entry point with bad values: each is refused in one line naming the field or
argument (exit 2 on the command line; SpecError / ValueError in Python), and nothing of the
user's is overwritten, moved or removed."""
import json
import pickle

import numpy as np
import pytest

import parity
from parity.cli import main
from parity.spec import SpecError, load_catalog, parse_spec

GOOD = {"name": "ok-mlp", "seed": 2, "input_shape": [3, 4],
        "layers": [{"type": "dense", "units": 5, "activation": "relu"}, {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def write(tmp_path, spec, name="case.json"):
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def _no_case_may_run(monkeypatch):
    def run_case(spec, **options):
        raise AssertionError("a case ran before the bad input was refused")
    monkeypatch.setattr("parity.run.run_case", run_case)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


# --- the spec parser -----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [[], ["mean_squared_error"], {}, {"type": "huber"}])
def test_a_loss_type_that_is_not_a_string_names_loss_type(bad):
    """(Was a TypeError "unhashable type" from the loss-option refusals, before the type check.)"""
    with pytest.raises(SpecError, match=r"^x\.json: loss\.type: expected a loss type, one of .* \(an? (list|object)\)$"):
        parse_spec(dict(GOOD, loss={"type": bad}), "x.json")


def test_every_catalog_field_set_to_a_list_or_object_is_refused_by_field():
    """Every field of every catalog spec (filled in) set to [] or {}: a SpecError or a spec, never
    another exception (the mutation that found loss.type)."""
    from parity.run import check_supported

    def paths(obj, prefix=()):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield prefix + (k,)
                yield from paths(v, prefix + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                yield prefix + (i,)
                yield from paths(v, prefix + (i,))

    tried = 0
    for spec in load_catalog()[::7]:
        base = spec.to_dict()
        for path in paths(base):
            for value in ([], {}, [[1]], None):
                data = json.loads(json.dumps(base))
                node = data
                for p in path[:-1]:
                    node = node[p]
                node[path[-1]] = value
                try:
                    check_supported(parse_spec(data, "x.json"))
                except SpecError as exc:
                    assert len(str(exc).splitlines()) == 1
                tried += 1
    assert tried > 500


def test_a_layer_name_too_long_for_a_tensor_key_is_refused(tmp_path, monkeypatch, capsys):
    """A 70000-character layer name: refused by the parser, not a struct.error traceback from
    the zip writer of tensors.npz (a member name holds at most 65535 bytes) after the run."""
    from parity.spec.checks import MAX_LAYER_NAME_LENGTH

    _no_case_may_run(monkeypatch)
    long = dict(GOOD, layers=[{"type": "dense", "units": 2, "name": "a" * 70000}])
    assert main(["run", write(tmp_path, long), "--out", str(tmp_path / "out")]) == 2
    err = _one_error_line(capsys)
    assert f"layers[0].name: expected a layer name of at most {MAX_LAYER_NAME_LENGTH} characters" in err, err
    assert "got one of 70000" in err and not (tmp_path / "out").exists()
    ok = dict(GOOD, layers=[{"type": "dense", "units": 2, "name": "a" * MAX_LAYER_NAME_LENGTH}])
    assert parse_spec(ok, "x.json").layers[0].name == "a" * MAX_LAYER_NAME_LENGTH


def test_the_json_schema_carries_the_layer_name_limit():
    from parity.spec import reference
    from parity.spec.checks import MAX_LAYER_NAME_LENGTH

    assert f'"maxLength": {MAX_LAYER_NAME_LENGTH}' in reference.json_text()


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("content", ['{"name": "my-own-spec"}', "my notes\n", "<?xml version='1.0'?>\n<notjunit/>"])
def test_junit_xml_never_overwrites_a_file_that_is_not_junit(tmp_path, monkeypatch, capsys, content):
    """``--junit-xml case.json`` (a typo naming the spec itself) overwrote the user's spec."""
    _no_case_may_run(monkeypatch)
    spec = write(tmp_path, GOOD)
    mine = tmp_path / "mine.json"
    mine.write_text(content)
    assert main(["run", spec, "--junit-xml", str(mine), "--out", str(tmp_path / "out")]) == 2
    err = _one_error_line(capsys)
    assert "--junit-xml" in err and "exists and is not a JUnit XML file" in err, err
    assert mine.read_text() == content and not (tmp_path / "out").exists()


def test_junit_xml_replaces_its_own_previous_file_and_refuses_an_empty_path(tmp_path, monkeypatch, capsys):
    from parity.cli import _check_file_target
    from parity.cli_checks import UsageError
    from parity.terminal import write_junit

    previous = tmp_path / "results.xml"
    write_junit([], previous)
    _check_file_target(previous, "--junit-xml")  # a JUnit file of ours: may be replaced
    (tmp_path / "empty.xml").write_text("")
    _check_file_target(tmp_path / "empty.xml", "--junit-xml")
    with pytest.raises(UsageError, match="--junit-xml: expected a file path, got an empty string"):
        _check_file_target("", "--junit-xml")
    _no_case_may_run(monkeypatch)
    assert main(["run", write(tmp_path, GOOD), "--junit-xml", "", "--out", str(tmp_path / "out")]) == 2
    assert "expected a file path" in _one_error_line(capsys)


def test_jobs_start_no_more_workers_than_cpus_or_cases(monkeypatch):
    """``-j 100000`` must not start 100000 processes of ~1 GB each."""
    import os

    from parity import pool

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert pool.workers(100000, 286) == 3
    assert pool.workers(100000, 1) == 1
    assert pool.workers(2, 286) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert pool.workers(2, 5) == 2  # -j 2 still runs two workers on one CPU (the pool path, tested)
    assert pool.workers(8, 5) == 2


def test_jobs_hands_the_capped_count_to_the_pool(monkeypatch):
    import concurrent.futures as cf

    from parity import pool

    seen = {}

    class Refuse(Exception):
        pass

    def fake_pool(max_workers, **kw):
        seen["max_workers"] = max_workers
        raise Refuse
    monkeypatch.setattr(cf, "ProcessPoolExecutor", fake_pool)
    monkeypatch.setattr(pool, "workers", lambda jobs, cases: 3)
    with pytest.raises(Refuse):
        next(pool.outcomes(list(range(50)), jobs=100000))
    assert seen == {"max_workers": 3}


def _shard_folder(tmp_path, record, name="s1"):
    folder = tmp_path / name
    folder.mkdir()
    with open(folder / "shard.pickle", "wb") as f:
        pickle.dump(record, f)
    return str(folder)


@pytest.mark.parametrize("record, text", [
    ({"format": 1}, "not a shard record (shard: expected [I, N]"),
    ({"format": 1, "shard": "1/2", "selection": [], "cases": []}, "shard: expected [I, N]"),
    ({"format": 1, "shard": [3, 2], "selection": [], "cases": []}, "shard: expected [I, N] with 1 <= I <= N"),
    ({"format": 1, "shard": [1, 1], "selection": "x", "cases": []}, "selection: expected a list of [name, dtype]"),
    ({"format": 1, "shard": [1, 1], "selection": [["a", "float64"]], "cases": [[5, None, "boom"]]},
     "cases: expected [position in the selection"),
    ({"format": 1, "shard": [1, 1], "selection": [["a", "float64"]], "cases": [[0, None, None]]},
     "cases: expected [position in the selection"),
])
def test_a_malformed_shard_record_is_one_line(tmp_path, capsys, record, text):
    """(A format-1 record without its keys was a KeyError traceback.)"""
    folder = _shard_folder(tmp_path, record)
    assert main(["merge", folder, "--out", str(tmp_path / "merged")]) == 2
    err = _one_error_line(capsys)
    assert text in err and "shard.pickle" in err, err
    assert not (tmp_path / "merged").exists()


def test_merge_of_a_file_says_it_is_not_a_folder(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    assert main(["merge", str(tmp_path / "afile"), "--out", str(tmp_path / "merged")]) == 2
    assert "afile: is not a folder" in _one_error_line(capsys)


# --- the report folder from Python ---------------------------------------------------------

def test_write_report_onto_a_users_file_refuses_and_keeps_the_file(tmp_path):
    """``Result.write_report("notes.txt")`` exchanged the user's file with the staged report: the
    file ended up under a hidden staging name, which the next run removed."""
    from parity.report import publish, write_report

    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(ValueError, match=r"notes\.txt: exists and is not a folder"):
        write_report([], mine)
    assert mine.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if ".parity-stage-" in p.name] == []
    with pytest.raises(publish.PublishError, match="exists and is not a folder"):
        with publish.OutputFolder(mine) as folder:
            folder.publish(lambda staging: None)
    assert mine.read_text() == "mine"


def test_a_file_named_like_a_stage_is_never_removed(tmp_path):
    from parity.report import publish

    theirs = tmp_path / ".out.parity-stage-1-00"
    theirs.write_text("not a stage: a file")
    with publish.OutputFolder(tmp_path / "out"):
        pass
    assert theirs.read_text() == "not a stage: a file"


def test_write_report_under_a_file_names_the_path(tmp_path):
    from parity.report import write_report

    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ValueError, match=r"afile/sub: a file stands where a folder of the path should be"):
        write_report([], tmp_path / "afile" / "sub")
    assert (tmp_path / "afile").read_text() == "mine"


# --- parity.check's arguments --------------------------------------------------------------

def test_check_reads_numpy_values_in_a_spec_dict(monkeypatch):
    """A spec built in Python with numpy ints and a shape array (``x.shape``, ``np.int64``) reads
    as its JSON twin (was a TypeError from json.dumps)."""
    from parity import api

    spec = api.as_spec(dict(GOOD, seed=np.int64(3), input_shape=np.array([3, 4]),
                            layers=[{"type": "dense", "units": np.int32(5)}, {"type": "dense", "units": 2}],
                            optimizer={"type": "sgd", "learning_rate": np.float32(0.125)}))
    assert spec.seed == 3 and spec.input_shape == (3, 4) and spec.layers[0].params["units"] == 5
    assert spec == api.as_spec(dict(GOOD, seed=3, layers=[{"type": "dense", "units": 5}, {"type": "dense", "units": 2}]))


@pytest.mark.parametrize("spec, text", [
    (dict(GOOD, input_shape={3, 4}), r"<spec>: input_shape: expected a non-empty list of positive ints"),
    (dict(GOOD, steps=object()), r"<spec>: steps: expected an int >= 0"),
])
def test_check_names_the_field_of_a_python_value_json_has_no_twin_for(spec, text):
    with pytest.raises(SpecError, match=text):
        parity.check(spec)


def test_check_of_a_spec_dict_that_contains_itself_is_refused_by_depth():
    spec = dict(GOOD)
    spec["layers"] = [dict(GOOD["layers"][0])]
    spec["layers"][0]["activation"] = spec
    with pytest.raises(SpecError, match="expected nesting at most 16 deep"):
        parity.check(spec)


@pytest.mark.parametrize("kwargs, text", [
    ({"variants": [1]}, r"^variants: expected a dict of backend name -> parity\.run\.Variant, got list$"),
    ({"variants": {"torch": 3}}, r"^variants\['torch'\]: expected a parity\.run\.Variant"),
    ({"initial": [1]}, r"^initial: expected a dict of weights keyed <layer>/<param>, got list$"),
    ({"data": np.zeros((3, 4))}, r"^data: expected an \(x, y\) pair \(y None to draw the targets\), got ndarray$"),
    ({"data": [[0.0] * 4] * 3}, r"^data: expected an \(x, y\) pair .*, got list of 3$"),
    ({"data": (np.full((3, 4), np.nan), None)}, r"^data: x must be finite floats, got NaN or inf$"),
    ({"data": (np.array([["a"] * 4] * 3), None)}, r"^data: x must be finite floats, got <U1$"),
    ({"data": (np.zeros((3, 4)), np.full((3, 2), np.inf))}, r"^data: y must be finite numbers, got NaN or inf$"),
])
def test_check_refuses_bad_arguments_by_name_before_any_case_runs(monkeypatch, kwargs, text):
    import parity.run

    def backend_run(*a, **k):
        raise AssertionError("a backend ran")
    monkeypatch.setattr(parity.run, "backend_run", backend_run)
    with pytest.raises(ValueError, match=text):
        parity.check(GOOD, **kwargs)


def test_check_refuses_initial_weights_that_are_not_finite(monkeypatch):
    import parity.run

    good = parity.run.prepare(parse_spec(GOOD)).initial
    bad = {k: v.copy() for k, v in good.items()}
    bad["0_dense/kernel"][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"^initial: '0_dense/kernel' must be finite numbers, got NaN or inf$"):
        parity.run.prepare(parse_spec(GOOD), initial=bad)
    assert parity.run.prepare(parse_spec(GOOD), initial=good).initial.keys() == good.keys()


def test_check_refuses_token_ids_and_class_ids_out_of_range():
    import parity.run

    embed = dict(GOOD, input_shape=[3, 4], input={"kind": "integers", "high": 7},
                 layers=[{"type": "embedding", "input_dim": 7, "output_dim": 2}, {"type": "flatten"},
                         {"type": "dense", "units": 3}, {"type": "softmax"}],
                 loss={"type": "sparse_categorical_crossentropy"})
    spec = parse_spec(embed)
    ids = np.arange(12).reshape(3, 4) % 7
    parity.run.prepare(spec, data=(ids, None))
    with pytest.raises(ValueError, match=r"^data: x holds token ids in \[0, 7\], the embedding takes \[0, 7\)$"):
        parity.run.prepare(spec, data=(np.where(ids == 6, 7, ids), None))
    with pytest.raises(ValueError, match=r"^data: x holds token ids in \[-1, 6\]"):
        parity.run.prepare(spec, data=(np.where(ids == 0, -1, ids), None))
    parity.run.prepare(spec, data=(ids, np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r"^data: y must be class ids in \[0, 3\) for sparse_categorical_crossentropy, "
                                         r"got values in \[0, 3\]$"):
        parity.run.prepare(spec, data=(ids, np.array([0, 1, 3])))


def test_variant_spec_may_be_given_as_a_dict(monkeypatch):
    from parity import api
    from parity.run import Variant

    out = api._variants({"keras": Variant(spec=dict(GOOD, optimizer={"type": "sgd", "learning_rate": 0.25}))})
    assert out["keras"].spec.optimizer.params["learning_rate"] == 0.25


@pytest.mark.parametrize("specs", ["case.json", None, GOOD])
def test_check_many_refuses_one_spec_or_none(specs):
    with pytest.raises(SpecError, match=r"^<specs>: specs: expected an iterable of specs"):
        parity.check_many(specs)


# --- from_torch / from_keras / compare_models --------------------------------------------------

@pytest.mark.parametrize("shape", [(2, -3), "2,3", None, (2.5, 3), (), (True, 3), [[2, 3]]])
def test_from_torch_names_a_bad_input_shape(shape):
    import torch

    from parity.importers import ImportRefused

    with pytest.raises(ImportRefused, match=r"^input_shape: expected positive ints, batch first"):
        parity.from_torch(torch.nn.Linear(3, 2), shape)


@pytest.mark.parametrize("call, text", [
    (lambda torch, keras: parity.from_torch(3, (2, 3)), r"^module: expected a torch\.nn\.Module, got int$"),
    (lambda torch, keras: parity.from_torch(torch.nn.Linear(3, 2), (2, 3), loss=3),
     r"^loss: expected a type name or a spec object"),
    (lambda torch, keras: parity.from_torch(torch.nn.Linear(3, 2), (2, 3), optimizer=[1]),
     r"^optimizer: expected a type name or a spec object"),
    (lambda torch, keras: parity.from_keras(torch.nn.Linear(3, 2)), r"^model: expected a keras\.Model, got Linear$"),
    (lambda torch, keras: parity.from_keras(None), r"^model: expected a keras\.Model, got NoneType$"),
    (lambda torch, keras: parity.compare_models(None, None, np.zeros((2, 3))), r"^module: expected a torch\.nn\.Module"),
    (lambda torch, keras: parity.compare_models(torch.nn.Linear(3, 2), None, "abc"),
     r"^x: expected a batch of numbers \(N, \.\.\.\)"),
    (lambda torch, keras: parity.compare_models(torch.nn.Linear(3, 2), None, 3.0), r"^x: expected a batch of numbers"),
])
def test_the_porting_api_names_a_bad_argument(call, text):
    import keras
    import torch

    with pytest.raises(ValueError, match=text):
        call(torch, keras)


def test_from_torch_takes_a_loss_type_name():
    import torch

    spec, _ = parity.from_torch(torch.nn.Linear(3, 2), (2, 3), loss="huber", optimizer="adam")
    assert spec["loss"] == {"type": "huber"} and spec["optimizer"] == {"type": "adam"}
    with pytest.raises(SpecError, match=r"loss\.type: expected a loss type"):
        parity.from_torch(torch.nn.Linear(3, 2), (2, 3), loss="nosuch")


# --- diagnose RESULT_DIR -------------------------------------------------------------------

@pytest.mark.parametrize("content, text", [
    (b"a,b\n1,2\n", "expected the columns of parity run's results.csv, got none named case, dtype, passed"),
    (b"", "got none named case, dtype, passed"),
    (b"case,dtype,passed\nopt-adam,\xff\xfe,False\n", "expected UTF-8 text, got invalid start byte"),
    (b"case,dtype,passed\nopt-adam,float16,False\n", "line 2: dtype: expected float32 or float64, got 'float16'"),
    (b'case,dtype,passed\n"' + b"x" * 200000 + b'",float64,False\n', "expected CSV, got field larger than field limit"),
    (b"case,dtype,passed\nopt-adam\n", "line 2: dtype: expected float32 or float64, got 'None'"),
    (b"case,dtype,passed\nmy-own,float64,False\n", "case 'my-own' is not a catalog case"),
])
def test_diagnose_of_a_hostile_results_folder_is_one_line(tmp_path, monkeypatch, capsys, content, text):
    """(A results.csv without a case column was a KeyError traceback, one not in UTF-8 a
    UnicodeDecodeError.)"""
    _no_case_may_run(monkeypatch)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results.csv").write_bytes(content)
    assert main(["diagnose", str(tmp_path / "res")]) == 2
    err = _one_error_line(capsys)
    assert "results.csv: " in err and text in err, err


def test_explain_of_a_very_long_name_is_one_short_line(capsys):
    assert main(["explain", "x" * 10000]) == 2
    err = _one_error_line(capsys)
    assert len(err) < 200 and "unknown type 'xxx" in err, err


def test_bench_writes_its_pair_whole_or_not_at_all(tmp_path):
    """A failure while writing benchmarks.md keeps the previous csv and md (no half-written pair,
    no temporary file left); the user's own files in the folder are never touched."""
    from parity.bench.command import _write_both

    out = tmp_path / "bench"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    _write_both(out, lambda p: p.write_text("csv 1"), lambda p: p.write_text("md 1"))

    def broken_md(p):
        p.write_text("half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        _write_both(out, lambda p: p.write_text("csv 2"), broken_md)
    assert sorted(p.name for p in out.iterdir()) == ["benchmarks.csv", "benchmarks.md", "mine.txt"]
    assert (out / "benchmarks.csv").read_text() == "csv 1" and (out / "benchmarks.md").read_text() == "md 1"
    _write_both(out, lambda p: p.write_text("csv 3"), lambda p: p.write_text("md 3"))
    assert (out / "benchmarks.csv").read_text() == "csv 3" and (out / "mine.txt").read_text() == "mine"


# --- numbers float32 cannot hold ---------------------------------------------------------------

@pytest.mark.parametrize("changes, path", [
    ({"optimizer": {"type": "sgd", "learning_rate": 1e300}}, "optimizer.learning_rate"),
    ({"optimizer": {"type": "adam", "weight_decay": 1e300}}, "optimizer.weight_decay"),
    ({"optimizer": {"type": "sgd", "learning_rate": {"schedule": "cosine_decay", "initial_learning_rate": 1e300,
                                                       "decay_steps": 2}}}, "optimizer.learning_rate.initial_learning_rate"),
    ({"loss": {"type": "huber", "delta": 1e39}}, "loss.delta"),
    ({"layers": [{"type": "dense", "units": 2}, {"type": "leaky_relu", "negative_slope": -1e300}]},
     "layers[1].negative_slope"),
])
def test_a_number_float32_cannot_hold_is_refused_by_field(changes, path):
    """(Each was an OverflowError or "value out of range" crash inside a backend, with numpy's
    overflow RuntimeWarnings, once the case ran.)"""
    with pytest.raises(SpecError, match=rf"^x\.json: {__import__('re').escape(path)}: expected .*3\.403e\+38"):
        parse_spec(dict(GOOD, **changes), "x.json")
    ok = json.loads(json.dumps(dict(GOOD, **changes)).replace("1e+300", "1e+38").replace("1e+39", "1e+38"))
    parse_spec(ok, "x.json")


def test_piecewise_and_class_weights_past_float32_are_refused():
    lr = {"schedule": "piecewise_constant_decay", "boundaries": [1], "values": [0.1, 1e300]}
    with pytest.raises(SpecError, match=r"optimizer\.learning_rate\.values: expected"):
        parse_spec(dict(GOOD, optimizer={"type": "sgd", "learning_rate": lr}), "x.json")
    cce = dict(GOOD, layers=[{"type": "dense", "units": 3}, {"type": "softmax"}],
               loss={"type": "categorical_crossentropy", "class_weight": [1, 1e300, 1]})
    with pytest.raises(SpecError, match=r"loss\.class_weight: expected"):
        parse_spec(cce, "x.json")


def test_an_exponential_schedule_that_grows_past_float32_within_the_steps_is_refused():
    """decay_rate 1e30 over 20 steps: lr0 * 1e30 ** 20 overflowed Python's float in the
    schedule (OverflowError, the case an ``error``); a growing rate that stays in range runs."""
    def lr(rate, steps, staircase=False, decay_steps=1):
        return dict(GOOD, steps=steps, optimizer={"type": "sgd", "learning_rate": {
            "schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": decay_steps,
            "decay_rate": rate, "staircase": staircase}})
    with pytest.raises(SpecError, match=r"optimizer\.learning_rate\.decay_rate: expected a rate whose learning rate "
                                        r"stays at most 3\.403e\+38 .* over the 20 steps"):
        parse_spec(lr(1e30, 20), "x.json")
    parse_spec(lr(1e30, 1), "x.json")  # 0.1 * 1e30 ** 1
    parse_spec(lr(1.5, 20), "x.json")
    parse_spec(lr(1e30, 20, staircase=True, decay_steps=100), "x.json")  # floor(20 / 100) = 0


def test_the_json_schema_bounds_numbers_by_float32():
    from parity.spec import reference
    from parity.spec.checks import FLOAT32_MAX

    assert json.dumps(FLOAT32_MAX) in reference.json_text()


def test_layer_normalization_axes_of_mixed_signs_run_in_keras():
    """axis [2, -1] on (N, H, W, C): Keras sorts the list as written ([-1, 2]) and shaped gamma
    (C, W) against the canonical (W, C); the shape-asserted weight copy raised AssertionError."""
    from parity.mappings import REGISTRY
    from parity.mappings.base import BuildContext
    from parity.spec import plan_of

    spec = parse_spec(dict(GOOD, input_shape=[3, 6, 5, 4], layers=[
        {"type": "layer_normalization", "axis": [2, -1]}, {"type": "flatten"}, {"type": "dense", "units": 2}]))
    node = plan_of(spec).layers[0]
    layer = REGISTRY["layer_normalization"].keras(BuildContext.of(node, spec.dtype))
    layer.build((None, 6, 5, 4))
    assert tuple(layer.gamma.shape) == (5, 4)
    r = parity.check(spec)
    assert r.passed, r.verdict
