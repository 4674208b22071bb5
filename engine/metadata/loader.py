"""Read YAML or JSON config files, keep where every node came from, and layer
``extends`` templates (S8).

The result is a tree of ``LDict``/``LList`` (dict and list subclasses that
remember the ``Location`` of each key and value) plus scalars. It stays inside
``engine.metadata``: the compiler turns it into the frozen model.

Overlay rules: mappings merge key by key; the lists of picklist values,
children, stages, rules and approvals merge by their key (``key``, or ``name`` for
rules and approvals); other lists are replaced. Anything the template declares is removed
only by an explicit ``remove: true``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.metadata.errors import ConfigIssue, Location, Words, did_you_mean, format_path

#: Largest config or template file read (bytes); the samples are about 20 KB.
MAX_FILE_BYTES = 1024 * 1024
#: Most values one file may hold once YAML aliases are expanded ("billion laughs" stop here).
MAX_NODES = 100_000
#: Deepest nesting of mappings and lists in one file.
MAX_DEPTH = 50
#: Longest chain of ``extends`` (a config, its template, that template's template…).
MAX_EXTENDS_DEPTH = 20
#: The YAML tags a config may use, explicitly or implicitly (``!!python/…`` and the like are refused).
_YAML = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_MERGE_TAG = _YAML + "merge"

#: Lists merged item by item in an overlay, and the key identifying an item.
KEYED_LISTS = {
    "values": "key",
    "children": "key",
    "stages": "key",
    "rules": "name",
    "approvals": "name",
    "automations": "name",
}


class LDict(dict):
    """A mapping that remembers where it, its keys and its values were written."""

    def __init__(self, *args: Any, loc: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc = loc
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}

    def copy(self) -> LDict:
        clone = LDict(self, loc=self.loc)
        clone.key_locs = dict(self.key_locs)
        clone.value_locs = dict(self.value_locs)
        return clone


class LList(list):
    """A list that remembers where it and each item were written."""

    def __init__(self, *args: Any, loc: Location | None = None) -> None:
        super().__init__(*args)
        self.loc = loc
        self.item_locs: list[Location | None] = []


@dataclass
class RawConfig:
    """The merged tree of a config and its templates, with the issues met on the way."""

    tree: Any
    path: str
    text: str
    files: list[str] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    #: Every file read (the config, then its templates): absolute path and text as parsed.
    sources: list[tuple[str, str]] = field(default_factory=list)


#: libyaml's parser when PyYAML was built with it: about ten times faster, and it refuses
#: nesting deeper than 1,000 levels itself; the marks (line, column) are the same.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ConfigLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """YAML with the booleans of YAML 1.2: only ``true`` and ``false``. YAML 1.1 also
    reads ``on``, ``off``, ``yes``, ``no`` as booleans, which would turn the key
    ``on:`` of an approval into ``True`` and the country code ``NO`` into ``False``."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _JsonLoader(_ConfigLoader):
    """Reads .json files: YAML 1.1 would take JSON numbers such as 1e3 for text."""


_JsonLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][-+]?[0-9]+$"), list("-0123456789")
)


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Abort(Exception):
    """Stops converting a file that is too big or too deep; carries the issue to report."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


@dataclass
class _Budget:
    """What converting one file needs to know: its name and where issues go."""

    file: str
    issues: list[ConfigIssue]


def _check_size(root: yaml.Node, file: str) -> None:
    """Refuse a tree too deep (T-E008) or too big once aliases are expanded (T-E009).

    Aliases make the composed tree a graph; each node's expanded size and height are
    computed once (iteratively, so no recursion limit is met), so a "billion laughs"
    file is refused in time proportional to its length, before anything is expanded.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (expanded size, height)
    stack: list[tuple[yaml.Node, tuple, bool]] = [(root, (), False)]
    while stack:
        node, path, done = stack.pop()
        if id(node) in measured:
            continue
        children = _children(node)
        if len(path) > MAX_DEPTH:  # also an anchor that contains itself
            raise _Abort(_too_deep(node, path, file))
        if not done:
            stack.append((node, path, True))
            # reversed: children are measured in document order, so an anchor is met where it is written;
            # scalars (most nodes) are counted where their parent is, without a trip through the stack
            stack.extend(
                (child, (*path, step), False)
                for step, child in reversed(children)
                if not isinstance(child, yaml.ScalarNode) and id(child) not in measured
            )
            continue
        size, height = 1, 1
        for _, child in children:
            if isinstance(child, yaml.ScalarNode):
                size += 1
                height = max(height, 2)
            elif id(child) in measured:
                child_size, child_height = measured[id(child)]
                size += child_size
                height = max(height, 1 + child_height)
        if size > MAX_NODES:
            raise _Abort(
                ConfigIssue.of(
                    "T-E009",
                    Words(
                        f"the file holds more than {MAX_NODES:,} values once its YAML aliases (*name) are expanded",
                        f"展开 YAML 别名（*name）后，文件中的值超过 {MAX_NODES:,} 个",
                    ),
                    _loc(file, node.start_mark),
                    format_path(path),
                    Words(
                        "an alias that repeats another alias multiplies; write the values out or split the config",
                        "别名中重复引用别名会成倍增长；请把值直接写出来，或拆分配置",
                    ),
                )
            )
        if len(path) + height - 1 > MAX_DEPTH:  # an anchor used deeper than where it was written
            raise _Abort(_too_deep(node, path, file))
        measured[id(node)] = (size, height)


def _too_deep(node: yaml.Node, path: tuple, file: str) -> ConfigIssue:
    return ConfigIssue.of(
        "T-E008",
        Words(
            f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
            f"映射和列表的嵌套超过了 {MAX_DEPTH} 层",
        ),
        _loc(file, node.start_mark),
        format_path(path[:3]) + ("…" if len(path) > 3 else ""),
        Words(
            "a config is a few levels deep; check for a runaway bracket or an anchor that contains itself",
            "配置通常只有几层；请检查是否有未闭合的括号，或包含自身的锚点",
        ),
    )


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        return [(k.value if isinstance(k, yaml.ScalarNode) else i, v) for i, (k, v) in enumerate(node.value)] + [
            (i, k) for i, (k, _) in enumerate(node.value) if not isinstance(k, yaml.ScalarNode)
        ]
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def _convert(node: yaml.Node, budget: _Budget, path: tuple = ()) -> Any:
    if isinstance(node, yaml.MappingNode):
        if node.tag != _YAML + "map":
            return _bad_tag(node, budget, path)
        return _convert_mapping(node, budget, path)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _YAML + "seq":
            return _bad_tag(node, budget, path)
        items = LList(loc=_loc(budget.file, node.start_mark))
        for index, item in enumerate(node.value):
            items.append(_convert(item, budget, (*path, index)))
            items.item_locs.append(_loc(budget.file, item.start_mark))
        return items
    if not isinstance(node, yaml.ScalarNode) or node.tag not in SCALAR_TAGS:
        return _bad_tag(node, budget, path)
    return _scalar(node, budget.file)


def _convert_mapping(node: yaml.MappingNode, budget: _Budget, path: tuple) -> LDict:
    """A mapping; ``<<: *anchor`` (the YAML merge key) adds the anchor's keys that the mapping
    does not write itself, earlier merged mappings winning over later ones."""
    file, issues = budget.file, budget.issues
    out = LDict(loc=_loc(file, node.start_mark))
    explicit = {_scalar(k, file) for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.tag in SCALAR_TAGS}
    written: set = set()
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE_TAG:
            _merge_key(out, value_node, explicit, budget, path)
            continue
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in SCALAR_TAGS:
            issues.append(
                ConfigIssue.of(
                    "T-E011",
                    Words("a mapping key must be a plain name", "映射的键必须是普通名称"),
                    _loc(file, key_node.start_mark),
                    format_path(path),
                )
            )
            continue
        key = _scalar(key_node, file)
        if key in written:
            issues.append(
                ConfigIssue.of(
                    "T-E004",
                    Words(
                        f"key `{key}` appears twice in this mapping (first at line {out.key_locs[key].line})",
                        f"键 `{key}` 在此映射中出现了两次（第一次在第 {out.key_locs[key].line} 行）",
                    ),
                    _loc(file, key_node.start_mark),
                    format_path((*path, key)),
                    Words("remove or rename one of them", "请删除或重命名其中一个"),
                )
            )
        written.add(key)
        out[key] = _convert(value_node, budget, (*path, key))
        out.key_locs[key] = _loc(file, key_node.start_mark)
        out.value_locs[key] = _loc(file, value_node.start_mark)
    return out


def _merge_key(out: LDict, value_node: yaml.Node, explicit: set, budget: _Budget, path: tuple) -> None:
    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            budget.issues.append(
                ConfigIssue.of(
                    "T-E011",
                    Words("`<<` merges mappings only", "`<<` 只能合并映射"),
                    _loc(budget.file, source.start_mark),
                    format_path((*path, "<<")),
                    Words(
                        "write `<<: *anchor` where the anchor names a mapping",
                        "请写成 `<<: *anchor`，且该锚点指向一个映射",
                    ),
                )
            )
            continue
        merged = _convert(source, budget, path)
        for key, value in merged.items():
            if key not in explicit and key not in out:
                out[key] = value
                out.key_locs[key] = merged.key_locs[key]
                out.value_locs[key] = merged.value_locs[key]


def _bad_tag(node: yaml.Node, budget: _Budget, path: tuple) -> None:
    shown = node.tag.replace(_YAML, "!!") if node.tag else "?"
    budget.issues.append(
        ConfigIssue.of(
            "T-E007",
            Words(f"the YAML tag `{shown}` is not allowed in a config", f"配置中不允许使用 YAML 标签 `{shown}`"),
            _loc(budget.file, node.start_mark),
            format_path(path),
            Words(
                "write plain values: text, numbers, true/false, dates, lists and mappings, without `!!` tags",
                "请写普通的值：文本、数字、true/false、日期、列表和映射，不要使用 `!!` 标签",
            ),
        )
    )
    return None


#: Builds plain scalars (str, int, float, bool, null, timestamp); it keeps no state for them.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


#: Digits a number may have (Python's limit on reading an integer from text).
MAX_DIGITS = 4300


def _scalar(node: yaml.ScalarNode, file: str = "") -> Any:
    try:
        return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
    except ValueError:  # an integer of more than MAX_DIGITS digits (`max_length: 999…9`)
        raise _Abort(
            ConfigIssue.of(
                "T-E247",
                Words(f"a number with more than {MAX_DIGITS:,} digits", f"数字超过了 {MAX_DIGITS:,} 位"),
                _loc(file, node.start_mark),
                hint=Words(
                    "write a number of a sensible size (or quote it to make it text)",
                    "请写一个大小合理的数字（或加上引号，让它成为文本）",
                ),
            )
        ) from None


#: The hint of a file too large (T-E005).
_SPLIT = Words(
    "split it with `extends`, or check that the path names the config",
    "请用 `extends` 拆分它，或检查该路径指向的是否是配置文件",
)


def _file_problem(path: str, shown: str | None = None) -> tuple[str, Words, Words] | None:
    """Why ``path`` cannot be read as a config (code, message, hint), checked before opening it;
    the messages name it ``shown`` (the path as the config wrote it), else ``path``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None  # reported as T-E002 by the caller
    except OSError as exc:
        reason = str(exc).replace(path, shown) if shown else str(exc)
        return (
            "T-E001",
            Words(f"cannot read the file: {reason}", f"无法读取文件：{reason}"),
            Words("check the path and its permissions", "请检查路径及其权限"),
        )
    name = shown or path
    if not stat.S_ISREG(info.st_mode):
        return (
            "T-E006",
            Words(f"{name} is not a regular file", f"{name} 不是普通文件"),
            Words(
                "name a YAML or JSON file (not a device, a folder or a pipe)",
                "请指定一个 YAML 或 JSON 文件（不能是设备、文件夹或管道）",
            ),
        )
    if info.st_size > MAX_FILE_BYTES:
        return (
            "T-E005",
            Words(
                f"{name} is {info.st_size:,} bytes; a config file may have at most {MAX_FILE_BYTES:,}",
                f"{name} 有 {info.st_size:,} 字节；配置文件最多只能有 {MAX_FILE_BYTES:,} 字节",
            ),
            _SPLIT,
        )
    return None


def _read_text(path: str, issues: list[ConfigIssue]) -> str | None:
    problem = _file_problem(path)
    if problem:
        issues.append(ConfigIssue.of(problem[0], problem[1], Location(path, 1, 1), hint=problem[2]))
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
        text = data.decode("utf-8")
    except FileNotFoundError:
        issues.append(
            ConfigIssue.of(
                "T-E002",
                Words(f"file not found: {path}", f"找不到文件：{path}"),
                Location(path, 1, 1),
                hint=Words(
                    "check the path (relative paths start at the current directory)",
                    "请检查路径（相对路径从当前目录算起）",
                ),
            )
        )
        return None
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(
            ConfigIssue.of(
                "T-E001", Words(f"cannot read the file: {exc}", f"无法读取文件：{exc}"), Location(path, 1, 1)
            )
        )
        return None
    if len(data) > MAX_FILE_BYTES:
        issues.append(
            ConfigIssue.of(
                "T-E005",
                Words(f"{path} is larger than {MAX_FILE_BYTES:,} bytes", f"{path} 超过了 {MAX_FILE_BYTES:,} 字节"),
                Location(path, 1, 1),
                hint=_SPLIT,
            )
        )
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_document(path: str, issues: list[ConfigIssue]) -> tuple[Any, str] | None:
    """Parse one YAML/JSON file into a located tree; None (with an issue) when unreadable."""
    text = _read_text(path, issues)
    if text is None:
        return None
    source, loader = text, _ConfigLoader
    if path.lower().endswith(".json"):
        # JSON allows tabs as whitespace, YAML does not; valid JSON has no raw tab inside a string.
        source, loader = text.replace("\t", " "), _JsonLoader
    try:
        node = yaml.compose(source, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _loc(path, mark) if mark else Location(path, 1, 1)
        issues.append(
            ConfigIssue.of(
                "T-E001",
                Words(
                    f"YAML syntax error: {exc.problem or exc.context}", f"YAML 语法错误：{exc.problem or exc.context}"
                ),
                where,
                hint=Words("check indentation and quoting around this place", "请检查此处附近的缩进和引号"),
            )
        )
        return None
    except yaml.YAMLError as exc:
        issues.append(
            ConfigIssue.of("T-E001", Words(f"YAML syntax error: {exc}", f"YAML 语法错误：{exc}"), Location(path, 1, 1))
        )
        return None
    if node is None:
        return LDict(loc=Location(path, 1, 1)), text
    try:
        _check_size(node, path)
        return _convert(node, _Budget(path, issues)), text
    except _Abort as stop:
        issues.append(stop.issue)
        return None


def load_raw(path: str) -> RawConfig:
    """Read ``path`` and every template it extends, merged into one located tree."""
    issues: list[ConfigIssue] = []
    files: list[str] = []
    sources: list[tuple[str, str]] = []
    tree, text = _load_layers(os.path.abspath(path), path, [], issues, files, sources)
    _unapplied_removals(tree, (), issues)
    return RawConfig(tree=tree, path=path, text=text, files=files, issues=issues, sources=sources)


def read_source(path: str) -> str | None:
    """The text of ``path`` as ``load_raw`` would parse it, or None when it cannot be read
    (the problem is left for ``load_raw`` to report)."""
    return _read_text(path, [])


def _load_layers(
    abspath: str,
    shown: str,
    stack: list[str],
    issues: list[ConfigIssue],
    files: list[str],
    sources: list[tuple[str, str]],
) -> tuple[Any, str]:
    doc = read_document(shown, issues)
    if doc is None:
        return None, ""
    tree, text = doc
    files.append(shown)
    sources.append((abspath, text))
    if not isinstance(tree, LDict) or "extends" not in tree:
        return tree, text
    target = tree["extends"]
    where = tree.value_locs["extends"]
    if not isinstance(target, str):
        return tree, text  # the schema check reports the wrong type
    base_abs = os.path.normpath(os.path.join(os.path.dirname(abspath), target))
    base_shown = os.path.relpath(base_abs) if not os.path.isabs(target) else target
    if base_abs in stack or base_abs == abspath:
        chain = " → ".join(os.path.basename(p) for p in [*stack, abspath, base_abs])
        issues.append(
            ConfigIssue.of(
                "T-E003",
                Words(f"`extends` forms a cycle: {chain}", f"`extends` 形成了循环：{chain}"),
                where,
                "extends",
                Words("a template must not extend the config that uses it", "模板不能 extends 使用它的配置"),
            )
        )
        return tree, text
    if not os.path.exists(base_abs):
        issues.append(
            ConfigIssue.of(
                "T-E002",
                Words(
                    f"template not found: {target} (looked at {base_shown})",
                    f"找不到模板：{target}（查找位置：{base_shown}）",
                ),
                where,
                "extends",
                Words(
                    "paths in `extends` are relative to the file that names them",
                    "`extends` 中的路径相对于写它的那个文件",
                ),
            )
        )
        return tree, text
    problem = _file_problem(base_abs, target)
    if problem:
        issues.append(ConfigIssue.of(problem[0], problem[1], where, "extends", problem[2]))
        return tree, text
    if len(stack) + 1 >= MAX_EXTENDS_DEPTH:
        issues.append(
            ConfigIssue.of(
                "T-E014",
                Words(
                    f"`extends` goes more than {MAX_EXTENDS_DEPTH} templates deep",
                    f"`extends` 的模板层级超过了 {MAX_EXTENDS_DEPTH} 层",
                ),
                where,
                "extends",
                Words(
                    "let a config extend a template that extends at most a few others",
                    "请让配置所 extends 的模板最多再 extends 少数几个模板",
                ),
            )
        )
        return tree, text
    base, _ = _load_layers(base_abs, base_shown, [*stack, abspath], issues, files, sources)
    if base is not None and not isinstance(base, LDict):
        issues.append(
            ConfigIssue.of(
                "T-E013",
                Words(
                    f"`{target}` is not a Trellis config: it holds {_kind(base).en}, not a mapping of keys",
                    f"`{target}` 不是 Trellis 配置：它包含的是{_kind(base).zh}，而不是由键组成的映射",
                ),
                where,
                "extends",
                Words(
                    "`extends` names a YAML or JSON template such as templates/crm_base.yaml",
                    "`extends` 应指定 YAML 或 JSON 模板，例如 templates/crm_base.yaml",
                ),
            )
        )
    if not isinstance(base, LDict):
        return tree, text
    overlay = tree.copy()
    del overlay["extends"]
    return merge(base, overlay, (), issues), text


def _kind(value: Any) -> Words:
    if isinstance(value, list):
        return Words("a list", "一个列表")
    if isinstance(value, str):
        return Words("text", "文本")
    return Words(f"a single {type(value).__name__} value", f"单个 {type(value).__name__} 值")


def _is_removal(value: Any) -> bool:
    return isinstance(value, dict) and value.get("remove") is True


def merge(base: LDict, overlay: LDict, path: tuple, issues: list[ConfigIssue]) -> LDict:
    """Layer ``overlay`` over ``base`` (see the module docstring for the rules)."""
    out = base.copy()
    for key, value in overlay.items():
        key_path = (*path, key)
        if _is_removal(value):
            if key in out:
                del out[key]
                out.key_locs.pop(key, None)
                out.value_locs.pop(key, None)
            else:
                issues.append(_unknown_removal(key, key_path, overlay.value_locs.get(key), list(out)))
            continue
        current = out.get(key)
        if isinstance(current, LDict) and isinstance(value, LDict):
            out[key] = merge(current, value, key_path, issues)
        elif isinstance(current, LList) and isinstance(value, LList) and key in KEYED_LISTS:
            out[key] = merge_keyed(current, value, KEYED_LISTS[key], key_path, issues)
        else:
            out[key] = value
            out.value_locs[key] = overlay.value_locs[key]
        out.key_locs[key] = overlay.key_locs[key]
    return out


def _item_key(item: Any, key_name: str) -> Any:
    if isinstance(item, dict):
        return item.get(key_name)
    return item


def merge_keyed(base: LList, overlay: LList, key_name: str, path: tuple, issues: list[ConfigIssue]) -> LList:
    """Merge two lists of keyed items: replace or update by key, append new, remove explicitly."""
    out = LList(base, loc=base.loc)
    out.item_locs = list(base.item_locs)
    for item, loc in zip(overlay, overlay.item_locs, strict=False):
        key = _item_key(item, key_name)
        index = (
            next((i for i, existing in enumerate(out) if _item_key(existing, key_name) == key), None)
            if key is not None
            else None
        )  # an item without a name (a territory, a score rule) is added
        if _is_removal(item):
            if index is None:
                issues.append(_unknown_removal(key, (*path, key), loc, [_item_key(i, key_name) for i in out]))
            else:
                del out[index]
                del out.item_locs[index]
            continue
        if index is None:
            out.append(item)
            out.item_locs.append(loc)
        elif isinstance(out[index], LDict) and isinstance(item, LDict):
            out[index] = merge(out[index], item, (*path, index), issues)
        elif isinstance(out[index], LDict) and not isinstance(item, dict):
            pass  # a bare key re-stating an existing value changes nothing
        else:
            out[index] = item
            out.item_locs[index] = loc
    return out


def _unapplied_removals(node: Any, path: tuple, issues: list[ConfigIssue]) -> None:
    """Report each ``remove: true`` left after merging: it removed nothing (no template declares it)."""
    if isinstance(node, LDict):
        for key, value in node.items():
            if _is_removal(value):
                issues.append(_unknown_removal(key, (*path, key), node.value_locs.get(key), []))
            else:
                _unapplied_removals(value, (*path, key), issues)
    elif isinstance(node, LList):
        key_name = KEYED_LISTS.get(path[-1], "key") if path else "key"
        for index, (item, loc) in enumerate(zip(node, node.item_locs, strict=False)):
            if _is_removal(item):
                issues.append(_unknown_removal(_item_key(item, key_name), (*path, _item_key(item, key_name)), loc, []))
            else:
                _unapplied_removals(item, (*path, index), issues)


def _unknown_removal(key: Any, path: tuple, loc: Location | None, known: list) -> ConfigIssue:
    return ConfigIssue.of(
        "T-E061",
        Words(f"cannot remove `{key}`: the template does not declare it", f"无法删除 `{key}`：模板中没有声明它"),
        loc,
        format_path(path),
        did_you_mean(key, known) or Words("only what a template declares can be removed", "只能删除模板中声明过的内容"),
    )


def locate(tree: Any, path: tuple | list, key: bool = False) -> Location | None:
    """The location of the node at ``path`` (of its key when ``key``), or the nearest parent's."""
    node, found = tree, getattr(tree, "loc", None)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LDict) and part in node:
            found = (node.key_locs if key and last else node.value_locs).get(part, found)
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            found = node.item_locs[part] or found
            node = node[part]
        else:
            break
    return found
