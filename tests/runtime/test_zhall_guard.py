"""No refusal a person reads is written in English only (Chinese and English all the way).

The walk parses engine/runtime and webui with ``ast`` and finds every ``raise`` of an error a
person reads — a ``TrellisError`` (any subclass, found by its class statements) given its message
as a string literal or f-string, or an ``ApiError`` given one as its message — that does not go
through the catalogue (``X.said(code, english, **params)``, ``X(localized(…))``, ``translate(…)``).
Errors whose own ``__init__`` localises (``NotFound``, ``ImportProblem``…) take a code or a name,
not a message, and pass. ``NOT_YET`` names, file by file, how many such raises are left and
why: the test fails when a file gains one (new English-only text) and when it loses one (lower
the count), so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from engine.runtime.errors import NotFound, UnknownObject
from engine.runtime.messages import MESSAGES, speaking
from engine.runtime.security.permissions import PermissionDenied, UnknownUser

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("engine/runtime", "webui")
#: Where an error's message is among a call's positional arguments.
MESSAGE_AT = {"ApiError": 2}

#: Raises still in English only, by file: (how many, why). Each is a known debt or internal.
NOT_YET: dict[str, tuple[int, str]] = {
    "engine/runtime/security/crypto.py": (3, "TRELLIS_SECRET_KEY setup, read by the operator at start: internal"),
    "engine/runtime/jobs/delivery.py": (2, "TRELLIS_SMTP_URL setup, read by the operator at start: internal"),
    "engine/runtime/database.py": (1, "database pool environment setting, operator at start: internal"),
    "engine/runtime/campaigns/tracking.py": (1, "TRELLIS_SECRET_KEY needed for tracking links, operator: internal"),
    "engine/runtime/migrate/execute.py": (2, "`trellis apply` database refusals, operator CLI: internal"),
    "engine/runtime/workflow/simulate.py": (3, "`trellis automation simulate` option errors (CLI, English): planned"),
    "engine/runtime/workflow/automation.py": (1, "wraps the failing rule's own message for the log/outbox: internal"),
    "webui/proxies.py": (1, "TRELLIS_PROXIES setup, read by the operator at start: internal"),
}


def _is_text(node: ast.expr) -> bool:
    """A message written in the source: a literal, an f-string, or their concatenation."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (_is_text(node.left) or _is_text(node.right))


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _localises(cls: ast.ClassDef) -> bool:
    """True when the class's own ``__init__`` builds its message from the catalogue."""
    return any(
        isinstance(n, ast.Call) and _name(n.func) in {"localized", "message", "say", "said"}
        for item in cls.body
        if _is_init(item)
        for n in ast.walk(item)
    )


def _people_errors(trees: dict[str, ast.Module]) -> set[str]:
    """Every TrellisError subclass (by name) that takes its message as it is: not one whose
    ``__init__`` localises, nor a subclass without an ``__init__`` of its own of such a one."""
    classes = [node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    bases = {cls.name: {_name(b) for b in cls.bases} for cls in classes}
    has_init = {cls.name for cls in classes if any(_is_init(item) for item in cls.body)}
    found, localising = {"TrellisError"}, {cls.name for cls in classes if _localises(cls)}
    grown = True
    while grown:
        before = (len(found), len(localising))
        found |= {name for name, parents in bases.items() if parents & found}
        localising |= {name for name, parents in bases.items() if name not in has_init and parents & localising}
        grown = before != (len(found), len(localising))
    return found - localising


def _is_init(item: ast.stmt) -> bool:
    return isinstance(item, ast.FunctionDef) and item.name == "__init__"


@functools.cache
def _trees(root: Path) -> dict[str, ast.Module]:
    """Every module of ``FOLDERS`` under ``root``, parsed, by its path."""
    return {
        str(path.relative_to(root)): ast.parse(path.read_text(encoding="utf-8"))
        for folder in FOLDERS
        for path in sorted((root / folder).rglob("*.py"))
    }


def english_only_raises() -> dict[str, list[str]]:
    """File → ``file:line: Error(text…)`` of every raise of a message written in English only."""
    trees = _trees(ROOT)
    errors = _people_errors(trees) | set(MESSAGE_AT)
    found: dict[str, list[str]] = {}
    for where, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name = _name(node.exc.func)
            at = MESSAGE_AT.get(name, 0)
            if name in errors and len(node.exc.args) > at and _is_text(node.exc.args[at]):
                text = ast.unparse(node.exc.args[at])[:70]
                found.setdefault(where, []).append(f"{where}:{node.lineno}: {name}({text}…)")
    return found


def test_no_refusal_is_written_in_english_only():
    found = english_only_raises()
    new = [line for where, lines in found.items() if where not in NOT_YET for line in lines]
    assert new == [], "English-only refusals: give each a code in engine.runtime.messages.MESSAGES (zh and en)\n" + (
        "\n".join(new)
    )
    counts = {where: len(found.get(where, [])) for where in NOT_YET}
    changed = {where: (counts[where], NOT_YET[where][0]) for where in NOT_YET if counts[where] != NOT_YET[where][0]}
    assert changed == {}, (
        "NOT_YET is out of date (found, listed): lower the count of a file you localised; localise what you "
        f"added: {changed}\n" + "\n".join(line for where in changed for line in found.get(where, []))
    )


def test_the_walk_sees_english_only_raises_and_passes_localised_ones():
    tree = ast.parse(
        "class TrellisError(Exception): pass\n"
        "class Refused(TrellisError): pass\n"
        "raise Refused('no')\n"
        "raise Refused(f'no {x}')\n"
        "raise Refused.said('code', f'no {x}', x=x)\n"
        "raise Refused(localized('code', 'no'))\n"
    )
    errors = _people_errors({"x.py": tree})
    raised = [n for n in ast.walk(tree) if isinstance(n, ast.Raise)]
    flagged = [n.lineno for n in raised if _name(n.exc.func) in errors and n.exc.args and _is_text(n.exc.args[0])]
    assert flagged == [3, 4]
    assert {"NotFound", "ImportProblem", "FinderRefused"}.isdisjoint(_people_errors({"e": _engine_tree()}))


def _engine_tree() -> ast.Module:
    body = [stmt for where, tree in _trees(ROOT).items() if where.startswith("engine/") for stmt in tree.body]
    return ast.Module(body=body, type_ignores=[])


def test_refusals_read_in_chinese_and_keep_their_english():
    with speaking("zh"):
        assert str(PermissionDenied.said("approval.only_requester", "only the requester may withdraw a request")) == (
            "只有申请人可以撤回申请。"
        )
        assert str(UnknownUser.named("ghost")) == "没有用户 ghost。"
        assert str(NotFound("approval", 7)) == "没有找到审批申请 7。"
        assert str(NotFound("lead", 7, "线索")) == "没有找到线索 7。"
        assert str(UnknownObject("leed", ["lead", "account"])) == "没有对象 leed；已有的对象：account, lead。"
    assert str(UnknownUser.named("ghost")) == "there is no user 'ghost'"
    assert str(NotFound("approval", 7)) == "approval 7 not found"
    thing_codes = [code for code in MESSAGES if code.startswith("thing.")]
    assert all(set(MESSAGES[code]) == {"en", "zh"} for code in thing_codes)
