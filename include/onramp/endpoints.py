"""Where each service is: the one resolver every DAG, command and service uses.

Onramp's own endpoints are its settings (``ONRAMP_PG_URL``, ``ONRAMP_APP_PG_URL``, ``ONRAMP_REDIS_URL``, the
database names). The Airflow connections its DAGs name (``onramp_app_db``, ``onramp_warehouse``,
``onramp_redis``) are derived from them (:func:`airflow_connections`), never configured beside them: the local
runtime puts them in every Airflow process's environment, the compose image's entrypoint derives them at start
(``python -m onramp.endpoints --export``).

A CDC source of another application names its own connection id in ``config/cdc_sources.yaml``; it resolves
from ``AIRFLOW_CONN_<ID>`` (a URI or Airflow's JSON form, the variable Airflow reads too), or, inside an
Airflow task, from Airflow's connection store (the boundary passes that lookup in).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from onramp.settings import Settings, get_settings

# connection id -> the setting-derived URL it stands for
ONRAMP_CONNECTIONS: dict[str, Callable[[Settings], str]] = {
    "onramp_app_db": lambda s: s.app_db_url,
    "onramp_warehouse": lambda s: s.warehouse_url,
    "onramp_redis": lambda s: s.redis_url,
}
_PG_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "options", "application_name")


class EndpointError(RuntimeError):
    """A connection id resolves to nothing; the message says how to define it."""


def connection_url(host: str | None, port: int | None, login: str | None, password: str | None, schema: str | None,
                   extra: dict | None = None) -> str:
    """A PostgreSQL URL from the parts of an Airflow connection."""
    auth = ""
    if login:
        auth = quote(login, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
    query = {k: v for k, v in (extra or {}).items() if k in _PG_EXTRAS}
    suffix = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{auth}{host or '127.0.0.1'}:{port or 5432}/{schema or 'postgres'}{suffix}"


def _normalize(uri: str) -> str:
    """Airflow writes ``postgres://``; libpq, psycopg and ADBC all take ``postgresql://``."""
    return "postgresql://" + uri.split("://", 1)[1] if uri.startswith("postgres://") else uri


def _from_environment(conn_id: str) -> str | None:
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not value:
        return None
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        return connection_url(data.get("host"), data.get("port"), data.get("login"), data.get("password"), data.get("schema"),
                    data.get("extra"))
    return _normalize(value)


def url_for(conn_id: str, settings: Settings | None = None, *,
            airflow_lookup: Callable[[str], str | None] | None = None) -> str:
    """The URL (credentials included) behind a connection id: Onramp's own from the settings, others from
    ``AIRFLOW_CONN_<ID>``, then from ``airflow_lookup`` (Airflow's store, inside a task)."""
    if conn_id in ONRAMP_CONNECTIONS:
        return ONRAMP_CONNECTIONS[conn_id](settings or get_settings())
    url = _from_environment(conn_id)
    if url is None and airflow_lookup is not None:
        url = airflow_lookup(conn_id)
    if url is None:
        raise EndpointError(f"connection {conn_id!r} is not defined here: set AIRFLOW_CONN_{conn_id.upper()}="
                            "postgresql://user:password@host:5432/database (or define it in Airflow)")
    return url


def airflow_uri(url: str, conn_id: str = "") -> str:
    """The Airflow connection URI of a service URL. A PostgreSQL one (``postgres://`` for the provider) carries
    Onramp's session settings as extras, so sessions opened by Airflow's own operators match :mod:`onramp.db`'s."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    from onramp.db import session_options

    query = dict(parse_qsl(parts.query))
    query.setdefault("application_name", f"onramp-airflow-{conn_id}".rstrip("-")[:63])
    query.setdefault("options", session_options())
    return f"postgres://{parts.netloc}{parts.path}?{urlencode(query)}"


def airflow_connections(settings: Settings | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for Onramp's own connection ids, derived from the settings."""
    settings = settings or get_settings()
    return {f"AIRFLOW_CONN_{conn_id.upper()}": airflow_uri(resolve(settings), conn_id)
            for conn_id, resolve in ONRAMP_CONNECTIONS.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m onramp.endpoints --export``: shell ``export`` lines of the derived Airflow connections."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--export"]:
        print("usage: python -m onramp.endpoints --export", file=sys.stderr)
        return 2
    for key, value in airflow_connections().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
