"""docs/spec.md and docs/spec.schema.json are generated from the parser's own vocabulary tables:
the committed files must equal a fresh generation (so they cannot drift), the JSON Schema must
accept every catalog spec and refuse what the parser refuses field by field, and the README links
the reference."""
import json
import re
from pathlib import Path

import pytest

from parity.cli import main
from parity.spec import catalog_dir, parse_spec, vocabulary
from parity.spec.reference import EXAMPLE, REGENERATE, json_schema, json_text, markdown

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_committed_spec_reference_is_fresh():
    assert (DOCS / "spec.md").read_text() == markdown(), f"docs/spec.md is stale; regenerate it: {REGENERATE}"


def test_committed_json_schema_is_fresh():
    assert (DOCS / "spec.schema.json").read_text() == json_text(), \
        f"docs/spec.schema.json is stale; regenerate it: {REGENERATE}"


def test_reference_lists_every_type_and_field_of_the_vocabulary():
    md = markdown()
    for table in (vocabulary._LAYERS, vocabulary._LOSSES, vocabulary._OPTIMIZERS):
        for kind, fields in table.items():
            row = re.search(rf"^\| `{re.escape(kind)}` \|.*$", md, flags=re.M)
            assert row, kind
            for f in fields:
                assert f"| `{f.name}` |" in md, (kind, f.name)
    for key in vocabulary._TOP_KEYS:
        assert f"| `{key}` |" in md, key


def test_the_reference_example_parses():
    spec = parse_spec(EXAMPLE, "docs/spec.md")
    assert spec.layers[0].params["strides"] == (2, 2)
    assert f'"name": "{EXAMPLE["name"]}"' in markdown()


def _catalog_documents():
    import tomllib

    for path in sorted(catalog_dir().iterdir()):
        if path.suffix == ".json":
            yield path.name, json.loads(path.read_text())
        elif path.suffix == ".toml":
            yield path.name, tomllib.loads(path.read_text())


def test_json_schema_accepts_every_catalog_spec():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    docs = list(_catalog_documents())
    assert len(docs) > 10
    for name, doc in docs:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (name, errors[:3])


@pytest.mark.parametrize("change, where", [
    (lambda d: d["layers"][0].update(activaton="relu"), "additional"),  # a typo'd key
    (lambda d: d["layers"][0].update(filters=0), "minimum"),
    (lambda d: d["layers"][0].update(filters="3"), "integer"),  # (3.0 passes: JSON Schema cannot tell it from 3)
    (lambda d: d["layers"][0].update(padding="full"), "valid"),
    (lambda d: d["optimizer"].update(type="adamm"), "adamm"),
    (lambda d: d["optimizer"].update(beta_1=1.0), "maximum"),
    (lambda d: d.update(steps=-1), "minimum"),
    (lambda d: d.update(dtype="float16"), "float16"),
    (lambda d: d.pop("loss"), "loss"),
])
def test_json_schema_refuses_what_the_parser_refuses(change, where):
    jsonschema = pytest.importorskip("jsonschema")
    from parity.spec import SpecError

    doc = json.loads(json.dumps(EXAMPLE))
    change(doc)
    with pytest.raises(SpecError):
        parse_spec(doc, "planted.json")
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(doc))
    assert errors, doc
    assert any(where in str(e.message) or where in json.dumps(e.schema) for e in errors), [e.message for e in errors]


def test_parity_schema_prints_the_reference_and_the_schema(capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == markdown()
    assert main(["schema", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_readme_links_the_spec_reference():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/spec.md)" in readme
    assert "../shared/" not in readme
