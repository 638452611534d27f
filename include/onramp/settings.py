"""Onramp settings: every knob is an ``ONRAMP_*`` environment variable with a documented default.

Values come from, in order: the process environment, then ``.env`` at the project root (never
committed; see ``.env.example``), then the defaults below. Nothing here opens a connection, so the
module is safe to import at DAG parse time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_home() -> str:
    return str(PROJECT_ROOT / ".onramp")


@dataclass(frozen=True)
class Settings:
    """What Onramp is pointed at; build with :func:`get_settings`."""

    home: str = field(default_factory=_default_home, metadata={"doc": "state folder: embedded servers, Airflow home, logs, lake"})
    pg_url: str = field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        metadata={"doc": "PostgreSQL server for the app, warehouse and airflow databases; a server started here if none answers"},
    )
    app_pg_url: str = field(
        default="postgresql://postgres@127.0.0.1:55432/postgres",
        metadata={"doc": "PostgreSQL server of the source application (CDC reads it; needs wal_level=logical for log-based CDC); "
                         "a server with logical decoding is started here if none answers"},
    )
    app_db: str = field(default="app", metadata={"doc": "database of the simulated source application"})
    warehouse_db: str = field(default="warehouse", metadata={"doc": "warehouse database (schemas raw, staging, marts, features, segments, ops)"})
    airflow_db: str = field(default="airflow", metadata={"doc": "Airflow metadata database"})
    redis_url: str = field(default="redis://127.0.0.1:6379/0", metadata={"doc": "Redis for event streams; a redis-server started here (AOF on) if none answers"})
    redis_prefix: str = field(default="onramp:", metadata={"doc": "prefix of every Redis key Onramp writes"})
    lake_dir: str = field(default="", metadata={"doc": "root of the Parquet lake (default: <home>/lake)"})
    embedded: str = field(default="auto", metadata={"doc": "auto: start embedded servers only when none answers; never: fail instead"})
    airflow_host: str = field(default="127.0.0.1", metadata={"doc": "address the Airflow API server / UI listens on"})
    airflow_port: int = field(default=8080, metadata={"doc": "port of the Airflow API server / UI"})
    airflow_parallelism: int = field(default=4, metadata={"doc": "LocalExecutor worker count (bounded for a 2-core machine)"})
    sim_users: int = field(default=20_000, metadata={"doc": "users the demo simulates"})
    sim_seed: int = field(default=42, metadata={"doc": "simulator seed (same seed, same data)"})
    sim_live_events: int = field(
        default=5_000, metadata={"doc": "live changes + events the demo sends through the collector with the Segment SDK"})
    # --- CDC (docs/cdc.md)
    cdc_config: str = field(default="", metadata={"doc": "CDC sources file (default: config/cdc_sources.yaml)"})
    cdc_schedule: str = field(default="*/15 * * * *", metadata={"doc": "cron of the cdc_app_db DAG; 'none' for trigger-only"})
    cdc_pool: str = field(default="default_pool", metadata={"doc": "Airflow pool of the CDC tasks"})
    # --- event collection and the stream path (docs/events.md)
    collector_host: str = field(default="127.0.0.1", metadata={"doc": "address the collector listens on"})
    collector_port: int = field(default=8090, metadata={"doc": "port of the collector (Segment HTTP Tracking API)"})
    collector_workers: int = field(default=1, metadata={"doc": "collector worker processes"})
    collector_write_keys: str = field(
        default="", metadata={"doc": "accepted write keys, key=source,key2=source2 (secret; unset: only the public demo key)"})
    collector_write_keys_file: str = field(
        default="", metadata={"doc": "YAML mapping {write_key: source} or {write_key: {source, allowed_origins}} read at start"})
    collector_allowed_origins: str = field(
        default="", metadata={"doc": "page origins whose browser calls are accepted for keys that list none of their own "
                                     "(comma-separated, e.g. https://app.example.com,https://*.example.com; * = any); "
                                     "unset: none (the demo key accepts any)"})
    collector_unknown_events: str = field(
        default="dead_letter", metadata={"doc": "events not in the tracking plan: dead_letter, or accept (flagged unplanned)"})
    collector_geo_db: str = field(
        default="", metadata={"doc": "MaxMind/GeoLite2 City .mmdb for IP geolocation (default: the DB-IP lite file from PyPI)"})
    collector_trust_forwarded_for: bool = field(default=False, metadata={"doc": "take the client IP from X-Forwarded-For (behind a proxy)"})
    collector_rate_limit: int = field(default=0, metadata={"doc": "events/s per write key and worker; 0 = no limit"})
    collector_max_backlog: int = field(
        default=2_000_000, metadata={"doc": "stream entries waiting for the loader before the collector answers 429"})
    stream_batch_events: int = field(default=50_000, metadata={"doc": "stream loader micro-batch: at most this many events"})
    stream_batch_seconds: float = field(default=5.0, metadata={"doc": "stream loader micro-batch: at most this many seconds"})
    stream_claim_idle_seconds: float = field(
        default=60.0, metadata={"doc": "pending stream entries idle this long are reclaimed from a crashed consumer"})
    stream_consumer: str = field(default="", metadata={"doc": "consumer name in the loader group (default: loader-<hostname>)"})
    stream_fallback_cron: str = field(
        default="*/10 * * * *", metadata={"doc": "events_stream_load runs on this cron too, in case a stream wake-up is missed"})
    tracking_plan_dir: str = field(default="", metadata={"doc": "tracking plan folder (default: tracking_plan/)"})
    # --- the example onboarding page (examples/web/), on its own origin
    web_host: str = field(default="127.0.0.1", metadata={"doc": "address the example onboarding page is served on"})
    web_port: int = field(default=8091, metadata={"doc": "port of the example onboarding page (another origin than the collector)"})
    web_write_key: str = field(
        default="", metadata={"doc": "write key the example page sends with (default: the demo key, when it is the only one)"})
    web_collector_url: str = field(
        default="", metadata={"doc": "collector URL as the browser reaches it (default: http://<collector host>:<port>)"})

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def lake_path(self) -> Path:
        return Path(self.lake_dir) if self.lake_dir else self.home_path / "lake"

    def db_url(self, database: str) -> str:
        """URL of ``database`` on the configured PostgreSQL server."""
        return with_database(self.pg_url, database)

    @property
    def app_db_url(self) -> str:
        return with_database(self.app_pg_url, self.app_db)

    @property
    def warehouse_url(self) -> str:
        return self.db_url(self.warehouse_db)

    @property
    def airflow_db_url(self) -> str:
        return self.db_url(self.airflow_db)


def with_database(url: str, database: str) -> str:
    """Same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def redact(url: str) -> str:
    """URL safe to print: the password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a dotenv file; comments and blank lines skipped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


class SettingsError(ValueError):
    """A setting has a value Onramp cannot use."""


def load_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Settings from ``environ`` (default: ``os.environ``) over ``env_file`` over defaults."""
    env = read_env_file(env_file if env_file is not None else PROJECT_ROOT / ".env")
    env.update(os.environ if environ is None else environ)
    kwargs: dict[str, object] = {}
    for f in fields(Settings):
        key = f"ONRAMP_{f.name.upper()}"
        if key not in env or env[key] == "":
            continue
        value = env[key]
        if f.type == "int":
            try:
                kwargs[f.name] = int(value)
            except ValueError:
                raise SettingsError(f"{key}={value!r} is not a whole number; set it to one, e.g. {key}={f.default}") from None
        elif f.type == "float":
            try:
                kwargs[f.name] = float(value)
            except ValueError:
                raise SettingsError(f"{key}={value!r} is not a number; set it to one, e.g. {key}={f.default}") from None
        elif f.type == "bool":
            if value.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise SettingsError(f"{key}={value!r} is not true or false; set {key}=true or {key}=false")
            kwargs[f.name] = value.lower() in ("1", "true", "yes", "on")
        else:
            kwargs[f.name] = value
    settings = Settings(**kwargs)
    for key, url, schemes in (
        ("ONRAMP_PG_URL", settings.pg_url, ("postgresql", "postgres")),
        ("ONRAMP_APP_PG_URL", settings.app_pg_url, ("postgresql", "postgres")),
        ("ONRAMP_REDIS_URL", settings.redis_url, ("redis",)),
    ):
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            raise SettingsError(
                f"{key}={redact(url)!r} is not a {schemes[0]}:// URL with a host; "
                f"set it like {schemes[0]}://user@127.0.0.1:{5432 if schemes[0] != 'redis' else 6379}"
            )
    if settings.embedded not in ("auto", "never"):
        raise SettingsError(f"ONRAMP_EMBEDDED={settings.embedded!r} must be 'auto' or 'never'")
    if settings.collector_unknown_events not in ("dead_letter", "accept"):
        raise SettingsError(
            f"ONRAMP_COLLECTOR_UNKNOWN_EVENTS={settings.collector_unknown_events!r} must be 'dead_letter' or 'accept'")
    for name in ("collector_port", "collector_workers", "stream_batch_events", "web_port"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"ONRAMP_{name.upper()}={getattr(settings, name)} must be at least 1")
    return settings


@cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()


def documented_settings() -> list[tuple[str, str, str]]:
    """(env var, default, meaning) for every setting: feeds README and ``onramp config``."""
    rows = []
    for f in fields(Settings):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        rows.append((f"ONRAMP_{f.name.upper()}", str(default), f.metadata.get("doc", "")))
    return rows
