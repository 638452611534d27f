"""The one place Onramp opens connections: PostgreSQL and Redis.

PostgreSQL has three doors, each for one kind of work:

* :func:`connect`: psycopg, for row work (state, dead letters, replays, quality results, migrations);
* :func:`connect_arrow`: ADBC, for bulk Arrow in and out (binary COPY into the warehouse, snapshot reads);
* :func:`connect_replication`: psycopg2's ``LogicalReplicationConnection``, only for the replication protocol
  (psycopg 3 has none).

Every session gets the same settings: UTC, ISO dates, the statement timeout of ``ONRAMP_PG_STATEMENT_TIMEOUT_S``,
and an ``application_name`` of ``onramp-<component>`` so ``pg_stat_activity`` shows who is who. A server that
does not answer, or refuses the login, becomes a :class:`DatabaseUnavailable` naming the (redacted) URL and
the fix, wherever it happens.

Static SQL lives in ``sql/<area>/<name>.sql``, read with :func:`sql`. A file uses one placeholder style: psycopg's
``%(name)s`` for files run through :func:`connect`, libpq's ``$1`` for files run through :func:`connect_arrow`
(ADBC); :func:`sql` refuses a file that mixes them.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from onramp.settings import PROJECT_ROOT, get_settings, redact

if TYPE_CHECKING:
    import psycopg
    import redis

SQL_DIR = PROJECT_ROOT / "sql"
# Session settings every reader relies on: timestamps in UTC, dates and intervals in one text form.
SESSION = {"TimeZone": "UTC", "DateStyle": "ISO,YMD", "IntervalStyle": "postgres", "bytea_output": "hex"}
CONNECT_TIMEOUT_S = 10
_NAMED = re.compile(r"%\(\w+\)s")
_POSITIONAL = re.compile(r"\$\d+")


class DatabaseUnavailable(RuntimeError):
    """A server did not answer or refused the login; the message names it and says what to do."""

    def __init__(self, url: str, reason: str, what: str = "PostgreSQL"):
        fix = ("start it with `onramp services up`, or fix ONRAMP_PG_URL / ONRAMP_APP_PG_URL"
               if what == "PostgreSQL" else "start it with `onramp services up`, or fix ONRAMP_REDIS_URL")
        super().__init__(f"cannot use {what} at {redact(url)} ({reason}); {fix}")
        self.url, self.reason = redact(url), reason


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error (drivers put the server's words there, details below)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def conninfo(url: str, component: str, *, statement_timeout_s: float | None = None,
             connect_timeout_s: int = CONNECT_TIMEOUT_S) -> str:
    """libpq connection string for ``url`` with Onramp's session settings (accepted by psycopg, ADBC, psycopg2)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, application_name=f"onramp-{component}"[:63], options=session_options(statement_timeout_s),
                         connect_timeout=connect_timeout_s)


def session_options(statement_timeout_s: float | None = None) -> str:
    """libpq ``options`` carrying :data:`SESSION` and the statement timeout (default: the setting)."""
    timeout = get_settings().pg_statement_timeout_s if statement_timeout_s is None else statement_timeout_s
    return " ".join(f"-c {k}={v}" for k, v in {**SESSION, "statement_timeout": int(timeout * 1000)}.items())


def sqlalchemy_url(url: str, component: str, *, statement_timeout_s: float | None = None) -> str:
    """A SQLAlchemy URL (psycopg2 driver) with Onramp's session settings, for libraries that take one (GX)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = urlencode({"application_name": f"onramp-{component}"[:63], "connect_timeout": CONNECT_TIMEOUT_S,
                       "options": session_options(statement_timeout_s)})
    query = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(("postgresql+psycopg2", parts.netloc, parts.path, query, ""))


def connect(url: str, component: str, *, autocommit: bool = False, statement_timeout_s: float | None = None,
            connect_timeout_s: int = CONNECT_TIMEOUT_S, **kwargs) -> psycopg.Connection:
    """A psycopg connection for row work (``kwargs``: psycopg's, e.g. ``row_factory``)."""
    import psycopg

    info = conninfo(url, component, statement_timeout_s=statement_timeout_s, connect_timeout_s=connect_timeout_s)
    try:
        return psycopg.connect(info, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(url, first_line(exc)) from None


def connect_arrow(url: str, component: str, *, autocommit: bool = False, statement_timeout_s: float | None = None):
    """An ADBC connection for bulk Arrow work (binary COPY in, Arrow record batches out)."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    try:
        return adbc.connect(conninfo(url, component, statement_timeout_s=statement_timeout_s), autocommit=autocommit)
    except adbc_driver_manager.OperationalError as exc:
        raise DatabaseUnavailable(url, first_line(exc)) from None


def connect_replication(url: str, component: str):
    """A psycopg2 ``LogicalReplicationConnection`` (the replication protocol, which psycopg 3 lacks)."""
    import psycopg2
    import psycopg2.extras

    try:
        return psycopg2.connect(conninfo(url, component, statement_timeout_s=0),
                                connection_factory=psycopg2.extras.LogicalReplicationConnection)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(url, first_line(exc)) from None


def redis_client(url: str, component: str, *, timeout_s: float = 30, connect_timeout_s: float = 5) -> redis.Redis:
    """A Redis client named ``onramp-<component>`` (``CLIENT LIST`` shows who is who)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=connect_timeout_s,
                                client_name=f"onramp-{component}")


def async_redis_client(url: str, component: str, *, timeout_s: float = 10, max_connections: int | None = None):
    """The asyncio flavour of :func:`redis_client` (the collector, the stream trigger)."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                   client_name=f"onramp-{component}", max_connections=max_connections)


@cache
def sql(area: str, name: str) -> str:
    """The statement in ``sql/<area>/<name>.sql``; one placeholder style per file."""
    path = SQL_DIR / area / f"{name}.sql"
    text = path.read_text()
    if _NAMED.search(text) and _POSITIONAL.search(text):
        raise ValueError(f"{path} mixes %(name)s and $N placeholders; use one style per file")
    return text
