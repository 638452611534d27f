"""
### cdc_app_db

Keeps the warehouse in step with the application database, exactly once, deletes included.
Which tables: `config/cdc_sources.yaml` (adding one is a config change; see `docs/cdc.md`).

For **each declared table** (one mapped task group per table, so a failing table never stops the others):

| task | does |
| --- | --- |
| `extract_changes` | reads the table's replication slot (pgoutput) up to the WAL position seen at start, or its initial snapshot, into `lake/bronze/<source>/<table>/commit_date=…/*.parquet` (zstd) |
| `gate_changes` | validates those files with Great Expectations (`expectations/cdc_<source>_<table>.json`); a failure quarantines them |
| `apply_to_staging` | appends to `raw.<source>_<table>_changes`, merges into `staging.<table>`, saves the load state in `ops` in the same transaction, then confirms the slot; emits the Asset `warehouse://staging/<table>` when something changed |
| `check_slot_lag` | fails loudly when the slot was further behind than `max_slot_lag_bytes` (the data is already applied) |

**Params**: `backfill_table` rebuilds one table from a fresh snapshot (also the fix for a lost slot or
an incompatible column type change). Without a logical-decoding source, a table falls back to the
xmin-window mode and its `ops.cdc_tables.mode_reason` says why. `onramp cdc status` shows every table.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetAlias, Param, dag, get_current_context, task, task_group

from onramp.cdc.tasks import dag_pool, dag_schedule, table_ids

TABLES = table_ids()
STAGING_ASSETS = AssetAlias("cdc_app_db_staging")
PER_TABLE = {"map_index_template": "{{ cdc_table }}", "pool": dag_pool(), "max_active_tis_per_dagrun": 2}


def _label(table_id: str) -> dict:
    context = get_current_context()
    context["cdc_table"] = table_id  # shown as the mapped instance's name in the UI
    return context


@task(**PER_TABLE, execution_timeout=timedelta(hours=2))
def extract_changes(table_id: str) -> dict:
    from onramp.cdc.tasks import extract_task

    context = _label(table_id)
    return extract_task(table_id, context["run_id"], context["params"].get("backfill_table"))


@task(**PER_TABLE, execution_timeout=timedelta(hours=1))
def gate_changes(manifest: dict) -> dict:
    from onramp.cdc.tasks import gate_task

    context = _label(manifest["table"])
    return gate_task(manifest, context["run_id"])


@task(**PER_TABLE, outlets=[STAGING_ASSETS], execution_timeout=timedelta(hours=2))
def apply_to_staging(manifest: dict) -> dict:
    from onramp.cdc.tasks import apply_task, changed

    context = _label(manifest["table"])
    result = apply_task(manifest, context["run_id"])
    if changed(result):
        context["outlet_events"][STAGING_ASSETS].add(
            Asset(result["asset_uri"]),
            extra={"table": result["table"], "snapshot_rows": result["snapshot_rows"], "changes": result["changes"]},
        )
    return result


@task(**PER_TABLE)
def check_slot_lag(result: dict) -> dict:
    from onramp.cdc.tasks import check_lag_task

    _label(result["table"])
    return check_lag_task(result)


@task_group
def sync_table(table_id: str) -> None:
    check_slot_lag(apply_to_staging(gate_changes(extract_changes(table_id))))


@dag(
    dag_id="cdc_app_db",
    schedule=dag_schedule(),
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "cdc"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=20)},
    max_active_runs=1,
    max_active_tasks=4,
    params={
        "backfill_table": Param("", type="string", enum=["", *TABLES],
                                description="rebuild this table from a fresh snapshot (empty: normal incremental run)"),
    },
)
def cdc_app_db():
    sync_table.expand(table_id=TABLES)


cdc_app_db()
