"""The README's main job, small: real services, real Airflow processes, a real scheduler run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from onramp.settings import load_settings
from tests.conftest import drop_database, free_port

pytestmark = pytest.mark.e2e
ONRAMP = str(Path(sys.executable).with_name("onramp"))


def _our_processes(home: Path) -> list[str]:
    """Processes whose command line or environment mentions this test's state folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(home).encode() in environ or str(home) in cmdline:
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


@pytest.fixture
def demo_env(tmp_path, pg_admin_url, settings):
    tag = uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ONRAMP_") or k in ("ONRAMP_PG_URL", "ONRAMP_REDIS_URL")}
    env = dict(
        inherited,
        ONRAMP_HOME=str(home),
        ONRAMP_APP_PG_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",  # embedded, logical
        ONRAMP_APP_DB=f"onramp_e2e_{tag}_app",
        ONRAMP_WAREHOUSE_DB=f"onramp_e2e_{tag}_warehouse",
        ONRAMP_AIRFLOW_DB=f"onramp_e2e_{tag}_airflow",
        ONRAMP_REDIS_PREFIX=f"onramp-e2e-{tag}:",
        ONRAMP_AIRFLOW_PORT=str(free_port()),
        ONRAMP_COLLECTOR_PORT=str(free_port()),
        ONRAMP_WEB_PORT=str(free_port()),
        ONRAMP_SIM_USERS="500",
        ONRAMP_SIM_LIVE_EVENTS="300",
        ONRAMP_CDC_SCHEDULE="none",  # only the demo's own runs, so the counts below are the demo's
        ONRAMP_STREAM_FALLBACK_CRON="0 0 1 1 *",
    )
    yield env, home
    subprocess.run([ONRAMP, "down"], env=env, capture_output=True, timeout=120)
    for key in ("ONRAMP_WAREHOUSE_DB", "ONRAMP_AIRFLOW_DB"):
        drop_database(pg_admin_url, env[key])
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(match=f"{env['ONRAMP_REDIS_PREFIX']}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_demo_runs_one_cycle_through_the_scheduler_and_down_leaves_nothing(demo_env):
    env, home = demo_env
    result = subprocess.run([ONRAMP, "demo"], env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "demo succeeded" in output
    assert "dag platform_smoke" in output and "ops.platform_checks" in output

    settings = load_settings({k: v for k, v in env.items() if k.startswith("ONRAMP_")})
    with psycopg.connect(settings.warehouse_url) as conn:
        checks = dict(conn.execute("select check_name, ok from ops.platform_checks").fetchall())
    assert checks == {"app_db": True, "warehouse": True, "redis": True, "lake": True}
    with psycopg.connect(settings.app_db_url) as conn:
        app_users = conn.execute("select count(*) from app.users").fetchone()[0]
        signups = conn.execute("select count(*) from app.users where id > 500").fetchone()[0]
    assert app_users >= 500 - 300 and signups > 0, "the live simulation signs users up (and deletes some)"
    with psycopg.connect(settings.warehouse_url) as conn:
        # CDC: the warehouse holds the source's users, live sign-ups and deletions included.
        assert conn.execute("select count(*) from staging.users").fetchone()[0] == app_users
        # Events: every event the SDK sent through the collector is in raw.events once, or a dead letter.
        loaded = conn.execute("select count(*), count(distinct message_id) from raw.events").fetchone()
        dead = conn.execute("select count(*) from ops.dead_letters").fetchone()[0]
    # ... the users' history first (ONRAMP_SIM_HISTORY_EVENTS_PER_USER, default 20), then the 300 live ones
    from onramp.local.simulator.history import history_events

    history = sum(1 for _ in history_events(settings.sim_seed, 500, events_per_user=settings.sim_history_events_per_user))
    assert loaded[0] == loaded[1] and loaded[0] + dead == history + 300, (loaded, dead, history)
    assert "history events" in output
    for dag_id in ("platform_smoke", "cdc_app_db", "events_stream_load", "warehouse_marts"):
        assert f"dag {dag_id}" in output
    # Marts: built by dbt, gated, published; the funnel agrees with staging, the summary shows its last 7 days.
    with psycopg.connect(settings.warehouse_url) as conn:
        assert conn.execute("select count(*) from marts.dim_users").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.fct_onboarding_events").fetchone()[0] == loaded[0]
        assert conn.execute("select count(*) from features.user_features").fetchone()[0] > 0
        funnel = conn.execute("select coalesce(sum(entered), 0) from marts.onboarding_funnel").fetchone()[0]
        by_hand = conn.execute("select count(*) from staging.user_onboarding_progress p"
                               " join staging.users u on u.id = p.user_id").fetchone()[0]
        published = conn.execute("select count(distinct model) from ops.mart_publications").fetchone()[0]
    assert funnel == by_hand and published == 5
    assert "Onboarding funnel, last 7 days" in output

    # The UI answers, and the login the demo printed works.
    ui = httpx.get(f"http://127.0.0.1:{env['ONRAMP_AIRFLOW_PORT']}/", timeout=10, follow_redirects=True)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    password = next(line for line in output.splitlines() if "login admin /" in line).split("/")[-1].strip(" )")
    token = httpx.post(f"http://127.0.0.1:{env['ONRAMP_AIRFLOW_PORT']}/auth/token",
                       json={"username": "admin", "password": password}, timeout=10)
    assert token.status_code == 201, token.text

    # The example page is served on its own origin and points at the demo's collector.
    page = f"http://127.0.0.1:{env['ONRAMP_WEB_PORT']}"
    assert f"Web page:    {page}" in output
    config = httpx.get(f"{page}/config.js", timeout=10).text
    assert f"http://127.0.0.1:{env['ONRAMP_COLLECTOR_PORT']}" in config and "onramp-demo-write-key" in config

    assert _our_processes(home), "Airflow should still be running after the demo, for the user to look around"
    down = subprocess.run([ONRAMP, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert _our_processes(home) == [], "`onramp down` must leave no process behind"
