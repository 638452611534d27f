"""Marts fixtures: a small hand-made warehouse, built once by dbt as of D, and copies of it for tests that change it.

The base database holds the app tables in ``staging`` (fixture.sql) and the events of :data:`BATCHES`, loaded the way
the stream loader loads them (a row in ``ops.event_load_batches`` per batch, identity links written by the loader's
own SQL). It is built once per session with ``dbt build`` as of :data:`D`. A test that adds data works on a copy
(``CREATE DATABASE ... TEMPLATE``, a fraction of a second), so every test starts from the same built state and
dbt builds the base only once.

Every dbt run goes through :func:`onramp.marts.dbt.run_dbt` with ``PGTZ`` set to UTC+14: a model that cast a
timestamp to a date in the session's time zone instead of UTC would put events of the evening of D on D + 1.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from onramp import db
from onramp.marts.dbt import DbtRun, run_dbt
from onramp.migrations import migrate
from onramp.settings import Settings, with_database
from tests.conftest import drop_database

HERE = Path(__file__).resolve().parent
D = date(2026, 11, 10)
BASE_BUILT_AT = "2026-11-11T18:00:00+00:00"
# a session time zone far from UTC: 23:40 UTC on D is already D + 1 there
SESSION_TZ = "Pacific/Kiritimati"
APP_TABLES = ("users", "workspaces", "workspace_members", "invitations", "onboarding_steps",
              "user_onboarding_progress", "subscriptions", "feature_usage")

# (message_id, type, event_name, page name, userId, anonymousId, event_at (UTC), properties); see fixture.sql
Event = tuple[str, str, str, str | None, str | None, str | None, str, dict[str, Any]]
BATCHES: dict[str, tuple[str, list[Event]]] = {
    "b0": ("2026-11-11 14:00+00", [
        ("e01", "page", "page", "Home", None, "anon-a1", "2026-11-03 09:50", {"path": "/", "title": "Onramp"}),
        ("e02", "track", "signup_started", None, None, "anon-a1", "2026-11-03 09:55",
         {"signup_source": "paid_search", "method": "email"}),
        ("e03", "track", "form_filled", None, None, "anon-a1", "2026-11-03 09:58",
         {"form": "signup", "fields": ["email", "full_name"], "fields_total": 3, "duration_ms": 120000}),
        ("e04", "identify", "identify", None, "101", "anon-a1", "2026-11-03 10:00", {}),
        ("e05", "track", "signup_completed", None, "101", "anon-a1", "2026-11-03 10:00:01",
         {"plan": "free", "workspace_id": "1", "signup_source": "paid_search"}),
        ("e06", "track", "onboarding_step_completed", None, "101", None, "2026-11-03 10:10",
         {"step_id": 1, "step_key": "verify_email", "step_name": "Verify your email", "sort_order": 1}),
        ("e07", "identify", "identify", None, "101", "anon-a5", "2026-11-04 08:00", {}),
        ("e08", "page", "page", "Pricing", None, "anon-a5", "2026-11-04 08:20", {"path": "/pricing"}),
        ("e08b", "identify", "identify", None, "101", "anon-a1", "2026-11-04 08:45", {}),  # same session through e08
        ("e09", "track", "feature_used", None, "101", None, "2026-11-05 12:00", {"feature": "dashboards", "usage_count": 1}),
        ("e10", "track", "invite_sent", None, "101", None, "2026-11-05 12:05",
         {"workspace_id": "1", "role": "member", "invitation_id": "1", "invitee_email": "grace@example.com"}),
        ("e11", "track", "plan_upgraded", None, "101", None, "2026-11-08 12:00",
         {"from_plan": "free", "to_plan": "starter", "billing_interval": "month", "seats": 1, "mrr_cents": 1200,
          "currency": "USD"}),
        ("e12", "page", "page", "Home", None, "anon-a2", "2026-11-09 08:50", {"path": "/"}),
        ("e13", "page", "page", "Pricing", None, "anon-a2", "2026-11-09 08:55", {"path": "/pricing"}),
        ("e14", "identify", "identify", None, "102", "anon-a3", "2026-11-09 09:00", {}),
        ("e15", "track", "signup_completed", None, "102", "anon-a3", "2026-11-09 09:00:01", {"plan": "free", "workspace_id": "2"}),
        ("e16", "identify", "identify", None, "102", "anon-a5", "2026-11-09 10:00", {}),
        ("e17", "track", "feature_used", None, "101", None, "2026-11-10 12:10",
         {"feature": "dashboards", "usage_count": 2, "duration_s": 30.5}),
        ("e18", "page", "page", "Dashboards", "101", None, "2026-11-10 12:15", {"path": "/dashboards"}),
        ("e19", "track", "feature_used", None, "101", None, "2026-11-10 12:20", {"feature": "reports"}),
        ("e20", "page", "page", "Home", None, "anon-a6", "2026-11-10 15:00", {"path": "/"}),
    ]),
    "b1": ("2026-11-11 16:00+00", [
        ("e21", "identify", "identify", None, "103", "anon-a4", "2026-11-10 23:30", {}),
        ("e22", "track", "signup_completed", None, "103", "anon-a4", "2026-11-10 23:30:01", {"plan": "free", "workspace_id": "3"}),
        ("e23", "page", "page", "Welcome", None, "anon-a4", "2026-11-10 23:45", {"path": "/welcome"}),
        ("e24", "track", "feature_used", None, "103", None, "2026-11-11 00:05", {"feature": "projects", "usage_count": 1}),
        ("e25", "track", "feature_used", None, "103", None, "2026-11-11 00:07", {"feature": "projects", "usage_count": 2}),
    ]),
}


@dataclass(frozen=True)
class Warehouse:
    """A test warehouse database and the settings that point dbt at it."""

    name: str
    url: str
    settings: Settings

    def build(self, args: list[str], as_of: date = D, built_at: str | None = None) -> DbtRun:
        """``dbt <args>`` on this database, as of ``as_of``, in a session time zone far from UTC."""
        vars: dict[str, Any] = {"as_of_date": as_of.isoformat()}
        if built_at:
            vars["build_started_at"] = built_at
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PGTZ", SESSION_TZ)
            return run_dbt(args, self.settings, vars, quiet=True)

    def rows(self, query: str, params: dict | tuple | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            conn.execute("set timezone = 'UTC'")
            return conn.execute(query, params).fetchall()

    def execute(self, statements: str, params: dict | tuple | None = None) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statements, params)

    def load_batch(self, batch_id: str, committed_at: str, events: list[Event]) -> None:
        with psycopg.connect(self.url) as conn:
            load_batch(conn, batch_id, committed_at, events)


def load_batch(conn: psycopg.Connection, batch_id: str, committed_at: str, events: list[Event]) -> None:
    """Land ``events`` as one stream-loader batch: rows in raw.events, the batch row, the loader's identity links."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw.events (message_id, type, event_name, event, name, user_id, anonymous_id, event_at,"
            " event_date, received_at, properties, source, schema_version, is_planned, stream_id, load_batch_id)"
            " values (%(id)s, %(type)s, %(name)s, case when %(type)s = 'track' then %(name)s end, %(page)s, %(user)s,"
            " %(anon)s, %(at)s::timestamptz, (%(at)s::timestamptz at time zone 'utc')::date, %(at)s::timestamptz,"
            " %(props)s::jsonb, 'test', %(name)s || '/v1', true, %(id)s, %(batch)s)",
            [{"id": m, "type": t, "name": n, "page": p, "user": u, "anon": a, "at": f"{at}+00",
              "props": json.dumps(props), "batch": batch_id} for m, t, n, p, u, a, at, props in events])
        cur.execute("insert into ops.event_load_batches (batch_id, stream, first_stream_id, last_stream_id, entries,"
                    " events, loaded, duplicates, committed_at) values (%s, 'onramp:events', '0-0', '0-0', %s, %s, %s, 0, %s)",
                    (batch_id, len(events), len(events), len(events), committed_at))
        # the stream loader's own statement (written for ADBC's $1)
        cur.execute(db.sql("events", "upsert_identity_map").replace("$1", "%(batch)s"), {"batch": batch_id})
    conn.commit()


def create_staging_tables(url: str) -> None:
    """``staging.<table>`` as CDC shapes it: the app table's columns (nullable), its primary key, the CDC
    bookkeeping columns."""
    migrate(url, "app")
    with psycopg.connect(url, autocommit=True) as conn:
        for table in APP_TABLES:
            conn.execute(sql.SQL("create table staging.{t} (like app.{t}, primary key (id),"
                                 " _cdc_lsn pg_lsn, _cdc_xid bigint, _cdc_commit_ts timestamptz)")
                         .format(t=sql.Identifier(table)))
            columns = conn.execute("select column_name from information_schema.columns where table_schema = 'staging'"
                                   " and table_name = %s and is_nullable = 'NO' and column_name <> 'id'", (table,))
            for (column,) in columns.fetchall():
                conn.execute(sql.SQL("alter table staging.{} alter column {} drop not null")
                             .format(sql.Identifier(table), sql.Identifier(column)))
        conn.execute("drop schema app cascade; drop schema sim_truth cascade")


def _disconnect(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                     (name,))


@pytest.fixture(scope="session")
def dbt_home(tmp_path_factory) -> Path:
    """The state folder of the tests' dbt runs (target/, logs/), shared so partial parsing carries over."""
    return tmp_path_factory.mktemp("onramp-home")


@pytest.fixture(scope="session")
def marts_base(pg_admin_url: str, settings: Settings, dbt_home: Path) -> Iterator[tuple[Warehouse, DbtRun]]:
    """The fixture warehouse built by ``dbt build`` as of D (built_at = BASE_BUILT_AT); tests only read it."""
    name = f"onramp_test_marts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        url = with_database(pg_admin_url, name)
        migrate(url, "warehouse")
        create_staging_tables(url)
        with psycopg.connect(url) as conn:
            conn.execute((HERE / "fixture.sql").read_text())
            conn.commit()
            for batch_id, (committed_at, events) in BATCHES.items():
                load_batch(conn, batch_id, committed_at, events)
        warehouse = Warehouse(name, url, settings.model_copy(update={"warehouse_db": name, "home": str(dbt_home)}))
        run = warehouse.build(["build"], built_at=BASE_BUILT_AT)
        _disconnect(pg_admin_url, name)
        yield warehouse, run
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def warehouse_copy(marts_base, pg_admin_url: str, settings: Settings, dbt_home: Path) -> Iterator[Warehouse]:
    """A copy of the built base warehouse of this test's own (dropped afterwards)."""
    base, _ = marts_base
    name = f"onramp_test_marts_{uuid.uuid4().hex[:8]}"
    _disconnect(pg_admin_url, base.name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(base.name)))
    try:
        yield Warehouse(name, with_database(pg_admin_url, name),
                        settings.model_copy(update={"warehouse_db": name, "home": str(dbt_home)}))
    finally:
        drop_database(pg_admin_url, name)
