"""Fixed cost of a no-change ``cdc_app_db`` cycle run by Airflow, against a DAG of the same shape doing nothing.

    .venv/bin/python bench/cdc_dag.py [--tables 8] [--runs 3]      (also: bench/cdc.py --dag-cycle)

What a data engineer waits for when nothing changed: the real ``cdc_app_db`` DAG (from ``dags/``), mapped over
``--tables`` small tables of a source database of its own, run by a real Airflow (api-server, scheduler,
dag-processor, triggerer; LocalExecutor, the local runtime's parallelism) after a first run that took the
snapshots. The baseline, in the same Airflow, is ``bench_cdc_noop``: the same task group mapped over the same
table ids, the same four task ids, pool, per-task and per-DAG concurrency, each task returning at once. The
difference is what Onramp's own code costs per cycle (imports, connections, reading the slots, recording
state), beyond what Airflow costs any DAG of this shape.

Runs alternate (noop, cdc, noop, cdc, ...) so drift in the machine's load hits both; each run's duration is
Airflow's own (start_date to end_date of the DAG run). Everything is removed at the end: the Airflow
processes, the databases (source, warehouse, airflow metadata), the replication slots, the state folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from psycopg import sql  # noqa: E402

NOOP_DAG = '''"""
### bench_cdc_noop

bench/cdc_dag.py's baseline: cdc_app_db's shape (a task group mapped over the same tables, the same task
ids, pool and concurrency), every task returning at once.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task, task_group

from onramp.cdc.config import load_config
from onramp.settings import get_settings

TABLES = [t.id for t in load_config().tables]  # the config alone: none of the loader's imports
PER_TABLE = {"map_index_template": "{{ task.task_id }}", "pool": get_settings().cdc_pool, "max_active_tis_per_dagrun": 2}


@task(**PER_TABLE)
def extract_changes(table_id: str) -> dict:
    return {"table": table_id}


@task(**PER_TABLE)
def gate_changes(manifest: dict) -> dict:
    return manifest


@task(**PER_TABLE)
def apply_to_staging(manifest: dict) -> dict:
    return manifest


@task(**PER_TABLE)
def check_slot_lag(result: dict) -> dict:
    return result


@task_group
def sync_table(table_id: str) -> None:
    check_slot_lag(apply_to_staging(gate_changes(extract_changes(table_id))))


@dag(dag_id="bench_cdc_noop", schedule=None, catchup=False, doc_md=__doc__, tags=["bench"], max_active_runs=1,
     max_active_tasks=4, default_args={"owner": "bench", "retries": 0})
def bench_cdc_noop():
    sync_table.expand(table_id=TABLES)


bench_cdc_noop()
'''


def _duration(client, dag_id: str, run_id: str) -> float:
    from onramp.local.airflow_runtime import quote_id

    run = client._call("GET", f"/dags/{quote_id(dag_id)}/dagRuns/{quote_id(run_id)}")
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def _run(client, dag_id: str) -> float:
    result = client.run_and_wait(dag_id, timeout=1800, poll=1)
    if result.state != "success":
        failed = ", ".join(f"{t.task_id}[{t.map_index}] {t.state} ({t.log_path})" for t in result.failed_tasks)
        raise SystemExit(f"{dag_id} run {result.run_id} ended {result.state}: {failed}")
    return _duration(client, dag_id, result.run_id)


def measure(tables: int, runs: int) -> dict:
    from onramp.local import airflow_runtime
    from onramp.local.airflow_client import AirflowClient
    from onramp.migrations import migrate
    from onramp.settings import get_settings, load_settings
    from tests.conftest import drop_database, free_port
    from tests.integration.cdc.conftest import drop_source_database

    base = get_settings()
    tag = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="onramp-bench-dag-"))
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "cdc_app_db.py").symlink_to(REPO / "dags" / "cdc_app_db.py")
    (dags / "bench_cdc_noop.py").write_text(NOOP_DAG)
    config = tmp / "cdc_sources.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "sources": {f"bench{tag}": {
        "conn_id": "onramp_app_db",
        "tables": {f"shop.t{i}": {"primary_key": ["id"]} for i in range(tables)}}}}))
    env = {"ONRAMP_HOME": str(tmp / "home"), "ONRAMP_APP_PG_URL": base.app_pg_url,
           "ONRAMP_APP_DB": f"onramp_bench_{tag}_app", "ONRAMP_WAREHOUSE_DB": f"onramp_bench_{tag}_warehouse",
           "ONRAMP_AIRFLOW_DB": f"onramp_bench_{tag}_airflow", "ONRAMP_REDIS_PREFIX": f"onramp-bench-{tag}:",
           "ONRAMP_AIRFLOW_PORT": str(free_port()), "ONRAMP_CDC_CONFIG": str(config), "ONRAMP_CDC_SCHEDULE": "none",
           "ONRAMP_STREAM_FALLBACK_CRON": "0 0 1 1 *"}
    os.environ.update(env)
    settings = load_settings()
    from onramp.local import services

    services.ensure_databases(settings)
    migrate(settings.warehouse_url, "warehouse")
    with psycopg.connect(settings.app_db_url, autocommit=True) as conn:
        conn.execute("create schema shop")
        for i in range(tables):
            table = sql.Identifier("shop", f"t{i}")
            conn.execute(sql.SQL("create table {} (id int primary key, name text, updated_at timestamptz)").format(table))
            conn.execute(sql.SQL("insert into {} select g, 'n' || g, now() from generate_series(1, 1000) g").format(table))
    timings: dict[str, list[float]] = {"cdc_app_db": [], "bench_cdc_noop": []}
    try:
        airflow_runtime.migrate_metadata(settings)
        login = airflow_runtime.start(settings, dags_folder=dags)
        client = AirflowClient(login, log_folder=airflow_runtime.airflow_home(settings) / "logs")
        try:
            started = time.monotonic()
            first = _run(client, "cdc_app_db")  # the snapshots: not what this bench measures
            print(f"first cdc_app_db run (snapshots of {tables} tables): {first:.1f} s "
                  f"({time.monotonic() - started:.0f} s with start-up)", flush=True)
            _run(client, "bench_cdc_noop")  # warms the baseline the same way
            for i in range(runs):
                for dag_id in ("bench_cdc_noop", "cdc_app_db"):
                    timings[dag_id].append(_run(client, dag_id))
                    print(f"  run {i + 1}: {dag_id} {timings[dag_id][-1]:.1f} s", flush=True)
        finally:
            client.close()
    finally:
        airflow_runtime.stop(settings)
        drop_source_database(settings.app_pg_url, settings.app_db)
        for name in (settings.warehouse_db, settings.airflow_db):
            drop_database(settings.pg_url, name)
    noop, cdc = statistics.median(timings["bench_cdc_noop"]), statistics.median(timings["cdc_app_db"])
    return {"tables": tables, "runs": runs, "noop_median_s": noop, "cdc_median_s": cdc, "ratio": cdc / noop,
            "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=8, help="tables the DAG maps over (the demo declares 8)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each DAG, alternating")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    load = os.getloadavg()[0]
    result = measure(args.tables, args.runs)
    print(f"\nno-change cdc_app_db cycle through Airflow ({args.tables} tables x 4 tasks, LocalExecutor; load average "
          f"before the run {load:.1f}):")
    print(f"  bench_cdc_noop (same shape, tasks do nothing) : {result['noop_median_s']:6.1f} s median")
    print(f"  cdc_app_db, nothing to load                   : {result['cdc_median_s']:6.1f} s median")
    print(f"  ratio cdc / noop                              : {result['ratio']:.2f}  (target <= 2.0)")


if __name__ == "__main__":
    main()
