"""Compile a config into SQLAlchemy tables: one ``obj_<object>`` table per
object plus the ``sys_*`` system tables.

The result is built once per config version and cached by the caller
(``engine.Trellis``); it is what migrations compare against the live database
and what the record service and query layer read and write.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FunctionType
from typing import Any

import sqlalchemy as sa

from engine.metadata import kinds
from engine.metadata.automation_triggers import TRIGGERS
from engine.metadata.model import Config, FieldDef, ObjectDef
from engine.runtime.fieldsql import UTCDateTime, column_type, id_type, json_type

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

#: Prefixes of the tables Trellis owns; anything else in the database is left alone.
OWNED_PREFIXES = ("obj_", "sys_")


def field_column(obj: ObjectDef, field: FieldDef) -> sa.Column:
    """The column of one config field, with its foreign key when it is a lookup."""
    args: list[Any] = []
    if field.target:
        args.append(sa.ForeignKey(f"obj_{field.target}.id"))
    not_null = field.required and not field.is_computed
    return sa.Column(
        field.name,
        column_type(field),
        *args,
        nullable=not not_null,
        unique=field.unique or None,
        index=(field.indexed or field.kind.refers_to_record) and not field.unique and not listed_choice(field) or None,
        comment=field.label.get("en"),
    )


def object_table(obj: ObjectDef, metadata: sa.MetaData) -> sa.Table:
    """Build ``obj_<name>`` with the system columns, one column per field and the list indexes.

    The list index ``ix_obj_<name>_recent`` (``created_at DESC, id, archived_at``)
    serves the web list's default order (``Query.order_by("-created_at")``, which
    leaves out ``NULLS LAST`` on NOT NULL columns so that the index matches) and
    lets a deep page select its ids from the index alone (``Query.page``);
    ``ix_obj_<name>_owner_recent`` does the same for one owner's records (the
    ``own`` scope, ``owner=me``) and serves every lookup by owner. The
    PostgreSQL search index is not part of the table: see ``search_document``.
    """
    columns = [
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", id_type(), nullable=True),
        sa.Column("owner_id", id_type(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
    ]
    if obj.pipeline:
        columns.append(sa.Column("stage_entered_at", UTCDateTime(), nullable=True))
    if obj.timeline:  # kept by engine/runtime/workflow/timeline.py: the latest activity's time
        columns.append(sa.Column("last_activity_at", UTCDateTime(), nullable=True, index=True))
    columns += [field_column(obj, f) for f in obj.fields.values()]
    table = sa.Table(obj.table_name, metadata, *columns, comment=obj.label.get("en"))
    c = table.c
    sa.Index(index_name(obj.table_name, "recent"), c.created_at.desc(), c.id, c.archived_at)
    sa.Index(index_name(obj.table_name, "owner_recent"), c.owner_id, c.created_at.desc(), c.id, c.archived_at)
    for f in obj.fields.values():
        if listed_choice(f):
            sa.Index(
                index_name(obj.table_name, f"{f.name}_recent"), c[f.name], c.created_at.desc(), c.id, c.archived_at
            )
    return table


def listed_choice(field: FieldDef) -> bool:
    """Whether ``field`` is an indexed choice of one picklist value — a pipeline's stage field
    always is (``indexed: true`` on another picklist too) — whose index is ordered like the list:
    ``ix_obj_<name>_<field>_recent`` on (field, ``created_at DESC``, id, ``archived_at``). A
    filter on one value (``stage=negotiation``) then reads its page in order and counts its
    matches (up to the list's count limit) from the index alone, where a plain index on a value
    that a sixth of the records share would leave both to the table."""
    return field.indexed and not field.unique and field.kind.from_picklist and not field.kind.list_valued


# --- index helpers --------------------------------------------------------------------------
#: PostgreSQL's longest identifier; longer index names are shortened with a hash.
MAX_NAME_LENGTH = 63
#: Names of the PostgreSQL search indexes (``search_index_name``); Alembic's comparison skips them.
SEARCH_INDEX_PATTERN = r"^ix_.*_search_[0-9a-f]{8}$"


def index_name(table_name: str, suffix: str) -> str:
    """``ix_<table>_<suffix>``, shortened (keeping ``suffix``) to fit ``MAX_NAME_LENGTH``."""
    name = f"ix_{table_name}_{suffix}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(table_name.encode()).hexdigest()[:6]
    keep = MAX_NAME_LENGTH - len(suffix) - len(digest) - 5
    return f"ix_{table_name[:keep]}_{digest}_{suffix}"


def search_fields(obj: ObjectDef) -> list[FieldDef]:
    """The fields ``Query.search`` looks in, in config order: those whose values are searchable
    text (a formula by its result: a contact's ``contact_name`` ``张伟`` is found as typed),
    never an encrypted one."""
    return [f for f in obj.fields.values() if f.value_kind.searchable and not f.encrypted]


#: Separates the fields in ``search_document``: a control character (US, 0x1f) that search text
#: does not hold, so that a pattern without it matches inside one field, never across two.
SEARCH_SEPARATOR = "\x1f"


def search_document(table: sa.Table, names: Sequence[str]) -> sa.ColumnElement[str]:
    """``lower(coalesce(a, '') || chr(31) || coalesce(b, '') …)``: a record's searchable text as one string.

    On PostgreSQL each object has a trigram index (``pg_trgm``, GIN) on exactly
    this expression over ``search_fields``, beside ``owner_id`` (``btree_gin``), created by the
    migrations (``engine.runtime.migrate.search``), and ``Query.search`` matches ``LIKE``
    patterns against it. The literals are written into the SQL, not bound,
    so that the query's expression is the index's even in a prepared statement.
    """
    parts = [sa.func.coalesce(table.c[name], sa.literal_column("''")) for name in names]
    document: sa.ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        document = document.concat(sa.literal_column(f"chr({ord(SEARCH_SEPARATOR)})")).concat(part)
    return sa.func.lower(document, type_=sa.Text())


def search_index_name(table: sa.Table, names: Sequence[str], dialect: sa.Dialect, leading: Sequence[str] = ()) -> str:
    """The search index's name: the table and a hash of the indexed columns and their SQL types,
    so that any change to the expression (a field added, renamed, retyped) is a new name.
    ``leading`` are plain columns indexed beside the text (``owner_id``, with ``btree_gin``:
    ``engine.runtime.migrate.search``); without them the name is what it always was."""
    signature = ",".join(f"{name}:{table.c[name].type.compile(dialect=dialect)}" for name in names)
    if leading:
        signature = (
            ",".join(f"{name}:{table.c[name].type.compile(dialect=dialect)}" for name in leading) + ";" + signature
        )
    return index_name(table.name, "search_" + hashlib.sha256(signature.encode()).hexdigest()[:8])


def system_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The ``sys_*`` tables this version of Trellis needs."""
    versions = sa.Table(
        "sys_config_versions",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("source_path", sa.String(500), nullable=False),
        sa.Column("config_text", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=False),
        sa.Column("applied_by", sa.String(200), nullable=True),
        # migrate.fingerprint of the applied config: what Trellis.check_database compares
        sa.Column("schema_hash", sa.String(64), nullable=True),
    )
    sequences = sa.Table(
        "sys_sequences",
        metadata,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    return {
        t.name: t
        for t in (
            versions,
            sequences,
            *identity_tables(metadata),
            *audit_tables(metadata),
            *view_tables(metadata),
            *pipeline_tables(metadata),
            *automation_tables(metadata),
            *assignment_tables(metadata),
            *file_tables(metadata),
            *import_tables(metadata),
            *merge_tables(metadata),
            *duplicate_tables(metadata),
            *finder_tables(metadata),
            *subscription_tables(metadata),
            *webform_tables(metadata),
            *campaign_tables(metadata),
            *mail_tables(metadata),
            *retention_tables(metadata),
        )
    }


def retention_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Retention requests (``engine.runtime.retention_requests``): the records a run holds for
    approval — the policy, the approver, the decision, what was done — and the records each
    holds, with the version they had (a record changed since is left alone). ``open_object``
    is the object while the request is open (pending or approved), NULL once closed: unique,
    so two workers cannot file two open requests for one object."""
    requests = sa.Table(
        "sys_retention_requests",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("open_object", sa.String(100), nullable=True, unique=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("from_field", sa.String(100), nullable=False),
        sa.Column("before", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("settled", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approver_role", sa.String(100), nullable=True),
        sa.Column("approver_user_id", id_type(), nullable=True),
        sa.Column("approver_name", sa.String(200), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", id_type(), nullable=True),
        sa.Column("decided_by_name", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("kept", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer(), nullable=False, server_default="0"),
        sa.Index("ix_sys_retention_requests_object", "object", "id"),
        sa.Index("ix_sys_retention_requests_status", "status"),
    )
    items = sa.Table(
        "sys_retention_items",
        metadata,
        sa.Column("request_id", id_type(), sa.ForeignKey("sys_retention_requests.id"), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    return requests, items


def identity_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Users, teams and API tokens: data, managed with ``trellis user`` / ``trellis team`` /
    ``trellis token``."""
    teams = sa.Table(
        "sys_teams",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    users = sa.Table(
        "sys_users",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("roles", json_type(), nullable=False),
        sa.Column("team_id", id_type(), sa.ForeignKey("sys_teams.id"), nullable=True, index=True),
        sa.Column("manager_id", id_type(), sa.ForeignKey("sys_users.id"), nullable=True, index=True),
        sa.Column("active", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        # Away (holiday, leave) until then: assignment rules skip the user (engine/runtime/workflow/assignment.py).
        sa.Column("away_until", UTCDateTime(), nullable=True),
        sa.Column("locale", sa.String(10), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("recovery_codes", json_type(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("reconfirmed_at", UTCDateTime(), nullable=True),
        sa.Column("password_changed_at", UTCDateTime(), nullable=True),
        # Web sessions carry the generation they started in; raising it ends them all
        # (engine/runtime/security/sessions.py). NULL, in databases from before it, counts as 0.
        sa.Column("session_generation", sa.Integer(), nullable=True),
        # Raised with every change of the user's saved list views, so that a process may keep
        # them while it stands (engine/runtime/records/views.py). NULL counts as 0.
        sa.Column("views_version", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    tokens = sa.Table(
        "sys_tokens",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("user_id", id_type(), sa.ForeignKey("sys_users.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=True),
        # SHA-256 (hex) of the secret; the secret itself is shown once and never stored.
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        # What the token may do (a JSON list, ``tokens.SCOPES``); None: everything its user may.
        sa.Column("scopes", json_type(), nullable=True),
    )
    return teams, users, tokens


def view_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Saved list views per user (``engine.runtime.records.views``): a name and the list's query string."""
    views = sa.Table(
        "sys_saved_views",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("user_id", id_type(), sa.ForeignKey("sys_users.id"), nullable=False, index=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "object", "name"),
    )
    return (views,)


def pipeline_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The stage history of pipeline records (``engine.runtime.workflow.pipeline``): one row per move;
    approval requests and their steps (``engine.runtime.workflow.approvals``)."""
    history = sa.Table(
        "sys_stage_history",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage", sa.String(100), nullable=True),
        sa.Column("to_stage", sa.String(100), nullable=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("seconds_in_previous", sa.BigInteger(), nullable=True),
        sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"),
        # A record's moves, in order: a funnel looks up the first move after its period there.
        sa.Index("ix_sys_stage_history_object_record_at", "object", "record_id", "at"),
        # A funnel reads the moves of a period from this index alone (engine.runtime.reports.funnel):
        # every column it reads is in it. Databases made before these two keep their older
        # (object, record_id) and (object, at) indexes as well: apply never drops a sys_* index.
        sa.Index("ix_sys_stage_history_object_at_moves", "object", "at", "record_id", "id", "to_stage", "from_stage"),
    )
    approvals = sa.Table(
        "sys_approvals",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("rules", sa.String(500), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("requested_by", id_type(), nullable=True, index=True),
        sa.Column("requested_by_name", sa.String(100), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Index("ix_sys_approvals_object_record", "object", "record_id", "status"),
        sa.Index("ix_sys_approvals_status", "status"),
    )
    steps = sa.Table(
        "sys_approval_steps",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("approval_id", id_type(), sa.ForeignKey("sys_approvals.id"), nullable=False, index=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("approver_user_id", id_type(), nullable=True, index=True),
        sa.Column("approver_role", sa.String(100), nullable=True),
        sa.Column("approver_name", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("decided_by", id_type(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.UniqueConstraint("approval_id", "step"),
    )
    return history, approvals, steps


def automation_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Automation rule runs (a unique run key makes a scheduled occurrence fire once), sweep
    checkpoints, the outbox of e-mails and webhooks the worker delivers, and in-app notifications."""
    runs = sa.Table(
        "sys_automation_runs",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("object", sa.String(100), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_key", sa.String(300), nullable=True, unique=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Index("ix_sys_automation_runs_rule_record", "rule", "record_id"),
        # A purge's stage ``gone`` and a merge find a record's runs (records.remains, merging.moves).
        sa.Index("ix_sys_automation_runs_object_record", "object", "record_id"),
    )
    sweeps = sa.Table(  # engine.runtime.jobs.checkpoints: how far the last sweep of a schedule rule got
        "sys_automation_sweeps",
        metadata,
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("signature", sa.String(400), nullable=False),
        sa.Column("due", UTCDateTime(), nullable=False),
        sa.Column("swept_at", UTCDateTime(), nullable=False),
        sa.Column("full_at", UTCDateTime(), nullable=False),
    )
    outbox = sa.Table(
        "sys_outbox",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("secret_env", sa.String(100), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        # The worker's claim (engine/runtime/jobs/delivery.py): who is sending it, until when.
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_outbox_status_next", "status", "next_attempt_at"),
    )
    notifications = sa.Table(
        "sys_notifications",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("user_id", id_type(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("object", sa.String(100), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_notifications_user_read", "user_id", "read_at"),
        # A delete's stage ``gone`` and a merge find a record's notifications (records.remains, merging.moves).
        sa.Index("ix_sys_notifications_object_record", "object", "record_id"),
    )
    heartbeats = sa.Table(  # engine.runtime.health: each worker process's last pass (hostname:pid)
        "sys_worker_heartbeats",
        metadata,
        sa.Column("worker", sa.String(200), primary_key=True),
        sa.Column("last_pass_at", UTCDateTime(), nullable=False),
    )
    return runs, sweeps, outbox, notifications, heartbeats


def assignment_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The round-robin position of each assignment rule and pool (``engine.runtime.workflow.assignment``),
    taken under a row lock so that concurrent creates deal records out exactly in turn."""
    state = sa.Table(
        "sys_assignment_state",
        metadata,
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("pool", sa.String(300), primary_key=True),
        sa.Column("last_user_id", id_type(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    return (state,)


def file_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Which record and field each stored file belongs to (``engine.runtime.records.files``)."""
    files = sa.Table(
        "sys_files",
        metadata,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_by", id_type(), nullable=True),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Index("ix_sys_files_object_record", "object", "record_id"),
    )
    return (files,)


def duplicate_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The blocking keys of duplicate rules (``engine.runtime.records.duplicates``): a check looks
    its row's keys up in the primary key (object, rule, key, …); a record's keys go by the second index."""
    keys = sa.Table(
        "sys_dup_keys",
        metadata,
        sa.Column("object", sa.String(100), primary_key=True),
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(140), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Index("ix_sys_dup_keys_object_record", "object", "record_id"),
    )
    return (keys,)


def finder_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The duplicate finder (``engine.runtime.records.finder``): its runs (queued by the web, run by
    ``trellis worker``, or run by ``trellis duplicates find``), the groups the latest run of an
    object and rule found, their members and the matching pairs that join them, and the pairs
    people said are not duplicates (never proposed again)."""
    runs = sa.Table(
        "sys_dup_runs",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        # The rule run (None: every rule of the object).
        sa.Column("rule", sa.String(100), nullable=True),
        # queued → running → done | failed.
        sa.Column("status", sa.String(20), nullable=False),
        # Started from the web: ``trellis worker`` runs it (the CLI runs its own at once).
        sa.Column("queued", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("records", sa.BigInteger(), nullable=True),
        sa.Column("pairs", sa.BigInteger(), nullable=True),
        sa.Column("groups", sa.BigInteger(), nullable=True),
        sa.Column("duplicates", sa.BigInteger(), nullable=True),
        sa.Column("skipped_blocks", sa.BigInteger(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        # The worker running a queued run, until when (a worker that dies lets the lease run out).
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_dup_runs_object_created", "object", "created_at"),
        sa.Index("ix_sys_dup_runs_queued_status", "queued", "status"),
    )
    groups = sa.Table(
        "sys_dup_groups",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("run_id", id_type(), nullable=True),
        # The weakest member's best score: how sure the whole group is.
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("found_at", UTCDateTime(), nullable=False),
        sa.Index("ix_sys_dup_groups_object_rule_score", "object", "rule", "score"),
    )
    members = sa.Table(
        "sys_dup_members",
        metadata,
        sa.Column("group_id", id_type(), sa.ForeignKey("sys_dup_groups.id"), primary_key=True),
        sa.Column("record_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        # The member's best score with another member.
        sa.Column("score", sa.Float(), nullable=False),
        sa.Index("ix_sys_dup_members_record", "record_id"),
    )
    pairs = sa.Table(
        "sys_dup_pairs",
        metadata,
        sa.Column("group_id", id_type(), sa.ForeignKey("sys_dup_groups.id"), primary_key=True),
        sa.Column("first_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("second_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("score", sa.Float(), nullable=False),
        # The criteria that matched: {field: score}.
        sa.Column("matched", json_type(), nullable=False),
    )
    dismissed = sa.Table(
        "sys_dup_dismissed",
        metadata,
        sa.Column("object", sa.String(100), primary_key=True),
        # The pair, the lower id first.
        sa.Column("first_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("second_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("dismissed_at", UTCDateTime(), nullable=False),
        # A delete's stage ``gone`` finds a record's pairs by either id: the key serves the first.
        sa.Index("ix_sys_dup_dismissed_object_second", "object", "second_id"),
    )
    return runs, groups, members, pairs, dismissed


def import_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Import jobs and their failed rows (``engine.runtime.imports``): a job's progress is
    committed with each batch it writes, so that a resumed job continues exactly where it stopped."""
    jobs = sa.Table(
        "sys_import_jobs",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("file_path", sa.String(2000), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        # What the job was started with (sheet, map, on_duplicate, match, batch, automation).
        sa.Column("options", json_type(), nullable=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        # pending → running → done; failed when it stopped on something other than a row; cancelled.
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("dry_run", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("encoding", sa.String(40), nullable=True),
        # Data rows of the file read so far (blank ones included): where a resumed run goes on.
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        # Jobs of the web wizard and the API: ``trellis worker`` runs them (CLI jobs run in the CLI).
        sa.Column("queued", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
        # How far through the file the last committed batch read (0…1; None when unknown).
        sa.Column("fraction", sa.Float(), nullable=True),
        # The worker running a queued job, until when (a worker that dies lets the lease run out).
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_import_jobs_object_created", "object", "created_at"),
        sa.Index("ix_sys_import_jobs_queued_status", "queued", "status"),
    )
    errors = sa.Table(
        "sys_import_errors",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("job_id", id_type(), sa.ForeignKey("sys_import_jobs.id"), nullable=False),
        # The row's number as a spreadsheet shows it (the header is row 1).
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("cells", json_type(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Index("ix_sys_import_errors_job_row", "job_id", "row"),
    )
    return jobs, errors


def subscription_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """E-mail subscriptions (``engine.runtime.subscriptions``, issue 15 §4): a user's own, and one
    row per recipient of each ``subscriptions:`` rule (``rule``). The worker claims a due row by
    moving ``next_run_at`` on with a conditional UPDATE, so that each due time sends at most once."""
    subscriptions = sa.Table(
        "sys_subscriptions",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("user_id", id_type(), sa.ForeignKey("sys_users.id"), nullable=False, index=True),
        # The config's rule this row is a recipient of; None for a subscription the user made.
        sa.Column("rule", sa.String(100), nullable=True),
        # What is sent: a target kind (``report``) and its name.
        sa.Column("target_kind", sa.String(40), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        # ``engine.metadata.schedules``' stored form: ``weekly: monday 08:00``.
        sa.Column("schedule", sa.String(100), nullable=False),
        # The report's overrides: ``{"period": …, "owner": …, "team": …}``.
        sa.Column("filters", json_type(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_sent_at", UTCDateTime(), nullable=True),
        # sent, skipped or failed, and why (a reason code of ``engine.runtime.subscriptions``).
        sa.Column("last_status", sa.String(20), nullable=True),
        sa.Column("last_reason", sa.String(40), nullable=True),
        # The secret of the unsubscribe link in each e-mail (works without logging in).
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        # A rule's recipient who unsubscribed (the rule does not subscribe them again).
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("rule", "user_id"),
    )
    return (subscriptions,)


def webform_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Web form submissions refused as spam (``engine.runtime.webforms``, issue 16 §1): kept with
    why, when, from where and what was sent, for an admin to review and accept anyway."""
    rejections = sa.Table(
        "sys_form_rejections",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("form", sa.String(100), nullable=False),
        # A reason code of ``engine.runtime.webforms.REASONS`` (honeypot, too_fast…).
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        # The visitor's inputs (the form's fields only) and what the visit told (UTM, referrer).
        sa.Column("submitted", json_type(), nullable=False),
        sa.Column("captured", json_type(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        # rejected, or accepted (written after all, by an admin: ``record_id``).
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", id_type(), sa.ForeignKey("sys_users.id"), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_form_rejections_status_received", "status", "received_at"),
    )
    return (rejections,)


def campaign_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Campaigns (``engine.runtime.campaigns``, issue 16 §3): one row per recipient of a started
    campaign (unique per campaign and record, so nobody is queued twice), claimed by the worker
    when its ``due_at`` comes (``queued`` → ``sent``: written to the outbox in the same
    transaction); the engagement events of records (``engine.runtime.workflow.engagement``);
    the addresses no e-mail may go to (``engine.runtime.campaigns.suppression``)."""
    recipients = sa.Table(
        "sys_campaign_recipients",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        # queued, sent (in the outbox), suppressed (do not e-mail), failed (did not render)
        sa.Column("status", sa.String(20), nullable=False),
        # When the send rate lets this one go (the start time + its place / the rate).
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("outbox_key", sa.String(64), nullable=True),
        # The links of the e-mail as rendered, in order: a click token names one by its place.
        sa.Column("links", json_type(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("campaign_id", "object", "record_id"),
        sa.Index("ix_sys_campaign_recipients_status_due", "status", "due_at"),
        # A delete's stage ``gone`` finds a record's (queued) rows (records.remains): the unique key
        # starts with the campaign, and SQLite would rather read every queued row by the index above.
        sa.Index("ix_sys_campaign_recipients_object_record", "object", "record_id", "status"),
    )
    events = sa.Table(
        "sys_engagement_events",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("recipient_id", sa.BigInteger(), nullable=True),
        sa.Column("data", json_type(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Index("ix_sys_engagement_events_record", "object", "record_id", "kind"),
        sa.Index("ix_sys_engagement_events_campaign", "campaign_id", "kind"),
    )
    suppressions = sa.Table(
        "sys_suppressions",
        metadata,
        # lower-cased address
        sa.Column("address", sa.String(254), primary_key=True),
        # unsubscribed, bounced, or another reason a channel gives
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    return recipients, events, suppressions


def mail_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Mail in and out (``engine.runtime.mail``, issue 16 §2): one row per message read from a
    mailbox (its folder's UIDVALIDITY and UID, unique: written in the transaction of the records
    it made, so a message is taken exactly once) or sent from a record (``mailbox`` None), with
    its Message-ID and the record its thread is about, which a reply's In-Reply-To finds."""
    messages = sa.Table(
        "sys_mail_messages",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("mailbox", sa.String(40), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True, index=True),
        # inbound or outbound
        sa.Column("direction", sa.String(10), nullable=False),
        # logged, created, automatic, bounce, unrouted
        sa.Column("outcome", sa.String(20), nullable=False),
        # The record the thread is about (a contact, lead, deal, ticket) and the logged record.
        sa.Column("object", sa.String(100), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("log_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid"),
        sa.Index("ix_sys_mail_messages_record", "object", "record_id"),
    )
    return (messages,)


def merge_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Merges of duplicates (``engine.runtime.records.merge``): one row per merge, with what it moved,
    so that an un-merge within ``settings.merge_undo_days`` puts back exactly that."""
    merges = sa.Table(
        "sys_merges",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("survivor_id", sa.BigInteger(), nullable=False),
        # The merged (archived) records' ids, a JSON list.
        sa.Column("merged_ids", json_type(), nullable=False),
        # The survivor's values before the merge, of the fields it changed, and the values it took.
        sa.Column("before", json_type(), nullable=False),
        sa.Column("after", json_type(), nullable=False),
        # What was re-pointed: [[table or object, column, row id, old value], …].
        sa.Column("moved", json_type(), nullable=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("merged_at", UTCDateTime(), nullable=False),
        sa.Column("undo_until", UTCDateTime(), nullable=False),
        sa.Column("undone_at", UTCDateTime(), nullable=True),
        sa.Index("ix_sys_merges_object_survivor", "object", "survivor_id"),
    )
    return (merges,)


def audit_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The audit trail (hash-chained), the read access log and the login log (S35).

    A writer appends a ``sys_audit`` row without ``seal_seq``, ``prev_hash`` and ``hash``
    (unsealed); the sealer (``audit.seal``) fills them in and moves ``sys_audit_head``,
    which only sealers lock. ``legacy_seq``: rows sealed up to there were chained by an
    older Trellis, in id order, with the hash of that time (without id and seal_seq).
    """
    audit = sa.Table(
        "sys_audit",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user_id", id_type(), nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("seal_seq", sa.BigInteger(), nullable=True),
        sa.Index("ix_sys_audit_object_record", "object", "record_id"),
        sa.Index("ux_sys_audit_seal_seq", "seal_seq", unique=True),
    )
    head = sa.Table(
        "sys_audit_head",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("legacy_seq", sa.BigInteger(), nullable=True),
    )
    access = sa.Table(
        "sys_access_log",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("user_id", id_type(), nullable=True, index=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("object", sa.String(100), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", json_type(), nullable=True),
    )
    logins = sa.Table(
        "sys_login_log",
        metadata,
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("user_id", id_type(), nullable=True, index=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(500), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
    )
    return audit, head, access, logins


@dataclass(frozen=True)
class Schema:
    """The compiled tables of one config version."""

    metadata: sa.MetaData
    objects: Mapping[str, sa.Table]
    system: Mapping[str, sa.Table]

    def table(self, object_name: str) -> sa.Table:
        """The table of ``object_name``."""
        return self.objects[object_name]


def schedule_indexes(config: Config, objects: Mapping[str, sa.Table]) -> None:
    """Index each date field a ``schedule`` rule counts from, and ``updated_at`` for a rule without
    ``window`` (unless an index already starts with it), so that the worker's sweep reads ranges
    of indexes, not the table. The index is the
    one ``indexed: true`` would make; yearly rules match by month and day, which it cannot serve."""
    for rule in config.automations:
        wanted = TRIGGERS[rule.trigger.kind].indexed_fields(rule.trigger)
        if not wanted or rule.object is None or rule.object not in objects:
            continue
        table = objects[rule.object]
        for name in wanted:
            column = table.c.get(name)
            leading = [getattr(ix.expressions[0], "element", ix.expressions[0]) for ix in table.indexes]
            if column is not None and not (column.unique or any(column is first for first in leading)):
                sa.Index(None, column)


def never_reuse_ids(metadata: sa.MetaData) -> None:
    """Mark every table with an auto-incremented ``id`` ``AUTOINCREMENT`` on SQLite.

    Without it SQLite hands the id of the newest record out again once that record is
    deleted, and a system keyed on ids (a webhook receiver, an export) would mix two
    records. PostgreSQL's sequences never go back; the flag only affects SQLite. Existing
    SQLite tables without it are rebuilt by ``plan``/``apply`` (``migrate.autoincrement``).
    """
    for table in metadata.tables.values():
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].name == "id" and key[0].autoincrement is True:
            table.dialect_kwargs["sqlite_autoincrement"] = True


#: Schemas built lately (``build_schema``), by what they are built from, with the config holding it.
_built: OrderedDict[tuple[object, ...], tuple[Config, Schema]] = OrderedDict()
_built_lock = threading.Lock()
#: Schemas kept at most (the least recently used goes first).
BUILT_SIZE = 32


def build_schema(config: Config) -> Schema:
    """Compile ``config`` into SQLAlchemy tables (objects first, then system tables).

    Nothing changes the tables once built, and building them (some hundred system tables)
    costs tens of milliseconds, so the schema of a config is built once and shared by every
    ``Trellis`` opened on it and its migrations: by the objects and automations it is
    built from (a config loaded again from the same text shares them), the registries'
    ``kinds.generation`` and the functions of this module that build it (a test standing
    in an older version's ``audit_tables`` gets a schema of its own)."""
    builders = tuple(v for v in globals().values() if isinstance(v, FunctionType))
    key = (id(config.objects), id(config.automations), kinds.generation(), builders)
    with _built_lock:
        hit = _built.get(key)
        if hit is not None and hit[0].objects is config.objects and hit[0].automations is config.automations:
            _built.move_to_end(key)
            return hit[1]
    schema = _build_schema(config)
    with _built_lock:
        _built[key] = (config, schema)
        while len(_built) > BUILT_SIZE:
            _built.popitem(last=False)
    return schema


def _build_schema(config: Config) -> Schema:
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    objects = {name: object_table(obj, metadata) for name, obj in config.objects.items()}
    schedule_indexes(config, objects)
    system = system_tables(metadata)
    never_reuse_ids(metadata)
    return Schema(metadata=metadata, objects=objects, system=system)
