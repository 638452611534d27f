"""Tasks, Assets and schedule of ``warehouse_marts``: the dbt project through Cosmos, then gate and publish.

Cosmos renders ``sql/dbt`` from its prebuilt manifest (``LoadMode.DBT_MANIFEST``: parsing the DAG never
runs dbt) as one task per model that runs ``dbt build`` on it, the model and its tests together, so a
failed grain test stops everything downstream of that model. The models land in ``marts_build`` and
``features_build``; ``gate_marts`` runs their GX suites and ``publish_marts`` makes them what analysts and
the scoring DAG read, in one transaction, and only then emits the marts' Assets.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetAny, get_current_context, task

from onramp.airflow.events import RAW_EVENTS
from onramp.marts.manifest import DBT_PROJECT, MANIFEST, PROJECT_NAME, published_models

PROFILE = "onramp"
# dbt reads its connection from these (sql/dbt/profiles.yml); Airflow fills them from the derived connection
# when the task runs, so no address or password is ever part of the parsed DAG.
DBT_ENV = {
    f"ONRAMP_DBT_{var}": "{{ conn.onramp_warehouse.%s }}" % field  # noqa: UP031 - Jinja braces stay literal
    for var, field in (("HOST", "host"), ("PORT", "port or 5432"), ("USER", "login"),
                       ("PASSWORD", "password or ''"), ("DBNAME", "schema"))
}
# Features are built as of the day before the run (a completed day), unless the run names a date.
AS_OF_DATE = "{{ params.as_of_date or macros.ds_add(dag_run.run_after | ds, -1) }}"


def staging_assets() -> list[Asset]:
    """``warehouse://staging/<table>`` of every table CDC replicates (cdc_app_db emits them through its alias)."""
    from onramp.cdc.config import load_config

    return [Asset(f"warehouse://staging/{table.target}") for table in load_config().tables]


def published_assets() -> list[Asset]:
    """One Asset per published model, e.g. ``warehouse://marts/dim_users``; read from the manifest."""
    return [Asset(name=f"{m.schema}.{m.name}", uri=m.asset_uri) for m in published_models()]


def schedule() -> AssetAny:
    """New events, or any staging table that changed: the marts follow their inputs."""
    return RAW_EVENTS | AssetAny(*staging_assets())


def dbt_build_group(group_id: str = "build"):
    """The Cosmos task group: one ``dbt build`` task per model, in the manifest's dependency order."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT, manifest_path=MANIFEST, project_name=PROJECT_NAME,
                                     install_dbt_deps=False, partial_parse=True),
        profile_config=ProfileConfig(profile_name=PROFILE, target_name="warehouse",
                                     profiles_yml_filepath=DBT_PROJECT / "profiles.yml"),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH,
                                   emit_datasets=False, select=["path:models"]),
        operator_args={
            "env": DBT_ENV,
            "append_env": True,
            "vars": {"as_of_date": AS_OF_DATE},
            "full_refresh": "{{ params.full_refresh }}",
            "execution_timeout": timedelta(hours=2),
            "deferrable": False,
            "poke_interval": 5,
        },
    )


@task(execution_timeout=timedelta(hours=1))
def gate_marts() -> list[dict]:
    from onramp.marts.gate import gate
    from onramp.settings import get_settings

    run_id = get_current_context()["run_id"]
    results = gate(get_settings().warehouse_url, published_models(), run_id)
    for r in results:
        print(f"{r.suite}: passed {r.evaluated} expectations on {r.rows:,} candidate rows")
    return [{"suite": r.suite, "rows": r.rows, "evaluated": r.evaluated} for r in results]


@task(outlets=published_assets(), execution_timeout=timedelta(hours=1))
def publish_marts(gated: list[dict]) -> list[dict]:
    from onramp.marts.publish import publish
    from onramp.settings import get_settings

    context = get_current_context()
    done = publish(get_settings().warehouse_url, context["run_id"])
    for p in done:
        print(f"{p.model}: {p.mode} {p.rows_published:,} rows, {p.rows_total:,} in total")
        schema, name = p.model.split(".")
        context["outlet_events"][Asset(name=p.model, uri=f"warehouse://{schema}/{name}")].extra = {
            "mode": p.mode, "rows_published": p.rows_published, "rows_total": p.rows_total}
    return [{"model": p.model, "mode": p.mode, "rows_published": p.rows_published, "rows_total": p.rows_total}
            for p in done]
