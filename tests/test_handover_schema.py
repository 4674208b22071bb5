"""`trellis schema` and what an editor shows from it: every key described, examples that are valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.metadata.compiler import language_schema
from tests.conftest import ROOT

pytestmark = pytest.mark.no_database

SCHEMA_PATH = ROOT / "engine" / "metadata" / "schema.json"


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def named_nodes(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every property (under ``properties`` or ``patternProperties``) and every definition
    (``$defs``) of the schema, at any depth, with its JSON pointer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs") and isinstance(value, dict):
                for name, sub in value.items():
                    yield f"{path}/{key}/{name}", sub
                    yield from named_nodes(sub, f"{path}/{key}/{name}")
            else:
                yield from named_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from named_nodes(value, f"{path}/{index}")


def test_every_property_and_definition_has_a_description():
    schema = language_schema()  # as `trellis schema` prints it: with the registered kinds
    nodes = list(named_nodes(schema))
    assert len(nodes) > 400
    missing = [path for path, node in nodes if isinstance(node, dict) and not node.get("description")]
    assert missing == [], f"properties without a description (hover shows nothing): {missing}"


def test_every_example_is_valid_where_it_stands():
    schema = language_schema()
    examples = [(path, node) for path, node in _all_nodes(schema) if "examples" in node]
    assert len(examples) >= 15
    for path, node in examples:
        validator = jsonschema.Draft202012Validator({**node, "$defs": schema["$defs"]})
        for example in node["examples"]:
            errors = [e.message for e in validator.iter_errors(example)]
            assert errors == [], f"example {example!r} at {path} is not valid there: {errors}"


def _all_nodes(node: Any, path: str = "#") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _all_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _all_nodes(value, f"{path}/{index}")


def test_schema_json_keeps_its_format():
    """Two-space json.dumps, characters as written, a final newline: scripts that edit it keep diffs small."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text


def test_trellis_schema_prints_the_schema_the_validator_uses(tmp_path):
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.output) == language_schema()
    target = tmp_path / "trellis.schema.json"
    written = run("schema", "--output", target)
    assert written.exit_code == 0 and f"Wrote the JSON Schema to {target}." in written.output
    assert json.loads(target.read_text(encoding="utf-8")) == language_schema()


def test_trellis_schema_says_when_it_cannot_write(tmp_path):
    result = run("schema", "--output", tmp_path / "no-such-folder" / "s.json")
    assert result.exit_code == 1
    assert "cannot write the JSON Schema to" in result.output and "No such file or directory" in result.output
