"""
### platform_smoke

Proves that every dependency of Onramp answers from inside Airflow's task processes:

| task | proves |
| --- | --- |
| `describe_app_db` | the `onramp_app_db` connection reaches the simulated application database |
| `describe_warehouse` | the `onramp_warehouse` connection reaches the warehouse |
| `check_redis` | the `onramp_redis` connection can write and read a stream (the event path) |
| `check_lake` | the Parquet lake folder is writable and readable |
| `record_checks` | results land in `ops.platform_checks` (idempotent per run) |

Run it first when something looks wrong: a red task names the dependency that is down.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import dag, get_current_context, task

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@task
def check_redis() -> dict:
    from airflow.sdk import Connection

    from onramp.settings import get_settings
    from onramp.smoke import check_redis as run_check

    conn = Connection.get("onramp_redis")
    url = f"redis://{conn.host}:{conn.port or 6379}/{conn.schema or 0}"
    return {"check_name": "redis", "detail": run_check(url, get_settings().redis_prefix)}


@task
def check_lake() -> dict:
    from onramp.settings import get_settings
    from onramp.smoke import check_lake as run_check

    run_id = get_current_context()["run_id"]
    return {"check_name": "lake", "detail": run_check(get_settings().lake_path, run_id)}


@task
def record_checks(app_db: list, warehouse: list, redis_check: dict, lake_check: dict) -> list[dict]:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    context = get_current_context()
    checked_at = context["dag_run"].run_after
    rows = [
        {"check_name": "app_db", "detail": f"{app_db[0][0]} on PostgreSQL {app_db[0][2]} (wal_level={app_db[0][3]})"},
        {"check_name": "warehouse", "detail": f"{warehouse[0][0]} on PostgreSQL {warehouse[0][2]}"},
        redis_check,
        lake_check,
    ]
    sql = (SQL_DIR / "smoke" / "record_checks.sql").read_text()
    hook = PostgresHook(postgres_conn_id="onramp_warehouse")
    with hook.get_conn() as conn, conn.cursor() as cur:
        for row in rows:
            cur.execute(sql, {"run_id": context["run_id"], "ok": True, "checked_at": checked_at, **row})
        conn.commit()
    return rows


@dag(
    dag_id="platform_smoke",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "platform"],
    template_searchpath=[str(SQL_DIR)],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=5)},
    max_active_runs=1,
)
def platform_smoke():
    describe_app_db = SQLExecuteQueryOperator(
        task_id="describe_app_db", conn_id="onramp_app_db", sql="smoke/describe_database.sql"
    )
    describe_warehouse = SQLExecuteQueryOperator(
        task_id="describe_warehouse", conn_id="onramp_warehouse", sql="smoke/describe_database.sql"
    )
    record_checks(describe_app_db.output, describe_warehouse.output, check_redis(), check_lake())


platform_smoke()
