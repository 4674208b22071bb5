"""What a deleted record leaves behind in the ``sys_*`` tables, and its stored files.

The write path's delete (``engine.runtime.records.writes.delete``, ``Session.delete`` and
``Session.purge``) runs the chunk stage ``gone`` once the chunk's rows are deleted; this
feature then removes, set-wise (a statement or a few per kind of row for the chunk, each
finding the rows through an index of ``engine.runtime.tables``), the rows that only mean
something while the record exists. Each kind is one ``Remains`` in ``REMAINS`` (a
kind an object's records cannot have — files without a file field, duplicate keys and groups
without a duplicate rule, stage history without a pipeline — is not looked for; the statements
are built once per table):

=================================  ======================  ============================
rows                               ordinary delete         purge (retention)
=================================  ======================  ============================
``sys_files`` and the stored file  go (the file after the  go
                                   commit)
``sys_dup_keys``, duplicate        go                      go
groups' members and pairs, the
dismissed pairs
``sys_stage_history``              go                      go
``sys_notifications``              go                      go
``sys_engagement_events``          go                      go
``sys_campaign_recipients``        queued ones go (no      all go
                                   e-mail to a deleted
                                   record); sent ones stay
                                   (campaign results)
``sys_approvals`` and steps        stay (a decided         go
                                   request stays readable,
                                   its record as it was)
``sys_automation_runs``            stay (the run log)      go
``sys_mail_messages``              stay (a message is      go
                                   taken once)
=================================  ======================  ============================

Always kept: the audit trail (``sys_audit``, a hash chain: ``audit verify``), the read log
(``sys_access_log``), merges (``sys_merges``: the history an un-merge reads; a merged record is
archived, never deleted), the outbox (the e-mails and webhooks a delete's rules queued), web
form rejections (``record_id`` says what an accepted one became) and the finder's runs. Rows
the delete's own ``after`` stage writes (a rule's notification "deal deleted", its run) come
after ``gone`` and stay.

Stored files: the keys go to ``Unit.files_gone``; ``Runtime.session`` removes each file once
the transaction commits and no ``sys_files`` row names its key any more (a savepoint rolled
back keeps it); a rolled-back transaction removes none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.metadata.model import ObjectDef
from engine.runtime.records.files import upload_folder
from engine.runtime.records.stages import Feature

if TYPE_CHECKING:
    from engine.runtime.context import Runtime
    from engine.runtime.records.session import Session
    from engine.runtime.records.stages import Write
    from engine.runtime.records.writes import Draft

#: ``clear(session, object, ids)``: remove the rows the deleted records ``ids`` of ``object`` left.
Clear = Callable[["Session", ObjectDef, list[int]], None]


@dataclass(frozen=True)
class Remains:
    """One kind of row a deleted record leaves: ``clear`` removes them; ``on_delete`` False: history
    an ordinary delete keeps and only a purge removes; ``applies``: whether an object's records
    can have such rows at all (none without file fields, duplicate rules, a pipeline)."""

    name: str
    clear: Clear
    on_delete: bool = True
    applies: Callable[[ObjectDef], bool] = lambda obj: True


@functools.lru_cache(maxsize=128)
def _delete_rows(table: sa.Table, status: str | None) -> sa.Delete:
    """DELETE the rows of ``table`` naming records ``:ids`` of ``:object`` (in ``status``), built
    once per table so that its compiled form is cached."""
    condition = sa.and_(
        table.c.object == sa.bindparam("object"), table.c.record_id.in_(sa.bindparam("ids", expanding=True))
    )
    if status is not None:
        condition = sa.and_(condition, table.c.status == status)
    return sa.delete(table).where(condition)


def _record_rows(table: str, *, status: str | None = None) -> Clear:
    """The rows of ``table`` naming the records by ``(object, record_id)`` (only those in ``status``)."""

    def clear(session: Session, obj: ObjectDef, ids: list[int]) -> None:
        statement = _delete_rows(session.schema.system[table], status)
        session.connection.execute(statement, {"object": obj.name, "ids": ids})

    return clear


@functools.lru_cache(maxsize=16)
def _file_keys(table: sa.Table) -> sa.Select[tuple[str]]:
    condition = sa.and_(
        table.c.object == sa.bindparam("object"), table.c.record_id.in_(sa.bindparam("ids", expanding=True))
    )
    return sa.select(table.c.key).where(condition)


def _files(session: Session, obj: ObjectDef, ids: list[int]) -> None:
    """The records' ``sys_files`` rows; their keys wait in the unit until the commit."""
    rows = session.schema.system["sys_files"]
    found = {"object": obj.name, "ids": ids}
    keys = list(session.connection.execute(_file_keys(rows), found).scalars())
    if keys:
        session.connection.execute(_delete_rows(rows, None), found)
        session.unit.files_gone.extend(keys)


def _approvals(session: Session, obj: ObjectDef, ids: list[int]) -> None:
    """The records' approval requests and their steps."""
    system = session.schema.system
    approvals, steps = system["sys_approvals"], system["sys_approval_steps"]
    condition = sa.and_(approvals.c.object == obj.name, approvals.c.record_id.in_(ids))
    session.connection.execute(
        sa.delete(steps).where(steps.c.approval_id.in_(sa.select(approvals.c.id).where(condition)))
    )
    session.connection.execute(sa.delete(approvals).where(condition))


def _duplicate_groups(session: Session, obj: ObjectDef, ids: list[int]) -> None:
    """The records as members (and in pairs) of the object's duplicate groups, groups left with
    fewer than two members, and pairs people dismissed."""
    system = session.schema.system
    groups, members, pairs = system["sys_dup_groups"], system["sys_dup_members"], system["sys_dup_pairs"]
    connection = session.connection
    found = {"object": obj.name, "ids": ids}
    touched = list(connection.execute(_groups_of(groups, members), found).scalars())
    for side in PAIR_SIDES:
        connection.execute(_delete_dismissed(system["sys_dup_dismissed"], side), found)
    if touched:
        connection.execute(
            sa.delete(pairs).where(
                pairs.c.group_id.in_(touched), sa.or_(pairs.c.first_id.in_(ids), pairs.c.second_id.in_(ids))
            )
        )
        connection.execute(sa.delete(members).where(members.c.group_id.in_(touched), members.c.record_id.in_(ids)))
        counted = connection.execute(
            sa.select(members.c.group_id, sa.func.count())
            .where(members.c.group_id.in_(touched))
            .group_by(members.c.group_id)
        )
        counts: dict[int, int] = {group: count for group, count in counted}
        lone = [g for g in touched if counts.get(g, 0) < 2]
        if lone:
            connection.execute(sa.delete(pairs).where(pairs.c.group_id.in_(lone)))
            connection.execute(sa.delete(members).where(members.c.group_id.in_(lone)))
            connection.execute(sa.delete(groups).where(groups.c.id.in_(lone)))
        for group, count in counts.items():
            if group not in lone:
                connection.execute(sa.update(groups).where(groups.c.id == group).values(size=count))


@functools.lru_cache(maxsize=16)
def _groups_of(groups: sa.Table, members: sa.Table) -> sa.Select[tuple[int]]:
    """The groups of ``:object`` with a member among ``:ids``."""
    mine = sa.select(groups.c.id).where(groups.c.object == sa.bindparam("object"))
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    return sa.select(members.c.group_id).where(members.c.record_id.in_(ids), members.c.group_id.in_(mine)).distinct()


#: The two ids of a dismissed pair: each has an index starting with ``object`` (the key, and its own).
PAIR_SIDES = ("first_id", "second_id")


@functools.lru_cache(maxsize=16)
def _delete_dismissed(dismissed: sa.Table, side: str) -> sa.Delete:
    """DELETE the dismissed pairs of ``:object`` whose ``side`` (``PAIR_SIDES``) is among ``:ids``:
    one statement per side, since neither database reads an OR of the two through both indexes."""
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    return sa.delete(dismissed).where(dismissed.c.object == sa.bindparam("object"), dismissed.c[side].in_(ids))


#: Every kind of row a deleted record leaves, in the order they go.
REMAINS: tuple[Remains, ...] = (
    Remains("files", _files, applies=lambda obj: bool(obj.files)),
    Remains("duplicate keys", _record_rows("sys_dup_keys"), applies=lambda obj: bool(obj.duplicates)),
    Remains("duplicate groups", _duplicate_groups, applies=lambda obj: bool(obj.duplicates)),
    Remains("stage history", _record_rows("sys_stage_history"), applies=lambda obj: obj.pipeline is not None),
    Remains("notifications", _record_rows("sys_notifications")),
    Remains("engagement events", _record_rows("sys_engagement_events")),
    Remains("queued campaign e-mails", _record_rows("sys_campaign_recipients", status="queued")),
    Remains("campaign recipients", _record_rows("sys_campaign_recipients"), on_delete=False),
    Remains("approvals", _approvals, on_delete=False),
    Remains("automation runs", _record_rows("sys_automation_runs"), on_delete=False),
    Remains("mail messages", _record_rows("sys_mail_messages"), on_delete=False),
)


def clear(session: Session, obj: ObjectDef, ids: list[int], purge: bool) -> None:
    """Remove what the deleted records ``ids`` of ``obj`` leave behind (``purge``: the history an
    ordinary delete keeps too)."""
    if ids:
        for remains in REMAINS:
            if (remains.on_delete or purge) and remains.applies(obj):
                remains.clear(session, obj, ids)


def folder(crm: Runtime) -> Path:
    """Where stored files are kept: ``Runtime.files_dir`` (the web app's ``TRELLIS_UPLOAD_DIR``),
    else ``files.upload_folder``."""
    return crm.files_dir or upload_folder()


def remove_files(crm: Runtime, keys: list[str], where: Path | None = None) -> list[str]:
    """After a commit: remove the stored files of ``keys`` from ``where`` (default ``folder``) that
    no ``sys_files`` row names any more; the keys removed. A key never names a path
    (``webui.ui.uploads.FILE_KEY``): one with a separator is left alone."""
    wanted = sorted({k for k in keys if "/" not in k and "\\" not in k})
    if not wanted:
        return []
    rows = crm.schema.system["sys_files"]
    with crm.engine.connect() as connection:
        kept = set(connection.execute(sa.select(rows.c.key).where(rows.c.key.in_(wanted))).scalars())
    target = where or folder(crm)
    gone = [k for k in wanted if k not in kept]
    for key in gone:
        (target / key).unlink(missing_ok=True)
    return gone


# --- the write path's hook (engine.runtime.records.stages) ---------------------------------------
def _gone(write: Write, drafts: list[Draft]) -> None:
    """Stage ``gone``: the chunk's deleted records' remains."""
    ids = [d.current.id for d in drafts if d.current is not None]
    clear(write.session, write.obj, ids, purge=write.purge is not None)


#: What a deleted record leaves behind goes with it.
FEATURE = Feature("remains", {"gone": _gone})
