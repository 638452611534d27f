"""Every way in carries its credentials: DAG task code and commands against a PostgreSQL that wants a password
and a Redis with ``requirepass``.

Both servers are this module's own (an embedded PostgreSQL with scram-sha-256 and logical decoding, a
redis-server with a password), so a component that rebuilds a URL and drops the password, or opens a
connection beside the one resolver, is refused here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
import yaml

from onramp.settings import with_database
from tests.conftest import free_port

PASSWORD = "pg-s3cret-" + uuid.uuid4().hex[:6]
REDIS_PASSWORD = "redis-s3cret-" + uuid.uuid4().hex[:6]
ONRAMP = str(Path(sys.executable).with_name("onramp"))


@dataclass(frozen=True)
class Locked:
    env: dict[str, str]  # ONRAMP_* settings pointing at the password-protected servers
    pg_url: str
    redis_url: str


@pytest.fixture(scope="module")
def locked(tmp_path_factory) -> Iterator[Locked]:
    from onramp.local.services import EmbeddedPostgres

    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server binary (make setup installs one)")
    tmp = tmp_path_factory.mktemp("locked")
    pg = EmbeddedPostgres(tmp, "127.0.0.1", free_port(), password=PASSWORD)
    pg.start()
    redis_port = free_port()
    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--requirepass", REDIS_PASSWORD,
                    "--save", "", "--appendonly", "no", "--daemonize", "yes", "--dir", str(redis_dir),
                    "--pidfile", str(redis_dir / "redis.pid")], check=True)
    pg_url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{pg.port}/postgres"
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0"
    config = tmp / "cdc_sources.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "sources": {"shop": {
        "conn_id": "onramp_app_db", "tables": {"shop.customers": {"primary_key": ["id"]}}}}}))
    env = {"ONRAMP_HOME": str(tmp / "home"), "ONRAMP_PG_URL": pg_url, "ONRAMP_APP_PG_URL": pg_url,
           "ONRAMP_REDIS_URL": redis_url, "ONRAMP_EMBEDDED": "never", "ONRAMP_CDC_CONFIG": str(config),
           "ONRAMP_REDIS_PREFIX": "locked:", "ONRAMP_COLLECTOR_PORT": str(free_port()),
           "ONRAMP_STREAM_BATCH_SECONDS": "0.5"}
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis.from_url(redis_url).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Locked(env, pg_url, redis_url)
    finally:
        pg.stop()
        try:
            redis.Redis.from_url(redis_url).shutdown(nosave=True)
        except redis.RedisError:
            pass


def _onramp(locked: Locked, *args: str, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONRAMP_", "AIRFLOW_CONN_"))}
    result = subprocess.run([ONRAMP, *args], env={**env, **locked.env}, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"onramp {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def in_process(locked, monkeypatch):
    """This process sees the locked servers' settings, as a task process would."""
    from onramp.settings import get_settings

    for key in [k for k in os.environ if k.startswith(("ONRAMP_", "AIRFLOW_CONN_"))]:
        monkeypatch.delenv(key)
    for key, value in locked.env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_the_servers_really_want_the_passwords(locked):
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(locked.pg_url.replace(f":{PASSWORD}", ""), connect_timeout=5).close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(locked.redis_url.replace(f":{REDIS_PASSWORD}", "")).set("x", 1)


def test_commands_get_in(locked):
    assert "external" in _onramp(locked, "services", "up")  # finds both servers, creates the databases, migrates
    assert "up (external)" in _onramp(locked, "services", "status")
    _onramp(locked, "migrate")
    with psycopg.connect(with_database(locked.pg_url, "app"), autocommit=True) as conn:
        conn.execute("create schema if not exists shop")
        conn.execute("create table if not exists shop.customers (id int primary key, email text)")
        conn.execute("insert into shop.customers select g, 'c' || g from generate_series(1, 50) g on conflict do nothing")
    _onramp(locked, "cdc", "run")  # psycopg, ADBC and the replication protocol against the source and warehouse
    assert "shop/shop.customers" in _onramp(locked, "cdc", "status")
    with psycopg.connect(with_database(locked.pg_url, "warehouse")) as conn:
        assert conn.execute("select count(*) from staging.customers").fetchone()[0] == 50
    drained = _onramp(locked, "stream", "drain")
    assert '"loaded": 0' in drained


def test_the_collector_and_the_loader_get_in(locked):
    port = locked.env["ONRAMP_COLLECTOR_PORT"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONRAMP_")}
    process = subprocess.Popen([ONRAMP, "collector", "serve"], env={**env, **locked.env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the collector did not come up"
            time.sleep(0.3)
        message = {"type": "track", "event": "signup_started", "anonymousId": "locked-1",
                   "properties": {"signup_source": "organic", "method": "email"}}
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/track", json=message, auth=("onramp-demo-write-key", ""))
        assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(20)
    _onramp(locked, "migrate")
    assert '"loaded": 1' in _onramp(locked, "stream", "drain")


def test_dag_task_code_gets_in(locked, in_process, tmp_path):
    """What each DAG's tasks run, in a process configured like a task process."""
    from onramp.airflow.smoke import check_redis
    from onramp.cdc.steps import apply_step, check_lag_step, extract_step, gate_step
    from onramp.endpoints import airflow_connections
    from onramp.migrations import migrate_all
    from onramp.smoke import check_lake, record_checks
    from onramp.stream.service import load_events, move_dead_letters

    settings = in_process
    migrate_all(settings)
    # platform_smoke: check_redis is the task's own callable (it once rebuilt the URL without the password)
    assert "redis" in check_redis.function()["detail"]
    record_checks("locked-run", datetime.now(UTC), [{"check_name": "lake", "detail": check_lake(tmp_path, "locked-run")}])
    # cdc_app_db: the four steps of one table
    manifest = extract_step("shop/shop.customers", "locked-run", None)
    result = apply_step(gate_step(manifest, "locked-run"), "locked-run")
    check_lag_step(result)
    # events_stream_load
    assert move_dead_letters("locked-test") == 0
    assert load_events("locked-test").batches == 0
    # platform_smoke's SQL tasks go through Airflow's postgres hook, on the connections derived from the settings
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    for key, value in airflow_connections(settings).items():
        os.environ[key] = value
    try:
        rows = PostgresHook(postgres_conn_id="onramp_warehouse").get_records(
            "select current_user, current_setting('application_name'), current_setting('TimeZone')")
    finally:
        for key in airflow_connections(settings):
            os.environ.pop(key, None)
    assert rows == [("postgres", "onramp-airflow-onramp_warehouse", "UTC")]
