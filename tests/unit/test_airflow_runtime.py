from __future__ import annotations

import json

from onramp.local.airflow_runtime import airflow_env, login
from onramp.settings import load_settings


def _settings(tmp_path, **env):
    base = {"ONRAMP_HOME": str(tmp_path), "ONRAMP_PG_URL": "postgresql://etl:pw@db.internal:5433/postgres",
            "ONRAMP_APP_PG_URL": "postgresql://cdc:pw2@app.internal:5432/postgres"}
    base.update(env)
    return load_settings(base, env_file=tmp_path / "none")


def test_connections_and_metadata_db_reach_every_airflow_process(tmp_path):
    env = airflow_env(_settings(tmp_path), base={})
    assert env["AIRFLOW_CONN_ONRAMP_APP_DB"].startswith("postgres://cdc:pw2@app.internal:5432/app?")
    assert env["AIRFLOW_CONN_ONRAMP_WAREHOUSE"].startswith("postgres://etl:pw@db.internal:5433/warehouse?")
    assert env["AIRFLOW_CONN_ONRAMP_REDIS"] == "redis://127.0.0.1:6379/0"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://etl:pw@db.internal:5433/airflow"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["ONRAMP_APP_PG_URL"] == "postgresql://cdc:pw2@app.internal:5432/postgres", "tasks see the same settings"


def test_secrets_are_made_once_and_kept_private(tmp_path):
    settings = _settings(tmp_path, ONRAMP_AIRFLOW_PORT="8181")
    first = airflow_env(settings, base={})
    second = airflow_env(settings, base={})
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == second["AIRFLOW__API_AUTH__JWT_SECRET"]
    secrets_file = tmp_path / "airflow" / "onramp_secrets.json"
    assert secrets_file.stat().st_mode & 0o077 == 0
    creds = login(settings)
    assert creds.url == "http://127.0.0.1:8181"
    assert creds.password == json.loads(secrets_file.read_text())["admin_password"]


def test_airflow_connections_are_derived_and_open_sessions_like_onramp(tmp_path):
    """Airflow's own operators (SQLExecuteQueryOperator in platform_smoke) get Onramp's session settings."""
    from urllib.parse import parse_qs, urlsplit

    from onramp.endpoints import airflow_connections

    uri = airflow_connections(_settings(tmp_path))["AIRFLOW_CONN_ONRAMP_WAREHOUSE"]
    extras = parse_qs(urlsplit(uri).query)
    assert extras["application_name"] == ["onramp-airflow-onramp_warehouse"]
    assert "-c TimeZone=UTC" in extras["options"][0] and "-c statement_timeout=" in extras["options"][0]
