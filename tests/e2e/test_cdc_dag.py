"""cdc_app_db through a real Airflow scheduler: snapshot run, then an incremental run with one table backfilled.

Runs on the shared e2e stack (tests/e2e/conftest.py): two tables of its own in a source database of
its own on the logical-decoding app server, declared in the stack's CDC sources file.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.e2e.conftest import airflow_log_folder

pytestmark = pytest.mark.e2e

CUSTOMERS = ["id", "email", "plan", "attrs", "signed_up_at"]
ORDERS = ["id", "customer_id", "amount", "status"]


def checksum(url: str, table: str, columns: list[str]) -> tuple:
    cols = ", ".join(columns)
    with psycopg.connect(url) as conn:
        conn.execute("set timezone = 'UTC'")
        return conn.execute(f"select count(*), md5(coalesce(string_agg(md5(row({cols})::text), '' order by id), ''))"
                            f" from {table}").fetchone()


def test_cdc_dag_snapshot_then_changes_and_a_backfill_through_the_scheduler(stack):
    from onramp.local.airflow_client import AirflowClient

    settings, login, source = stack.settings, stack.login, stack.cdc_source
    client = AirflowClient(login, log_folder=airflow_log_folder(stack))
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
