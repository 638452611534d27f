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
