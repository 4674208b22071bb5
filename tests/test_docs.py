"""The config reference (docs/config-reference.md) documents the whole language.

Fails when a key is added to engine/metadata/schema.json, a field type, an
error code or an expression function is added to engine/metadata, and the
reference does not describe it. Pure Python: no database, no web app.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.metadata import errors as config_errors
from engine.metadata.expressions import FUNCTIONS
from engine.metadata.loader import read_document
from engine.metadata.model import SYSTEM_COLUMNS

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "engine" / "metadata" / "schema.json"
REFERENCE_PATH = ROOT / "docs" / "config-reference.md"
ARCHITECTURE_PATH = ROOT / "docs" / "architecture.md"

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
REFERENCE = REFERENCE_PATH.read_text(encoding="utf-8")

#: Where each block of the schema is documented: ``$defs`` name (or "" for the
#: top level) → the title of its heading in the reference.
SECTIONS = {
    "": "Top-level keys",
    "settings": "Settings",
    "picklist": "Picklists",
    "picklist_value": "Picklist values",
    "object": "Objects",
    "field": "Fields",
    "pipeline": "Pipelines",
    "stage": "Stages",
    "rule": "Rules",
    "security": "Account security",
    "role": "Roles",
    "grant": "Grants",
    "approval": "Approvals",
    "approver": "Approvers",
    "automation": "Automations",
    "webhook": "Webhooks",
    "message_template": "Templates",
    "conversion": "Conversions",
    "conversion_target": "Conversion targets",
    "assignment": "Assignment",
    "assignment_pool": "Assignment pools",
    "scoring": "Scoring",
    "duplicate_rule": "Duplicate rules",
    "report": "Reports",
    "subscription": "Subscriptions",
    "dashboard": "Dashboards",
    "dashboard_widget": "Dashboard widgets",
    "webform": "Web forms",
    "webform_spam": "Web form spam defences",
    "segment": "Segments",
    "mail": "Mail",
    "mail_log": "Mail log",
    "mail_sender": "Mail senders",
    "mailbox": "Mailboxes",
    "mail_imap": "Mailbox servers",
    "mail_create": "Unknown senders",
}


# --- helpers -------------------------------------------------------------------


def _walk(node: object) -> list[dict]:
    """Every mapping in the schema, at any depth (properties, $defs, oneOf, items…)."""
    found: list[dict] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def schema_property_names() -> set[str]:
    """Every property name declared anywhere in the schema."""
    names: set[str] = set()
    for node in _walk(SCHEMA):
        properties = node.get("properties")
        if isinstance(properties, dict) and all(isinstance(v, dict) for v in properties.values()):
            names.update(properties)
    return names


def block_properties(node: dict) -> set[str]:
    """Property names of one block, including those of its oneOf alternatives and of
    mappings declared inline in it (``object.audit.reads``), which its section documents too."""
    names = set(node.get("properties", {}))
    for alternative in node.get("oneOf", []) + node.get("anyOf", []):
        names |= set(alternative.get("properties", {}))
    for prop in node.get("properties", {}).values():
        if isinstance(prop, dict) and "$ref" not in prop and isinstance(prop.get("properties"), dict):
            names |= set(prop["properties"])
    return names


def schema_enums() -> set[str]:
    """Every allowed value listed by an ``enum`` in the schema."""
    return {str(v) for node in _walk(SCHEMA) for v in node.get("enum", []) if isinstance(node.get("enum"), list)}


def field_types() -> list[str]:
    return SCHEMA["$defs"]["field"]["properties"]["type"]["enum"]


def _prose_lines(text: str) -> list[tuple[str, bool]]:
    """Each line of the Markdown with whether it is inside a fenced code block."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            out.append((line, True))
            fenced = not fenced
            continue
        out.append((line, fenced))
    return out


def headings() -> list[tuple[int, str]]:
    """(level, title) of every Markdown heading outside code blocks."""
    found = []
    for line, fenced in _prose_lines(REFERENCE):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if match and not fenced:
            found.append((len(match.group(1)), match.group(2)))
    return found


def section(title: str) -> str:
    """The text under the heading whose title starts with ``title``, up to the next heading of the same or a higher level."""
    lines = _prose_lines(REFERENCE)
    start = level = None
    for index, (line, fenced) in enumerate(lines):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if not match or fenced:
            continue
        if start is None and match.group(2).startswith(title):
            start, level = index, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return "\n".join(line for line, _ in lines[start:index])
    assert start is not None, f"docs/config-reference.md has no heading starting with {title!r}"
    return "\n".join(line for line, _ in lines[start:])


def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


def documented_entries(text: str) -> set[str]:
    """Names documented as an entry: a bullet ``- `name` …`` or a table row ``| `name` |``."""
    return set(re.findall(r"^\s*(?:[-*]|\|)\s*`([^`]+)`", text, flags=re.MULTILINE))


def error_codes() -> list[str]:
    return re.findall(r"^(T-E\d{3})\s", config_errors.__doc__ or "", flags=re.MULTILINE)


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every ```yaml block, de-indented when inside a list item."""
    blocks = []
    for match in re.finditer(r"^([ \t]*)```yaml[ \t]*\n(.*?)^\1```", text, flags=re.MULTILINE | re.DOTALL):
        indent = match.group(1)
        body = "\n".join(
            line[len(indent) :] if line.startswith(indent) else line for line in match.group(2).splitlines()
        )
        blocks.append((text.count("\n", 0, match.start()) + 1, body + "\n"))
    return blocks


# --- the schema is documented --------------------------------------------------------


def test_every_schema_property_is_documented_in_backticks():
    missing = sorted(name for name in schema_property_names() if f"`{name}`" not in REFERENCE)
    assert not missing, f"schema properties missing from docs/config-reference.md: {missing}"


def test_every_schema_block_has_a_section():
    blocks = {name for name, node in SCHEMA["$defs"].items() if block_properties(node)}
    unmapped = sorted(blocks - set(SECTIONS))
    assert not unmapped, f"add a section for these $defs to the reference and to SECTIONS: {unmapped}"


def test_each_block_documents_each_of_its_properties_as_an_entry():
    problems = []
    for name, title in SECTIONS.items():
        node = SCHEMA if name == "" else SCHEMA["$defs"][name]
        entries = documented_entries(section(title))
        for prop in sorted(block_properties(node)):
            if prop not in entries:
                problems.append(f"{title}: `{prop}`")
    assert not problems, "properties without a `- `name`` bullet or `| `name` |` row in their section: " + ", ".join(
        problems
    )


def test_every_enum_value_is_documented():
    missing = sorted(v for v in schema_enums() if f"`{v}`" not in REFERENCE)
    assert not missing, f"allowed values missing from docs/config-reference.md: {missing}"


def test_every_field_type_has_a_row_in_the_field_types_table():
    rows = set(re.findall(r"^\|\s*`([a-z_]+)`\s*\|", section("Field types"), flags=re.MULTILINE))
    missing = [t for t in field_types() if t not in rows]
    assert not missing, f"field types without a row under 'Field types': {missing}"
    unknown = sorted(rows - set(field_types()))
    assert not unknown, f"rows under 'Field types' for types the schema does not have: {unknown}"


def test_system_columns_are_documented():
    missing = [c for c in SYSTEM_COLUMNS if f"`{c}`" not in REFERENCE]
    assert not missing, f"system columns missing from the reference: {missing}"


# --- error codes ----------------------------------------------------------------------


def test_errors_docstring_lists_codes():
    codes = error_codes()
    assert len(codes) >= 20 and len(codes) == len(set(codes))


def test_every_error_code_has_a_row_in_the_error_codes_table():
    rows = set(re.findall(r"^\|\s*`?(T-E\d{3})`?\s*\|", section("Error codes"), flags=re.MULTILINE))
    missing = [c for c in error_codes() if c not in rows]
    assert not missing, f"error codes without a row under 'Error codes': {missing}"


def test_the_reference_mentions_no_unknown_error_code():
    unknown = sorted(set(re.findall(r"T-E\d{3}", REFERENCE)) - set(error_codes()))
    assert not unknown, f"the reference names codes errors.py does not define: {unknown}"


# --- expressions ----------------------------------------------------------------------


def test_every_expression_function_is_documented():
    text = section("Expressions")
    missing = sorted(f for f in FUNCTIONS if f"`{f}(" not in text)
    assert not missing, f"functions missing from the 'Expressions' section: {missing}"


def test_the_function_table_lists_only_real_functions():
    rows = set(re.findall(r"^\|\s*`([a-z_]+)\(", section("Functions"), flags=re.MULTILINE))
    assert rows == set(FUNCTIONS), (
        f"function table differs from FUNCTIONS: extra {sorted(rows - FUNCTIONS)}, missing {sorted(FUNCTIONS - rows)}"
    )


# --- structure, links and examples ------------------------------------------------------


def test_required_sections_exist():
    titles = [title for _, title in headings()]
    for wanted in (
        "Field types",
        "Defaults",
        "Expressions",
        "Templates and overlays",
        "Schema changes",
        "Error codes",
        "Editor support",
    ):
        assert any(t.startswith(wanted) for t in titles), f"missing section {wanted!r}"


def test_anchors_named_in_code_exist():
    """errors.py and expressions.py link to #error-codes and #expressions."""
    anchors = {slug(title) for _, title in headings()}
    assert {"error-codes", "expressions"} <= anchors
    for target in re.findall(r"\]\(#([^)]+)\)", REFERENCE):
        assert target in anchors, f"link to #{target} has no heading"


def test_editor_modeline_points_at_the_schema():
    modeline = "# yaml-language-server: $schema=../engine/metadata/schema.json"
    assert modeline in REFERENCE
    assert (ROOT / "configs" / "../engine/metadata/schema.json").resolve() == SCHEMA_PATH.resolve()


def test_yaml_examples_parse(tmp_path):
    blocks = yaml_blocks(REFERENCE)
    assert len(blocks) > 50
    failures = []
    for line, body in blocks:
        path = tmp_path / f"example_{line}.yaml"
        path.write_text(body, encoding="utf-8")
        issues: list = []
        read_document(str(path), issues)
        failures += [f"line {line}: {issue}" for issue in issues]
    assert not failures, "YAML examples in the reference do not parse:\n" + "\n".join(failures)


def test_complete_examples_compile(tmp_path):
    """Examples that are whole configs (``trellis: 1``, no ``extends``) pass the checker."""
    from engine.metadata import ConfigError, load_config

    complete = [
        (line, body)
        for line, body in yaml_blocks(REFERENCE)
        if re.search(r"^trellis: 1$", body, flags=re.MULTILINE)
        and not re.search(r"^extends:", body, flags=re.MULTILINE)
        and re.search(r"^objects:", body, flags=re.MULTILINE)
    ]
    assert complete, "the reference should contain at least one complete config"
    for line, body in complete:
        path = tmp_path / f"complete_{line}.yaml"
        path.write_text(body, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            raise AssertionError(f"example at docs/config-reference.md line {line} does not compile:\n{exc}") from None


def test_template_and_overlay_example_compiles(tmp_path):
    """The template/overlay pair in 'Templates and overlays' merges and compiles."""
    from engine.metadata import load_config

    blocks = yaml_blocks(section("Templates and overlays"))
    template = next(body for _, body in blocks if "configs/templates/saas_base.yaml" in body)
    overlay = next(body for _, body in blocks if "extends: templates/saas_base.yaml" in body)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "saas_base.yaml").write_text(template, encoding="utf-8")
    (tmp_path / "acme.yaml").write_text(overlay, encoding="utf-8")
    config = load_config(tmp_path / "acme.yaml")
    lead = config.objects["lead"]
    assert "fax" not in lead.fields
    assert lead.fields["name"].required and lead.fields["name"].max_length == 120
    assert [v.key for v in config.picklists["lead_source"].values][-1] == "wechat"
    assert config.picklists["lead_source"].find("fax_campaign") is None


def test_architecture_doc_exists_and_is_concise():
    text = ARCHITECTURE_PATH.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 180
    for module in (
        "engine/metadata",
        "engine/runtime/tables.py",
        "engine/runtime/migrate/",
        "engine/runtime/records/session.py",
        "engine/runtime/records/query.py",
    ):
        assert module in text, f"docs/architecture.md does not mention {module}"


def test_every_module_the_architecture_names_exists():
    """docs/architecture.md stays true to the code: each path it names exists, each bare
    ``module.py`` is a module of the project, and every engine module is named."""
    text = ARCHITECTURE_PATH.read_text(encoding="utf-8")
    missing = sorted(
        path
        for path in re.findall(r"(?:engine|webui|tests|benchmarks|configs)/[\w/.\-]*\w/?", text)
        if not (ROOT / path).exists()
    )
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"
    modules = {path.name for folder in ("engine", "webui") for path in (ROOT / folder).rglob("*.py")}
    unknown = sorted(set(re.findall(r"`(\w+\.py)`", text)) - modules)
    assert unknown == [], f"docs/architecture.md names modules that do not exist: {unknown}"
    unnamed = sorted(
        str(path.relative_to(ROOT))
        for folder in ("engine/metadata", "engine/runtime")
        for path in (ROOT / folder).glob("*.py")
        if path.name != "__init__.py" and path.name not in text
    )
    assert unnamed == [], f"docs/architecture.md does not say what these modules do: {unnamed}"


# --- what the reference promises exists ----------------------------------------------------------

CODE = "\n".join(
    path.read_text(encoding="utf-8")
    for folder in ("engine/runtime", "engine/cli", "webui")
    for path in sorted((ROOT / folder).rglob("*.py"))
)


def _entry(text: str, name: str) -> str:
    """The bullet ``- `name` — …`` of ``text`` up to the next bullet at its indentation or less."""
    match = re.search(rf"^(\s*)- `{re.escape(name)}` —(.*?)(?=^\1?- `|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no entry for `{name}`"
    return match.group(2)


def test_every_permission_does_something_and_only_those_are_documented():
    from engine.metadata.model import PERMISSIONS, SkipRule

    listed = _entry(section("Roles"), "permissions")
    documented = set(re.findall(r"^\s+- `([a-z_]+)` —", listed, flags=re.MULTILINE))
    assert documented == set(PERMISSIONS)
    # A pipeline's skips are checked against its `skip.permission`, skip_stage by default.
    checked = {SkipRule.__dataclass_fields__["permission"].default}
    unused = [p for p in PERMISSIONS if f'"{p}"' not in CODE and p not in checked]
    assert unused == [], f"documented permissions no code checks: {unused}"


def test_every_grant_is_used_in_code_or_documented_as_planned():
    grants = section("Grants")
    for key in SCHEMA["$defs"]["grant"]["properties"]:
        attribute = "import_" if key == "import" else key
        used = re.search(rf"\.{attribute}\b(?!\()", CODE) is not None
        planned = "lanned" in _entry(grants, key)
        assert used != planned, f"grant `{key}`: used in code {used}, documented as planned {planned}"


@pytest.mark.uses_database
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's shell line (the key) and Python block, run as a reader would, in a fresh folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    part = readme.split("## From Python", 1)[1].split("\n## ", 1)[0]
    shell = re.findall(r"```sh\n(.*?)```", part, flags=re.DOTALL)
    code = re.findall(r"```python\n(.*?)```", part, flags=re.DOTALL)
    assert shell == ['export TRELLIS_SECRET_KEY="$(trellis secret generate)"\n'] and len(code) == 1
    from click.testing import CliRunner

    from engine.cli import main

    key = CliRunner().invoke(main, ["secret", "generate"]).stdout.strip()  # what $(…) captures: stdout
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("TRELLIS_SECRET_KEY", key)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    exec(compile(code[0], "README.md", "exec"), {})  # noqa: S102 - the documented example itself
    assert capsys.readouterr().out == "1 ['云帆软件科技']\n"
