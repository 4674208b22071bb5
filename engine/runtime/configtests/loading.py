"""Finding and reading test files: the test-file schema (``engine/metadata/test_schema.json``)
first, then what only the config can say (objects, fields, reports, conversions, roles), the
aliases and the users of each case. Every problem is a ``ConfigIssue`` with a T-T code and
``file:line:column``; ``TestFileError`` carries them all at once.

Codes (docs/config-reference.md#testing-a-config):

========  =============================================================
T-T001    a test file cannot be read or parsed (YAML syntax, too large, not a file)
T-T002    an unknown key
T-T003    a required key is missing
T-T004    a value has the wrong type or is not an allowed value
T-T005    a step names no step kind, or more than one
T-T006    a name the config lacks (object, field, report, conversion, role, stage)
T-T007    an alias used before a record is given that name (``as:``), or given twice
T-T008    a user name that the case's ``given.users`` lacks
T-T009    two cases of one file share a name
T-T010    no test file found
========  =============================================================
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from engine.metadata import Config
from engine.metadata.compiler import schema_words, shortened
from engine.metadata.errors import ConfigIssue, Location, Text, Words, did_you_mean, format_path
from engine.metadata.loader import LDict, LList, locate, read_document
from engine.metadata.model import REASON_KEY, SYSTEM_COLUMNS
from engine.runtime.configtests.model import Case, Given, RecordSpec, Step, Suite, UserSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "metadata" / "test_schema.json"
#: The step kinds a step may name (``steps.STEPS`` runs them; the schema lists their parameters).
STEP_KINDS = ("create", "update", "move", "delete", "approve", "reject", "convert", "worker", "clock", "import")
#: Expectation keys naming users (a list of user names).
USER_LISTS = ("readable_by", "not_readable_by", "editable_by", "not_editable_by", "not_notified")


class TestFileError(Exception):
    """Test files with problems; ``issues`` lists every one, in file order."""

    __test__ = False  # not a pytest test class

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.location.file, i.location.line) if i.location else ("", 0))
        super().__init__("\n".join(str(i) for i in self.issues))


def discover(config_path: str | Path) -> list[Path]:
    """The test files of a config: ``<config folder>/tests/<config stem>/*.yaml`` (and ``.yml``), sorted."""
    config_path = Path(config_path)
    folder = config_path.parent / "tests" / config_path.stem
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file()) if folder.is_dir() else []


def load_suite(config: Config, files: Iterable[str | Path], where: str) -> Suite:
    """Read and check ``files`` against ``config``; raises ``TestFileError`` with every problem.
    ``where`` says where the files were looked for (for T-T010)."""
    paths = [str(f) for f in files]
    if not paths:
        raise TestFileError(
            [
                _issue(
                    "T-T010",
                    Words(f"no test file found in {where}", f"在 {where} 中没有找到测试文件"),
                    Location(where, 1, 1),
                    hint=_FIND,
                )
            ]
        )
    issues: list[ConfigIssue] = []
    cases: list[Case] = []
    for path in paths:
        seen: dict[str, Location | None] = {}
        for case in _load_file(config, path, issues):
            if case.name in seen:
                issues.append(
                    _issue(
                        "T-T009",
                        Words(f"a case named {case.name!r} comes twice", f"名为 {case.name!r} 的用例出现了两次"),
                        case.location,
                        "cases",
                        _twice(seen[case.name]),
                    )
                )
            seen[case.name] = case.location
            cases.append(case)
    if issues:
        raise TestFileError(issues)
    return Suite(tuple(paths), tuple(cases))


_FIND = Words(
    "put test files in <config folder>/tests/<config name>/*.yaml, or name them after the config",
    "请把测试文件放在 <配置所在文件夹>/tests/<配置名>/*.yaml，或在命令行中把它们写在配置文件之后",
)


def _twice(first: Location | None) -> Words:
    own = Words("give each case its own name", "请给每个用例起不同的名字")
    return Words(f"the first is at {first}; ", f"第一个在 {first}；") + own if first else own


def _both(message: str, zh: str | None) -> Text:
    """A message read back from an issue: ``Words`` when it has its Chinese, else the English."""
    return Words(message, zh) if zh else message


def _issue(
    code: str, message: Text, location: Location | None, path: str = "", hint: Text | None = None
) -> ConfigIssue:
    return ConfigIssue.of(code, message, location, path, hint)


# --- one file ---------------------------------------------------------------------------------------------
def _load_file(config: Config, path: str, issues: list[ConfigIssue]) -> list[Case]:
    read: list[ConfigIssue] = []
    document = read_document(path, read)
    if document is None or read:
        issues.extend(
            _issue(
                "T-T001",
                _both(i.message, i.message_zh),
                i.location,
                i.path,
                _both(i.hint, i.hint_zh) if i.hint is not None else None,
            )
            for i in read
        )
        return []
    tree = document[0]
    problems = schema_issues(tree, path)
    if problems:
        issues.extend(problems)
        return []
    checker = _Checker(config, tree, path)
    cases = checker.cases()
    issues.extend(checker.issues)
    return cases


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def schema_issues(tree: Any, path: str) -> list[ConfigIssue]:
    """Where ``tree`` (a located test file) breaks the test-file schema, as T-T002…T-T004 issues."""
    out: list[ConfigIssue] = []
    for error in _validator().iter_errors(_plain(tree)):
        out.extend(_schema_issue(tree, path, error))
    return out


def _plain(value: Any) -> Any:
    """The tree with dates and times as text (what the schema reads); YAML reads ``2026-03-02`` as a date."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


def _schema_issue(tree: Any, path: str, error: jsonschema.ValidationError) -> list[ConfigIssue]:
    where = tuple(error.absolute_path)
    if error.validator == "oneOf" and error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        return _schema_issue(tree, path, deepest)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = list(schema.get("properties", {}))
        return [
            _issue(
                "T-T002",
                Words(f"unknown key `{key}`", f"未知的键 `{key}`"),
                locate(tree, (*where, key), key=True) or Location(path, 1, 1),
                format_path((*where, key)),
                did_you_mean(key, known)
                or (Words(f"allowed here: {', '.join(known)}", f"此处允许的键：{', '.join(known)}") if known else None),
            )
            for key in error.instance
            if key not in known
        ]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [
            _issue(
                "T-T003",
                Words(f"missing required key `{missing}`", f"缺少必需的键 `{missing}`"),
                locate(tree, where) or Location(path, 1, 1),
                format_path(where),
                Words(f"add `{missing}:` here", f"请在此处添加 `{missing}:`"),
            )
        ]
    hint: Words | None = None
    if error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = ", ".join(map(str, error.validator_value))
        hint = Words(f"allowed: {allowed}", f"允许的值：{allowed}")
    message = shortened(schema_words(error), "…")
    if error.validator == "pattern" and "{4}" in str(schema.get("pattern")):  # a moment (given.at, worker.at)
        message = Words(f"{error.instance!r} is not a date and time", f"{error.instance!r} 不是日期时间")
        hint = Words(
            "write a date and time of the company time zone: 2026-03-02 09:00",
            "请写公司时区的日期和时间：2026-03-02 09:00",
        )
    return [_issue("T-T004", message, locate(tree, where) or Location(path, 1, 1), format_path(where), hint)]


# --- what only the config can say ----------------------------------------------------------------------
class _Checker:
    """Turns a schema-valid file into cases, collecting what the config, aliases and users refute."""

    def __init__(self, config: Config, tree: LDict, path: str) -> None:
        self.config, self.tree, self.path = config, tree, path
        self.issues: list[ConfigIssue] = []
        self.language = str(tree.get("language", "en"))

    def cases(self) -> list[Case]:
        shared = self._given(self.tree.get("given"), ("given",))
        out = []
        for index, raw in enumerate(self.tree.get("cases", LList())):
            where = ("cases", index)
            own = self._given(raw.get("given"), (*where, "given"))
            steps = tuple(self._step(step, (*where, "when", n), n + 1) for n, step in enumerate(raw["when"]))
            case = Case(str(raw["name"]), self.path, self._at(where), shared, own, steps, self.language)
            self._check_case(case, where)
            out.append(case)
        return out

    def _at(self, where: tuple, key: bool = False) -> Location:
        return locate(self.tree, where, key=key) or Location(self.path, 1, 1)

    def _add(self, code: str, message: Text, where: tuple, hint: Text | None = None, key: bool = False) -> None:
        self.issues.append(_issue(code, message, self._at(where, key), format_path(where), hint))

    # --- reading -------------------------------------------------------------------------------------------
    def _given(self, raw: Any, where: tuple) -> Given:
        if not raw:
            return Given()
        users = tuple(
            UserSpec(
                str(u["username"]),
                tuple(u.get("roles") or ([u["role"]] if u.get("role") else [])),
                u.get("team"),
                u.get("manager"),
                u.get("email"),
                u.get("display_name"),
            )
            for u in raw.get("users", ())
        )
        records = tuple(
            RecordSpec(
                r["object"], dict(r.get("values") or {}), r.get("as"), r.get("owner"), self._at((*where, "records", i))
            )
            for i, r in enumerate(raw.get("records", ()))
        )
        for i, user in enumerate(users):
            for role in user.roles:
                if role not in self.config.roles:
                    self._add(
                        "T-T006",
                        Words(f"unknown role {role!r}", f"未知的角色 {role!r}"),
                        (*where, "users", i),
                        did_you_mean(role, list(self.config.roles)),
                    )
            if not user.roles:
                self._add(
                    "T-T003",
                    Words("a user needs `role` or `roles`", "用户需要 `role` 或 `roles`"),
                    (*where, "users", i),
                    Words("add `role: sales_rep`", "请添加 `role: sales_rep`"),
                )
        at = raw.get("at")
        return Given(str(at) if at is not None else None, users, records)

    def _step(self, raw: LDict, where: tuple, number: int) -> Step:
        kinds = [k for k in raw if k in STEP_KINDS]
        if len(kinds) != 1:
            said = Words(", ".join(kinds), ", ".join(kinds)) if kinds else Words("none", "无")
            self._add(
                "T-T005",
                Words(
                    f"a step names one step kind; this one names {said.en}",
                    f"每个步骤只能写一种步骤类型；这个步骤写的是：{said.zh}",
                ),
                where,
                Words("one of " + ", ".join(STEP_KINDS), "取值之一：" + ", ".join(STEP_KINDS)),
            )
            return Step(number, kinds[0] if kinds else "", {}, {}, self._at(where))
        kind = kinds[0]
        return Step(number, kind, dict(raw[kind]), dict(raw.get("expect") or {}), self._at(where))

    # --- checking a case -----------------------------------------------------------------------------------
    def _check_case(self, case: Case, where: tuple) -> None:
        users = {u.username for u in case.given.users}
        aliases: dict[str, str] = {}  # alias → object
        for i, record in enumerate(case.given.records):
            at = self._record_path(where, case, i)
            self._object(record.object, (*at, "object"))
            self._user(record.owner, users, (*at, "owner"))
            self._values(record.object, record.values, (*at, "values"), aliases)
            self._alias_named(record.alias, record.object, aliases, (*at, "as"))
        for i, user in enumerate(case.given.users):
            if user.manager is not None and user.manager not in users:
                self._user(user.manager, users, (*self._user_path(where, case, i), "manager"))
        for step in case.steps:
            self._check_step(step, (*where, "when", step.number - 1), users, aliases)

    def _record_path(self, where: tuple, case: Case, index: int) -> tuple:
        shared = len(self.tree.get("given", {}).get("records", ()) if self.tree.get("given") else ())
        return ("given", "records", index) if index < shared else (*where, "given", "records", index - shared)

    def _user_path(self, where: tuple, case: Case, index: int) -> tuple:
        shared = len(self.tree.get("given", {}).get("users", ()) if self.tree.get("given") else ())
        return ("given", "users", index) if index < shared else (*where, "given", "users", index - shared)

    def _check_step(self, step: Step, where: tuple, users: set[str], aliases: dict[str, str]) -> None:
        if not step.kind:
            return
        p, at = step.params, (*where, step.kind)
        self._user(p.get("by"), users, (*at, "by"))
        target = None
        if "record" in p:
            target = self._alias_used(p["record"], aliases, (*at, "record"))
        if step.kind in ("create", "import"):
            target = p["object"] if self._object(p["object"], (*at, "object")) else None
        if step.kind in ("create", "update", "move") and target:
            self._values(target, p.get("values") or {}, (*at, "values"), aliases)
        if step.kind == "move" and target:
            self._stage(target, p["to"], (*at, "to"))
        if step.kind == "create":
            self._alias_named(p.get("as"), target, aliases, (*at, "as"))
        if step.kind == "convert" and target:
            self._conversion(step, target, at, aliases)
        self._check_expect(step.expect, (*where, "expect"), users, aliases, target)

    def _conversion(self, step: Step, source: str, at: tuple, aliases: dict[str, str]) -> None:
        p = step.params
        known = [c for c in self.config.conversions.values() if c.source == source]
        name = p.get("conversion") or (known[0].name if len(known) == 1 else None)
        conversion = self.config.conversions.get(name) if name else None
        if conversion is None:
            said = (
                Words(f"unknown conversion {name!r}", f"未知的转换 {name!r}")
                if name
                else Words(f"say which conversion of {source} to run", f"请说明要运行 {source} 的哪个转换")
            )
            names = ", ".join(c.name for c in known)
            self._add(
                "T-T006", said, (*at, "conversion") if name else at, Words(f"one of: {names}", f"取值之一：{names}")
            )
            return
        targets = {t.name: t.object for t in conversion.targets}
        for target, alias in (p.get("as") or {}).items():
            if target not in targets:
                self._add(
                    "T-T006",
                    Words(f"conversion {name} has no target {target!r}", f"转换 {name} 没有目标 {target!r}"),
                    (*at, "as", target),
                    None,
                    key=True,
                )
            else:
                self._alias_named(alias, targets[target], aliases, (*at, "as", target))

    def _check_expect(
        self, expect: Mapping[str, Any], where: tuple, users: set[str], aliases: dict[str, str], target: str | None
    ) -> None:
        if "record" in expect:
            target = self._alias_used(expect["record"], aliases, (*where, "record"))
        for key in USER_LISTS:
            for i, name in enumerate(expect.get(key) or ()):
                self._user(name, users, (*where, key, i))
        notified = expect.get("notified")
        if isinstance(notified, Mapping):
            for channel in ("in_app", "email"):
                for i, name in enumerate(notified.get(channel) or ()):
                    if "@" not in name:
                        self._user(name, users, (*where, "notified", channel, i))
        elif notified:
            for i, name in enumerate(notified):
                self._user(name, users, (*where, "notified", i))
        for key in ("hidden_from", "visible_to"):
            for name, fields in (expect.get(key) or {}).items():
                self._user(name, users, (*where, key, name), key=True)
                if target:
                    for i, f in enumerate(fields):
                        self._field(target, f, (*where, key, name, i))
        if target:
            for key in ("values", "shown"):
                for name in expect.get(key) or {}:
                    self._field(target, name, (*where, key, name), key=True)
            if "stage" in expect:
                self._stage(target, expect["stage"], (*where, "stage"))
        if expect.get("owner"):
            self._user(expect["owner"], users, (*where, "owner"))
        if "records" in expect:
            self._object(expect["records"]["object"], (*where, "records", "object"))
        if "report" in expect:
            report = expect["report"]
            self._user(report["user"], users, (*where, "report", "user"))
            if report["name"] not in self.config.reports:
                self._add(
                    "T-T006",
                    Words(f"unknown report {report['name']!r}", f"未知的报表 {report['name']!r}"),
                    (*where, "report", "name"),
                    did_you_mean(report["name"], list(self.config.reports)),
                )
        for name in expect.get("fired") or {}:
            if not any(a.name == name for a in self.config.automations):
                known = [a.name for a in self.config.automations]
                self._add(
                    "T-T006",
                    Words(f"unknown automation rule {name!r}", f"未知的自动化规则 {name!r}"),
                    (*where, "fired", name),
                    did_you_mean(name, known),
                    key=True,
                )

    # --- names ---------------------------------------------------------------------------------------------
    def _object(self, name: str, where: tuple) -> bool:
        if name in self.config.objects:
            return True
        self._add(
            "T-T006",
            Words(f"unknown object {name!r}", f"未知的对象 {name!r}"),
            where,
            did_you_mean(name, list(self.config.objects)),
        )
        return False

    def _field(self, object_name: str, name: str, where: tuple, key: bool = False) -> None:
        obj = self.config.objects[object_name]
        if name not in obj.fields and name not in (*SYSTEM_COLUMNS, REASON_KEY):
            self._add(
                "T-T006",
                Words(f"{object_name} has no field {name!r}", f"{object_name} 没有字段 {name!r}"),
                where,
                did_you_mean(name, list(obj.fields)),
                key,
            )

    def _values(self, object_name: str, values: Mapping[str, Any], where: tuple, aliases: dict[str, str]) -> None:
        if object_name not in self.config.objects:
            return
        for name, value in values.items():
            self._field(object_name, name, (*where, name), key=True)
            if isinstance(value, str) and value.startswith("@"):
                self._alias_used(value[1:], aliases, (*where, name))

    def _stage(self, object_name: str, stage: str, where: tuple) -> None:
        obj = self.config.objects[object_name]
        if obj.pipeline is None:
            self._add("T-T006", Words(f"{object_name} has no pipeline", f"{object_name} 没有销售管道"), where)
            return
        keys = list(_stage_keys(obj))
        if stage not in keys:
            self._add(
                "T-T006",
                Words(f"{object_name} has no stage {stage!r}", f"{object_name} 没有阶段 {stage!r}"),
                where,
                did_you_mean(stage, keys) or Words("stages: " + ", ".join(keys), "阶段：" + ", ".join(keys)),
            )

    def _user(self, name: str | None, users: set[str], where: tuple, key: bool = False) -> None:
        if name is not None and name not in users:
            self._add(
                "T-T008",
                Words(f"user {name!r} is not in this case's given.users", f"用户 {name!r} 不在此用例的 given.users 中"),
                where,
                did_you_mean(name, sorted(users))
                or Words("add them under given: users:", "请在 given: users: 下添加该用户"),
                key,
            )

    def _alias_named(self, alias: str | None, object_name: str | None, aliases: dict[str, str], where: tuple) -> None:
        if alias is None:
            return
        if alias in aliases:
            self._add(
                "T-T007",
                Words(f"the alias {alias!r} names a record already", f"别名 {alias!r} 已经指代了一条记录"),
                where,
                Words("give each record its own alias", "请给每条记录起不同的别名"),
            )
        aliases[alias] = object_name or ""

    def _alias_used(self, alias: str, aliases: dict[str, str], where: tuple) -> str | None:
        if alias not in aliases:
            self._add(
                "T-T007",
                Words(f"no record is called {alias!r} yet", f"目前还没有名为 {alias!r} 的记录"),
                where,
                did_you_mean(alias, list(aliases))
                or Words(
                    "name a record first with `as:` in given.records or a create step",
                    "请先在 given.records 或 create 步骤中用 `as:` 给记录命名",
                ),
            )
            return None
        return aliases[alias] or None


def _stage_keys(obj: Any) -> Iterator[str]:
    pipeline = obj.pipeline
    yield from (s.key for s in pipeline.stages)
    for variant in getattr(pipeline, "variants", ()) or ():
        yield from (s.key for s in variant.stages)
