"""
### platform_smoke

Proves that every dependency of Onramp answers from inside Airflow's task processes:

| task | proves |
| --- | --- |
| `describe_app_db` | the `onramp_app_db` connection reaches the simulated application database |
| `describe_warehouse` | the `onramp_warehouse` connection reaches the warehouse |
| `check_redis` | Redis (`ONRAMP_REDIS_URL`, password included) can write and read a stream (the event path) |
| `check_lake` | the Parquet lake folder is writable and readable |
| `record_checks` | results land in `ops.platform_checks` (idempotent per run) |

Run it first when something looks wrong: a red task names the dependency that is down.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import dag

from onramp.airflow.smoke import check_lake, check_redis, record_checks

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


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
