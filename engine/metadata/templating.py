"""Notification templates: Jinja in a sandbox whose work and output are bounded.

A template is written by a config author and rendered on every write that
triggers its rule, so it must not be able to run for minutes or build
gigabytes (``{% for i in range(10**7) %}``, ``{{ 'x' * 10**9 }}``). On top of
Jinja's sandbox (no attribute access to internals, no unsafe calls):

- ``range()`` gives at most ``MAX_RANGE`` items; all ``range()`` calls and
  repetitions (``'ab' * n``) of one rendering together at most ``MAX_WORK``;
- ``**`` may not produce numbers over 100 digits, ``*`` and ``+`` no text or
  list over ``MAX_OUTPUT`` characters;
- widths in ``format``, ``center``, ``indent``, ``tojson`` and ``str.format``
  are at most ``MAX_WIDTH``;
- no ``macro``/``call`` blocks (recursion) and no ``namespace``, ``lipsum``,
  ``cycler`` or ``joiner`` globals;
- the rendered text stops at ``MAX_OUTPUT`` characters;
- no loader: ``include``, ``import``, ``from`` and ``extends`` read nothing (and the
  checker refuses them, ``static_problems``).

Exceeding a limit raises ``TemplateLimitError``. ``limit_problem`` finds what
can be found before any record exists (T-E129 when the config is checked).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Generator, Mapping
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from engine.metadata.errors import Text, Words
from engine.metadata.expressions import MAX_POWER_DIGITS, power_digits

#: Characters one rendered subject or body may have.
MAX_OUTPUT = 100_000
#: Items one ``range()`` may give.
MAX_RANGE = 1_000
#: Items all ``range()`` calls and repetitions of one rendering may make together.
MAX_WORK = 100_000
#: Largest width or padding in a format or filter.
MAX_WIDTH = 1_000

_work: ContextVar[list[int] | None] = ContextVar("template_work", default=None)


class TemplateLimitError(RuntimeError):
    """Rendering a template would exceed a limit; the message says which (in English; ``zh``
    says the same in Chinese, shown by the config checker, T-E129)."""

    def __init__(self, message: str, zh: str = "") -> None:
        super().__init__(message)
        self.zh = zh or message


def _charge(items: int) -> None:
    budget = _work.get()
    if budget is not None:
        budget[0] += items
        if budget[0] > MAX_WORK:
            raise TemplateLimitError(
                f"the template makes more than {MAX_WORK:,} loop items and repetitions",
                f"模板的循环项和重复次数合计超过了 {MAX_WORK:,}",
            )


def _range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise TemplateLimitError(
            f"range() may give at most {MAX_RANGE:,} items ({len(items):,} asked)",
            f"range() 最多只能产生 {MAX_RANGE:,} 项（请求了 {len(items):,} 项）",
        )
    _charge(len(items))
    return items


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_width(*numbers: Any) -> None:
    for number in numbers:
        if isinstance(number, int) and abs(number) > MAX_WIDTH:
            raise TemplateLimitError(
                f"a width of {number:,} is over the limit of {MAX_WIDTH:,}",
                f"宽度 {number:,} 超过了上限 {MAX_WIDTH:,}",
            )


_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(text: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(text):
        if "*" in (width, precision):
            raise TemplateLimitError("a `*` width in a format is not allowed", "格式中不允许使用 `*` 宽度")
        _check_width(*(int(n) for n in (width, precision) if n))


def _check_brace_format(text: str) -> None:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format reports it
    for _, _, spec, _ in parts:
        if spec and "{" in spec:
            raise TemplateLimitError(
                "a nested `{}` width in a format is not allowed", "格式中不允许使用嵌套的 `{}` 宽度"
            )
        _check_width(*(int(n) for n in re.findall(r"\d+", spec or "")))


def _bounded_filter(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return original(*args, **kwargs)

    return run


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with the limits of this module."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, autoescape: bool = True) -> None:
        super().__init__(autoescape=autoescape, undefined=jinja2.ChainableUndefined)
        self.globals["range"] = _range
        for name in ("lipsum", "namespace", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.filters["format"] = _bounded_filter(
            self.filters["format"], lambda value, *a, **k: _check_percent_format(str(value))
        )
        for name in ("center", "indent"):
            self.filters[name] = _bounded_filter(
                self.filters[name], lambda value, width=80, *a, **k: _check_width(width)
            )
        self.filters["tojson"] = _bounded_filter(
            self.filters["tojson"], lambda *a, indent=None, **k: _check_width(indent)
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**`` and ``+`` with their sizes checked before computing."""
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int):
                    _check_size(size * times)
                    _charge(max(times, 0))
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if left_size is not None and right_size is not None:
                _check_size(left_size + right_size)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'{:>10}'.format(…)`` with its widths checked."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_brace_format(str(value.__self__))
        return wrapped


def _check_size(size: int) -> None:
    if size > MAX_OUTPUT:
        raise TemplateLimitError(
            f"text or a list of {size:,} items is over the limit of {MAX_OUTPUT:,}",
            f"{size:,} 项的文本或列表超过了上限 {MAX_OUTPUT:,}",
        )


def _check_power(base: Any, exponent: Any) -> None:
    if power_digits(base, exponent) > MAX_POWER_DIGITS:
        raise TemplateLimitError(
            f"a power with more than {MAX_POWER_DIGITS} digits", f"幂运算的结果超过了 {MAX_POWER_DIGITS} 位"
        )


@functools.lru_cache(maxsize=2)
def environment(autoescape: bool = True) -> BoundedSandbox:
    """The shared bounded sandbox (HTML-escaping unless ``autoescape`` is False)."""
    return BoundedSandbox(autoescape=autoescape)


@functools.lru_cache(maxsize=512)
def compiled(source: str, autoescape: bool = True) -> jinja2.Template:
    """A template compiled once per source (the config's templates are few and fixed)."""
    return environment(autoescape).from_string(source)


def render(source: str, context: Mapping[str, Any], autoescape: bool = True) -> str:
    """Render ``source``; raises TemplateLimitError past a limit, at most ``MAX_OUTPUT`` characters."""
    token = _work.set([0])
    chunks = compiled(source, autoescape).generate(context)
    try:
        out, size = [], 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(
                    f"the rendered text is longer than {MAX_OUTPUT:,} characters",
                    f"渲染出的文本超过了 {MAX_OUTPUT:,} 个字符",
                )
            out.append(chunk)
        return "".join(out)
    finally:
        if isinstance(chunks, Generator):  # always: Jinja types generate() as a bare Iterator
            chunks.close()
        _work.reset(token)


@functools.lru_cache(maxsize=512)
def keys_read(source: str, name: str) -> frozenset[str] | None:
    """The keys ``source`` reads of its variable ``name`` (``record.title``, ``record['title']``),
    so that a caller can prepare those alone; None when the template uses the variable in any
    other way (loops over it, hands it to a filter, computes a key, assigns the name)."""
    tree = environment().parse(source)
    keys: set[str] = set()
    bases: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, (nodes.Getattr, nodes.Getitem))  # what find_all was asked for
        if not (isinstance(node.node, nodes.Name) and node.node.name == name):
            continue
        if isinstance(node, nodes.Getattr):
            if hasattr(dict, node.attr):  # record.items(), record.get(…): the whole mapping
                return None
            keys.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            keys.add(node.arg.value)
        else:
            return None
        bases.add(id(node.node))
    if any(n.name == name and id(n) not in bases for n in tree.find_all(nodes.Name)):
        return None
    return frozenset(keys)


#: Tags that would read another template: the sandbox has no loader, and the checker refuses them (T-E243).
_LOADING_TAGS: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from"),
    (nodes.Extends, "extends"),
)


def static_problems(source: str) -> list[tuple[str, Text, Text]]:
    """What is wrong in ``source`` whatever the record, as ``(code, message, hint)``: a tag that
    loads another template (``include``, ``import``, ``from``, ``extends``: T-E243 — the sandbox
    has no loader, so nothing could be read anyway), an unknown filter (T-E242) or an attribute
    starting with ``_`` (``''.__class__``: T-E248, the sandbox refuses it on every rendering). Raises
    ``jinja2.TemplateSyntaxError`` when ``source`` does not parse."""
    from engine.metadata.errors import did_you_mean

    tree = environment().parse(source)
    problems: list[tuple[str, Text, Text]] = []
    for kind, tag in _LOADING_TAGS:
        for _ in tree.find_all(kind):
            problems.append(
                (
                    "T-E243",
                    Words(
                        f"`{{% {tag} %}}` is not allowed: a notification template cannot read other templates or files",
                        f"不允许使用 `{{% {tag} %}}`：通知模板不能读取其他模板或文件",
                    ),
                    Words(
                        "write the text into this template (a config's templates are self-contained)",
                        "请把文本直接写进此模板（配置中的模板是自成一体的）",
                    ),
                )
            )
            break
    internals = [node.attr for node in tree.find_all(nodes.Getattr) if node.attr.startswith("_")]
    if internals:
        names = ", ".join(f"`.{name}`" for name in dict.fromkeys(reversed(internals)))  # as written
        problems.append(
            (
                "T-E248",
                Words(
                    f"{names}: names starting with _ are internals the sandbox refuses",
                    f"{names}：以 _ 开头的名称属于内部属性，沙箱会拒绝访问",
                ),
                Words(
                    "read fields of the record, e.g. {{ record.name }}",
                    "请读取记录的字段，例如 {{ record.name }}",
                ),
            )
        )
    filters = environment().filters
    for node in tree.find_all(nodes.Filter):
        assert isinstance(node, nodes.Filter)  # what find_all was asked for
        if node.name not in filters:
            problems.append(
                (
                    "T-E242",
                    Words(f"unknown filter `{node.name}`", f"未知的过滤器 `{node.name}`"),
                    did_you_mean(node.name, filters)
                    or Words(
                        "see the Jinja built-in filters, e.g. upper, default, round",
                        "请参阅 Jinja 的内置过滤器，例如 upper、default、round",
                    ),
                )
            )
    return problems


def limit_problem(source: str) -> Words | None:
    """What makes ``source`` exceed a limit whatever the record (a macro, ``range(10**7)``), or None;
    ``str()`` of it is the English."""
    tree = environment().parse(source)
    if any(True for _ in tree.find_all((nodes.Macro, nodes.CallBlock))):
        return Words(
            "macros and call blocks are not allowed in notification templates", "通知模板中不允许使用宏和 call 块"
        )
    try:
        render(source, {"record": {}, "object": "", "rule": "", "company": ""}, autoescape=False)
    except TemplateLimitError as exc:
        return Words(str(exc), exc.zh)
    except Exception:  # noqa: BLE001 - other errors depend on the record; the run records them
        return None
    return None
