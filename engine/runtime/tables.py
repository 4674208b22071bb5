"""Compile a config into SQLAlchemy tables: one ``obj_<object>`` table per
object plus the ``sys_*`` system tables.

The result is built once per config version and cached by the caller
(``engine.Trellis``); it is what migrations compare against the live database
and what the record service and query layer read and write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from engine.metadata.fieldtypes import STRING_LENGTHS, decimal_scale, field_type
from engine.metadata.model import Config, FieldDef, ObjectDef

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

#: Prefixes of the tables Trellis owns; anything else in the database is left alone.
OWNED_PREFIXES = ("obj_", "sys_")


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps stored in UTC and always returned timezone-aware (UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine:
    """JSON everywhere, JSONB on PostgreSQL; an empty value is SQL NULL, not JSON null."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def id_type() -> sa.types.TypeEngine:
    """64-bit ids; plain INTEGER on SQLite so that ids auto-increment there."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def column_type(field: FieldDef) -> sa.types.TypeEngine:
    """The SQL type storing ``field`` (a formula stores its result type)."""
    storage = field_type(field).storage
    if field.encrypted:
        return sa.Text()  # the ciphertext (Fernet token) of the value
    if storage == "string":
        kind = "autonumber" if field.type == "autonumber" else field.value_type
        return sa.String(field.max_length or STRING_LENGTHS.get(kind, 255))
    if storage == "text":
        return sa.Text()
    if storage == "integer":
        return sa.BigInteger()
    if storage == "decimal":
        return sa.Numeric(18, decimal_scale(field), asdecimal=True)
    if storage == "boolean":
        return sa.Boolean(create_constraint=False)
    if storage == "date":
        return sa.Date()
    if storage == "datetime":
        return UTCDateTime()
    if storage == "json":
        return json_type()
    if storage in ("reference", "user"):
        return id_type()
    raise ValueError(f"no SQL type for storage {storage!r} of field {field.name!r}")


def field_column(obj: ObjectDef, field: FieldDef) -> sa.Column:
    """The column of one config field, with its foreign key when it is a lookup."""
    args: list[Any] = []
    if field.type == "lookup" and field.target:
        args.append(sa.ForeignKey(f"obj_{field.target}.id"))
    not_null = field.required and not field.is_computed
    return sa.Column(field.name, column_type(field), *args, nullable=not not_null, unique=field.unique or None,
                     index=(field.indexed or field.type == "lookup") and not field.unique or None,
                     comment=field.label.get("en"))


def object_table(obj: ObjectDef, metadata: sa.MetaData) -> sa.Table:
    """Build ``obj_<name>`` with the system columns and one column per field."""
    columns = [
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", id_type(), nullable=True),
        sa.Column("owner_id", id_type(), nullable=True, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
    ]
    if obj.pipeline:
        columns.append(sa.Column("stage_entered_at", UTCDateTime(), nullable=True))
    columns += [field_column(obj, f) for f in obj.fields.values()]
    return sa.Table(obj.table_name, metadata, *columns, comment=obj.label.get("en"))


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
    )
    sequences = sa.Table(
        "sys_sequences",
        metadata,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    return {t.name: t for t in (versions, sequences, *identity_tables(metadata), *audit_tables(metadata),
                                *view_tables(metadata))}


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
        sa.Column("locale", sa.String(10), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("recovery_codes", json_type(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("reconfirmed_at", UTCDateTime(), nullable=True),
        sa.Column("password_changed_at", UTCDateTime(), nullable=True),
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
    )
    return teams, users, tokens


def view_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """Saved list views per user (``engine.runtime.views``): a name and the list's query string."""
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


def audit_tables(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    """The audit trail (hash-chained), the read access log and the login log (S35)."""
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
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Index("ix_sys_audit_object_record", "object", "record_id"),
    )
    head = sa.Table(
        "sys_audit_head",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sa.String(64), nullable=False),
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


def build_schema(config: Config) -> Schema:
    """Compile ``config`` into SQLAlchemy tables (objects first, then system tables)."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    objects = {name: object_table(obj, metadata) for name, obj in config.objects.items()}
    system = system_tables(metadata)
    return Schema(metadata=metadata, objects=objects, system=system)
