"""``trellis backup`` and ``trellis restore`` as an operator runs them (S38, issue 18 §4).

A sample with records, an uploaded file and an encrypted field is backed up, restored into a
fresh database (PostgreSQL: another schema; SQLite: another file) and read back through the
engine: every record equal, the file served, the encrypted field readable with the same key,
the audit trail intact. A changed backup file and a non-empty target are refused.
Runs on SQLite, and on PostgreSQL when TRELLIS_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine import Trellis
from engine.cli import main
from engine.runtime import imports
from engine.runtime.backup import dumps
from engine.runtime.records import files
from engine.runtime.security import crypto
from tests.conftest import fresh_database
from tests.templates import apply_fresh
from tests.webui.conftest import client_for, make_app

CONFIG = """
trellis: 1
objects:
  contact:
    fields:
      name: {type: text, required: true}
      id_number: {type: text, encrypted: true}
      photo: {type: file}
      budget: {type: currency}
roles:
  rep:
    objects: {contact: {read: all, edit: all, create: true, import: true}}
"""
KEY = "x" * 24


def run(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def secret_key(monkeypatch):
    key = crypto.generate_key()
    monkeypatch.setenv("TRELLIS_SECRET_KEY", key)
    monkeypatch.delenv("TRELLIS_SECRET_KEY_FILE", raising=False)
    return key


@pytest.fixture
def sample(write_config, db_url, tmp_path, secret_key, monkeypatch):
    """A database with three contacts (one with a file), its uploads folder and a backup of both."""
    config = write_config(CONFIG)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setenv("TRELLIS_UPLOAD_DIR", str(uploads))
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"], password="Secret-pass-123")
    (uploads / KEY).write_bytes(b"\x89PNG the photo")
    with crm.session("rita") as s:
        files.register(s, "contact", "photo", KEY)
        photo = {"key": KEY, "name": "li.png", "size": 14, "content_type": "image/png"}
        s.create("contact", {"name": "Li Lei", "id_number": "110101199003071234", "photo": photo, "budget": "12.5"})
        s.create("contact", {"name": "Han Meimei", "budget": "7"})
        third = s.create("contact", {"name": "Wang Fang"})
        s.update("contact", third.id, {"budget": "9"})
    with crm.session() as s:
        before = [dict(r) for r in s.query("contact").order_by("id").page(1, 100)]
    crm.close()
    folder = tmp_path / "backup"
    result = run("backup", config, "--to", folder, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "TRELLIS_SECRET_KEY" in result.output
    return config, folder, before


def test_backup_restores_into_a_fresh_database_and_verifies(sample, tmp_path, secret_key):
    config, folder, before = sample
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["database"] in ("sqlite", "postgresql") and manifest["format"] == 1
    assert manifest["tables"]["obj_contact"] == 3 and manifest["audit"]["sealed"] >= 4
    assert f"files/{KEY}" in manifest["files"] and "config.yaml" in manifest["files"]
    dump = next(folder.glob("database.*")).read_bytes()
    assert b"110101199003071234" not in dump  # encrypted at rest, and so in the backup
    assert secret_key.encode() not in b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())

    restored_files = tmp_path / "restored-uploads"
    (tmp_path / "restored").mkdir()
    target = fresh_database(tmp_path / "restored")
    url = next(target)
    try:
        result = run("restore", folder, "--db", url, "--files", restored_files)
        assert result.exit_code == 0, result.output
        assert "verified" in result.output and "audit trail intact" in result.output

        crm = Trellis.open(config, url)
        try:
            with crm.session() as s:
                after = [dict(r) for r in s.query("contact").order_by("id").page(1, 100)]
            assert after == before
            assert after[0]["id_number"] == "110101199003071234"  # decrypted with the same key
            app = make_app(crm, TRELLIS_UPLOAD_DIR=str(restored_files))
            page = client_for(app, "rita").get(f"/o/contact/{after[0]['id']}/file/photo")
            assert page.status_code == 200 and page.data == b"\x89PNG the photo"
        finally:
            crm.close()
        verify = run("audit", "verify", config, "--db", url, "--no-seal")
        assert verify.exit_code == 0, verify.output

        again = run("restore", folder, "--db", url, "--files", tmp_path / "other")
        assert again.exit_code == 1
        assert "target database is not empty" in again.output and "nothing was changed" in again.output
    finally:
        shutil.rmtree(restored_files, ignore_errors=True)
        next(target, None)


def test_backup_keeps_an_unfinished_import_and_the_restored_one_resumes(
    write_config, db_url, tmp_path, monkeypatch, secret_key
):
    """A queued web import, one batch in, is backed up with its uploaded file (in the manifest,
    with its checksum); restored elsewhere, with the old upload folder gone, the worker finishes it."""
    config = write_config(CONFIG)
    uploads = tmp_path / "uploads"
    (uploads / "imports").mkdir(parents=True)
    monkeypatch.setenv("TRELLIS_UPLOAD_DIR", str(uploads))
    crm = Trellis.open(config, db_url)
    apply_fresh(crm)
    with crm.directory() as d:
        d.add("rita", roles=["rep"])
    upload = uploads / "imports" / "Xq3-upload.csv"
    upload.write_text("name\nAda\nGrace\nLinus\n", encoding="utf-8")
    job = imports.start(crm, "contact", upload, imports.ImportOptions(batch=1), user="rita", queue=True)
    assert imports.run(crm, job.id, max_batches=1).rows_done == 1  # then the worker stopped
    crm.close()

    folder = tmp_path / "backup"
    made = run("backup", config, "--to", folder, "--db", db_url)
    assert made.exit_code == 0, made.output
    assert "1 unfinished import jobs: their files are in it (imports/)" in made.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["extra"]["import_uploads"] == {str(job.id): "Xq3-upload.csv"}
    assert "imports/Xq3-upload.csv" in manifest["files"]  # with its checksum
    shutil.rmtree(uploads)  # the old machine is gone

    restored_files = tmp_path / "restored-uploads"
    (tmp_path / "restored").mkdir()
    target = fresh_database(tmp_path / "restored")
    url = next(target)
    try:
        result = run("restore", folder, "--db", url, "--files", restored_files)
        assert result.exit_code == 0, result.output
        assert f"1 unfinished import jobs have their files back in {restored_files / 'imports'}" in result.output
        crm = Trellis.open(config, url)
        try:
            assert imports.work(crm, seconds=None) == 2  # the worker runs the two batches left
            assert imports.status(crm, job.id).status == "done"
            with crm.session() as s:
                names = [r["name"] for r in s.query("contact").order_by("id").page(1, 10)]
            assert names == ["Ada", "Grace", "Linus"]  # each row once
        finally:
            crm.close()
    finally:
        next(target, None)


def test_backup_changed_after_it_was_made_is_refused(sample, tmp_path):
    _, folder, _ = sample
    photo = folder / "files" / KEY
    photo.write_bytes(b"another photo")
    result = run("restore", folder, "--db", f"sqlite:///{tmp_path / 'never.db'}")
    assert result.exit_code == 1
    assert f"the checksum of files/{KEY} is not the one in its manifest" in result.output
    assert not (tmp_path / "never.db").exists()
    photo.unlink()
    assert "is listed in its manifest but missing" in run("restore", folder).output


def test_backup_refuses_a_folder_that_is_not_empty(write_config, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = run("backup", write_config(CONFIG), "--to", tmp_path / "full", "--db", f"sqlite:///{tmp_path / 'a.db'}")
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output


@pytest.mark.no_database
def test_backup_names_a_missing_postgresql_client(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(dumps.BackupRefused) as caught:
        dumps.dump_for(sa.create_engine("postgresql+psycopg://u:secret@h/db")).restore(Path("x"), None, None)  # type: ignore[arg-type]
    assert str(caught.value).startswith("pg_restore was not found: install the PostgreSQL client programs")


@pytest.mark.no_database
def test_backup_retargets_statements_but_never_rows():
    script = (
        "CREATE SCHEMA t_a;\n"
        "CREATE TABLE t_a.obj_x (id bigint);\n"
        "COPY t_a.obj_x (id, name) FROM stdin;\n"
        "1\tt_a.obj_x stays\n"
        "\\.\n"
        "SELECT pg_catalog.setval('t_a.obj_x_id_seq', 1, true);\n"
        "CREATE INDEX ix ON t_a.obj_x USING gin (name public.gin_trgm_ops);\n"
    )
    assert dumps.retarget(script, "t_a", "t_b") == (
        'CREATE TABLE "t_b".obj_x (id bigint);\n'
        'COPY "t_b".obj_x (id, name) FROM stdin;\n'
        "1\tt_a.obj_x stays\n"
        "\\.\n"
        "SELECT pg_catalog.setval('\"t_b\".obj_x_id_seq', 1, true);\n"
        'CREATE INDEX ix ON "t_b".obj_x USING gin (name public.gin_trgm_ops);\n'
    )
    public = "CREATE INDEX ix ON public.obj_x USING gin (name public.gin_trgm_ops);\n"
    assert dumps.retarget(public, "public", "staging", {"obj_x"}) == (
        'CREATE INDEX ix ON "staging".obj_x USING gin (name public.gin_trgm_ops);\n'
    )
    listing = ";\n; Archive created at …\n215; 1259 16390 TABLE public obj_x postgres\n7741; 1259 260009 SEQUENCE public obj_x_id_seq postgres\n"
    assert dumps.dumped_names(listing, "public") == {"obj_x", "obj_x_id_seq"}
    assert dumps.libpq(sa.engine.make_url("postgresql+psycopg://u:secret@h:5433/db?options=-csearch_path%3Ds")) == (
        "postgresql://u@h:5433/db?options=-csearch_path%3Ds",
        {"PGPASSWORD": "secret"},
    )
