"""Onramp settings: every knob is an ``ONRAMP_*`` environment variable with a documented default.

Values come from, in order: the process environment, then ``.env`` at the project root (never
committed; see ``.env.example``), then the defaults below (pydantic-settings reads and types them).
A bad value stops the command with every problem listed at once, each naming the variable and a
value that would work. Nothing here opens a connection, so the module is safe to import at DAG
parse time.

These settings are the one source of every endpoint: Airflow connections are derived from them
(:mod:`onramp.endpoints`), never configured beside them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "ONRAMP_"
# (environment, .env file) for one load_settings() call; unset: the process environment and the repo's .env
_SOURCES: ContextVar[tuple[Mapping[str, str], Path] | None] = ContextVar("onramp_settings_sources", default=None)


class SettingsError(ValueError):
    """A setting has a value Onramp cannot use."""


def _default_home() -> str:
    return str(PROJECT_ROOT / ".onramp")


class _MappingEnvSource(EnvSettingsSource):
    """Environment variables from a given mapping instead of ``os.environ`` (tests, isolated stacks)."""

    def __init__(self, settings_cls, environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self):
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._environ.items()
                if not (self.env_ignore_empty and v == "")}


class Settings(BaseSettings):
    """What Onramp is pointed at; build with :func:`get_settings` (or :func:`load_settings`)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=PROJECT_ROOT / ".env", env_ignore_empty=True,
                                      extra="ignore", frozen=True)

    home: str = Field(default_factory=_default_home, description='state folder: embedded servers, Airflow home, logs, lake')
    pg_url: str = Field('postgresql://postgres@127.0.0.1:5432/postgres', description='PostgreSQL server for the app, warehouse and airflow databases; a server started here if none answers')
    app_pg_url: str = Field('postgresql://postgres@127.0.0.1:55432/postgres', description='PostgreSQL server of the source application (CDC reads it; needs wal_level=logical for log-based CDC); a server with logical decoding is started here if none answers')
    app_db: str = Field('app', description='database of the simulated source application')
    warehouse_db: str = Field('warehouse', description='warehouse database (schemas raw, staging, marts, features, segments, ops)')
    airflow_db: str = Field('airflow', description='Airflow metadata database')
    redis_url: str = Field('redis://127.0.0.1:6379/0', description='Redis for event streams; a redis-server started here (AOF on) if none answers')
    redis_prefix: str = Field('onramp:', description='prefix of every Redis key Onramp writes')
    lake_dir: str = Field('', description='root of the Parquet lake (default: <home>/lake)')
    pg_statement_timeout_s: float = Field(
        1800.0, ge=0, description="statement timeout of every PostgreSQL session Onramp opens, in seconds (0 = none)")
    embedded: Literal['auto', 'never'] = Field('auto', description='auto: start embedded servers only when none answers; never: fail instead')
    airflow_host: str = Field('127.0.0.1', description='address the Airflow API server / UI listens on')
    airflow_port: int = Field(8080, description='port of the Airflow API server / UI')
    airflow_parallelism: int = Field(4, description='LocalExecutor worker count (bounded for a 2-core machine)')
    sim_users: int = Field(20000, description='users the demo simulates')
    sim_seed: int = Field(42, description='simulator seed (same seed, same data)')
    sim_live_events: int = Field(5000, description='live changes + events the demo sends through the collector with the Segment SDK')
    sim_history_events_per_user: int = Field(20, ge=0, description='events per simulated user in the history the demo sends before the live events, on average; never fewer than the app rows imply (~20); 0 = no history')
    # --- CDC (docs/cdc.md)
    cdc_config: str = Field('', description='CDC sources file (default: config/cdc_sources.yaml)')
    cdc_schedule: str = Field('*/15 * * * *', description="cron of the cdc_app_db DAG; 'none' for trigger-only")
    cdc_pool: str = Field('default_pool', description='Airflow pool of the CDC tasks')
    # --- event collection and the stream path (docs/events.md)
    collector_host: str = Field('127.0.0.1', description='address the collector listens on')
    collector_port: int = Field(ge=1, default=8090, description='port of the collector (Segment HTTP Tracking API)')
    collector_workers: int = Field(ge=1, default=1, description='collector worker processes')
    collector_write_keys: str = Field('', description='accepted write keys, key=source,key2=source2 (secret; unset: only the public demo key)')
    collector_write_keys_file: str = Field('', description='YAML mapping {write_key: source} or {write_key: {source, allowed_origins}} read at start')
    collector_allowed_origins: str = Field('', description='page origins whose browser calls are accepted for keys that list none of their own (comma-separated, e.g. https://app.example.com,https://*.example.com; * = any); unset: none (the demo key accepts any)')
    collector_unknown_events: Literal['dead_letter', 'accept'] = Field('dead_letter', description='events not in the tracking plan: dead_letter, or accept (flagged unplanned)')
    collector_geo_db: str = Field('', description='MaxMind/GeoLite2 City .mmdb for IP geolocation (default: the DB-IP lite file from PyPI)')
    collector_trust_forwarded_for: bool = Field(False, description='take the client IP from X-Forwarded-For (behind a proxy)')
    collector_rate_limit: int = Field(0, description='events/s per write key and worker; 0 = no limit')
    collector_max_backlog: int = Field(2000000, description='stream entries waiting for the loader before the collector answers 429')
    stream_batch_events: int = Field(ge=1, default=50000, description='stream loader micro-batch: at most this many events')
    stream_batch_seconds: float = Field(5.0, description='stream loader micro-batch: at most this many seconds')
    stream_claim_idle_seconds: float = Field(60.0, description='pending stream entries idle this long are reclaimed from a crashed consumer')
    stream_consumer: str = Field('', description='consumer name in the loader group (default: loader-<hostname>)')
    stream_fallback_cron: str = Field('*/10 * * * *', description='events_stream_load runs on this cron too, in case a stream wake-up is missed')
    tracking_plan_dir: str = Field('', description='tracking plan folder (default: tracking_plan/)')
    # --- the example onboarding page (examples/web/), on its own origin
    web_host: str = Field('127.0.0.1', description='address the example onboarding page is served on')
    web_port: int = Field(ge=1, default=8091, description='port of the example onboarding page (another origin than the collector)')
    web_write_key: str = Field('', description='write key the example page sends with (default: the demo key, when it is the only one)')
    web_collector_url: str = Field('', description='collector URL as the browser reaches it (default: http://<collector host>:<port>)')

    @field_validator("pg_url", "app_pg_url")
    @classmethod
    def _postgres_url(cls, value: str, info) -> str:
        return _check_url(value, f"ONRAMP_{info.field_name.upper()}", ("postgresql", "postgres"), 5432)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return _check_url(value, "ONRAMP_REDIS_URL", ("redis", "rediss"), 6379)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        given = _SOURCES.get()
        if given is None:
            return init_settings, env_settings, dotenv_settings
        environ, env_file = given
        return init_settings, _MappingEnvSource(settings_cls, environ), DotEnvSettingsSource(settings_cls, env_file=env_file)

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

    def as_env(self) -> dict[str, str]:
        """Every setting as the ``ONRAMP_*`` variable that reproduces it (for the processes Onramp starts)."""
        return {f"{ENV_PREFIX}{name.upper()}": str(getattr(self, name)) for name in type(self).model_fields}


def _check_url(value: str, key: str, schemes: tuple[str, ...], port: int) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{key}={redact(value)!r} is not a {schemes[0]}:// URL with a host; "
                         f"set it like {schemes[0]}://user@127.0.0.1:{port}")
    return value


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


def _default(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


def _explain(error: dict) -> str:
    """One problem of a ValidationError in the words the user needs: the variable, its value, what to write."""
    name = str(error["loc"][0]) if error.get("loc") else "?"
    key, value, kind = f"{ENV_PREFIX}{name.upper()}", error.get("input"), error["type"]
    if kind in ("int_parsing", "int_from_float"):
        return f"{key}={value!r} is not a whole number; set it to one, e.g. {key}={_default(name)}"
    if kind == "float_parsing":
        return f"{key}={value!r} is not a number; set it to one, e.g. {key}={_default(name)}"
    if kind == "bool_parsing":
        return f"{key}={value!r} is not true or false; set {key}=true or {key}=false"
    if kind == "literal_error":
        return f"{key}={value!r} must be {error['ctx']['expected']}"
    if kind == "greater_than_equal":
        return f"{key}={value} must be at least {error['ctx']['ge']}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return f"{key}={value!r}: {error['msg']}"


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Settings from ``environ`` (default: ``os.environ``) over ``env_file`` (default: the repo's ``.env``) over
    defaults; raises :class:`SettingsError` listing every bad value."""
    token = _SOURCES.set((os.environ if environ is None else environ,
                          PROJECT_ROOT / ".env" if env_file is None else Path(env_file)))
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("; ".join(_explain(e) for e in exc.errors())) from None
    finally:
        _SOURCES.reset(token)


@cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()


def documented_settings() -> list[tuple[str, str, str]]:
    """(env var, default, meaning) for every setting: feeds README and ``onramp config``."""
    return [(f"{ENV_PREFIX}{name.upper()}", str(_default(name)), field.description or "")
            for name, field in Settings.model_fields.items()]
