"""Tasks of ``cdc_app_db``: one mapped instance per declared table, each step a call into :mod:`onramp.cdc.steps`."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetAlias, get_current_context, task

from onramp.cdc.steps import apply_step, changed, check_lag_step, dag_pool, extract_step, gate_step

STAGING_ASSETS = AssetAlias("cdc_app_db_staging")
PER_TABLE = {"map_index_template": "{{ cdc_table }}", "pool": dag_pool(), "max_active_tis_per_dagrun": 2}


def airflow_connection_url(conn_id: str) -> str | None:
    """A source connection defined only in Airflow's store (the resolver asks the settings and env first)."""
    from airflow.sdk import Connection

    from onramp.endpoints import connection_url

    conn = Connection.get(conn_id)
    return connection_url(conn.host, conn.port, conn.login, conn.password, conn.schema,
                          conn.extra_dejson if conn.extra else {})


def _label(table_id: str) -> dict:
    context = get_current_context()
    context["cdc_table"] = table_id  # shown as the mapped instance's name in the UI
    return context


@task(**PER_TABLE, execution_timeout=timedelta(hours=2))
def extract_changes(table_id: str) -> dict:
    context = _label(table_id)
    return extract_step(table_id, context["run_id"], context["params"].get("backfill_table"), airflow_connection_url)


@task(**PER_TABLE, execution_timeout=timedelta(hours=1))
def gate_changes(manifest: dict) -> dict:
    context = _label(manifest["table"])
    return gate_step(manifest, context["run_id"], airflow_connection_url)


@task(**PER_TABLE, outlets=[STAGING_ASSETS], execution_timeout=timedelta(hours=2))
def apply_to_staging(manifest: dict) -> dict:
    context = _label(manifest["table"])
    result = apply_step(manifest, context["run_id"], airflow_connection_url)
    if changed(result):
        context["outlet_events"][STAGING_ASSETS].add(
            Asset(result["asset_uri"]),
            extra={"table": result["table"], "snapshot_rows": result["snapshot_rows"], "changes": result["changes"]},
        )
    return result


@task(**PER_TABLE)
def check_slot_lag(result: dict) -> dict:
    _label(result["table"])
    return check_lag_step(result)
