"""One isolated Airflow (4 real processes) shared by the DAG-level e2e tests, to start it once.

It owns its ONRAMP_HOME, databases (app source on the logical-decoding server, warehouse, airflow),
Redis prefix, port and CDC sources file; everything is removed at the end of the session. The demo
test does not use it: it runs `onramp demo` exactly as a user would.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import yaml

from onramp.local.airflow_runtime import Login
from onramp.settings import Settings, load_settings
from tests.conftest import drop_database, free_port

WRITE_KEY = "e2e-write-key"


@dataclass(frozen=True)
class Stack:
    settings: Settings
    login: Login
    cdc_source: str  # the CDC source name of the shop.customers / shop.orders tables


@pytest.fixture(scope="session")
def stack(tmp_path_factory, pg_admin_url, settings) -> Iterator[Stack]:
    from onramp.local import airflow_runtime, services
    from onramp.migrations import migrate
    from tests.integration.cdc.conftest import drop_source_database

    tmp = tmp_path_factory.mktemp("stack")
    tag = uuid.uuid4().hex[:8]
    source = f"e2e{tag}"
    env = {
        "ONRAMP_HOME": str(tmp / "home"),
        "ONRAMP_APP_PG_URL": settings.app_pg_url,
        "ONRAMP_APP_DB": f"onramp_e2e_{tag}_app",
        "ONRAMP_WAREHOUSE_DB": f"onramp_e2e_{tag}_warehouse",
        "ONRAMP_AIRFLOW_DB": f"onramp_e2e_{tag}_airflow",
        "ONRAMP_REDIS_PREFIX": f"onramp-e2e-{tag}:",
        "ONRAMP_AIRFLOW_PORT": str(free_port()),
        "ONRAMP_CDC_CONFIG": str(tmp / "cdc_sources.yaml"),
        "ONRAMP_CDC_SCHEDULE": "none",
        "ONRAMP_COLLECTOR_WRITE_KEYS": f"{WRITE_KEY}=e2e-app",
        "ONRAMP_STREAM_BATCH_SECONDS": "1",
        "ONRAMP_STREAM_FALLBACK_CRON": "0 0 1 1 *",  # only the AssetWatcher may wake events_stream_load
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # Airflow's processes and the collector inherit them
    (tmp / "cdc_sources.yaml").write_text(yaml.safe_dump({"version": 1, "sources": {source: {
        "conn_id": "onramp_app_db",
        "tables": {"shop.customers": {"primary_key": ["id"], "pii": ["email"]}, "shop.orders": {"primary_key": ["id"]}},
    }}}))
    isolated = load_settings({k: v for k, v in os.environ.items() if k.startswith("ONRAMP_")})
    try:
        services.ensure_databases(isolated)
        migrate(isolated.warehouse_url, "warehouse")
        with psycopg.connect(isolated.app_db_url, autocommit=True) as conn:
            conn.execute("create schema shop")
            conn.execute("create table shop.customers (id int primary key, email text not null, plan text,"
                         " attrs jsonb, signed_up_at timestamptz)")
            conn.execute("create table shop.orders (id int primary key, customer_id int, amount numeric(10,2),"
                         " status text)")
            conn.execute("insert into shop.customers select g, 'c' || g || '@example.com', 'free', '{\"n\": 1}',"
                         " now() from generate_series(1, 300) g")
            conn.execute("insert into shop.orders select g, g % 300 + 1, g * 2.5, 'open' from generate_series(1, 900) g")
        airflow_runtime.migrate_metadata(isolated)
        login = airflow_runtime.start(isolated)
        yield Stack(isolated, login, source)
    finally:
        airflow_runtime.stop(isolated)
        client = redis.Redis.from_url(isolated.redis_url)
        keys = list(client.scan_iter(match=f"{isolated.redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        drop_source_database(isolated.app_pg_url, isolated.app_db)
        for name in (isolated.warehouse_db, isolated.airflow_db):
            drop_database(pg_admin_url, name)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def airflow_log_folder(stack: Stack) -> Path:
    from onramp.local.airflow_runtime import airflow_home

    return airflow_home(stack.settings) / "logs"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests without the shared stack (the demo) first, so two Airflows never run side by side."""
    items.sort(key=lambda item: "stack" in getattr(item, "fixturenames", ()))
