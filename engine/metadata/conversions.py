"""Compiling ``conversions:`` (S12) into ``Conversion`` values.

A conversion turns one record (``from``, e.g. a lead) into others (``targets``,
created in order: account, contact, opportunity), each with a field mapping,
optionally linking to an existing record instead (``match``); it then sets
``mark`` values and ``links`` lookups on the source. The runtime side is
``engine.runtime.workflow.conversion``.

A mapping value is a source field name (``company``), an expression after ``=``
(``"=company + ' – first deal'"``), the id of an earlier target (``"@account"``)
or a constant (a number or boolean; text constants are expressions: ``"='vip'"``).

Checks, each with its code:

- T-E100: ``from`` or a target's ``object`` names an unknown object;
- T-E101: an unknown field — a target field (or one Trellis computes), a source
  field, a name in an expression, a ``match``, ``mark`` or ``links`` field;
- T-E102: ``"@x"`` or a ``links`` key names a target that is not declared
  (or, for ``"@x"``, not declared *before* the target using it);
- T-E103: a ``links`` field or a field given ``"@x"`` is not a lookup to that
  target's object;
- T-E104: a value cannot fit its field, where that is known from the config: a
  source field of an incompatible type (text into a number, a picklist whose
  values the target's picklist lacks, a lookup to another object), a constant or
  ``mark`` value the field refuses, a ``match`` on a field that cannot be compared;
- T-E105: an expression (``when`` or ``=…``) does not parse or calls an unknown function.

A target may not be named like the source object (T-E021): its errors are
reported under that name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.metadata import fieldtypes
from engine.metadata.errors import Text, Words, did_you_mean
from engine.metadata.expressions import (
    FUNCTIONS,
    Expression,
    ExpressionSyntaxError,
    parse_expression,
)
from engine.metadata.model import (
    SYSTEM_COLUMNS,
    Conversion,
    ConversionTarget,
    FieldDef,
    FieldMapping,
    Label,
    ObjectDef,
    frozen_map,
)

if TYPE_CHECKING:
    from engine.metadata.compiler import Compiler

#: Extra names conversion expressions may use.
EXPRESSION_NAMES = frozenset({"current_user", "current_language"})
#: The system column a conversion may write on a target (whom the new record belongs to).
OWNER = "owner_id"
#: Families a target field of each family also accepts (whole numbers are decimals too).
WIDENING: dict[str, frozenset[str]] = {"decimal": frozenset({"integer"})}
#: The type of each system column, as a source of a mapping.
SYSTEM_TYPES: dict[str, str] = {
    "id": "lookup",
    "owner_id": "user",
    "created_by": "user",
    "version": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "archived_at": "datetime",
    "stage_entered_at": "datetime",
}


def compile_conversions(compiler: Compiler, specs: dict, objects: dict[str, ObjectDef]) -> dict[str, Conversion]:
    """Every declared conversion, by name; problems are reported on ``compiler``."""
    out = {}
    for name, spec in specs.items():
        conversion = _ConversionCompiler(compiler, name, spec, objects).compile()
        if conversion is not None:
            out[name] = conversion
    return out


class _ConversionCompiler:
    """Checks and builds one conversion."""

    def __init__(self, compiler: Compiler, name: str, spec: dict, objects: dict[str, ObjectDef]) -> None:
        self.compiler, self.name, self.spec, self.objects = compiler, name, spec, objects
        self.path = ("conversions", name)
        self.source: ObjectDef | None = None

    def issue(self, code: str, path: tuple, message: Text, hint: Text | None = None, key: bool = False) -> None:
        self.compiler.issue(code, (*self.path, *path), message, hint, key)

    def compile(self) -> Conversion | None:
        self.source = self.object(self.spec.get("from"), ("from",))
        when = self.expression(self.spec["when"], ("when",)) if self.spec.get("when") else None
        targets: list[ConversionTarget] = []
        for tname, tspec in (self.spec.get("targets") or {}).items():
            target = self.target(tname, tspec or {}, targets)
            if target is not None:
                targets.append(target)
        mark = self.mark(self.spec.get("mark") or {})
        links = self.links(self.spec.get("links") or {}, targets)
        if self.source is None:
            return None
        return Conversion(
            name=self.name,
            label=Label.of(self.spec.get("label"), self.name.replace("_", " ").capitalize()),
            source=self.source.name,
            targets=tuple(targets),
            when=when,
            message=Label.of(self.spec["message"]) if self.spec.get("message") else None,
            mark=frozen_map(mark),
            links=frozen_map(links),
            description=self.spec.get("description"),
        )

    # --- names -------------------------------------------------------------------------------
    def object(self, name: Any, path: tuple) -> ObjectDef | None:
        if not isinstance(name, str):
            return None
        obj = self.objects.get(name)
        if obj is None:
            self.issue(
                "T-E100",
                path,
                Words(f"unknown object `{name}`", f"未知对象 `{name}`"),
                did_you_mean(name, self.objects)
                or Words(f"known objects: {', '.join(self.objects)}", f"已声明的对象：{', '.join(self.objects)}"),
            )
        return obj

    def source_field(self, name: str, path: tuple, key: bool = False) -> FieldDef | str | None:
        """A field of the source (its FieldDef) or a system column (its name); None when unknown."""
        if self.source is None:
            return None
        if name in self.source.fields:
            return self.source.fields[name]
        if name in SYSTEM_COLUMNS:
            return name
        self.issue(
            "T-E101",
            path,
            Words(f"`{self.source.name}` has no field `{name}`", f"`{self.source.name}` 没有字段 `{name}`"),
            did_you_mean(name, [*self.source.fields, *SYSTEM_COLUMNS])
            or Words(
                f"name a field of {self.source.name}, or write an expression starting with '='",
                f"请指定 {self.source.name} 的字段，或写以 '=' 开头的表达式",
            ),
            key=key,
        )
        return None

    def expression(self, source: Any, path: tuple) -> Expression | None:
        """Parse an expression over the source record (T-E105 / T-E101)."""
        try:
            expr = parse_expression(str(source))
        except ExpressionSyntaxError as exc:
            self.issue(
                "T-E105",
                path,
                Words(
                    f"expression does not parse: {exc} (at character {exc.offset + 1} of {source!r})",
                    f"表达式无法解析：{exc}（在 {source!r} 的第 {exc.offset + 1} 个字符处）",
                ),
                Words(
                    "write a Python-like expression over the source's fields, e.g. status == 'qualified'",
                    "请用源记录的字段写类似 Python 的表达式，例如 status == 'qualified'",
                ),
            )
            return None
        for call in sorted(expr.calls - FUNCTIONS):
            self.issue(
                "T-E105",
                path,
                Words(
                    f"unknown function `{call}()` in expression {source!r}",
                    f"表达式 {source!r} 中的函数 `{call}()` 未知",
                ),
                did_you_mean(call, FUNCTIONS)
                or Words(f"available: {', '.join(sorted(FUNCTIONS))}", f"可用的函数：{', '.join(sorted(FUNCTIONS))}"),
            )
        if self.source is not None:
            allowed = {*self.source.fields, *SYSTEM_COLUMNS, *EXPRESSION_NAMES}
            for name in sorted(expr.names - allowed):
                self.issue(
                    "T-E101",
                    path,
                    Words(
                        f"unknown field `{name}` in expression {source!r}",
                        f"表达式 {source!r} 中的字段 `{name}` 未知",
                    ),
                    did_you_mean(name, allowed)
                    or Words(
                        f"expressions may name the fields of {self.source.name}",
                        f"表达式可以使用 {self.source.name} 的字段",
                    ),
                )
        return expr

    # --- targets -------------------------------------------------------------------------------
    def target(self, name: str, spec: dict, earlier: list[ConversionTarget]) -> ConversionTarget | None:
        path = ("targets", name)
        if self.source is not None and name == self.source.name:
            self.issue(
                "T-E021",
                path,
                Words(
                    f"a target cannot be named `{name}` like the source object",
                    f"目标不能和源对象一样命名为 `{name}`",
                ),
                Words(
                    "its errors are reported under that name; choose another name",
                    "它的错误会报告在这个名字下；请另取一个名字",
                ),
                key=True,
            )
        obj = self.object(spec.get("object", name), (*path, "object") if "object" in spec else path)
        if obj is None:
            return None
        mappings = []
        for field_name, value in (spec.get("fields") or {}).items():
            mapping = self.mapping(obj, field_name, value, (*path, "fields", field_name), earlier)
            if mapping is not None:
                mappings.append(mapping)
        match = tuple(spec.get("match") or ())
        for index, field_name in enumerate(match):
            self.match_field(obj, field_name, (*path, "match", index))
        return ConversionTarget(
            name=name,
            object=obj.name,
            label=Label.of(spec["label"]) if spec.get("label") else obj.label,
            fields=tuple(mappings),
            match=match,
            optional=bool(spec.get("optional", False)),
        )

    def mapping(
        self, obj: ObjectDef, field_name: str, value: Any, path: tuple, earlier: list[ConversionTarget]
    ) -> FieldMapping | None:
        target_field = self.target_field(obj, field_name, path)
        if isinstance(value, str) and value.startswith("="):
            expr = self.expression(value[1:], path)
            return FieldMapping(field_name, "expression", expression=expr) if expr is not None else None
        if isinstance(value, str) and value.startswith("@"):
            return self.reference(obj, target_field, field_name, value[1:], path, earlier)
        if isinstance(value, str):
            source = self.source_field(value, path)
            if source is not None and target_field is not None:
                self.check_fits(source, target_field, path)
            return FieldMapping(field_name, "field", source=value) if source is not None else None
        return self.constant(target_field, field_name, value, path)

    def target_field(self, obj: ObjectDef, name: str, path: tuple) -> FieldDef | str | None:
        """A writable field of the target (or ``owner_id``); None (reported) otherwise."""
        if name == OWNER:
            return OWNER
        field = obj.fields.get(name)
        if field is None:
            self.issue(
                "T-E101",
                path,
                Words(f"`{obj.name}` has no field `{name}`", f"`{obj.name}` 没有字段 `{name}`"),
                did_you_mean(name, [*obj.fields, OWNER])
                or Words(f"map fields of {obj.name} (or owner_id)", f"请映射 {obj.name} 的字段（或 owner_id）"),
                key=True,
            )
            return None
        if field.is_computed:
            self.issue(
                "T-E101",
                path,
                Words(
                    f"`{obj.name}.{name}` is a {field.type} field: Trellis computes it",
                    f"`{obj.name}.{name}` 是 {field.type} 类型的字段：由 Trellis 计算",
                ),
                Words("remove it from the mapping", "请把它从映射中删除"),
                key=True,
            )
            return None
        return field

    def reference(
        self,
        obj: ObjectDef,
        target_field: FieldDef | str | None,
        field_name: str,
        name: str,
        path: tuple,
        earlier: list[ConversionTarget],
    ) -> FieldMapping | None:
        referred = next((t for t in earlier if t.name == name), None)
        declared = list(self.spec.get("targets") or {})
        if referred is None:
            where = (
                Words("is declared after this one", "在当前目标之后才声明")
                if name in declared
                else Words("is not declared", "未声明")
            )
            before = ", ".join(t.name for t in earlier)
            self.issue(
                "T-E102",
                path,
                Words(f"`@{name}`: the target `{name}` {where.en}", f"`@{name}`：目标 `{name}` {where.zh}"),
                Words(
                    f"refer to a target declared before this one: {before or 'none'}",
                    f"请引用在当前目标之前声明的目标：{before or '无'}",
                )
                if name in declared
                else did_you_mean(name, declared)
                or Words(f"targets: {', '.join(declared)}", f"已声明的目标：{', '.join(declared)}"),
            )
            return None
        if target_field is not None and not _is_lookup_to(target_field, referred.object):
            self.issue(
                "T-E103",
                path,
                Words(
                    f"`{obj.name}.{field_name}` is not a lookup to {referred.object}, "
                    f"so it cannot hold the id of `{name}`",
                    f"`{obj.name}.{field_name}` 不是指向 {referred.object} 的查找字段，无法保存 `{name}` 的编号",
                ),
                Words(
                    f"give `@{name}` to a field with `type: lookup, object: {referred.object}`",
                    f"请把 `@{name}` 赋给 `type: lookup, object: {referred.object}` 的字段",
                ),
            )
            return None
        return FieldMapping(field_name, "target", source=name)

    def constant(
        self, target_field: FieldDef | str | None, field_name: str, value: Any, path: tuple
    ) -> FieldMapping | None:
        if target_field is None:
            return None
        if isinstance(target_field, str):  # target_field() gives one system column: owner_id
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                self.issue(
                    "T-E104",
                    path,
                    Words(f"{value!r} is not a user id", f"{value!r} 不是用户编号"),
                    Words(
                        "map owner_id from a source field, e.g. owner_id",
                        "请从源记录的字段映射 owner_id，例如 owner_id",
                    ),
                )
                return None
            return FieldMapping(field_name, "constant", value=value)
        try:
            coerced = fieldtypes.coerce_value(target_field, value, self.compiler.settings)
        except fieldtypes.FieldValueError as exc:
            self.issue(
                "T-E104",
                path,
                Words(
                    f"{value!r} does not fit the {target_field.type} field `{field_name}`: {exc.message}",
                    f"{value!r} 不适合 {target_field.type} 类型的字段 `{field_name}`：{exc.words().zh}",
                ),
                Words(
                    "give a value of the field's type, or an expression starting with '='",
                    "请给出该字段类型的值，或以 '=' 开头的表达式",
                ),
            )
            return None
        return FieldMapping(field_name, "constant", value=coerced)

    def check_fits(self, source: FieldDef | str, target: FieldDef | str, path: tuple) -> None:
        """T-E104 when a source field's values can never (or not always) fit the target field."""
        problem = _misfit(source, target, self.source.name if self.source else "")
        if problem:
            source_name = source if isinstance(source, str) else source.name
            self.issue(
                "T-E104",
                path,
                Words(f"`{source_name}` ", f"`{source_name}` ") + problem,
                Words(
                    "map a field of a compatible type, or convert the value with an expression starting with '='",
                    "请映射类型兼容的字段，或用以 '=' 开头的表达式转换该值",
                ),
            )

    def match_field(self, obj: ObjectDef, name: Any, path: tuple) -> None:
        field = obj.fields.get(name)
        if field is None:
            self.issue(
                "T-E101",
                path,
                Words(f"`{obj.name}` has no field `{name}` to match on", f"`{obj.name}` 没有可用于匹配的字段 `{name}`"),
                did_you_mean(name, obj.fields)
                or Words(f"match on fields of {obj.name}", f"请按 {obj.name} 的字段匹配"),
            )
        elif field.encrypted or not field.value_kind.orderable or field.value_kind.multiline:  # nothing to compare
            why = (
                Words("encrypted", "是加密字段")
                if field.encrypted
                else Words(f"a {field.value_type} field", f"是 {field.value_type} 类型的字段")
            )
            self.issue(
                "T-E104",
                path,
                Words(
                    f"`{obj.name}.{name}` is {why.en}; its values cannot be compared to find a match",
                    f"`{obj.name}.{name}` {why.zh}；无法比较它的值来查找匹配",
                ),
                Words(
                    "match on a text, number, date, picklist or lookup field",
                    "请按文本、数字、日期、选项列表或查找字段匹配",
                ),
            )

    # --- the source's mark and links ----------------------------------------------------------
    def mark(self, spec: dict) -> dict[str, Any]:
        out = {}
        for name, value in spec.items():
            path = ("mark", name)
            field = self.source_field(name, path, key=True)
            if field is None:
                continue
            if isinstance(field, str) or field.is_computed:
                self.issue(
                    "T-E101",
                    path,
                    Words(f"`{name}` cannot be set: Trellis maintains it", f"`{name}` 不能设置：它由 Trellis 维护"),
                    Words("mark a field of the source", "请标记源记录的字段"),
                    key=True,
                )
                continue
            try:
                out[name] = fieldtypes.coerce_value(field, value, self.compiler.settings)
            except fieldtypes.FieldValueError as exc:
                self.issue(
                    "T-E104",
                    path,
                    Words(
                        f"{value!r} does not fit the {field.type} field `{name}`: {exc.message}",
                        f"{value!r} 不适合 {field.type} 类型的字段 `{name}`：{exc.words().zh}",
                    ),
                    did_you_mean(value, field.picklist.keys()) if field.picklist else None,
                )
        return out

    def links(self, spec: dict, targets: list[ConversionTarget]) -> dict[str, str]:
        out = {}
        by_name = {t.name: t for t in targets}
        declared = list(self.spec.get("targets") or {})
        for target_name, field_name in spec.items():
            path = ("links", target_name)
            if target_name not in declared:
                self.issue(
                    "T-E102",
                    path,
                    Words(f"`{target_name}` is not a target of this conversion", f"`{target_name}` 不是此转换的目标"),
                    did_you_mean(target_name, declared)
                    or Words(f"targets: {', '.join(declared)}", f"已声明的目标：{', '.join(declared)}"),
                    key=True,
                )
                continue
            field = self.source_field(field_name, path)
            target = by_name.get(target_name)
            source = self.source  # never None when field is not: source_field() needs it
            if field is None or target is None or source is None:
                continue
            if not _is_lookup_to(field, target.object):
                self.issue(
                    "T-E103",
                    path,
                    Words(
                        f"`{source.name}.{field_name}` is not a lookup to {target.object}",
                        f"`{source.name}.{field_name}` 不是指向 {target.object} 的查找字段",
                    ),
                    Words(
                        f"add a field `{field_name}: {{type: lookup, object: {target.object}}}` to {source.name}",
                        f"请在 {source.name} 中加上字段 `{field_name}: {{type: lookup, object: {target.object}}}`",
                    ),
                )
                continue
            out[target_name] = field_name
        return out


def _is_lookup_to(field: FieldDef | str, object_name: str) -> bool:
    return isinstance(field, FieldDef) and field.points_to(object_name)


def _misfit(source: FieldDef | str, target: FieldDef | str, source_object: str) -> Words | None:
    """Why values of ``source`` cannot go into ``target``, or None when they can."""
    # A system column is given by its name: as a target only owner_id, as a lookup source only id.
    source_type = SYSTEM_TYPES[source] if isinstance(source, str) else source.value_type
    target_type = "user" if isinstance(target, str) else target.value_type
    source_kind, target_kind = fieldtypes.REGISTRY[source_type], fieldtypes.REGISTRY[target_type]
    source_family, target_family = source_kind.family, target_kind.family
    if source_family != target_family and source_family not in WIDENING.get(target_family, ()):
        return Words(
            f"is {_a(source_type)} {source_type} field; it cannot fill {_a(target_type)} {target_type} field",
            f"是 {source_type} 类型的字段；它不能填入 {target_type} 类型的字段",
        )
    if target_kind.refers_to_record and isinstance(target, FieldDef):
        source_target = source_object if isinstance(source, str) else source.target
        if source_target != target.target:
            return Words(
                f"points to {source_target}, the target field to {target.target}",
                f"指向 {source_target}，而目标字段指向 {target.target}",
            )
    if isinstance(target, FieldDef) and isinstance(source, FieldDef) and target.picklist and source.picklist:
        missing = sorted(source.picklist.keys() - target.picklist.keys())
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            return Words(
                f"has values the picklist of `{target.name}` lacks: {shown}",
                f"含有 `{target.name}` 的选项列表中没有的值：{shown}",
            )
    return None


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
