"""The layers' boundaries, checked in the code (docs/architecture.md, /STYLE habit 1).

- ``webui`` runs no SQL of its own: it imports nothing from SQLAlchemy and calls no
  ``.execute(…)``. Every read goes through the runtime (``Session.query``, ``Query.grouped``,
  the user directory of ``engine.runtime.security.users``…), where scopes and hidden fields apply.
- ``engine/runtime`` has no Flask; ``engine/metadata`` has neither Flask nor SQLAlchemy.

The files are read with ``ast``, so comments and strings naming these do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent

#: Allowed exceptions: ``(path, what)`` → why. Empty: the web layer has none.
ALLOWED: dict[tuple[str, str], str] = {}


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level package names a module imports (``import x.y``, ``from x.y import z``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def execute_calls(tree: ast.AST) -> list[int]:
    """Line numbers of calls of any ``….execute(…)`` or ``….exec_driver_sql(…)``."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("execute", "exec_driver_sql")
    ]


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", python_files("webui"), ids=relative)
def test_the_web_layer_runs_no_sql_of_its_own(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    where = relative(path)
    if "sqlalchemy" in imported_modules(tree):
        assert (where, "sqlalchemy") in ALLOWED, (
            f"{where} imports SQLAlchemy: read through the runtime (Session.query, Query.grouped, "
            "engine.runtime.security.users) instead"
        )
    calls = execute_calls(tree)
    assert not calls or (where, "execute") in ALLOWED, (
        f"{where} runs SQL itself (lines {calls}): add the read to the runtime and call that"
    )


@pytest.mark.parametrize("path", python_files("engine/runtime"), ids=relative)
def test_the_runtime_has_no_flask(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert not {"flask", "flask_login", "werkzeug"} & imported_modules(tree), relative(path)


@pytest.mark.parametrize("path", python_files("engine/metadata"), ids=relative)
def test_the_metadata_has_no_database_and_no_flask(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert not {"flask", "flask_login", "werkzeug", "sqlalchemy"} & imported_modules(tree), relative(path)


def test_the_checks_see_a_violation():
    """The scanner itself: an import and a connection's execute are found."""
    tree = ast.parse(
        "import sqlalchemy as sa\nfrom sqlalchemy import select\n"
        "def f(session):\n    session.connection.execute(select(1))\n    crm.engine.connect()\n"
    )
    assert imported_modules(tree) == {"sqlalchemy"}
    assert execute_calls(tree) == [4]
