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

from airflow.sdk import Param, dag, task_group

from onramp.airflow.cdc import apply_to_staging, check_slot_lag, extract_changes, gate_changes
from onramp.cdc.steps import dag_schedule, table_ids

TABLES = table_ids()


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
