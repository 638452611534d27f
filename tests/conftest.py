"""Shared fixtures: real PostgreSQL databases and Redis key prefixes that each test owns and cleans up."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from onramp.settings import Settings, get_settings, with_database

REPO = Path(__file__).resolve().parents[1]

# Airflow reads these at import time; tests must never touch a user's Airflow home.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".onramp" / "test-airflow-home"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def pg_admin_url(settings: Settings) -> str:
    """The configured server (started by `make test` through `onramp services up`)."""
    from onramp.local.services import probe_postgres

    problem = probe_postgres(settings.pg_url)
    if problem:
        pytest.fail(f"no PostgreSQL at {settings.pg_url} ({problem}); run `make services` first")
    return settings.pg_url


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", (name,))
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def make_database(pg_admin_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: a fresh database named onramp_test_<purpose>_<hex>, dropped after the test; returns its URL."""
    created: list[str] = []

    def make(purpose: str = "db") -> str:
        name = f"onramp_test_{purpose}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(pg_admin_url, name)

    yield make
    for name in created:
        drop_database(pg_admin_url, name)


@pytest.fixture
def redis_prefix(settings: Settings) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"onramp-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
