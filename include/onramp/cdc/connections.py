"""Turn a source's Airflow connection id into a database URL, inside Airflow or outside it (CLI, tests)."""

from __future__ import annotations

import json
import os
from urllib.parse import quote, urlencode

from onramp.cdc.errors import ConfigError
from onramp.settings import get_settings


def _url(host: str | None, port: int | None, login: str | None, password: str | None, schema: str | None,
         extra: dict | None = None) -> str:
    auth = ""
    if login:
        auth = quote(login, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
    query = {k: v for k, v in (extra or {}).items() if k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options")}
    suffix = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{auth}{host or '127.0.0.1'}:{port or 5432}/{schema or 'postgres'}{suffix}"


def normalize(uri: str) -> str:
    """Airflow writes ``postgres://``; libpq, psycopg and ADBC all take ``postgresql://``."""
    return "postgresql://" + uri.split("://", 1)[1] if uri.startswith("postgres://") else uri


def url_for(conn_id: str) -> str:
    """URL of ``conn_id`` without Airflow: ``AIRFLOW_CONN_<ID>`` if set, else Onramp's settings for its own ids."""
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if value:
        if value.lstrip().startswith("{"):
            data = json.loads(value)
            return _url(data.get("host"), data.get("port"), data.get("login"), data.get("password"),
                        data.get("schema"), data.get("extra"))
        return normalize(value)
    settings = get_settings()
    known = {"onramp_app_db": settings.app_db_url, "onramp_warehouse": settings.warehouse_url}
    if conn_id in known:
        return known[conn_id]
    raise ConfigError(f"connection {conn_id!r} is not defined here: set AIRFLOW_CONN_{conn_id.upper()}="
                      "postgresql://user:password@host:5432/database (or define it in Airflow)")


def airflow_url_for(conn_id: str) -> str:
    """URL of ``conn_id`` from Airflow's connections (call inside a task only)."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    extra = conn.extra_dejson if conn.extra else {}
    return _url(conn.host, conn.port, conn.login, conn.password, conn.schema, extra)
