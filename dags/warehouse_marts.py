"""
### warehouse_marts

Builds what analysts read (`marts`) and what the nightly model learns from (`features`) from the warehouse's
staging tables and `raw.events`, with the dbt project in `sql/dbt` (docs: `docs/marts.md`).

**When it runs**: whenever `events_stream_load` publishes new events (`warehouse://raw/events`) or
`cdc_app_db` changes any staging table (`warehouse://staging/<table>`).

| task | does |
| --- | --- |
| `build.<model>_build` | one per dbt model (Cosmos): `dbt build` of the model and its tests (grain, keys, accepted values, relationships); a failed test stops every model downstream |
| `gate_marts` | a Great Expectations suite per published model (`expectations/marts_*.json`, `expectations/features_*.json`) over its candidate in `marts_build`/`features_build`: volume against the published build, nulls, ranges, feature drift; results in `ops.quality_results` |
| `publish_marts` | in one transaction, replaces the rebuilt models and merges the incremental ones into `marts.*` and `features.*`; records `ops.mart_publications`; emits `warehouse://marts/<model>` and `warehouse://features/user_features` |

A failure anywhere leaves the published tables as they were and emits nothing, so nothing downstream runs
on bad marts. **Params**: `as_of_date` builds the features as of that day (default: the day before the
run); `full_refresh` rebuilds the incremental models from scratch.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag

from onramp.airflow.marts import dbt_build_group, gate_marts, publish_marts, schedule


@dag(
    dag_id="warehouse_marts",
    schedule=schedule(),
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "marts", "dbt"],
    default_args={"owner": "analytics-engineering", "retries": 2, "retry_delay": timedelta(seconds=20)},
    max_active_runs=1,
    params={
        "as_of_date": Param("", type="string", description="build features as of this date (YYYY-MM-DD); empty: the day before the run"),
        "full_refresh": Param(False, type="boolean", description="rebuild incremental models from scratch"),
    },
)
def warehouse_marts():
    gated = gate_marts()
    dbt_build_group() >> gated
    publish_marts(gated)


warehouse_marts()
