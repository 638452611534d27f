"""
### events_stream_load

Lands the app's onboarding events, sent by Segment/RudderStack SDKs to the Onramp collector, in the
Parquet lake and the warehouse table `raw.events`, exactly once each.

**When it runs**: woken by the `events_stream` Asset, whose watcher (`StreamBacklogTrigger`, a
`BaseEventTrigger` in the triggerer) looks at the Redis stream's consumer-group backlog every few seconds
and fires when there is something to load; a cron schedule (every 10 minutes, `ONRAMP_STREAM_FALLBACK_CRON`)
is the fallback. The
watcher never consumes the stream (unlike `redis+pubsub`, it cannot lose a message): the tasks below
drain it through the consumer group.

| task | does |
| --- | --- |
| `load_dead_letters` | moves events that broke the tracking plan from the dead-letter stream to `ops.dead_letters` |
| `load_events` | micro-batches: GX gate `raw_events` on each batch, then `raw.events` (unique on message_id), then the lake (`lake/raw/events/event_date=…/event_name=…`), then XACK; emits the `warehouse://raw/events` Asset |

A failed gate quarantines the batch (`lake/quarantine/raw_events/`), records it in `ops.quality_results`,
and fails the task: the batch stays pending in the stream and blocks the ones after it until the data or
`expectations/raw_events.json` is fixed; the next run then replays it. Re-running after any crash is
safe: redelivered events are deduplicated on `message_id`. Fix dead letters with the `dlq_replay` DAG.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    dag,
    get_current_context,
    task,
)

from onramp.settings import get_settings
from onramp.stream.keys import LOADER_GROUP, StreamKeys
from onramp.stream.trigger import StreamBacklogTrigger

# fallback schedule when no watcher event comes (triggerer down, missed wake-up); config from the environment
FALLBACK_CRON = get_settings().stream_fallback_cron
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


@task
def load_dead_letters() -> int:
    import redis

    from onramp.settings import get_settings
    from onramp.stream.dead_letters import drain_dead_letters

    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        moved = drain_dead_letters(client, settings.redis_prefix, settings.warehouse_url, CONSUMER)
    finally:
        client.close()
    print(f"{moved} dead letters moved to ops.dead_letters")
    return moved


@task(outlets=[RAW_EVENTS])
def load_events() -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from onramp.collector.config import LoaderConfig
    from onramp.settings import get_settings
    from onramp.stream.loader import EventLoader

    settings = get_settings()
    loader = EventLoader(redis_url=settings.redis_url, prefix=settings.redis_prefix,
                         warehouse_url=settings.warehouse_url, lake_dir=settings.lake_path, consumer=CONSUMER,
                         config=LoaderConfig.from_settings(), gate=True, gate_stage="events_stream_load")
    try:
        report = loader.drain(max_seconds=MAX_DRAIN_SECONDS)
    finally:
        loader.close()
    summary = report.as_dict()
    print(f"loaded {report.loaded} new events into raw.events in {report.batches} batches "
          f"({report.duplicates} duplicates skipped, {report.recovered_batches} lake re-exports): {summary}")
    if report.loaded == 0 and report.recovered_batches == 0:
        raise AirflowSkipException(f"nothing new to publish: {summary}")
    get_current_context()["outlet_events"][RAW_EVENTS].extra = {k: summary[k] for k in ("batches", "loaded", "duplicates")}
    return summary


@dag(
    dag_id="events_stream_load",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(FALLBACK_CRON, timezone="UTC", run_immediately=timedelta(0)),
        assets=EVENTS_STREAM,
    ),
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "events", "stream"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=15)},
    max_active_runs=1,
)
def events_stream_load():
    load_dead_letters() >> load_events()


events_stream_load()
