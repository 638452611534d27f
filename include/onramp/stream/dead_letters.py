"""Dead letters: drain the dead-letter stream into ``ops.dead_letters``; replay them after a plan fix.

Drain: consumer group ``dead_letters`` on ``<prefix>events:dead``; rows are inserted ``ON CONFLICT
(message_id) DO NOTHING`` and only then acknowledged, so redelivery never doubles a dead letter.

Replay: pending dead letters matching the filters are re-validated against the tracking plan now in
force; those that pass are rebuilt exactly as ingest would have built them (their enrichment was kept)
and re-injected into the events stream (the loader deduplicates on messageId), then marked
``replayed``. A crash between the two leaves them pending; the next replay re-injects them and the
warehouse still holds each once. Ones that still fail keep their status and get the new reasons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import redis
from psycopg.types.json import Jsonb

from onramp import db
from onramp.collector.ingest import RequestContext, build_row, to_us
from onramp.collector.plan import TrackingPlan
from onramp.events.reasons import EPOCH, time_reason
from onramp.events.row import ENRICHMENT_FIELDS, MESSAGE_ID, TS_US, events_entry
from onramp.stream.keys import DEAD_LETTER_GROUP, StreamKeys
from onramp.stream.loader import READ_COUNT, ensure_group, trim

log = logging.getLogger("onramp.stream")
COPY_COLUMNS = ("message_id", "received_at", "sent_at", "source", "type", "event_name", "schema_version", "reason_codes",
                "reasons", "payload", "enrichment", "stream_id")
REPLAY_CHUNK = 100  # events per re-injected stream entry


def _from_us(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def drain_dead_letters(client: redis.Redis, prefix: str, warehouse_url: str, consumer: str,
                       max_entries: int | None = None) -> int:
    """Move dead letters from the stream into ``ops.dead_letters``; returns how many events were read."""
    keys = StreamKeys(prefix)
    ensure_group(client, keys.dead, DEAD_LETTER_GROUP)
    total = 0
    entries_seen = 0
    for start in ("0", ">"):  # own pending first (a crash mid-drain), then new entries
        while True:
            reply = client.xreadgroup(DEAD_LETTER_GROUP, consumer, {keys.dead: start}, count=READ_COUNT)
            entries = reply[0][1] if reply else []
            claimed = []
            if start == ">" and not entries:
                _, claimed, *_ = client.xautoclaim(keys.dead, DEAD_LETTER_GROUP, consumer, 60_000, count=READ_COUNT)
                entries = claimed
            if not entries:
                break
            rows = []
            for eid, fields in entries:
                blob = fields.get(b"d") if fields else None
                if blob is None:
                    continue
                for dead in orjson.loads(blob):
                    record = dead.get("record") or {}
                    rows.append((
                        dead["message_id"], _from_us(dead["request"]["received_at_us"]),
                        _from_us(dead["request"].get("sent_at_us")), dead["request"]["source"],
                        record.get("type"), record.get("event_name"), dead["schema_version"],
                        sorted({r["code"] for r in dead["reasons"]}), Jsonb(dead["reasons"]), Jsonb(dead["payload"]),
                        Jsonb({k: record.get(k) for k in ENRICHMENT_FIELDS}), eid.decode(),
                    ))
            if rows:
                with db.connect(warehouse_url, "dead-letters") as conn, conn.transaction():
                    conn.execute("create temp table dead_letters_batch (like ops.dead_letters including defaults)"
                                 " on commit drop")
                    with conn.cursor().copy(f"copy dead_letters_batch ({', '.join(COPY_COLUMNS)}) from stdin") as copy:
                        for row in rows:
                            copy.write_row(row)
                    conn.execute(db.sql("events", "insert_dead_letters"))
            client.xack(keys.dead, DEAD_LETTER_GROUP, *[eid for eid, _ in entries])
            total += len(rows)
            entries_seen += len(entries)
            if start == "0" and len(entries) < READ_COUNT:
                break
            if max_entries is not None and entries_seen >= max_entries:
                trim(client, keys.dead)
                return total
    trim(client, keys.dead)
    return total


@dataclass
class ReplayFilters:
    """Which dead letters a replay considers (all pending ones by default)."""

    reason: str | None = None  # a reason code, e.g. schema.enum or unknown_event; a prefix ending in * matches many
    event_name: str | None = None
    since: datetime | None = None  # received_at >= since
    until: datetime | None = None  # received_at < until
    schema_version: str | None = None  # the version they failed, e.g. signup_started/v1
    limit: int = 100_000

    def where(self) -> tuple[str, dict]:
        clauses, params = ["status = 'pending'"], {}
        if self.reason:
            if self.reason.endswith("*"):
                clauses.append("exists (select 1 from unnest(reason_codes) c where c like %(reason)s)")
                params["reason"] = self.reason[:-1].replace("%", r"\%").replace("_", r"\_") + "%"
            else:
                clauses.append("%(reason)s = any(reason_codes)")
                params["reason"] = self.reason
        if self.event_name:
            clauses.append("event_name = %(event_name)s")
            params["event_name"] = self.event_name
        if self.since:
            clauses.append("received_at >= %(since)s")
            params["since"] = self.since
        if self.until:
            clauses.append("received_at < %(until)s")
            params["until"] = self.until
        if self.schema_version:
            clauses.append("schema_version = %(schema_version)s")
            params["schema_version"] = self.schema_version
        return " and ".join(clauses), params

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass
class ReplayReport:
    matched: int = 0
    reinjected: int = 0
    still_invalid: int = 0
    duplicates: int = 0  # already in raw.events under the same messageId (the sender fixed and resent it)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Enrichment:
    """Stands in for the enricher on replay: the event keeps what ingest derived when it first arrived."""

    def __init__(self, fields: dict):
        self.fields = fields

    def enrich(self, context, ip, user_agent) -> tuple:
        return tuple(self.fields.get(k) for k in ENRICHMENT_FIELDS)


def replay(client: redis.Redis, prefix: str, warehouse_url: str, run_id: str, filters: ReplayFilters,
           plan: TrackingPlan | None = None, plan_dir: Path | None = None) -> ReplayReport:
    """Re-validate matching pending dead letters and re-inject the ones that now pass (idempotent)."""
    if plan is None:
        from onramp.settings import get_settings

        policy = get_settings().collector_unknown_events
        plan = TrackingPlan(plan_dir, policy) if plan_dir else TrackingPlan(unknown_events=policy)
    keys = StreamKeys(prefix)
    report = ReplayReport()
    where, params = filters.where()
    with db.connect(warehouse_url, "dead-letters") as conn:
        rows = conn.execute(
            f"select message_id, received_at, sent_at, source, payload, enrichment from ops.dead_letters where {where}"
            f" order by received_at limit %(limit)s", {**params, "limit": filters.limit}).fetchall()
        report.matched = len(rows)
        if not rows:
            _record_replay(conn, run_id, filters, report)
            conn.commit()
            return report
        loaded = {r[0] for r in conn.execute("select message_id from raw.events where message_id = any(%s)",
                                             ([r[0] for r in rows],))}
        passing, duplicate_ids, failing = [], [], []
        for message_id, received_at, sent_at, source, payload, enrichment in rows:
            if message_id in loaded:
                duplicate_ids.append(message_id)
                continue
            verdict = plan.check(payload)
            ctx = RequestContext(source=source, received_at=received_at.astimezone(UTC))
            row = build_row(payload, payload.get("type"), ctx, to_us(sent_at), _Enrichment(enrichment or {}),
                            message_id, verdict.schema_version, verdict.planned)
            reasons = list(verdict.reasons)
            if verdict.ok:
                late = time_reason(row[TS_US], ctx.received_us)
                if late:
                    reasons.append(late)
            if reasons:
                failing.append((message_id, [r.as_dict() for r in reasons]))
            else:
                passing.append(row)
        # 1. re-inject (the loader deduplicates on messageId, so a repeat after a crash here is harmless)
        if passing:
            pipe = client.pipeline(transaction=True)
            for start in range(0, len(passing), REPLAY_CHUNK):
                chunk = passing[start:start + REPLAY_CHUNK]
                pipe.xadd(keys.events, events_entry(orjson.dumps(chunk), len(chunk), replay=run_id))
            pipe.execute()
        # 2. then mark, in one transaction with the run's report
        with conn.transaction():
            if passing:
                conn.execute("update ops.dead_letters set status = 'replayed', replayed_at = clock_timestamp(),"
                             " replay_run_id = %s, replay_attempts = replay_attempts + 1"
                             " where message_id = any(%s) and status = 'pending'",
                             (run_id, [row[MESSAGE_ID] for row in passing]))
            if duplicate_ids:
                conn.execute("update ops.dead_letters set status = 'duplicate', replay_run_id = %s"
                             " where message_id = any(%s) and status = 'pending'", (run_id, duplicate_ids))
            with conn.cursor() as cur:
                cur.executemany("update ops.dead_letters set replay_attempts = replay_attempts + 1,"
                                " last_replay_reasons = %s where message_id = %s",
                                [(Jsonb(reasons), message_id) for message_id, reasons in failing])
            report.reinjected, report.duplicates, report.still_invalid = len(passing), len(duplicate_ids), len(failing)
            _record_replay(conn, run_id, filters, report)
    log.info("replay %s: %s", run_id, report.as_dict())
    return report


def _record_replay(conn: psycopg.Connection, run_id: str, filters: ReplayFilters, report: ReplayReport) -> None:
    conn.execute(
        "insert into ops.dead_letter_replays (run_id, filters, matched, reinjected, still_invalid, duplicates)"
        " values (%s, %s, %s, %s, %s, %s) on conflict (run_id) do update set filters = excluded.filters,"
        " matched = excluded.matched, reinjected = excluded.reinjected, still_invalid = excluded.still_invalid,"
        " duplicates = excluded.duplicates, replayed_at = clock_timestamp()",
        (run_id, Jsonb(filters.as_dict()), report.matched, report.reinjected, report.still_invalid, report.duplicates))
