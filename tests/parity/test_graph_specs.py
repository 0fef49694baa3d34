"""Graph specs (DESIGN.md "Graphs"): names, inputs and merges parsed into the case plan; a spec
without them keeps its meaning and keys; every bad graph refused with one line naming the layer
and the field, exit 2 from the command line."""
import copy
import json

import pytest

from parity.cli import main
from parity.spec import SpecError, load_catalog, parse_spec

BLOCK = {"name": "block", "input_shape": [3, 5],
         "layers": [{"type": "dense", "name": "a", "units": 4, "activation": "tanh"},
                    {"type": "dense", "name": "b", "units": 4, "inputs": ["input"]},
                    {"type": "add", "name": "sum", "inputs": ["a", "b"]},
                    {"type": "dense", "units": 2}],
         "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}, "steps": 1}


MERGES = {"add": (4,), "subtract": (4,), "multiply": (4,), "average": (4,), "maximum": (4,), "minimum": (4,),
          "concatenate": (8,)}


@pytest.mark.parametrize("kind", MERGES)
def test_every_merge_parses_and_plans(kind):
    spec = parse_spec(bad(lambda s: s["layers"][2].update(type=kind)))
    assert spec.plan.layer("sum").out_shape == MERGES[kind] and parse_spec(spec.to_dict()) == spec


def bad(mutate):
    spec = copy.deepcopy(BLOCK)
    mutate(spec)
    return spec


def test_plan_of_a_graph():
    spec = parse_spec(BLOCK)
    plan = spec.plan
    assert plan.names == ["a", "b", "sum", "3_dense"]
    assert [l.inputs for l in plan] == [("input",), ("input",), ("a", "b"), ("sum",)]
    assert plan.layer("sum").in_shapes == ((4,), (4,)) and plan.output.out_shape == (2,)
    assert [l.name for l in plan.readers("input")] == ["a", "b"]  # a fan-out
    assert plan.layer("a").key("kernel") == "a/kernel"
    assert parse_spec(spec.to_dict()) == spec
    assert spec.to_dict()["layers"][3] == {"type": "dense", "units": 2, "activation": "linear", "use_bias": True}


def test_a_stack_keeps_its_meaning_and_keys():
    for spec in load_catalog():
        plan = spec.plan
        if all(not (set(l) & {"name", "inputs"}) for l in spec.to_dict()["layers"]):
            assert plan.names == [f"{i}_{l.type}" for i, l in enumerate(spec.layers)]
            assert [l.inputs for l in plan] == [("input",), *((n,) for n in plan.names[:-1])]


def test_explicit_default_names_and_inputs_are_the_same_spec():
    stack = {"name": "s", "input_shape": [3, 5], "layers": [{"type": "dense", "units": 4}, {"type": "relu"}],
             "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}}
    spelled = copy.deepcopy(stack)
    spelled["layers"][0].update(name="0_dense", inputs=["input"])
    spelled["layers"][1].update(name="1_relu", inputs=["0_dense"])
    assert parse_spec(spelled) == parse_spec(stack)
    assert parse_spec(spelled).to_dict() == parse_spec(stack).to_dict()


def test_design_example_is_a_catalog_case_verbatim():
    case = next(s for s in load_catalog() if s.name == "resnet-basic-block")
    assert [l.name for l in case.plan][-3:] == ["6_relu", "7_global_average_pool2d", "8_dense"]
    assert case.plan.layer("sum").inputs == ("bn2", "input")


@pytest.mark.parametrize("mutate,path,text", [
    (lambda s: s["layers"][2].update(inputs=["a", "nope"]), "layers[2].inputs[1]", "no layer has that name"),
    (lambda s: s["layers"][0].update(inputs=["b"]), "layers[0].inputs[0]", "layers[1] is not earlier"),
    (lambda s: s["layers"][2].update(inputs=["a", "sum"]), "layers[2].inputs[1]", "layers[2] is not earlier"),
    (lambda s: s["layers"][2].update(inputs="a"), "layers[2].inputs", "expected a list of layer names"),
    (lambda s: s["layers"][2].update(inputs=["a", 3]), "layers[2].inputs[1]", "expected a layer name"),
    (lambda s: s["layers"][2].update(name="3_dense"), "layers[3].name", '"3_dense" (its default name), already'),
    (lambda s: s["layers"][1].update(name="a"), "layers[1].name", "already the name of layers[0]"),
    (lambda s: s["layers"][0].update(name="input"), "layers[0].name", "reserved"),
    (lambda s: s["layers"][0].update(name="a b"), "layers[0].name", "letters, digits"),
    (lambda s: s["layers"][2].update(inputs=["a", "a", "b"], type="subtract"), "layers[2].inputs",
     "expected 2 inputs for subtract, got 3"),
    (lambda s: s["layers"][2].update(inputs=["a"]), "layers[2].inputs", "at least 2 inputs for add, got 1"),
    (lambda s: s["layers"][3].update(inputs=["sum", "a"]), "layers[3].inputs", "1 input (only merge and attention layers"),
    (lambda s: s["layers"][2].update(inputs=["a", "input"]), "layers[2].inputs", "one shape (no broadcasting)"),
    (lambda s: s["layers"][1].update(units=1), "layers[2].inputs", "input 1 (N, 1)"),
    (lambda s: s["layers"][2].update(type="concatenate", axis=0), "layers[2].axis", "nonzero int"),
    (lambda s: s["layers"][2].update(type="concatenate", axis=2), "layers[2].axis", "non-batch axis of the 2-d"),
    (lambda s: s["layers"][3].update(inputs=["a"]), "layers[2]", '"sum", which no layer\'s inputs name'),
])
def test_bad_graphs_are_one_line_naming_layer_and_field(mutate, path, text):
    with pytest.raises(SpecError) as info:
        parse_spec(bad(mutate), "g.json")
    message = str(info.value)
    assert message.startswith(f"g.json: {path}: ") and text in message and "\n" not in message, message


def test_concatenate_refuses_a_mismatch_off_its_axis():
    spec = bad(lambda s: s.update(input_shape=[3, 5, 6]))
    spec["layers"][0].update(units=4)
    spec["layers"][2].update(type="concatenate", axis=1)  # joins the 5s: the 4 and 4 agree ...
    parse_spec(spec)
    spec["layers"][1].update(units=3)  # ... then the last axes differ
    with pytest.raises(SpecError, match=r"layers\[2\]\.inputs: .*every axis but axis 1"):
        parse_spec(spec)


def test_integer_ids_feed_only_the_embedding():
    spec = {"name": "ids", "input_shape": [3, 4], "input": {"kind": "integers", "high": 5},
            "layers": [{"type": "embedding", "input_dim": 5, "output_dim": 3, "name": "e"},
                       {"type": "flatten", "name": "f"},
                       {"type": "flatten", "inputs": ["input"]},
                       {"type": "concatenate", "inputs": ["f", "2_flatten"]}, {"type": "dense", "units": 2}],
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}}
    with pytest.raises(SpecError, match=r"layers\[2\]\.inputs: expected no \"input\""):
        parse_spec(spec)


def test_bad_graph_from_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(bad(lambda s: s["layers"][2].update(inputs=["a", "nope"]))))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "layers[2].inputs[1]" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
