"""Tasks, Assets and schedule of ``events_stream_load`` and ``dlq_replay``."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    get_current_context,
    task,
)

from onramp.airflow.triggers import StreamBacklogTrigger
from onramp.settings import get_settings
from onramp.stream.keys import LOADER_GROUP, StreamKeys

CONSUMER = "airflow-events_stream_load"  # stable: a retried task replays its own in-flight entries first
MAX_DRAIN_SECONDS = 600  # one run drains at most this long; the watcher wakes the next one

EVENTS_STREAM = Asset(
    name="events_stream",
    uri="stream://onramp/events",
    watchers=[AssetWatcher(
        name="events_stream_backlog",
        trigger=StreamBacklogTrigger(stream=StreamKeys(get_settings().redis_prefix).events, group=LOADER_GROUP),
    )],
)
RAW_EVENTS = Asset(name="raw.events", uri="warehouse://raw/events")


def schedule() -> AssetOrTimeSchedule:
    """Woken by the stream's watcher; ``ONRAMP_STREAM_FALLBACK_CRON`` too, should a wake-up be missed."""
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(get_settings().stream_fallback_cron, timezone="UTC",
                                       run_immediately=timedelta(0)),
        assets=EVENTS_STREAM,
    )


@task
def load_dead_letters() -> int:
    from onramp.stream.service import move_dead_letters

    moved = move_dead_letters(CONSUMER)
    print(f"{moved} dead letters moved to ops.dead_letters")
    return moved


@task(outlets=[RAW_EVENTS])
def load_events() -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from onramp.stream.service import load_events as load

    report = load(CONSUMER, max_seconds=MAX_DRAIN_SECONDS)
    summary = report.as_dict()
    print(f"loaded {report.loaded} new events into raw.events in {report.batches} batches "
          f"({report.duplicates} duplicates skipped, {report.dead_lettered} dead-lettered, "
          f"{report.recovered_batches} lake re-exports): {summary}")
    if report.loaded == 0 and report.recovered_batches == 0:
        raise AirflowSkipException(f"nothing new to publish: {summary}")
    get_current_context()["outlet_events"][RAW_EVENTS].extra = {k: summary[k] for k in ("batches", "loaded", "duplicates")}
    return summary


@task
def replay_dead_letters() -> dict:
    from onramp.stream.service import replay_dead_letters as replay

    context = get_current_context()
    params = context["params"]
    report, drained = replay(
        context["run_id"], reason=params.get("reason"), event_name=params.get("event_name"),
        since=params.get("since"), until=params.get("until"), schema_version=params.get("schema_version"),
        limit=int(params.get("limit") or 100_000),
    )
    counts = {"drained_from_stream": drained, **report.as_dict()}
    print(f"dead-letter replay {context['run_id']}: {counts}")
    return counts
