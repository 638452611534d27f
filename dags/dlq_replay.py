"""
### dlq_replay

Re-validates dead-lettered events (in `ops.dead_letters`) against the tracking plan **now** in force and
re-injects the ones that pass into the events stream, where `events_stream_load` picks them up.
Run it after fixing the tracking plan (a new schema version in `tracking_plan/`) or the sending app.

Params (all optional, combined with AND): `reason` (a reason code such as `schema.enum` or
`unknown_event`; `schema.*` for a family), `event_name`, `since` / `until` (received time, ISO 8601),
`schema_version` (the version they failed, e.g. `signup_started/v1`), `limit`.

Idempotent: replayed dead letters are marked `replayed`; one re-injected twice (a crash between the
two steps) is still loaded once, since `raw.events` is unique on `message_id`. The counts (matched,
re-injected, still invalid, already loaded) are the task's return value and a row of
`ops.dead_letter_replays`; ones still invalid keep their status, with the new reasons.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag

from onramp.airflow.events import replay_dead_letters


@dag(
    dag_id="dlq_replay",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["onramp", "events", "dead-letters"],
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=15)},
    max_active_runs=1,
    params={
        "reason": Param(None, type=["null", "string"], description="reason code, e.g. schema.enum or unknown_event"),
        "event_name": Param(None, type=["null", "string"], description="only this event"),
        "since": Param(None, type=["null", "string"], description="received at or after (ISO 8601)"),
        "until": Param(None, type=["null", "string"], description="received before (ISO 8601)"),
        "schema_version": Param(None, type=["null", "string"], description="failed against, e.g. signup_started/v1"),
        "limit": Param(100_000, type="integer", minimum=1, description="at most this many dead letters"),
    },
)
def dlq_replay():
    replay_dead_letters()


dlq_replay()
