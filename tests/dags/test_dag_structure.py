"""Each DAG's shape as users and downstream DAGs rely on it: task ids, their order, the schedule, the Assets.

A change here is a change of a public contract (DESIGN.md lists the DAG ids): update this snapshot on purpose.
"""

from __future__ import annotations

import pytest

EXPECTED = {
    "platform_smoke": {
        "schedule": None,
        "edges": {
            "describe_app_db": {"record_checks"}, "describe_warehouse": {"record_checks"},
            "check_redis": {"record_checks"}, "check_lake": {"record_checks"}, "record_checks": set(),
        },
    },
    "cdc_app_db": {
        "schedule": "*/15 * * * *",  # ONRAMP_CDC_SCHEDULE's default
        "edges": {
            "sync_table.extract_changes": {"sync_table.gate_changes"},
            "sync_table.gate_changes": {"sync_table.apply_to_staging"},
            "sync_table.apply_to_staging": {"sync_table.check_slot_lag"},
            "sync_table.check_slot_lag": set(),
        },
        "mapped": {"sync_table.extract_changes", "sync_table.gate_changes", "sync_table.apply_to_staging",
                   "sync_table.check_slot_lag"},
        "outlets": {"sync_table.apply_to_staging": {"cdc_app_db_staging"}},
    },
    "events_stream_load": {
        "schedule": "assets or */10 * * * *",  # the events_stream watcher, ONRAMP_STREAM_FALLBACK_CRON's default
        "edges": {"load_dead_letters": {"load_events"}, "load_events": set()},
        "outlets": {"load_events": {"raw.events"}},
    },
    "dlq_replay": {"schedule": None, "edges": {"replay_dead_letters": set()}},
}


def _schedule(dag) -> str | None:
    timetable = dag.timetable
    if type(timetable).__name__ == "NullTimetable":
        return None
    if hasattr(timetable, "timetable"):  # AssetOrTimeSchedule: assets, or the fallback cron
        return f"assets or {_cron(timetable.timetable)}"
    return _cron(timetable)


def _cron(timetable) -> str:
    return getattr(timetable, "_expression", None) or timetable.expression


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_shape(dagbag, monkeypatch, dag_id):
    dag = dagbag.dags[dag_id]
    expected = EXPECTED[dag_id]
    assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == expected["edges"]
    assert _schedule(dag) == expected["schedule"]
    assert dag.max_active_runs == 1, "runs of one DAG never overlap: each stage's state is per run"
    assert not dag.catchup
    mapped = {t.task_id for t in dag.tasks if t.get_closest_mapped_task_group() is not None}
    assert mapped == expected.get("mapped", set())
    outlets = {t.task_id: {getattr(o, "name", None) for o in t.outlets} for t in dag.tasks if t.outlets}
    assert outlets == expected.get("outlets", {})


def test_the_event_load_is_woken_by_the_stream_watcher(dagbag):
    timetable = dagbag.dags["events_stream_load"].timetable
    asset = timetable.asset_condition
    assert asset.name == "events_stream"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "onramp.airflow.triggers.StreamBacklogTrigger" and kwargs["group"] == "loader"


def test_warehouse_marts_builds_every_model_then_gates_then_publishes(dagbag):
    """Cosmos renders one watcher per dbt model (one ``dbt build`` runs them); the gate waits for all of them."""
    from onramp.marts.manifest import load, published_models

    dag = dagbag.dags["warehouse_marts"]
    tasks = {t.task_id: t for t in dag.tasks}
    models = {n["name"] for n in load()["nodes"].values() if n["resource_type"] == "model"}
    rendered = {tid.split(".")[1].removesuffix("_run") for tid in tasks if tid.startswith("build.")
                and (tid.endswith(".run") or tid.endswith("_run"))}
    assert rendered == models
    assert tasks["build.dbt_producer_watcher"].downstream_task_ids == {"build.dbt_producer_watcher_done"}
    assert "gate_marts" in tasks["build.dbt_producer_watcher_done"].downstream_task_ids
    assert tasks["gate_marts"].downstream_task_ids == {"publish_marts"}
    assert {o.uri for o in tasks["publish_marts"].outlets} == {m.asset_uri for m in published_models()}
    assert not any(t.outlets for tid, t in tasks.items() if tid != "publish_marts"), \
        "only the publish emits the marts' Assets: nothing downstream may run on an unchecked build"
    assert dag.max_active_runs == 1 and not dag.catchup


def test_warehouse_marts_follows_the_staging_tables_and_the_events(dagbag):
    from onramp.cdc.steps import table_ids

    condition = dagbag.dags["warehouse_marts"].timetable.asset_condition
    uris = set()
    stack = [condition]
    while stack:  # AssetAny(raw.events, AssetAny(staging...)): flatten
        node = stack.pop()
        if hasattr(node, "objects"):
            stack.extend(node.objects)
        else:
            uris.add(node.uri)
    staging = {f"warehouse://staging/{tid.split('.')[-1]}" for tid in table_ids()}
    assert uris == {"warehouse://raw/events", *staging}


def test_the_dbt_manifest_matches_the_project_files():
    """The DAG is rendered from the manifest: a model edited since the last `dbt parse` would run stale."""
    from onramp.marts.manifest import parse_hint, stale_files

    assert stale_files() == [], f"the dbt manifest is older than these files; {parse_hint()}"
