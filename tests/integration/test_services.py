"""Service discovery and the embedded fallback, with real servers started on free ports."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
import redis

from onramp.local import services
from onramp.settings import load_settings
from tests.conftest import free_port


@pytest.fixture
def isolated(tmp_path):
    """Settings pointing at free local ports (nothing answers there) and a private state folder."""
    pg_port, app_port, redis_port = free_port(), free_port(), free_port()
    env = {
        "ONRAMP_HOME": str(tmp_path / "home"),
        "ONRAMP_PG_URL": f"postgresql://postgres@127.0.0.1:{pg_port}/postgres",
        "ONRAMP_APP_PG_URL": f"postgresql://postgres@127.0.0.1:{app_port}/postgres",
        "ONRAMP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    settings = load_settings(env, env_file=tmp_path / "none")
    yield settings, env
    services.down(settings)


def test_embedded_servers_start_when_none_answers_and_stop_cleanly(isolated):
    settings, _ = isolated
    assert services.probe_postgres(settings.pg_url) is not None
    modes = services.up(settings)
    assert modes == {"postgres (warehouse)": "embedded", "postgres (app)": "embedded", "redis": "embedded"}

    with psycopg.connect(settings.warehouse_url) as conn:
        assert conn.execute("select count(*) from information_schema.schemata where schema_name = 'ops'").fetchone()[0] == 1
    with psycopg.connect(settings.app_db_url) as conn:
        assert conn.execute("show wal_level").fetchone()[0] == "logical", "CDC needs logical decoding on the app server"
    client = redis.Redis.from_url(settings.redis_url)
    assert client.config_get("appendonly")["appendonly"] == "yes", "the event stream must survive a crash"
    client.close()

    assert services.up(settings) == modes, "up is idempotent"
    states = {row.name.strip(): row.state for row in services.status(settings)}
    assert states["postgres (warehouse)"] == states["postgres (app)"] == states["redis"] == "up (embedded)"
    assert states["database airflow"] == states["database app"] == "present"

    assert set(services.down(settings)) == {"postgres (warehouse)", "postgres (app)", "redis"}
    assert services.probe_postgres(settings.pg_url) is not None
    assert services.probe_postgres(settings.app_pg_url) is not None
    assert services.probe_redis(settings.redis_url) is not None


def test_one_server_for_everything_when_both_urls_name_it(tmp_path):
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    settings = load_settings({"ONRAMP_HOME": str(tmp_path), "ONRAMP_PG_URL": url, "ONRAMP_APP_PG_URL": url},
                             env_file=tmp_path / "none")
    servers = services.pg_servers(settings)
    assert [(s.role, s.databases) for s in servers] == [("warehouse+app", ("app", "warehouse", "airflow"))]


def test_data_survives_a_restart_of_the_embedded_servers(isolated):
    settings, _ = isolated
    services.up(settings)
    with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
        conn.execute("create table ops.survives (id int)")
        conn.execute("insert into ops.survives values (1)")
    client = redis.Redis.from_url(settings.redis_url)
    client.xadd("onramp:test:survives", {"k": "v"})
    client.close()
    services.down(settings)
    services.up(settings)
    with psycopg.connect(settings.warehouse_url) as conn:
        assert conn.execute("select count(*) from ops.survives").fetchone()[0] == 1
    client = redis.Redis.from_url(settings.redis_url)
    assert client.xlen("onramp:test:survives") == 1, "AOF must bring the stream back"
    client.close()


def test_embedded_never_gives_one_clear_line(tmp_path):
    port = free_port()
    settings = load_settings(
        {"ONRAMP_HOME": str(tmp_path), "ONRAMP_EMBEDDED": "never", "ONRAMP_PG_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"},
        env_file=tmp_path / "none",
    )
    with pytest.raises(services.ServiceError, match=rf"no PostgreSQL answers at postgresql://postgres@127.0.0.1:{port}/postgres .* ONRAMP_PG_URL"):
        services.ensure_postgres(settings)


def test_something_else_listening_is_reported_as_misconfigured(tmp_path, settings):
    """A PostgreSQL URL that reaches Redis: say it refuses us and what to fix, never start a server over it."""
    redis_port = settings.redis_url.rsplit(":", 1)[1].split("/")[0]
    bad = load_settings(
        {"ONRAMP_HOME": str(tmp_path), "ONRAMP_PG_URL": f"postgresql://postgres@127.0.0.1:{redis_port}/postgres"},
        env_file=tmp_path / "none",
    )
    with pytest.raises(services.ServiceError, match="is listening but refuses us.*Fix the user/password in ONRAMP_PG_URL"):
        services.ensure_postgres(bad)
    assert not (tmp_path / "services").exists(), "no embedded server may be started on a taken port"


def test_cli_reports_unreachable_service_in_one_line_without_traceback(tmp_path, settings):
    port = free_port()
    env = dict(os.environ, ONRAMP_HOME=str(tmp_path), ONRAMP_EMBEDDED="never", ONRAMP_APP_PG_URL=settings.pg_url,
               ONRAMP_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    onramp = os.path.join(os.path.dirname(sys.executable), "onramp")
    result = subprocess.run([onramp, "services", "up"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"no Redis answers at redis://127.0.0.1:{port}/0" in result.stderr
    bad = subprocess.run([onramp, "config"], env=dict(env, ONRAMP_AIRFLOW_PORT="x"), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "ONRAMP_AIRFLOW_PORT='x' is not a whole number" in bad.stderr
    assert "Traceback" not in bad.stderr
