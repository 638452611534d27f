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

from airflow.sdk import dag

from onramp.airflow.events import load_dead_letters, load_events, schedule


@dag(
    dag_id="events_stream_load",
    schedule=schedule(),
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "events", "stream"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=15)},
    max_active_runs=1,
)
def events_stream_load():
    load_dead_letters() >> load_events()


events_stream_load()
