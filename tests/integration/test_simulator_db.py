"""The simulator against a real PostgreSQL: schema, counts, determinism, idempotent reruns, live mode."""

from __future__ import annotations

import _thread
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from onramp import migrations
from onramp.local.simulator import FileSink, make_sink, run_live, simulate_batch
from onramp.local.simulator.batch import APP_TABLES
from onramp.local.simulator.personas import SIM_EPOCH
from onramp.settings import get_settings, with_database

pytestmark = pytest.mark.integration

USERS = 2_000
SEED = 7


@pytest.fixture(scope="module")
def database_factory() -> Iterator:
    """Create throwaway databases (never app/warehouse/airflow) and drop them all afterwards."""
    server = get_settings().pg_url
    created: list[str] = []

    def create() -> str:
        name = f"onramp_test_sim_{secrets.token_hex(4)}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        created.append(name)
        url = with_database(server, name)
        migrations.migrate(url, "app")
        return url

    yield create
    with psycopg.connect(server, autocommit=True) as conn:
        for name in created:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def simulated(database_factory) -> tuple[str, dict[str, int]]:
    url = database_factory()
    return url, simulate_batch(url, users=USERS, seed=SEED, progress=False, chunk_size=700)


def checksums(url: str) -> dict[str, str]:
    """md5 over every row of every simulated table, in key order."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in (*APP_TABLES, "onboarding_steps"):
            out[table] = conn.execute(
                f"select md5(string_agg(t::text, ',' order by id)) from app.{table} t").fetchone()[0]
        out["user_personas"] = conn.execute(
            "select md5(string_agg(t::text, ',' order by user_id)) from sim_truth.user_personas t").fetchone()[0]
    return out


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {t: conn.execute(f"select count(*) from app.{t}").fetchone()[0]
                  for t in (*APP_TABLES, "onboarding_steps")}
        counts["user_personas"] = conn.execute("select count(*) from sim_truth.user_personas").fetchone()[0]
    return counts


def test_small_simulation_fills_every_table_with_keys_and_indexes(simulated) -> None:
    url, counts = simulated
    assert counts == table_counts(url)
    assert counts["users"] == counts["user_personas"] == counts["workspace_members"] == USERS
    assert counts["onboarding_steps"] == 8
    assert counts["subscriptions"] > USERS and counts["user_onboarding_progress"] > 2 * USERS
    assert counts["feature_usage"] > USERS and 0 < counts["workspaces"] < USERS and counts["invitations"] > 0
    with psycopg.connect(url) as conn:
        no_pk = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname in ('app', 'sim_truth') and c.relkind = 'r' and not exists"
            " (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')").fetchall()
        assert no_pk == []
        constraints = dict(conn.execute(
            "select contype, count(*) from pg_constraint where connamespace = 'app'::regnamespace"
            " group by 1").fetchall())
        assert constraints["p"] == 8 and constraints["f"] == 12 and constraints["u"] == 6
        assert conn.execute("select count(*) from pg_indexes where schemaname = 'app'").fetchone()[0] >= 20
        # identities continue after the loaded ids, so the application (and --live) can insert
        next_id = conn.execute("select nextval(pg_get_serial_sequence('app.users', 'id'))").fetchone()[0]
        assert next_id == USERS + 1
        newest = conn.execute("select max(updated_at) from app.users").fetchone()[0]
        assert newest <= SIM_EPOCH


def test_same_seed_gives_identical_rows_in_another_database_and_chunk_size(simulated, database_factory) -> None:
    url, _ = simulated
    other = database_factory()
    simulate_batch(other, users=USERS, seed=SEED, progress=False, chunk_size=USERS)
    assert checksums(other) == checksums(url)
    different = database_factory()
    simulate_batch(different, users=USERS, seed=SEED + 1, progress=False)
    assert checksums(different)["users"] != checksums(url)["users"]


def test_live_mode_writes_events_and_changes_the_database(simulated, tmp_path: Path) -> None:
    url, _ = simulated
    before = checksums(url)
    path = tmp_path / "events.jsonl"
    counts = run_live(url, seed=SEED, rate=5_000, duration_s=None, max_events=400, sink=make_sink(f"file:{path}"))
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert counts["events"] == len(events) == 400
    assert len({e["messageId"] for e in events}) == 400
    assert {e["type"] for e in events} == {"track", "identify", "page"}
    names = {e["event"] for e in events if e["type"] == "track"}
    assert {"signup_started", "form_filled", "signup_completed", "feature_used",
            "onboarding_step_completed"} <= names
    for e in events:
        assert e["timestamp"].endswith("Z") and ("userId" in e or "anonymousId" in e)
        assert {"ip", "userAgent", "locale", "page"} <= set(e["context"])
    assert any("campaign" in e["context"] for e in events)

    with psycopg.connect(url) as conn:
        user_ids = {r[0] for r in conn.execute("select id from app.users")}
        live_users = {int(e["userId"]) for e in events if e["type"] == "identify" and "createdAt" in e["traits"]}
        assert live_users and min(live_users) > USERS
        signup_users = conn.execute("select count(*) from app.users where id > %s", (USERS,)).fetchone()[0]
        assert signup_users == counts["signups"] - len(live_users - user_ids)
        updated = conn.execute("select count(*) from app.users where id <= %s and updated_at > %s",
                               (USERS, SIM_EPOCH)).fetchone()[0]
        assert updated > 0
        deleted = USERS - conn.execute("select count(*) from app.users where id <= %s", (USERS,)).fetchone()[0]
        assert deleted == counts["deletions"] - len(live_users - user_ids) > 0
        # events name users the database has, except users deleted later in the run
        named = {int(e["userId"]) for e in events if "userId" in e}
        assert len(named - user_ids) <= counts["deletions"] and len(named) > 50
        run = conn.execute("select run_no, counts from sim_truth.live_runs order by run_no desc limit 1").fetchone()
        assert run[1]["events"] == 400
    assert checksums(url) != before

    # a second run has a new run number, hence fresh messageIds the collector will not deduplicate
    second = tmp_path / "second.jsonl"
    run_live(url, seed=SEED, rate=5_000, duration_s=None, max_events=20, sink=FileSink(second))
    second_ids = {json.loads(line)["messageId"] for line in second.read_text().splitlines()}
    assert len(second_ids) == 20 and not second_ids & {e["messageId"] for e in events}


def test_ctrl_c_stops_live_mode_cleanly(simulated, tmp_path: Path) -> None:
    url, _ = simulated
    path = tmp_path / "interrupted.jsonl"
    timer = threading.Timer(0.6, _thread.interrupt_main)
    timer.start()
    try:
        counts = run_live(url, seed=SEED, rate=200, duration_s=None, max_events=None, sink=FileSink(path))
    finally:
        timer.cancel()
    lines = path.read_text().splitlines()
    assert 0 < counts["events"] == len(lines)
    assert all(json.loads(line)["messageId"] for line in lines)  # no torn last line
    with psycopg.connect(url) as conn:
        assert conn.execute("select (counts->>'interrupted')::boolean from sim_truth.live_runs"
                            " order by run_no desc limit 1").fetchone()[0] is True


def test_duration_bounds_live_mode(simulated, tmp_path: Path) -> None:
    url, _ = simulated
    counts = run_live(url, seed=SEED, rate=50, duration_s=0.5, max_events=None, sink=FileSink(tmp_path / "d.jsonl"))
    assert 15 <= counts["events"] <= 30


def test_rerun_truncates_and_rebuilds_identically(database_factory, tmp_path: Path) -> None:
    url = database_factory()
    first = simulate_batch(url, users=USERS, seed=SEED, progress=False)
    seeded = checksums(url)
    run_live(url, seed=SEED, rate=5_000, duration_s=None, max_events=100, sink=FileSink(tmp_path / "e.jsonl"))
    assert checksums(url) != seeded
    again = simulate_batch(url, users=USERS, seed=SEED, progress=False)
    assert again == first == table_counts(url)
    assert checksums(url) == seeded
    with psycopg.connect(url) as conn:
        assert conn.execute("select nextval(pg_get_serial_sequence('app.subscriptions', 'id'))").fetchone()[0] \
            == first["subscriptions"] + 1


def test_history_refuses_an_app_database_built_otherwise(simulated) -> None:
    from onramp.local.simulator.history_send import HistoryError, check_app_database

    url, _ = simulated
    check_app_database(url, USERS, SEED)  # built with these: the history agrees with it
    for users, seed in ((USERS, SEED + 1), (USERS + 1, SEED), (USERS * 2, SEED)):
        with pytest.raises(HistoryError, match=f"--users {users} --seed {seed}"):
            check_app_database(url, users, seed)
