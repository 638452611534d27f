"""cdc_app_db through a real Airflow scheduler: snapshot run, then an incremental run with one table backfilled.

Isolated like the demo test: its own ONRAMP_HOME, databases, ports and CDC sources file (two tables
of its own in a database of its own on the logical-decoding app server), all removed afterwards.
"""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest
import yaml

from onramp.settings import load_settings
from tests.conftest import drop_database, free_port

pytestmark = pytest.mark.e2e

CUSTOMERS = ["id", "email", "plan", "attrs", "signed_up_at"]
ORDERS = ["id", "customer_id", "amount", "status"]


def checksum(url: str, table: str, columns: list[str]) -> tuple:
    cols = ", ".join(columns)
    with psycopg.connect(url) as conn:
        conn.execute("set timezone = 'UTC'")
        return conn.execute(f"select count(*), md5(coalesce(string_agg(md5(row({cols})::text), '' order by id), ''))"
                            f" from {table}").fetchone()


@pytest.fixture
def cdc_airflow(tmp_path, monkeypatch, pg_admin_url, settings):
    from onramp import airflow_runtime, services

    tag = uuid.uuid4().hex[:8]
    source = f"e2e{tag}"
    env = {
        "ONRAMP_HOME": str(tmp_path / "home"),
        "ONRAMP_APP_DB": f"onramp_e2e_{tag}_app",
        "ONRAMP_WAREHOUSE_DB": f"onramp_e2e_{tag}_warehouse",
        "ONRAMP_AIRFLOW_DB": f"onramp_e2e_{tag}_airflow",
        "ONRAMP_REDIS_PREFIX": f"onramp-e2e-{tag}:",
        "ONRAMP_AIRFLOW_PORT": str(free_port()),
        "ONRAMP_APP_PG_URL": settings.app_pg_url,
        "ONRAMP_CDC_CONFIG": str(tmp_path / "cdc_sources.yaml"),
        "ONRAMP_CDC_SCHEDULE": "none",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "cdc_sources.yaml").write_text(yaml.safe_dump({"version": 1, "sources": {source: {
        "conn_id": "onramp_app_db",
        "tables": {"shop.customers": {"primary_key": ["id"], "pii": ["email"]}, "shop.orders": {"primary_key": ["id"]}},
    }}}))
    isolated = load_settings({k: v for k, v in env.items() if k.startswith("ONRAMP_")})
    services.ensure_databases(isolated)
    from onramp.migrations import migrate

    migrate(isolated.warehouse_url, "warehouse")
    with psycopg.connect(isolated.app_db_url, autocommit=True) as conn:
        conn.execute("create schema shop")
        conn.execute("create table shop.customers (id int primary key, email text not null, plan text, attrs jsonb,"
                     " signed_up_at timestamptz)")
        conn.execute("create table shop.orders (id int primary key, customer_id int, amount numeric(10,2), status text)")
        conn.execute("insert into shop.customers select g, 'c' || g || '@example.com', 'free', '{\"n\": 1}', now()"
                     " from generate_series(1, 300) g")
        conn.execute("insert into shop.orders select g, g % 300 + 1, g * 2.5, 'open' from generate_series(1, 900) g")
    try:
        airflow_runtime.migrate_metadata(isolated)
        login = airflow_runtime.start(isolated)
        yield isolated, login, source
    finally:
        airflow_runtime.stop(isolated)
        from tests.integration.cdc.conftest import drop_source_database

        drop_source_database(isolated.app_pg_url, isolated.app_db)
        for name in (isolated.warehouse_db, isolated.airflow_db):
            drop_database(pg_admin_url, name)


def test_cdc_dag_snapshot_then_changes_and_a_backfill_through_the_scheduler(cdc_airflow):
    from onramp.airflow_client import AirflowClient
    from onramp.airflow_runtime import airflow_home

    settings, login, source = cdc_airflow
    client = AirflowClient(login, log_folder=airflow_home(settings) / "logs")
    try:
        first = client.run_and_wait("cdc_app_db", timeout=300)
        assert first.state == "success", [(t.task_id, t.map_index, t.state, t.log_path) for t in first.tasks]
        assert len(first.tasks) == 8  # 2 tables x (extract, gate, apply, check)
        for table, columns in (("customers", CUSTOMERS), ("orders", ORDERS)):
            assert checksum(settings.app_db_url, f"shop.{table}", columns) == \
                checksum(settings.warehouse_url, f"staging.{table}", columns)

        with psycopg.connect(settings.app_db_url, autocommit=True) as conn:
            conn.execute("insert into shop.customers values (301, 'new@example.com', 'pro', null, now())")
            conn.execute("update shop.customers set plan = 'pro', attrs = '{\"n\": 2}' where id <= 20")
            conn.execute("delete from shop.customers where id between 21 and 25")
            conn.execute("delete from shop.orders where id <= 10")
        with psycopg.connect(settings.warehouse_url) as conn:
            old_snapshot = conn.execute("select snapshot_id from ops.cdc_tables where table_name = 'shop.orders'").fetchone()

        second = client.run_and_wait("cdc_app_db", conf={"backfill_table": f"{source}/shop.orders"}, timeout=300)
        assert second.state == "success", [(t.task_id, t.map_index, t.state, t.log_path) for t in second.tasks]
        for table, columns in (("customers", CUSTOMERS), ("orders", ORDERS)):
            assert checksum(settings.app_db_url, f"shop.{table}", columns) == \
                checksum(settings.warehouse_url, f"staging.{table}", columns)
        with psycopg.connect(settings.warehouse_url) as conn:
            assert conn.execute("select snapshot_id from ops.cdc_tables where table_name = 'shop.orders'").fetchone() != old_snapshot
            changes = conn.execute(f"select _op, count(*) from raw.{source}_customers_changes group by 1 order by 1").fetchall()
            assert changes == [("D", 5), ("I", 1), ("U", 20)]

        # Each table's Asset got an event from the mapped apply task.
        token = client._auth()
        events = httpx.get(f"{login.url}/api/v2/assets/events", headers=token, params={"limit": 100}, timeout=10).json()
        uris = {e.get("uri") or e.get("asset_uri") for e in events.get("asset_events", [])}
        assert {"warehouse://staging/customers", "warehouse://staging/orders"} <= uris, events
    finally:
        client.close()
