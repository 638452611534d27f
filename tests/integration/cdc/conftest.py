"""CDC fixtures: a source database on the logical-decoding app server, a migrated warehouse, a private lake.

Every test gets its own databases and a source name of its own (slot names are server-wide), and
drops its slots before its databases. Nothing here touches the app, warehouse or airflow databases.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from onramp.cdc.config import TableConfig, load_config
from onramp.cdc.cycle import Context, Manifest, run_table
from onramp.migrations import migrate
from onramp.settings import with_database

REPO = Path(__file__).resolve().parents[3]


def drop_source_database(admin_url: str, name: str) -> None:
    """Drop a test source database, its replication slots first (a slot keeps a database alive)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(50):
            rows = conn.execute("select slot_name, active_pid from pg_replication_slots where database = %s", (name,)).fetchall()
            if not rows:
                break
            for slot, pid in rows:
                if pid:
                    conn.execute("select pg_terminate_backend(%s)", (pid,))
                else:
                    conn.execute("select pg_drop_replication_slot(%s) from pg_replication_slots"
                                 " where slot_name = %s and active_pid is null", (slot, slot))
            conn.execute("select pg_sleep(0.1)")
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", (name,))
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def app_admin_url(settings) -> str:
    from onramp.local.services import probe_postgres, wal_level

    problem = probe_postgres(settings.app_pg_url)
    if problem:
        pytest.fail(f"no app PostgreSQL at {settings.app_pg_url} ({problem}); run `onramp services up` first")
    if wal_level(settings.app_pg_url) != "logical":
        pytest.fail(f"the app server {settings.app_pg_url} does not run wal_level=logical; CDC tests need it")
    return settings.app_pg_url


@pytest.fixture
def source_db(app_admin_url) -> Iterator[str]:
    """A database of this test's own on the app server (wal_level=logical)."""
    name = f"onramp_test_cdcsrc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(app_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield with_database(app_admin_url, name)
    drop_source_database(app_admin_url, name)


@pytest.fixture
def warehouse_db(make_database) -> str:
    url = make_database("cdcwh")
    migrate(url, "warehouse")
    return url


class Cdc:
    """A CDC set-up of the test's own: config file, databases and lake, with helpers to run and compare."""

    def __init__(self, tmp_path: Path, source_url: str, warehouse_url: str):
        self.tmp = tmp_path
        self.source_url = source_url
        self.warehouse_url = warehouse_url
        self.lake = tmp_path / "lake"
        self.source = f"t{uuid.uuid4().hex[:6]}"
        self.config_file = tmp_path / "cdc_sources.yaml"
        self.runs = 0

    def declare(self, tables: dict, **source_settings) -> None:
        data = {"version": 1, "sources": {self.source: {"conn_id": "cdc_test_source", **source_settings, "tables": tables}}}
        self.config_file.write_text(yaml.safe_dump(data))
        self.config = load_config(self.config_file)

    def table(self, ref: str) -> TableConfig:
        return self.config.find(ref)

    def context(self, ref: str, run_id: str | None = None) -> Context:
        self.runs += 1
        return Context(self.config, self.table(ref), self.source_url, self.warehouse_url, self.lake,
                       run_id or f"test__{self.runs}")

    def run(self, ref: str, **kwargs) -> dict:
        """One cycle; its result as the DAG and ``onramp cdc run --json`` hand it on (a plain dict)."""
        return run_table(self.context(ref), **kwargs).to_dict()

    def source_sql(self, statement: str, params=None) -> list:
        with psycopg.connect(self.source_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def warehouse_sql(self, statement: str, params=None) -> list:
        with psycopg.connect(self.warehouse_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def _fork(self, work, crash_at: str | None, timeout: float = 120) -> int:
        """Run ``work`` in a forked child (imports already warm) that may SIGKILL itself at ``crash_at``.

        Returns the exit code (-9: killed at the point); a child that fails otherwise raises here with its error.
        """
        errors = self.tmp / f"child-{uuid.uuid4().hex[:6]}.err"

        def child() -> None:
            if crash_at:
                os.environ["ONRAMP_CDC_CRASH_AT"] = crash_at
            try:
                work()
            except BaseException:
                errors.write_text(traceback.format_exc())
                os._exit(1)
            os._exit(0)

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            raise AssertionError(f"the CDC child did not finish within {timeout}s")
        if process.exitcode == 1 and errors.exists():
            raise AssertionError(f"the CDC child failed instead of being killed at {crash_at}:\n{errors.read_text()}")
        return process.exitcode

    def forked_run(self, ref: str, crash_at: str | None = None, resnapshot: bool = False) -> int:
        """One whole cycle in a forked child; returns its exit code (-9: SIGKILLed at ``crash_at``)."""
        context = self.context(ref)
        return self._fork(lambda: run_table(context, resnapshot=resnapshot), crash_at)

    def forked_run_apply(self, context: Context, manifest: Manifest, crash_at: str) -> int:
        """Only the apply step, in a forked child that kills itself at ``crash_at``; returns its exit code."""
        from onramp.cdc.cycle import apply

        return self._fork(lambda: apply(context, manifest), crash_at)

    def subprocess_run(self, ref: str, crash_at: str | None = None, timeout: float = 120, resnapshot: bool = False):
        """One cycle in a child process (the crash tests SIGKILL it at an injected point)."""
        env = dict(os.environ, ONRAMP_CDC_CONFIG=str(self.config_file), ONRAMP_LAKE_DIR=str(self.lake))
        env.pop("ONRAMP_CDC_CRASH_AT", None)
        if crash_at:
            env["ONRAMP_CDC_CRASH_AT"] = crash_at
        self.runs += 1
        args = [sys.executable, "-m", "onramp.cdc.cli", "run", "--table", ref, "--source-url", self.source_url,
                "--warehouse-url", self.warehouse_url, "--run-id", f"test__{self.runs}", "--json"]
        if resnapshot:
            args.append("--resnapshot")
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))


def checksum(url: str, qualified: str, columns: list[str], key: list[str]) -> tuple[int, str]:
    """(rows, md5 over every row's text form in key order): equal on source and staging means equal data."""
    row = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(f'"{k}"' for k in key)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set timezone = 'UTC'")
        conn.execute("set extra_float_digits = 1")
        return conn.execute(
            f"select count(*), coalesce(md5(string_agg(md5(row({row})::text), '' order by {order})), '')"
            f" from {qualified}"
        ).fetchone()


@pytest.fixture(scope="session")
def warm_gx() -> None:
    """Import GX once (it takes seconds), so forked children and later gates do not pay for it again."""
    from onramp.quality import gx_context

    gx_context()


@pytest.fixture
def cdc(tmp_path, source_db, warehouse_db) -> Cdc:
    return Cdc(tmp_path, source_db, warehouse_db)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)


@pytest.fixture(scope="session")
def replica_server(tmp_path_factory) -> Iterator[str]:
    """A private PostgreSQL (installed embedded binaries) with wal_level=replica: log-based CDC is impossible there.

    Private, because the xmin window stops at the oldest transaction still running on the whole server:
    on a shared server another session's long transaction would only delay captures (never lose them),
    but would make these tests' "equal right after the run" checks wait for it.
    """
    from onramp.local.services import EmbeddedPostgres
    from tests.conftest import free_port

    server = EmbeddedPostgres(tmp_path_factory.mktemp("replica-pg"), "127.0.0.1", free_port())
    server.start()
    url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("alter system set wal_level = 'replica'")
        server.stop()
        server.start()
        yield url
    finally:
        server.stop()


@pytest.fixture
def cdc_no_logical(tmp_path, replica_server, warehouse_db) -> Cdc:
    """A source whose server cannot do logical decoding (the fallback mode's home)."""
    name = f"onramp_test_cdcsrc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(replica_server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield Cdc(tmp_path, with_database(replica_server, name), warehouse_db)
    with psycopg.connect(replica_server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
