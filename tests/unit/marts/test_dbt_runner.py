"""The dbt runner without a warehouse: the connection variables it derives, and a parse that never connects
(the Airflow side loads the manifest it writes)."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from onramp.marts.dbt import PROJECT_DIR, dbt_env, run_dbt
from onramp.settings import load_settings


def _settings(tmp_path, pg_url: str, **extra: str):
    return load_settings({"ONRAMP_PG_URL": pg_url, "ONRAMP_HOME": str(tmp_path), **extra}, env_file=tmp_path / "none.env")


def test_dbt_env_derives_the_profile_variables_from_the_warehouse_url(tmp_path):
    settings = _settings(tmp_path, "postgresql://dbt%40corp:p%40ss%3Aword@db.internal:6543/postgres?sslmode=require",
                         ONRAMP_WAREHOUSE_DB="analytics")
    assert dbt_env(settings) == {
        "ONRAMP_DBT_HOST": "db.internal", "ONRAMP_DBT_PORT": "6543", "ONRAMP_DBT_USER": "dbt@corp",
        "ONRAMP_DBT_PASSWORD": "p@ss:word", "ONRAMP_DBT_DBNAME": "analytics", "ONRAMP_DBT_SSLMODE": "require"}


def test_dbt_env_defaults_like_libpq(tmp_path, monkeypatch):
    monkeypatch.setenv("PGUSER", "somebody")
    env = dbt_env(_settings(tmp_path, "postgresql://127.0.0.1"))
    assert (env["ONRAMP_DBT_PORT"], env["ONRAMP_DBT_USER"], env["ONRAMP_DBT_PASSWORD"], env["ONRAMP_DBT_DBNAME"]) == \
           ("5432", "somebody", "", "warehouse")
    assert "ONRAMP_DBT_SSLMODE" not in env


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    """``dbt parse`` with every socket refused: it must not need the warehouse (nor anything else)."""
    home = tmp_path_factory.mktemp("home")
    settings = _settings(home, "postgresql://nobody:secret@127.0.0.1:1/postgres")

    def refuse(*args, **kwargs):
        raise OSError("tests: no network during dbt parse")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        run = run_dbt(["parse"], settings, quiet=True)
    path = run.target_path / "manifest.json"
    assert path.parent == home / "dbt" / "target"
    return json.loads(path.read_text())


def test_parse_writes_a_manifest_with_the_agreed_schemas(manifest):
    schemas = {node["name"]: node["schema"] for node in manifest["nodes"].values()
               if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral"}
    assert {name for name, schema in schemas.items() if schema == "marts_build"} == {
        "dim_users", "fct_onboarding_events", "fct_onboarding_steps", "onboarding_funnel"}
    assert {name for name, schema in schemas.items() if schema == "features_build"} == {"user_features"}
    assert {schema for name, schema in schemas.items() if name.startswith(("stg_", "int_"))} == {"transform"}


def test_incremental_models_state_their_unique_keys(manifest):
    config = {node["name"]: node["config"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert (config["fct_onboarding_events"]["incremental_strategy"], config["fct_onboarding_events"]["unique_key"]) == \
           ("merge", "message_id")
    features = config["user_features"]
    assert (features["incremental_strategy"], features["unique_key"], features["contract"]["enforced"],
            features["full_refresh"]) == ("delete+insert", ["as_of_date", "user_id"], True, False)


def test_the_feature_contract_names_type_description_and_source_of_every_column(manifest):
    features = manifest["nodes"]["model.onramp.user_features"]
    columns = features["columns"]
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert len(columns) == 48 and "built_at" in columns
    for name, column in columns.items():
        assert column["data_type"] and column["description"], name
        assert column["meta"]["source_model"] in models, name
    step_keys = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["onboarding_step_keys"]
    assert {name for name in columns if name.startswith("step_") and name.endswith("_completed")} == \
           {f"step_{key}_completed" for key in step_keys}


def test_every_published_model_carries_built_at():
    sql_files = [*(PROJECT_DIR / "models" / "marts").glob("*.sql"), *(PROJECT_DIR / "models" / "features").glob("*.sql")]
    assert len(sql_files) == 5
    for path in sql_files:
        assert "{{ built_at() }} as built_at" in path.read_text(), path.name
