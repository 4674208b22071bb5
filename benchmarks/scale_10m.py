"""Issue 18 §6 at full size: 10,000,000 deals on PostgreSQL for a 300-user company.

    python benchmarks/scale_10m.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
        [--rows 10000000] [--requests 30] [--rounds 3] [--keep] [--reuse SCHEMA] [--output docs/benchmarks.md]
        [--only list,query,search,global,funnel] [--counted] [--before FOLDER] [--hand-built-indexes]

Setup, in a scratch schema of its own (``scale_<hex>``, dropped at the end unless ``--keep``;
``--reuse SCHEMA`` measures a kept one again without filling it, and keeps it):

- ``trellis apply`` of configs/sample_saas.yaml, then through the engine (``Directory``) 30 sales
  teams, each a ``sales_manager`` and 9 ``sales_rep``s reporting to them, and an ``executive``:
  301 users.
- The fill **bypasses the write path** (it measures reads, and 10,000,000 deals through the
  write path would take hours): set-based ``INSERT … SELECT … FROM generate_series`` on one
  connection with ``synchronous_commit=off``, with the indexes and foreign keys ``apply`` built
  dropped first and re-created afterwards from their own definitions (``pg_get_indexdef``,
  ``pg_get_constraintdef``, so exactly what ``apply`` builds; ``maintenance_work_mem`` raised).
  100,000 accounts; deals created over three years, owners uneven (rep ``k`` of 270 owns a
  share ∝ the gap of ``(k/270)^(1/1.4)``: the busiest rep about 134,000 deals, the median about
  30,000), stages by age (old deals mostly won or lost, recent ones open, early stages more
  common), amounts = seats × price × discount, names ``<Company> <Product> <year>-<n>`` from a
  vocabulary (100 × 100 company words, 10 products) so that searches match from 0.01 % to 10 %;
  the stage history ``sys_stage_history`` each deal's moves (initial stage, each stage passed,
  the lost stage: 3.2 per deal on average), ``stage_entered_at`` the time of the last move. Then
  ``VACUUM ANALYZE``, as autovacuum would.

Measured through the engine as a user sees it, after a warm-up, ``--requests`` times each (p50 and
p95 in milliseconds): the web list ``GET /o/opportunity`` (Flask's test client, rendered HTML)
page 1 and page 3 as the busiest rep and as a median rep, ``Query`` as the busiest rep (page 1 and
3, the list's default order), the list's search ``?q=`` as the busiest rep, as the busiest
team's manager and as the executive (who reads every deal) for terms of different selectivity; and the manager's ``deal_funnel`` report
(``engine.runtime.reports.run``) against a hand-written SQL of the same figures, interleaved,
medians of ``--rounds`` rounds. Goals: list page and search p95 ≤ 100 ms, funnel ≤ 1.5× its SQL.

``--only`` measures some kinds only (``search``: the list's searches, ``global``: ``/search?q=``
as the busiest rep, the busiest team's manager and the executive). ``--counted`` measures each list search
twice, interleaved within each of ``--rounds`` rounds: as the list page does it (no count past
the page) and with the page's capped count it made before (``Query.page`` counting up to
``COUNT_LIMIT``); rows ``counted`` and ``page only``, p50 and p95 the medians over the rounds.
``--only funnel`` alone measures the funnel in its own section of docs/benchmarks.md; ``--before
FOLDER`` adds the report as an earlier Trellis exported to FOLDER runs it, and the SQL as first written.
``--only apply`` alone measures ``trellis apply`` adding a searchable text field to the deals against
the same apply on a schema with one deal, while a user saves deals (``apply_only``; ``--apply-field
required``: a required picklist with a default instead, which fills and audits every deal); it
leaves the probe fields in the schema, so measure it last and drop the schema after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from meanwhile import Meanwhile  # benchmarks/meanwhile.py
from results import append_rows, machine  # benchmarks/results.py

from engine import Trellis
from engine.runtime import periods, reports
from engine.runtime.records.query import COUNT_LIMIT

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample_saas.yaml"
PASSWORD = "Bench-pass-123"
TEAMS = 30
REPS_PER_TEAM = 9
ACCOUNTS = 100_000
#: Owner skew: rep k of n owns a share ∝ the gap of (k/n)^(1/SKEW).
SKEW = 1.25
#: Company names: FIRST[a % 100] + SECOND[(a / 100) % 100] for account a.
FIRST = [
    a + b
    for a in ("Bao", "Cor", "Dun", "Fal", "Gri", "Hel", "Jun", "Kas", "Lum", "Mir")
    for b in ("ant", "bex", "cio", "dor", "elm", "fyn", "gor", "hux", "ivo", "jat")
]
SECOND = [
    a + b
    for a in ("ra", "so", "ti", "vu", "we", "xa", "yo", "zu", "pe", "qi")
    for b in ("nix", "tek", "soft", "data", "link", "ware", "labs", "core", "path", "gen")
]
PRODUCTS = ["Analytics", "Platform", "Gateway", "Insight", "Connect", "Studio", "Ledger", "Beacon", "Harbor", "Compass"]
COMPETITORS = ["Northwind", "Contoso", "Fabrikam", "Litware", "Adatum", "Proseware"]
#: Search terms (the text a user types) and roughly the share of deals each matches.
TERMS = {
    "beacon": "10 %",  # a product
    "kasfyn": "1 %",  # a company's first word
    "lumhuxzutek": "0.01 %",  # one company of 10,000
    "miriv": "1 % (prefix)",  # the start of a company word
}
#: A measured kind stops after BUDGET seconds, with at least MIN_REQUESTS requests.
BUDGET = 20.0
MIN_REQUESTS = 5
SECTION = "## 10,000,000 deals (`benchmarks/scale_10m.py`)"
FUNNEL_SECTION = "## The manager's funnel at 10,000,000 deals (`benchmarks/scale_10m.py --only funnel`)"


def run_sql(conn: sa.Connection, statement: str) -> sa.CursorResult:
    """Run SQL written here, without parameters (``%`` is the modulo operator, not a placeholder)."""
    return conn.exec_driver_sql(statement.replace("%", "%%"))


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# --- the fill ----------------------------------------------------------------------------------------
def make_users(crm: Trellis) -> dict[str, int]:
    """Teams, managers, reps and an executive through the engine's directory; returns username → id."""
    ids = {}
    with crm.directory() as d:
        for t in range(1, TEAMS + 1):
            team = f"team{t:02d}"
            d.add_team(team)
            manager = f"mgr{t:02d}"
            password = PASSWORD if t == 1 else None
            ids[manager] = d.add(manager, roles=["sales_manager"], team=team, password=password).id
            for r in range(REPS_PER_TEAM):
                rep = f"rep{(t - 1) * REPS_PER_TEAM + r + 1:03d}"
                password = PASSWORD if rep in ("rep001", median_rep()) else None
                ids[rep] = d.add(rep, roles=["sales_rep"], team=team, manager=manager, password=password).id
        ids["ceo"] = d.add("ceo", roles=["executive"], password=PASSWORD).id
    return ids


def median_rep() -> str:
    """The rep whose share is the median one (reps are numbered busiest first)."""
    return f"rep{TEAMS * REPS_PER_TEAM // 2:03d}"


def fill(crm: Trellis, rows: int, users: dict[str, int]) -> dict[str, float]:
    """Accounts, deals and their stage history by set-based SQL on one connection; seconds per step."""
    config = crm.config
    opportunity = config.objects["opportunity"]
    pipeline = opportunity.pipeline
    assert pipeline is not None
    main = [s.key for s in pipeline.main_line]
    reps = [users[f"rep{n:03d}"] for n in range(1, TEAMS * REPS_PER_TEAM + 1)]
    timings: dict[str, float] = {}
    with crm.engine.connect() as conn:
        run_sql(conn, "SET synchronous_commit = off")
        run_sql(conn, "SET maintenance_work_mem = '2GB'")
        run_sql(conn, "SET max_parallel_maintenance_workers = 1")
        conn.commit()
        indexes, foreign_keys = _drop_indexes(conn, ["obj_opportunity", "sys_stage_history"])
        conn.commit()
        start = time.perf_counter()
        run_sql(conn, "SELECT setseed(0.18)")
        run_sql(
            conn,
            f"""
            INSERT INTO obj_account (id, created_at, updated_at, created_by, owner_id, version, name, region)
            SELECT a, now() - interval '4 years', now() - interval '4 years', o, o, 1,
                   (({sql_array(FIRST)})[1 + a % 100] || ({sql_array(SECOND)})[1 + (a / 100) % 100])
                     || ' Ltd ' || a, 'east'
            FROM generate_series(1, {ACCOUNTS}) a,
                 LATERAL (SELECT ({_int_array(reps)})[1 + a % {len(reps)}] AS o) owner
            """,
        )
        run_sql(conn, f"SELECT setval('obj_account_id_seq', {ACCOUNTS})")
        conn.commit()
        timings["accounts"] = time.perf_counter() - start
        start = time.perf_counter()
        run_sql(conn, _deals_sql(rows, reps, main))
        run_sql(conn, f"SELECT setval('obj_opportunity_id_seq', {rows})")
        conn.commit()
        timings["deals"] = time.perf_counter() - start
        start = time.perf_counter()
        run_sql(conn, _history_sql(main))
        run_sql(conn, "SELECT setval('sys_stage_history_id_seq', (SELECT max(id) FROM sys_stage_history))")
        conn.commit()
        timings["stage history"] = time.perf_counter() - start
        for table, definitions in indexes.items():
            start = time.perf_counter()
            for definition in definitions:
                run_sql(conn, definition)
                conn.commit()
            timings[f"indexes of {table}"] = time.perf_counter() - start
        start = time.perf_counter()
        for table, name, definition in foreign_keys:
            run_sql(conn, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            conn.commit()
        timings["foreign keys"] = time.perf_counter() - start
    start = time.perf_counter()
    with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("obj_account", "obj_opportunity", "sys_stage_history", "sys_users"):
            run_sql(conn, f"VACUUM ANALYZE {table}")
    timings["vacuum analyze"] = time.perf_counter() - start
    return timings


def _int_array(values: list[int]) -> str:
    return "ARRAY[" + ",".join(str(v) for v in values) + "]::bigint[]"


def _drop_indexes(conn: sa.Connection, tables: list[str]) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Drop the secondary indexes and foreign keys of ``tables``; return their definitions."""
    indexes: dict[str, list[str]] = {}
    foreign_keys = []
    for table in tables:
        rows = run_sql(
            conn,
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            f" WHERE i.indrelid = '{table}'::regclass AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        ).all()
        indexes[table] = [definition for _, definition in rows]
        for name, _ in rows:
            run_sql(conn, f'DROP INDEX "{name}"')
        for name, definition in run_sql(
            conn,
            f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{table}'::regclass"
            " AND contype = 'f'",
        ).all():
            foreign_keys.append((table, name, definition))
            run_sql(conn, f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return indexes, foreign_keys


def _deals_sql(rows: int, reps: list[int], main: list[str]) -> str:
    """The deals: one INSERT … SELECT over generate_series (random() seeded by the caller)."""
    n = len(reps)
    return f"""
    INSERT INTO obj_opportunity (id, created_at, updated_at, created_by, owner_id, version, stage_entered_at,
        last_activity_at, stage, name, account, source, unit_price, quantity, amount, budget, close_date,
        lost_reason, competitor, deal_type, product_line, subscription_plan, discount, term_years,
        total_contract_value)
    SELECT id, created_at, entered_at, owner, owner, 1, entered_at, entered_at, stage,
        (({sql_array(FIRST)})[1 + account % 100] || ({sql_array(SECOND)})[1 + (account / 100) % 100]) || ' '
            || ({sql_array(PRODUCTS)})[1 + floor(r_product * 10)::int] || ' '
            || extract(year FROM created_at)::int || '-' || id,
        account,
        (ARRAY['trade_show','online_ads','referral','website_signup','partner','email','webinar','free_trial'])
            [1 + floor(r_product * 80)::int % 8],
        price, seats, price * seats * (100 - discount) / 100,
        price * seats * 1.2,
        CASE WHEN closed THEN entered_at::date ELSE (created_at + interval '90 days')::date END,
        CASE WHEN stage IN ('lost', 'no_decision') THEN
            (ARRAY['price','competitor','no_budget','no_decision','requirements_mismatch','other'])
            [1 + floor(r_stage * 600)::int % 6] END,
        CASE WHEN stage IN ('lost', 'no_decision') AND r_stage < 0.3 THEN
            ({sql_array(COMPETITORS)})[1 + floor(r_stage * 60)::int % 6] END,
        'new_business',
        (ARRAY['crm_suite','analytics','api_platform'])[1 + floor(r_product * 30)::int % 3],
        (ARRAY['starter','professional','enterprise_plan','private_cloud'])[1 + floor(r_product * 40)::int % 4],
        discount, 1, price * seats * (100 - discount) / 100
    FROM (
        SELECT *,
            CASE WHEN NOT closed THEN ({sql_array(main[:4])})[1 + floor(r_step ^ 2 * 4)::int]
                 WHEN r_stage < 0.3 THEN '{main[4]}'
                 WHEN r_stage < 0.85 THEN 'lost' ELSE 'no_decision' END AS stage,
            CASE WHEN closed THEN least(created_at + (10 + r_step * 170) * interval '1 day', now())
                 ELSE created_at + (now() - created_at) * r_step END AS entered_at
        FROM (
            SELECT *, (age > 120 AND r_closed < 0.9) OR (age <= 120 AND r_closed < 0.15) AS closed
            FROM (
                SELECT g AS id,
                    now() - random() * interval '1095 days' AS created_at,
                    ({_int_array(reps)})[1 + floor({n} * random() ^ {SKEW})::int] AS owner,
                    1 + floor({ACCOUNTS} * random() ^ 2)::int AS account,
                    random() AS r_closed, random() AS r_stage, random() AS r_step, random() AS r_product,
                    (ARRAY[120, 240, 360, 600, 1200])[1 + floor(random() * 5)::int]::numeric AS price,
                    (5 + floor(random() ^ 3 * 500))::bigint AS seats,
                    (ARRAY[0, 0, 0, 5, 10, 15, 20, 30])[1 + floor(random() * 8)::int]::numeric AS discount
                FROM generate_series(1, {rows}) g
            ) raw, LATERAL (SELECT extract(day FROM now() - created_at) AS age) a
        ) aged
    ) staged
    """


def _history_sql(main: list[str]) -> str:
    """Each deal's moves, derived from its row: the initial stage at ``created_at``, then every main-line
    stage up to its own (a lost deal: up to the stage it was lost from, then the lost stage), evenly
    spaced until ``stage_entered_at``. The stage a lost deal left is chosen from its id."""
    steps = sql_array(main)
    return f"""
    INSERT INTO sys_stage_history (id, object, record_id, from_stage, to_stage, user_id, channel, at,
        seconds_in_previous, skipped)
    SELECT (id - 1) * 8 + i, 'opportunity', id,
        CASE WHEN i > 1 THEN ({steps})[i - 1] END,
        CASE WHEN i = moves AND lost THEN stage ELSE ({steps})[i] END,
        owner_id, 'web', at,
        CASE WHEN i > 1 THEN extract(epoch FROM gap)::bigint END, 0
    FROM (
        SELECT o.id, o.owner_id, o.stage, lost, moves, i,
            o.created_at + (o.stage_entered_at - o.created_at) * (i - 1) / greatest(moves - 1, 1) AS at,
            (o.stage_entered_at - o.created_at) / greatest(moves - 1, 1) AS gap
        FROM obj_opportunity o,
            LATERAL (SELECT o.stage IN ('lost', 'no_decision') AS lost) l,
            LATERAL (SELECT CASE WHEN lost THEN 2 + (ARRAY[0, 0, 0, 0, 1, 1, 1, 2, 2, 3])[1 + o.id % 10]
                                 ELSE array_position({steps}, o.stage::text) END AS moves) m,
            generate_series(1, moves) i
    ) moves
    """


# --- the measurements ------------------------------------------------------------------------------------
def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times`` (milliseconds)."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed_ms(work: Callable[[], object], requests: int, budget: float = BUDGET) -> tuple[float, float, int]:
    """p50 and p95 of ``requests`` runs of ``work`` after one warm-up run, and how many ran: a kind
    that misses its goal by far stops after ``budget`` seconds (at least ``MIN_REQUESTS`` runs)."""
    work()
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < requests and (len(times) < MIN_REQUESTS or time.perf_counter() - began < budget):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return (*percentiles(times), len(times))


def web_get(client, url: str) -> Callable[[], object]:
    def get() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
        return response

    return get


def query_page(crm: Trellis, user: str, number: int) -> Callable[[], object]:
    """The list's read as ``user``: ``Query`` in the list's default order, 25 a page."""

    def run() -> object:
        with crm.session(user, channel="web") as s:
            return s.query("opportunity").order_by("-created_at").page(number, 25)

    return run


def logged_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def funnel_report(crm: Trellis, user: str) -> Callable[[], object]:
    def run() -> object:
        with crm.session(user, channel="web") as s:
            return reports.run(s, "deal_funnel")

    return run


def funnel_sql(crm: Trellis, user: str, correlated: bool = False) -> Callable[[], object]:
    """The funnel's figures for ``user``'s team, this quarter, in SQL written by hand: entered and the
    median stay per stage, lost per stage and lost reason, the records of the period.

    A stay ends at the record's next move: the next within the period (``LEAD``) or else its first
    move after the period, looked up only when some move lies after it (``correlated``: ``min(at)``
    over the record's later moves, for each move, as this SQL was first written)."""
    pipeline = crm.config.objects["opportunity"].pipeline
    assert pipeline is not None
    main = [s.key for s in pipeline.main_line]
    lost = [s.key for s in pipeline.all_stages() if s.outcome == "lost"]
    clock = crm.clock_now()
    start, end = periods.period_range("this_quarter", clock.today())
    bounds = {
        "start": periods.local_midnight(start, clock.timezone),
        "end": periods.local_midnight(end, clock.timezone),
    }
    with crm.engine.connect() as conn:
        team = run_sql(
            conn,
            f"SELECT u.id FROM sys_users u JOIN sys_users me ON me.team_id = u.team_id WHERE me.username = '{user}'",
        ).scalars()
        owners = ",".join(str(i) for i in team)
    if correlated:
        following = """(SELECT min(n.at) FROM sys_stage_history n
                         WHERE n.object = 'opportunity' AND n.record_id = p.record_id
                           AND (n.at, n.id) > (p.at, p.id))"""
    else:
        following = """coalesce(lead(p.at) OVER (PARTITION BY p.record_id ORDER BY p.at, p.id),
                                CASE WHEN EXISTS (SELECT FROM sys_stage_history a
                                                  WHERE a.object = 'opportunity' AND a.at >= :end)
                                     THEN (SELECT min(n.at) FROM sys_stage_history n
                                           WHERE n.object = 'opportunity' AND n.record_id = p.record_id
                                             AND n.at >= :end) END)"""
    sql = sa.text(f"""
        WITH period AS (
            SELECT h.id, h.record_id, h.from_stage, h.to_stage, h.at
            FROM sys_stage_history h JOIN obj_opportunity o ON o.id = h.record_id
            WHERE h.object = 'opportunity' AND h.at >= :start AND h.at < :end
              AND o.owner_id IN ({owners}) AND o.archived_at IS NULL
        ), moves AS (
            SELECT p.*, {following} AS next_at
            FROM period p
        )
        SELECT 'entered', to_stage, NULL, count(DISTINCT record_id),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM next_at - at)) / 86400
        FROM moves WHERE to_stage IN ({sql_array(main)[6:-1]}) GROUP BY to_stage
        UNION ALL
        SELECT 'lost', m.from_stage, o.lost_reason, count(DISTINCT m.record_id), NULL
        FROM moves m JOIN obj_opportunity o ON o.id = m.record_id
        WHERE m.to_stage IN ({sql_array(lost)[6:-1]}) GROUP BY m.from_stage, o.lost_reason
        UNION ALL
        SELECT 'records', NULL, NULL, count(DISTINCT record_id), NULL FROM moves
        WHERE to_stage IN ({sql_array(main + lost)[6:-1]})
    """)

    def run() -> object:
        with crm.engine.connect() as conn:
            return conn.execute(sql, bounds).all()

    return run


def funnel_elsewhere(code: Path, url: str, user: str) -> Callable[[], object]:
    """The report as the Trellis in the folder ``code`` (an export of an earlier commit) runs it: one
    run in a process of its own, timed there (the process's start and the config's loading left out)."""
    script = (
        "import sys, time; from pathlib import Path; from engine import Trellis; from engine.runtime import reports\n"
        f"crm = Trellis.open(Path({str(CONFIG)!r}), {url!r})\n"
        f"with crm.session({user!r}, channel='web') as s: s.query('opportunity')\n"
        "start = time.perf_counter()\n"
        f"with crm.session({user!r}, channel='web') as s: reports.run(s, 'deal_funnel')\n"
        "print(time.perf_counter() - start)\n"
    )

    def run() -> float:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=code,
            env={**os.environ, "PYTHONPATH": str(code)},
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip().splitlines()[-1])

    return run


def interleaved(kinds: dict[str, Callable[[], object]], rounds: int, warm: bool = True) -> dict[str, float]:
    """Seconds per kind: the median of ``rounds`` rounds, the kinds run in turn within each round (a
    kind returning a float timed itself: that is its time)."""
    if warm:
        for work in kinds.values():
            work()
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for number in range(rounds):
        for kind, work in kinds.items():
            start = time.perf_counter()
            result = work()
            times[kind].append(result if isinstance(result, float) else time.perf_counter() - start)
            print(f"round {number + 1} {kind}: {times[kind][-1]:.3f} s", flush=True)
    return {kind: statistics.median(values) for kind, values in times.items()}


def counts(crm: Trellis) -> dict[str, int]:
    """What the measured users see: deals of the busiest rep, the median rep, the busiest team."""
    with crm.engine.connect() as conn:
        return dict(
            run_sql(
                conn,
                "SELECT u.username, count(*) FROM obj_opportunity o JOIN sys_users u ON u.id = o.owner_id"
                f" WHERE u.username IN ('rep001', '{median_rep()}') GROUP BY u.username"
                " UNION ALL SELECT 'team01', count(*) FROM obj_opportunity o JOIN sys_users u ON u.id = o.owner_id"
                " JOIN sys_teams t ON t.id = u.team_id WHERE t.name = 'team01'"
                " UNION ALL SELECT 'history', count(*) FROM sys_stage_history"
                " UNION ALL SELECT 'deals', count(*) FROM obj_opportunity",
            ).all()
        )


def search_share(crm: Trellis, term: str, total: int) -> str:
    """The share of all deals the search ``term`` matches (as the executive, who reads all)."""
    with crm.session("ceo") as s:
        return f"{100 * s.query('opportunity').search(term).count() / max(total, 1):.2g} %"


KINDS = ("list", "query", "search", "global", "funnel")


def measure(
    crm: Trellis, app, requests: int, rounds: int, only: tuple[str, ...] = KINDS, counted: bool = False
) -> tuple[list[tuple[str, str, float, float, int]], dict]:
    """(what, who, p50 ms, p95 ms, requests) rows, and the funnel's medians (empty without it)."""
    rows: list[tuple[str, str, float, float, int]] = []
    rep, median, manager, executive = "rep001", median_rep(), "mgr01", "ceo"
    clients = {user: logged_in(app, user) for user in (rep, median, manager, executive)}
    searchers = ((rep, "busiest rep"), (manager, "busiest team's manager"), (executive, "executive (reads all)"))

    def add(what: str, who: str, work: Callable[[], object]) -> None:
        rows.append((what, who, *timed_ms(work, requests)))
        print(rows[-1], flush=True)

    if "list" in only:
        for user, who in ((rep, "busiest rep"), (median, "median rep")):
            for number in (1, 3):
                add(f"web list page {number}", who, web_get(clients[user], f"/o/opportunity?page={number}"))
    if "query" in only:
        for number in (1, 3):
            add(f"Query page {number}", "busiest rep", query_page(crm, rep, number))
    if "search" in only:
        for term in TERMS:
            for user, who in searchers:
                get = web_get(clients[user], "/o/opportunity?q=" + term)
                if counted:
                    rows.extend(counted_or_not(f"web list search `{term}`", who, get, requests, rounds))
                else:
                    add(f"web list search `{term}`", who, get)
    if "global" in only:
        for term in TERMS:
            for user, who in searchers:
                add(f"global search `{term}`", who, web_get(clients[user], "/search?q=" + term))
    funnel = {}
    if "funnel" in only:
        funnel = interleaved({"sql": funnel_sql(crm, manager), "report": funnel_report(crm, manager)}, rounds)
    return rows, funnel


def counted_or_not(
    what: str, who: str, get: Callable[[], object], requests: int, rounds: int
) -> list[tuple[str, str, float, float, int]]:
    """The list search ``get`` as the list page reads it (no count past the page) and with the
    capped count it made before, interleaved: ``rounds`` rounds of ``requests`` requests each
    way; p50 and p95 are the medians over the rounds."""
    from webui.ui import listing

    real = listing.read_page

    def counting(session, obj, params):
        query = listing.build_query(session, obj, params)
        return query.page(params.page, params.per_page or listing.PER_PAGE)

    found: dict[str, list[tuple[float, float, int]]] = {"counted": [], "page only": []}
    try:
        for _ in range(rounds):
            for variant, reader in (("counted", counting), ("page only", real)):
                listing.read_page = reader
                found[variant].append(timed_ms(get, requests))
    finally:
        listing.read_page = real
    rows = []
    for variant, runs in found.items():
        p50 = statistics.median(run[0] for run in runs)
        p95 = statistics.median(run[1] for run in runs)
        rows.append((f"{what}, {variant}", who, p50, p95, sum(run[2] for run in runs)))
        print(rows[-1], flush=True)
    return rows


# --- the run ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a PostgreSQL URL (the scratch schema is made in it)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the schema (to measure it again with --reuse)")
    parser.add_argument("--reuse", default=None, help="measure this kept schema again, without filling it")
    parser.add_argument("--output", default="docs/benchmarks.md")
    parser.add_argument("--only", default=",".join(KINDS), help=f"what to measure, of {', '.join(KINDS)}")
    parser.add_argument("--counted", action="store_true", help="each list search with and without its count")
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="with --only funnel: also time the report as the Trellis in this folder (an export of an"
        " earlier commit, `git archive`) runs it, and the funnel's SQL as first written",
    )
    parser.add_argument(
        "--apply-field",
        choices=("searchable", "required"),
        default="searchable",
        help="with --only apply: the field added, a searchable text field or a required picklist with a default",
    )
    parser.add_argument(
        "--hand-built-indexes",
        action="store_true",
        help="with --reuse: serve a schema applied by an earlier Trellis whose sys_stage_history indexes"
        " were built by hand as this one declares them (checked by name and columns), without the schema"
        " fingerprint check: an apply would record a fingerprint that the earlier Trellis, still serving"
        " the schema elsewhere, refuses",
    )
    args = parser.parse_args()
    only = tuple(kind.strip() for kind in args.only.split(",") if kind.strip())
    key_file = Path(tempfile.gettempdir()) / "trellis-scale-10m.key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode(), encoding="utf-8")
    os.environ.setdefault("TRELLIS_SECRET_KEY", key_file.read_text(encoding="utf-8").strip())
    from webui import create_app  # after the secret key is set

    schema = args.reuse or f"scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.db)
    if not args.reuse:
        with admin.begin() as conn:
            run_sql(conn, f'CREATE SCHEMA "{schema}"')
    url = args.db + ("&" if "?" in args.db else "?") + f"options=-csearch_path%3D{schema}"
    print(f"schema {schema}", flush=True)
    try:
        crm = Trellis.open(CONFIG, url)
        if args.hand_built_indexes:
            accept_hand_built_indexes(crm)
        if only == ("funnel",):
            funnel_only(crm, url, args)
            crm.close()
            return
        if only == ("apply",):
            if not args.reuse:
                raise SystemExit("--only apply measures a kept schema: fill one with --keep, then --reuse it")
            apply_only(crm, url, admin, args)
            crm.close()
            return
        timings: dict[str, float] = {}
        if not args.reuse:
            start = time.perf_counter()
            crm.apply()
            make_users(crm)
            timings["apply and users"] = time.perf_counter() - start
            timings.update(fill(crm, args.rows, {u.username: u.id for u in _users(crm)}))
            for step, seconds in timings.items():
                print(f"{step}: {seconds:.0f} s", flush=True)
        else:
            with crm.directory() as d:  # a schema filled before the executive searched had no password
                d.edit("ceo", password=PASSWORD)
        seen = counts(crm)
        print(seen, flush=True)
        with tempfile.TemporaryDirectory() as folder:
            app = create_app(
                crm,
                test_config={
                    "TESTING": True,
                    "SECRET_KEY": "bench",
                    "WTF_CSRF_ENABLED": False,
                    "TRELLIS_UPLOAD_DIR": str(Path(folder) / "uploads"),
                },
            )
            measured = only == KINDS  # the shares count every match: skipped when measuring some kinds
            shares = {term: search_share(crm, term, seen["deals"]) for term in TERMS} if measured else {}
            print(shares, flush=True)
            rows, funnel = measure(crm, app, args.requests, args.rounds, only, args.counted)
        crm.close()
    finally:
        if not args.keep and not args.reuse:  # a reused schema is never dropped
            key_file.unlink(missing_ok=True)  # the key of the encrypted fields lives as long as the schema
            with admin.begin() as conn:
                run_sql(conn, f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    report(Path(args.output), args, seen, timings, shares, rows, funnel)


APPLY_SECTION = "## Apply on 10,000,000 deals (`benchmarks/scale_10m.py --only apply`)"


def config_with_probes(count: int, required: bool = False) -> str:
    """configs/sample_saas.yaml with ``count`` more searchable text fields on the deal
    (``apply_probe_1`` …), each in the form's last section: each one more rebuilds the deals'
    search index; with ``required``, required picklists with a default instead, which fill every
    deal (and write an audit row for each)."""
    text = CONFIG.read_text(encoding="utf-8")
    template = (CONFIG.parent / "templates" / "crm_base.yaml").resolve()
    text = text.replace("extends: templates/crm_base.yaml", f"extends: {template}", 1)  # read from elsewhere
    names = [f"apply_probe_{n}" for n in range(1, count + 1)]
    kind = "type: picklist, values: [yes_, no_], default: no_, required: true" if required else "type: text"
    fields = "".join(f"      {name}: {{{kind}, label: {{en: Probe {name[-1]}, zh: 探针}}}}\n" for name in names)
    anchor = "      name:\n        label: {en: Deal name, zh: 商机名称}\n"
    section = "          fields: [needs_analysis, quote_file]\n"
    assert anchor in text and section in text, "configs/sample_saas.yaml changed: update config_with_probes"
    text = text.replace(anchor, anchor + fields, 1)
    return text.replace(
        section, f"          fields: [needs_analysis, quote_file{''.join(', ' + n for n in names)}]\n", 1
    )


def saver(crm: Trellis, ids: list[int]) -> Meanwhile:
    """Saves a deal every 10 ms on a connection of its own (an UPDATE of one of ``ids``, its own
    transaction), while an apply runs; ``longest`` is the slowest save (s)."""
    table = crm.schema.table("opportunity")

    def save(conn: sa.Connection, n: int) -> None:
        conn.execute(sa.update(table).where(table.c.id == ids[n % len(ids)]).values(version=table.c.version + 1))

    return Meanwhile(crm.engine, save)


def _stamp(times: list[float]) -> Callable[[str], None]:
    """An apply's ``progress``: the time of each message (the first comes after the commit)."""
    return lambda _: times.append(time.perf_counter())


def apply_only(crm: Trellis, url: str, admin: sa.Engine, args: argparse.Namespace) -> None:
    """``trellis apply`` adding one searchable text field to the deals (which rebuilds their search
    index) on this schema and on a schema of the same config with one deal, interleaved over
    ``--rounds`` rounds, while a user saves a deal every 10 ms: seconds until the apply commits (what
    locks), of the whole apply (the index built after the commit, concurrently) and the longest
    save. Appended to ``APPLY_SECTION``. The probe fields stay: a schema measured so is no longer
    configs/sample_saas.yaml's (drop it)."""
    empty_schema = f"scale_empty_{uuid.uuid4().hex[:6]}"
    with admin.begin() as conn:
        run_sql(conn, f'CREATE SCHEMA "{empty_schema}"')
    empty_url = url.rsplit("%3D", 1)[0] + "%3D" + empty_schema
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "probes.yaml"
            config.write_text(config_with_probes(0), encoding="utf-8")
            empty = Trellis.open(config, empty_url)
            empty.apply()
            make_users(empty)
            with empty.session("rep001") as s:
                account = s.create("account", {"name": "One account"}).id
                deal = {"name": "One deal", "account": account, "product_line": "crm_suite"}
                one = s.create("opportunity", {**deal, "close_date": dt.date(2026, 12, 31)}).id
            empty.close()
            with crm.engine.connect() as conn:
                ids = list(
                    conn.execute(sa.text("SELECT id FROM obj_opportunity ORDER BY id DESC LIMIT 1000")).scalars()
                )
                deals = f"{conn.execute(sa.text('SELECT count(*) FROM obj_opportunity')).scalar_one():,}"
            if args.apply_field == "required":
                deals, single = f"{deals}, a required field with a default", "one deal, a required field with a default"
            else:
                single = "one deal"
            times: dict[str, list[tuple[float, float, float]]] = {deals: [], single: []}
            for round_ in range(1, args.rounds + 1):
                config.write_text(config_with_probes(round_, args.apply_field == "required"), encoding="utf-8")
                for what, where, saved in ((single, empty_url, [one]), (deals, url, ids)):
                    target = Trellis.open(config, where)
                    committed: list[float] = []
                    with saver(target, saved) as saves:
                        start = time.perf_counter()
                        target.apply(progress=_stamp(committed))
                        whole = time.perf_counter() - start
                    target.close()
                    times[what].append(((committed[0] - start) if committed else whole, whole, saves.longest))
                    print(
                        f"round {round_}, {what}: commit {times[what][-1][0]:.2f} s, apply {whole:.2f} s, "
                        f"longest save {saves.longest * 1000:.0f} ms",
                        flush=True,
                    )
    finally:
        with admin.begin() as conn:
            run_sql(conn, f'DROP SCHEMA "{empty_schema}" CASCADE')
    day = dt.date.today().isoformat()
    medians = {what: [statistics.median(t[i] for t in runs) for i in range(3)] for what, runs in times.items()}
    base = medians[single][0]
    lines = [
        f"| {day} | {what} | {commit:.2f} | {commit / base:.1f}× | {whole:.1f} | {longest * 1000:,.0f} | "
        f"{'yes' if commit <= 2 * base else '**no**'} | {machine()} |"
        for what, (commit, whole, longest) in medians.items()
    ]
    for line in lines:
        print(line)
    header = (
        f"{APPLY_SECTION}\n\n"
        "Issue 18 §6: `apply` adding a field to the 10,000,000-deal table takes ≤ 2× the time on an empty table "
        "without locking writers. A searchable text field (the deals' search index rebuilt, after the commit and "
        "concurrently), on the kept schema and on one with a single deal, interleaved, medians of the rounds; a user "
        "saves a deal every 10 ms meanwhile. Seconds until the commit (what takes locks), its ratio to the "
        "one-deal schema's, the whole apply with the index build, the longest save in ms.\n\n"
        "| date | deals | until the commit (s) | ratio | whole apply (s) | longest save (ms) | goal met | machine |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(Path(args.output), APPLY_SECTION, header, lines)


def accept_hand_built_indexes(crm: Trellis) -> None:
    """Serve a schema applied by an earlier Trellis once ``sys_stage_history`` holds every index this
    one declares (see ``--hand-built-indexes``); nothing else of the schema differs."""
    declared = {ix.name: [c.name for c in ix.columns] for ix in crm.schema.system["sys_stage_history"].indexes}
    live = {ix["name"]: ix["column_names"] for ix in sa.inspect(crm.engine).get_indexes("sys_stage_history")}
    missing = {name: columns for name, columns in declared.items() if live.get(name) != columns}
    if missing:
        raise SystemExit(f"sys_stage_history lacks {missing}: build them first (CREATE INDEX CONCURRENTLY)")
    crm._current = True  # the check this option skips (Trellis.check_database)


def funnel_only(crm: Trellis, url: str, args: argparse.Namespace) -> None:
    """The manager's funnel against its hand-written SQL (and the earlier code's, with ``--before``),
    interleaved, medians of ``--rounds``; appended to ``FUNNEL_SECTION``."""
    manager = "mgr01"
    with crm.session(manager, channel="web") as s:
        entered = reports.run(s, "deal_funnel").total.figures[0].value
    seen = counts(crm)
    kinds: dict[str, Callable[[], object]] = {"sql": funnel_sql(crm, manager), "report": funnel_report(crm, manager)}
    if args.before is not None:
        kinds["sql as first written"] = funnel_sql(crm, manager, correlated=True)
        kinds["report before"] = funnel_elsewhere(args.before, url, manager)
    medians = interleaved(kinds, args.rounds, warm=True)
    day = dt.date.today().isoformat()
    before = (
        f"{medians['sql as first written']:.2f} | {medians['report before']:.2f}"
        if args.before is not None
        else "— | —"
    )
    line = (
        f"| {day} | {seen['deals']:,} | {seen['team01']:,} | {entered:,} | {medians['sql']:.2f} | {medians['report']:.2f}"
        f" | {medians['report'] / medians['sql']:.2f}× | {before} | {machine()} |"
    )
    print(line)
    header = (
        f"{FUNNEL_SECTION}\n\n"
        "`deal_funnel` (this quarter) as the busiest team's manager, through `reports.run`, against the SQL of its\n"
        "figures written by hand, interleaved, medians of the rounds after a warm-up, seconds.\n\n"
        "| date | deals | the team's deals | deals in the funnel | sql | report | report / sql |"
        " sql as first written | report before | machine |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(Path(args.output), FUNNEL_SECTION, header, [line])


def _users(crm: Trellis) -> list:
    with crm.directory() as d:
        return d.list()


def report(
    path: Path, args: argparse.Namespace, seen: dict, timings: dict, shares: dict, rows: list, funnel: dict
) -> None:
    """Print the figures and append them to docs/benchmarks.md."""
    day = dt.date.today().isoformat()
    fill_total = sum(timings.values())
    lines = [
        f"| {day} | {what} | {who} | {n} | {p50:,.0f} | {p95:,.0f} | {'yes' if p95 <= 100 else '**no**'} |"
        for what, who, p50, p95, n in rows
    ]
    if funnel:
        ratio = funnel["report"] / funnel["sql"]
        lines.append(
            f"| {day} | funnel `deal_funnel` (median of {args.rounds}, vs hand-written SQL {funnel['sql'] * 1000:,.0f} ms:"
            f" {ratio:.2f}×) | busiest team's manager | {args.rounds} | {funnel['report'] * 1000:,.0f} | | {'yes' if ratio <= 1.5 else '**no**'} |"
        )
    for line in lines:
        print(line)
    print(f"fill {fill_total:.0f} s; {seen}; search shares {shares}; {machine()}")
    header = (
        f"{SECTION}\n\n"
        "Issue 18 §6. See the script's docstring for the setup (configs/sample_saas.yaml, 301 users in 30 teams, "
        "set-based fill bypassing the write path). Milliseconds, p50 and p95 of the requests after a warm-up; "
        "goal p95 ≤ 100 ms, the funnel ≤ 1.5× its hand-written SQL.\n\n"
        "| date | what | who | requests | p50 | p95 | goal met |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    append_rows(path, SECTION, header, lines)
    print(f"appended to {path}; COUNT_LIMIT {COUNT_LIMIT}")


if __name__ == "__main__":
    main()
