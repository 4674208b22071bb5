"""The data dictionary as a structure: sections of paragraphs, bullets and tables, in one language.

``build_dictionary(config, language)`` reads the compiled model and writes nothing but text;
``render.py`` turns the same ``Document`` into Markdown or HTML. A piece of text is a string, or
a tuple of strings where a ``Code`` part is a key or an expression (shown as code, never
interpreted as markup).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.metadata.dictionary import sentences
from engine.metadata.dictionary.words import LANGUAGES, Speaker
from engine.metadata.model import Config, ObjectDef, Picklist, PicklistValue, Pipeline, Role


class Code(str):
    """A key, a field name or an expression: shown as code."""


#: A piece of text: plain, or parts of which some are ``Code``.
Text = str | tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table: headings and rows of cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]


@dataclass(frozen=True)
class Section:
    """A heading (``level`` 2 or 3) with what stands under it, in this order."""

    title: Text
    level: int = 2
    paragraphs: tuple[Text, ...] = ()
    bullets: tuple[Text, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Document:
    """A whole data dictionary in ``language``."""

    title: str
    language: str
    intro: tuple[Text, ...]
    sections: tuple[Section, ...] = field(default=())


def default_language(config: Config) -> str:
    """The config's first language when the documents speak it, else English."""
    first = config.settings.languages[0].split("_")[0] if config.settings.languages else "en"
    return first if first in LANGUAGES else "en"


def build_dictionary(config: Config, language: str) -> Document:
    """The data dictionary of ``config`` in ``language`` (one of ``LANGUAGES``)."""
    say = Speaker(config, language)
    settings = config.settings
    intro: tuple[Text, ...] = (
        say("doc.intro", source=config.source_path),
        say(
            "doc.settings",
            languages=say.join(say.either(f"language.{lang}", lang) for lang in settings.languages),
            currency=settings.currency,
            timezone=settings.timezone,
        ),
    )
    parts: list[Section] = []
    for obj in config.objects.values():
        parts.extend(_object_sections(say, obj))
    parts.extend(_picklist_sections(say))
    parts.extend(_role_sections(say))
    parts.append(_sentences(say, "doc.approvals", [sentences.approval_sentence(say, r) for r in config.approvals]))
    parts.append(
        _sentences(say, "doc.assignment", [sentences.assignment_sentence(say, r) for r in config.assignment.values()])
    )
    parts.append(
        _sentences(say, "doc.automations", [sentences.automation_sentence(say, r) for r in config.automations])
    )
    parts.append(_reports(say))
    return Document(say("doc.title", company=settings.company), language, intro, tuple(parts))


def _sentences(say: Speaker, title: str, items: list[str]) -> Section:
    return Section(say(title), bullets=tuple(items), paragraphs=() if items else (say("doc.none"),))


def _label_headers(say: Speaker) -> tuple[str, ...]:
    return tuple(
        say("col.label_in", language=say.either(f"language.{lang}", lang)) for lang in say.config.settings.languages
    )


def _object_sections(say: Speaker, obj: ObjectDef) -> list[Section]:
    title = (say.label(obj.label, obj.name), " (", Code(obj.name), ")")
    languages = say.config.settings.languages
    labels = " · ".join(f"{lang}: {obj.label.get(lang)}" for lang in languages)
    plural = " · ".join(f"{lang}: {obj.plural_label.get(lang)}" for lang in languages)
    paragraphs: list[Text] = [
        say("doc.object_labels", labels=labels, plural=plural),
        sentences.retention_sentence(say, obj),
    ]
    if obj.description:
        paragraphs.insert(0, obj.description)
    out = [Section(title, paragraphs=tuple(paragraphs))]
    rows = []
    for f in obj.fields.values():
        rows.append(
            (
                Code(f.name),
                *(f.label.get(lang) for lang in languages),
                sentences.field_type(say, obj.name, f),
                say("yes" if f.required else "no"),
                say("yes" if f.unique else "no"),
                say.label(f.help),
            )
        )
    headers = (say("col.key"), *_label_headers(say), say("col.type"), say("col.required"), say("col.unique"))
    out.append(
        Section(
            say("doc.fields", object=say.label(obj.label)),
            level=3,
            table=Table((*headers, say("col.help")), tuple(rows)),
        )
    )
    if obj.pipeline is not None:
        out.extend(_pipeline_sections(say, obj, obj.pipeline))
    if obj.rules:
        out.append(
            Section(
                say("doc.rules", object=say.label(obj.label)),
                level=3,
                bullets=tuple(
                    (
                        Code(r.name),
                        ": ",
                        say.label(r.message),
                        " (",
                        *((Code(r.when.source), " → ") if r.when else ()),
                        Code(r.assertion.source),
                        ")",
                    )
                    for r in obj.rules
                ),
            )
        )
    return out


def _pipeline_sections(say: Speaker, obj: ObjectDef, pipeline: Pipeline) -> list[Section]:
    out = []
    for one in pipeline.all_pipelines():
        if one.key == "default":
            title = say("doc.pipeline", object=say.label(obj.label))
        else:
            variant = next(v for v in pipeline.variants if v.key == one.key)
            by = obj.fields.get(pipeline.by or "")
            title = say(
                "doc.pipeline_variant",
                object=say.label(obj.label),
                pipeline=say.label(one.label),
                field=say.field(obj.name, pipeline.by or ""),
                values=say.join((say.value(by, v) for v in variant.when), "list.or"),
            )
        rows = []
        for stage in one.stages:
            conditional = say("clause.sep").join(
                f"{say.code(c.when.source)} → {say.fields(obj.name, c.fields)}" for c in stage.requires_when
            )
            rows.append(
                (
                    say.label(stage.label, stage.key),
                    Code(stage.key),
                    say("percent", value=f"{stage.probability:g}") if stage.probability is not None else "",
                    say.either(f"outcome.{stage.outcome}", stage.outcome),
                    say.fields(obj.name, stage.requires),
                    conditional,
                )
            )
        headers = (
            say("col.stage"),
            say("col.key"),
            say("col.probability"),
            say("col.outcome"),
            say("col.gate"),
            say("col.conditional"),
        )
        out.append(Section(title, 3, (say("doc.gates_cumulative"),), table=Table(headers, tuple(rows))))
    return out


def _picklists_used(say: Speaker) -> list[Picklist]:
    found: dict[str, Picklist] = dict(say.config.picklists)
    for obj in say.config.objects.values():
        for f in obj.fields.values():
            if f.picklist is not None and not (obj.pipeline and f.name == obj.pipeline.field):
                found.setdefault(f.picklist.name, f.picklist)
    return list(found.values())


def _picklist_sections(say: Speaker) -> list[Section]:
    languages = say.config.settings.languages
    out = [Section(say("doc.picklists"))]
    for picklist in _picklists_used(say):
        rows = [
            (
                Code(value.key),
                *(("— " * depth) + value.label.get(lang) for lang in languages),
                say("inactive") if value.inactive else "",
            )
            for value, depth in _walk(picklist.values, 0)
        ]
        title = (sentences.picklist_name(say, picklist), " (", Code(picklist.name), ")")
        headers = (say("col.key"), *_label_headers(say), say("col.status"))
        out.append(Section(title, 3, table=Table(headers, tuple(rows))))
    return out


def _walk(values: tuple[PicklistValue, ...], depth: int) -> Iterator[tuple[PicklistValue, int]]:
    """Every value with its depth, parents before their children."""
    for value in values:
        yield value, depth
        yield from _walk(value.children, depth + 1)


def _role_sections(say: Speaker) -> list[Section]:
    out = [Section(say("doc.roles"))]
    for role in say.config.roles.values():
        out.append(_role_section(say, role))
    return out


def _role_section(say: Speaker, role: Role) -> Section:
    rows = []
    for name, grant in role.grants.items():
        if grant.read == "none" and grant.edit == "none" and not grant.create:
            continue
        extras = [
            say(f"grant.{key}")
            for key, held in (
                ("export", grant.export),
                ("import", grant.import_),
                ("reassign", grant.reassign),
                ("merge", grant.merge_),
            )
            if held
        ]
        rows.append(
            (
                say.object(name),
                say(f"access.{grant.read}"),
                say(f"access.{grant.edit}"),
                say(f"access.{grant.delete}"),
                say("yes" if grant.create else "no"),
                say.join(extras),
            )
        )
    paragraphs: list[Text] = [role.description] if role.description else []
    if role.permissions:
        permissions = (say.either(f"permission.{p}", p) for p in sorted(role.permissions))
        paragraphs.append(say("role.permissions", permissions=say.join(permissions)))
    for key, pairs in (("role.hidden", role.hidden), ("role.read_only", role.read_only)):
        if pairs:
            named = (f"{say.object(o)} · {say.field(o, f)}" for o, f in sorted(pairs))
            paragraphs.append(say(key, fields=say.join(named)))
    if role.require_totp:
        paragraphs.append(say("role.totp"))
    if not rows:
        paragraphs.append(say("role.no_access"))
    headers = (
        say("col.object"),
        say("col.read"),
        say("col.edit"),
        say("col.delete"),
        say("col.create"),
        say("col.other"),
    )
    title = (say.label(role.label, role.name), " (", Code(role.name), ")")
    return Section(title, 3, tuple(paragraphs), table=Table(headers, tuple(rows)) if rows else None)


def _reports(say: Speaker) -> Section:
    rows = []
    for report in say.config.reports.values():
        grouping = say.join(sentences.group_words(say, report.object, g) for g in report.group_by)
        measures = say.join(dict.fromkeys(sentences.measure_words(say, report.object, m) for m in report.measures))
        rows.append((say.label(report.label, report.name), say.object(report.object), grouping, measures))
    if not rows:
        return Section(say("doc.reports"), paragraphs=(say("doc.none"),))
    headers = (say("col.report"), say("col.object"), say("col.grouping"), say("col.measures"))
    return Section(say("doc.reports"), table=Table(headers, tuple(rows)))
