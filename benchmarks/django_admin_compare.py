"""The web list page against the Django admin changelist, on the same rows (issue 18 §6).

    python benchmarks/django_admin_compare.py [--rows 100000] [--requests 20] [--rounds 3] [--db URL]
        [--plain-stage] [--django-stage-index] [--output docs/benchmarks.md]

Needs Django (``pip install -e .[bench]``); engine/ and webui/ never import it.

Builds a minimal Django project in code (``settings.configure``; one app, ``crm``, written
to a temporary folder: an ``Opportunity`` model with the columns and indexes of Trellis's
``obj_opportunity`` table, owner a foreign key to ``auth.User``; a ``ModelAdmin`` listing the
six columns Trellis's list shows, ``list_filter`` on stage, ``search_fields`` on Trellis's
searchable fields, ``list_per_page`` 25, and a rep who sees only their own rows through
``get_queryset``, as Trellis's ``own`` scope). The same ROWS opportunities go into a SQLite
file for each (with ``--db`` a PostgreSQL URL: a scratch schema each, vacuumed after the fill), then each case is timed interleaved — Trellis, Django, Trellis, Django … — in
ROUNDS rounds of REQUESTS requests through each framework's own in-process test client, both
logged in, after a warm-up: a rep's list (page 1), the manager's list (page 1), a stage filter
and a search (both as the manager). Reports the median over the rounds of the mean
milliseconds per request, and Django / Trellis.

Trellis's opportunity has its stage as a pipeline (``PIPELINE_CONFIG``), for which the engine
makes an index ordered like the list (stage, newest first); Django's model has no index on the
stage, as Django makes none by default — ``--django-stage-index`` gives it the same one,
``--plain-stage`` runs Trellis on list_page.py's config (the stage a plain picklist, no index).
``--like-decides-too`` also times the search case, in the same rounds, with SQLite's search
index only narrowing the rows and the LIKE deciding every text (``fulltext.decides`` off: the
code before the index decided alone), interleaved Trellis, Trellis with the LIKE, Django.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from list_page import CONFIG, PASSWORD, REPS, STAGES, fill, log_in, row_values, vacuum  # benchmarks/list_page.py
from results import append_rows, machine  # benchmarks/results.py
from scratch import scratch_database  # benchmarks/scratch.py

from engine import Trellis
from engine.runtime import fulltext

#: ``list_page.CONFIG`` with the opportunity's stage as a pipeline, as a CRM has it: the same
#: values in the same column, and the engine indexes it like the list (``ix_obj_opportunity_stage_recent``,
#: ``engine.runtime.tables.listed_choice``). ``--plain-stage`` keeps the plain picklist of list_page.py.
PIPELINE_CONFIG = CONFIG.replace(
    "      stage: {type: picklist, values: [prospect, qualify, proposal, negotiation, won, lost]}\n",
    "      stage: {type: picklist}\n",
).replace(
    "roles:\n",
    "    pipeline:\n      stages:\n"
    + "".join(f"        - {{key: {s}}}\n" for s in STAGES[:4])
    + "        - {key: won, outcome: won}\n        - {key: lost, outcome: lost}\n"
    + "roles:\n",
    1,
)
#: The index ``--django-stage-index`` gives Django's model: the one Trellis makes for a pipeline's stage.
DJANGO_STAGE_INDEX = (
    '            models.Index(fields=["stage", "-created_at", "id", "archived_at"], name="ix_opp_stage_recent"),\n'
)

#: The Django app, written to the temporary folder (Django finds an app by importing it).
APP_FILES = {
    "__init__.py": "",
    "models.py": '''
from django.conf import settings
from django.db import models


class Opportunity(models.Model):
    """Trellis's obj_opportunity: system columns, the ten fields and its two indexes."""

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    created_by = models.IntegerField(null=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, db_index=False)
    version = models.IntegerField()
    archived_at = models.DateTimeField(null=True)
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, null=True)
    stage = models.CharField(
        max_length=20,
        null=True,
        choices=[(s, s.title()) for s in ("prospect", "qualify", "proposal", "negotiation", "won", "lost")],
    )
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    close_date = models.DateField(null=True)
    probability = models.IntegerField(null=True)
    source = models.CharField(max_length=20, null=True)
    email = models.CharField(max_length=254, null=True)
    hot = models.BooleanField(null=True)
    description = models.TextField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["-created_at", "id", "archived_at"], name="ix_opp_recent"),
            models.Index(fields=["owner", "-created_at", "id", "archived_at"], name="ix_opp_owner_recent"),
        ]

    def __str__(self):
        return self.name
''',
    "admin.py": '''
from django.contrib import admin

from .models import Opportunity


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "stage", "amount", "close_date", "probability"]
    list_filter = ["stage"]
    search_fields = ["name", "company", "email", "description"]
    list_per_page = 25
    ordering = ["-created_at"]

    def get_queryset(self, request):
        """Live rows; a rep (not a superuser) sees only their own, as Trellis's `own` scope."""
        rows = super().get_queryset(request).filter(archived_at__isnull=True)
        return rows if request.user.is_superuser else rows.filter(owner=request.user)
''',
}
URLS = """
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""
#: (case, Trellis URL, Django URL, user)
CASES = [
    ("rep's list, page 1", "/o/opportunity", "/admin/crm/opportunity/", "rep1"),
    ("manager's list, page 1", "/o/opportunity", "/admin/crm/opportunity/", "boss"),
    (
        "stage filter (manager)",
        "/o/opportunity?stage=negotiation",
        "/admin/crm/opportunity/?stage__exact=negotiation",
        "boss",
    ),
    ("search (manager)", "/o/opportunity?q=globex", "/admin/crm/opportunity/?q=globex", "boss"),
]
SECTION = "## Web list page against the Django admin (`benchmarks/django_admin_compare.py`)"
HEADER = (
    f"{SECTION}\n\n"
    "Milliseconds per request of Trellis's web list page `/o/opportunity` and the Django admin changelist "
    "`/admin/crm/opportunity/` (Django's defaults: the checkbox column, the filter sidebar, the full count) on "
    "the same opportunities in a SQLite file each, 25 a page, the same six columns, the same two indexes, a "
    "rep seeing their own eighth of the rows. Interleaved (Trellis, Django, Trellis, Django …), each through "
    "its own in-process test client, logged in: the median of the rounds' mean. Ratio: Django / Trellis "
    "(the goal, ≥ 3).\n\n"
    "| database | rows | case | Trellis ms | Django ms | ratio | note | date | machine |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def django_database(url: str | None, folder: Path) -> dict[str, Any]:
    """Django's ``DATABASES["default"]``: ``folder``/django.db, or the PostgreSQL ``url`` (a
    scratch schema's, its ``search_path`` in ``options``)."""
    if url is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "django.db")}
    parsed = sa.engine.make_url(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "",
        "PORT": str(parsed.port or ""),
        "OPTIONS": {"options": parsed.query["options"]},
    }


def django_setup(folder: Path, database: dict[str, Any], stage_index: bool = False) -> None:
    """Write the ``crm`` app and the URLs to ``folder`` and configure Django around them
    (``stage_index``: the model gets ``DJANGO_STAGE_INDEX`` too)."""
    package = folder / "djbench" / "crm"
    package.mkdir(parents=True)
    for name, text in APP_FILES.items():
        if name == "models.py" and stage_index:
            marker = '            models.Index(fields=["owner"'
            text = text.replace(marker, DJANGO_STAGE_INDEX + marker, 1)
        (package / name).write_text(text.lstrip(), encoding="utf-8")
    (folder / "djbench" / "urls.py").write_text(URLS.lstrip(), encoding="utf-8")
    sys.path.insert(0, str(folder / "djbench"))
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="urls",
        USE_TZ=True,
        DATABASES={"default": database},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "crm",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        STATIC_URL="/static/",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


def django_fill(rows: int) -> dict[str, object]:
    """Create the tables, the users (the manager a superuser, the reps staff who may view
    opportunities) and the same ROWS opportunities as ``list_page.fill``; {username: user}."""
    from crm.models import Opportunity  # type: ignore[import-not-found]
    from django.contrib.auth.models import Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # auth's tables first: the crm table refers to auth_user
    call_command("migrate", run_syncdb=True, verbosity=0)
    view = Permission.objects.get_or_create(
        codename="view_opportunity",
        content_type=ContentType.objects.get_for_model(Opportunity),
        defaults={"name": "Can view opportunity"},
    )[0]
    users: dict[str, object] = {}
    for name in REPS:
        user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
        user.user_permissions.add(view)
        users[name] = user
    users["boss"] = User.objects.create_superuser("boss", password=PASSWORD)
    owners = [users[name] for name in REPS]
    batch = []
    for i in range(rows):  # the rows of list_page.fill, value for value
        owner = owners[i % len(owners)]
        batch.append(Opportunity(**row_values(i), owner=owner, created_by=owner.id))
        if len(batch) == 10_000:
            Opportunity.objects.bulk_create(batch)
            batch = []
    Opportunity.objects.bulk_create(batch)
    return users


def round_ms(client: Any, url: str, requests: int) -> float:
    """Mean milliseconds of REQUESTS GETs of ``url`` through a test client (Flask's or Django's)."""
    start = time.perf_counter()
    for _ in range(requests):
        status = client.get(url).status_code
        assert status == 200, (url, status)
    return (time.perf_counter() - start) * 1000 / requests


@contextlib.contextmanager
def like_decides() -> Any:
    """SQLite's search index only narrows the rows; the LIKE decides every search text."""
    decides = fulltext.decides
    fulltext.decides = lambda matches: False
    try:
        yield
    finally:
        fulltext.decides = decides


def compare(
    app, users, requests: int, rounds: int, like_too: bool = False
) -> list[tuple[str, float, float, float | None]]:
    """[(case, Trellis ms, Django ms, Trellis ms with the LIKE deciding or None)], interleaved."""
    from django.test import Client

    trellis_clients, django_clients = {}, {}
    for name in {case[3] for case in CASES}:
        trellis_clients[name] = app.test_client()
        log_in(trellis_clients[name], name)
        django_clients[name] = Client()
        django_clients[name].force_login(users[name])
    results = []
    for case, trellis_url, django_url, user in CASES:
        tc, dc = trellis_clients[user], django_clients[user]
        t_page = tc.get(trellis_url).get_data(as_text=True)
        d_page = dc.get(django_url).content.decode()
        assert t_page.count('href="/o/opportunity/') >= 25, case  # a full page each
        assert d_page.count('class="field-company"') == 25, case
        timings: dict[str, list[float]] = {"trellis": [], "like": [], "django": []}
        with_like = like_too and "q=" in trellis_url
        if with_like:
            with like_decides():
                tc.get(trellis_url)  # its warm-up
        for _ in range(rounds):
            timings["trellis"].append(round_ms(tc, trellis_url, requests))
            if with_like:
                with like_decides():
                    timings["like"].append(round_ms(tc, trellis_url, requests))
            timings["django"].append(round_ms(dc, django_url, requests))
        like = statistics.median(timings["like"]) if with_like else None
        results.append((case, statistics.median(timings["trellis"]), statistics.median(timings["django"]), like))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--db", default=None, help="a PostgreSQL URL (default: SQLite files); each gets a scratch schema"
    )
    parser.add_argument("--note", default="", help="what this run measures (e.g. the Trellis commit)")
    parser.add_argument(
        "--plain-stage", action="store_true", help="the stage a plain picklist (list_page.CONFIG), not a pipeline"
    )
    parser.add_argument(
        "--django-stage-index", action="store_true", help="give Django's model the index Trellis makes on the stage"
    )
    parser.add_argument("--output", default="docs/benchmarks.md")
    parser.add_argument(
        "--like-decides-too",
        action="store_true",
        help="also time the search with the LIKE deciding every text (SQLite's index only narrowing)",
    )
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_SECRET_KEY", Fernet.generate_key().decode())
    from webui import create_app  # after the secret key is set

    with (
        tempfile.TemporaryDirectory() as name,
        scratch_database(args.db, Path(name)) as trellis_url,
        scratch_database(args.db, Path(name)) as django_url,
    ):
        folder = Path(name)
        postgresql = trellis_url.startswith("postgresql")
        config_path = folder / "bench.yaml"
        config_path.write_text(CONFIG if args.plain_stage else PIPELINE_CONFIG, encoding="utf-8")
        crm = Trellis.open(config_path, trellis_url if postgresql else f"sqlite:///{folder / 'trellis.db'}")
        crm.apply()
        with crm.directory() as d:
            owner_ids = [d.add(user, roles=["rep"], password=PASSWORD).id for user in REPS]
            d.add("boss", roles=["manager"], password=PASSWORD)
        fill(crm, args.rows, owner_ids)
        django_setup(folder, django_database(django_url if postgresql else None, folder), args.django_stage_index)
        users = django_fill(args.rows)
        if postgresql:  # what autovacuum does soon after a bulk insert, for both
            vacuum(crm.engine)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE crm_opportunity")
        print(f"filled {args.rows:,} rows in each")
        app = create_app(
            crm,
            test_config={
                "TESTING": True,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "TRELLIS_UPLOAD_DIR": str(folder / "uploads"),
            },
        )
        results = compare(app, users, args.requests, args.rounds, args.like_decides_too)
        crm.close()
        if postgresql:
            from django.db import connections

            connections.close_all()  # before the scratch schema is dropped
    dialect = "postgresql" if postgresql else "sqlite"
    lines = []
    for case, t, d, like in results:
        runs = [(t, args.note)]
        if like is not None:
            runs.append((like, "the LIKE deciding (fulltext.decides off), same rounds"))
        lines += [
            f"| {dialect} | {args.rows:,} | {case} | {ms:,.1f} | {d:,.1f} | {d / ms:.1f}× | {note} | "
            f"{dt.date.today().isoformat()} | {machine()} |"
            for ms, note in runs
        ]
    print("| database | rows | case | Trellis ms | Django ms | ratio | note | date | machine |")
    for line in lines:
        print(line)
    append_rows(Path(args.output), SECTION, HEADER, lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
