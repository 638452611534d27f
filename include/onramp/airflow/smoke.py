"""Tasks of ``platform_smoke``: each proves one dependency answers from inside a task process."""

from __future__ import annotations

from airflow.sdk import get_current_context, task


@task
def check_redis() -> dict:
    from onramp.settings import get_settings
    from onramp.smoke import check_redis as run_check

    settings = get_settings()  # the URL with its password: the one resolver, not a rebuilt connection
    return {"check_name": "redis", "detail": run_check(settings.redis_url, settings.redis_prefix)}


@task
def check_lake() -> dict:
    from onramp.settings import get_settings
    from onramp.smoke import check_lake as run_check

    return {"check_name": "lake", "detail": run_check(get_settings().lake_path, get_current_context()["run_id"])}


@task
def record_checks(app_db: list, warehouse: list, redis_check: dict, lake_check: dict) -> list[dict]:
    from onramp.smoke import record_checks as record

    context = get_current_context()
    rows = [
        {"check_name": "app_db", "detail": f"{app_db[0][0]} on PostgreSQL {app_db[0][2]} (wal_level={app_db[0][3]})"},
        {"check_name": "warehouse", "detail": f"{warehouse[0][0]} on PostgreSQL {warehouse[0][2]}"},
        redis_check,
        lake_check,
    ]
    record(context["run_id"], context["dag_run"].run_after, rows)
    return rows
