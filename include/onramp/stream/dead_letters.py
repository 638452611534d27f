"""Dead letters: drain the dead-letter stream into ``ops.dead_letters``; replay them after a plan fix.

Drain: consumer group ``dead_letters`` on ``<prefix>events:dead``; rows are inserted ``ON CONFLICT
(message_id) DO NOTHING`` and only then acknowledged, so redelivery never doubles a dead letter. An entry
that cannot be read is itself kept, raw, as one ``stream.undecodable`` dead letter (it would otherwise stay
pending and stop every drain behind it).

Replay: pending dead letters matching the filters are re-validated against the tracking plan now in
force; those that pass are rebuilt exactly as ingest would have built them (their enrichment was kept)
and re-injected into the events stream (the loader deduplicates on messageId), then marked
``replayed``. A crash between the two leaves them pending; the next replay re-injects them and the
warehouse still holds each once. Ones that still fail keep their status and get the new reasons. Dead
letters whose payload is not a message the plan could pass as is (cut too deep, or the loader's own:
:data:`onramp.events.reasons.NOT_REPLAYABLE`) are never matched.
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
from onramp.collector.ingest import RequestContext, build_row, judge, to_us
from onramp.collector.plan import TrackingPlan
from onramp.events.reasons import EPOCH, NOT_REPLAYABLE
from onramp.events.row import ENRICHMENT_FIELDS, ENTRY_DEAD_LETTERS, MESSAGE_ID, events_entry
from onramp.stream import poison
from onramp.stream.keys import DEAD_LETTER_GROUP, StreamKeys
from onramp.stream.loader import READ_COUNT, ensure_group, trim

log = logging.getLogger("onramp.stream")
REPLAY_CHUNK = 100  # events per re-injected stream entry
DEAD_STREAM = "events:dead"  # the stream's name under the prefix, in the id of an undecodable entry's dead letter
_LETTERS = ENTRY_DEAD_LETTERS.encode()
_EVENTS = -1  # the events column: last in copy_dead_letters_batch.sql, as dead_letter_rows builds its rows


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
            entries = _read(client, keys, consumer, start)
            if not entries:
                break
            rows = [row for eid, fields in entries if fields for row in dead_letter_rows(eid.decode(), fields)]
            if rows:
                _insert(warehouse_url, rows)
            client.xack(keys.dead, DEAD_LETTER_GROUP, *[eid for eid, _ in entries])
            total += sum(row[_EVENTS] for row in rows)
            entries_seen += len(entries)
            if start == "0" and len(entries) < READ_COUNT:
                break
            if max_entries is not None and entries_seen >= max_entries:
                trim(client, keys.dead)
                return total
    trim(client, keys.dead)
    return total


def _read(client: redis.Redis, keys: StreamKeys, consumer: str, start: str) -> list[tuple[bytes, dict]]:
    """Entries of the dead-letter stream: own pending (``0``), or new ones then a dead consumer's (``>``)."""
    reply = client.xreadgroup(DEAD_LETTER_GROUP, consumer, {keys.dead: start}, count=READ_COUNT)
    entries = reply[0][1] if reply else []
    if start == ">" and not entries:
        _, entries, *_ = client.xautoclaim(keys.dead, DEAD_LETTER_GROUP, consumer, 60_000, count=READ_COUNT)
    return entries


def dead_letter_rows(stream_id: str, fields: dict) -> list[tuple]:
    """The ``ops.dead_letters`` rows of one dead-letter-stream entry (copy_dead_letters_batch.sql's columns)."""
    try:
        return [_row(dead, stream_id) for dead in orjson.loads(fields[_LETTERS])]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # orjson's JSONDecodeError is a ValueError
        letter = poison.undecodable_entry(DEAD_STREAM, stream_id, fields,
                                          f"the dead-letter entry cannot be read ({type(exc).__name__}: {exc})")
        log.warning("dead-letter stream entry %s cannot be read; kept raw as %s", stream_id, letter.message_id)
        return [(letter.message_id, _from_us(letter.received_at_us), None, letter.source, None, None,
                 letter.schema_version, [letter.reason.code], Jsonb([letter.reason.as_dict()]), Jsonb(letter.payload),
                 Jsonb({}), stream_id, letter.events)]


def _row(dead: dict, stream_id: str) -> tuple:
    record = dead.get("record") or {}
    request = dead["request"]
    return (
        dead["message_id"], _from_us(request["received_at_us"]), _from_us(request.get("sent_at_us")),
        request["source"], record.get("type"), record.get("event_name"), dead["schema_version"],
        sorted({r["code"] for r in dead["reasons"]}), Jsonb(dead["reasons"]), Jsonb(dead["payload"]),
        Jsonb({k: record.get(k) for k in ENRICHMENT_FIELDS}), stream_id, 1,
    )


def _insert(warehouse_url: str, rows: list[tuple]) -> None:
    with db.connect(warehouse_url, "dead-letters") as conn, conn.transaction():
        conn.execute(db.sql("events", "create_dead_letters_batch"))
        with conn.cursor().copy(db.sql("events", "copy_dead_letters_batch")) as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(db.sql("events", "insert_dead_letters"))


@dataclass
class ReplayFilters:
    """Which dead letters a replay considers (all pending ones by default)."""

    reason: str | None = None  # a reason code, e.g. schema.enum or unknown_event; a prefix ending in * matches many
    event_name: str | None = None
    since: datetime | None = None  # received_at >= since
    until: datetime | None = None  # received_at < until
    schema_version: str | None = None  # the version they failed, e.g. signup_started/v1
    limit: int = 100_000

    def params(self) -> dict:
        """The parameters of ``sql/events/replay_candidates.sql`` (None: no filter)."""
        prefix = self.reason[:-1] if self.reason and self.reason.endswith("*") else None
        return {
            "not_replayable": list(NOT_REPLAYABLE),
            "reason": self.reason if self.reason and prefix is None else None,
            "reason_like": None if prefix is None else prefix.replace("%", r"\%").replace("_", r"\_") + "%",
            "event_name": self.event_name or None, "since": self.since, "until": self.until,
            "schema_version": self.schema_version or None, "limit": self.limit,
        }

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


@dataclass
class _Sorted:
    passing: list[tuple[str, bytes]]  # (messageId, the row's stream encoding)
    duplicate_ids: list[str]
    failing: list[tuple[str, list[dict]]]  # (messageId, reasons)


def _sort(candidates: list[tuple], loaded: set[str], plan: TrackingPlan) -> _Sorted:
    """Judge each candidate as ingest would now: passing (rebuilt, encoded), already loaded, or still failing."""
    out = _Sorted([], [], [])
    for message_id, received_at, sent_at, source, payload, enrichment in candidates:
        if message_id in loaded:
            out.duplicate_ids.append(message_id)
            continue
        verdict = plan.check(payload)
        ctx = RequestContext(source=source, received_at=received_at.astimezone(UTC))
        row = build_row(payload, payload.get("type"), ctx, to_us(sent_at), _Enrichment(enrichment or {}),
                        message_id, verdict.schema_version, verdict.planned)
        encoded, reasons = judge(row, verdict, ctx.received_us)
        if encoded is None:
            out.failing.append((message_id, [r.as_dict() for r in reasons]))
        else:
            out.passing.append((row[MESSAGE_ID], encoded))
    return out


def replay(client: redis.Redis, prefix: str, warehouse_url: str, run_id: str, filters: ReplayFilters,
           plan: TrackingPlan | None = None, plan_dir: Path | None = None) -> ReplayReport:
    """Re-validate matching pending dead letters and re-inject the ones that now pass (idempotent)."""
    if plan is None:
        from onramp.settings import get_settings

        policy = get_settings().collector_unknown_events
        plan = TrackingPlan(plan_dir, policy) if plan_dir else TrackingPlan(unknown_events=policy)
    keys = StreamKeys(prefix)
    report = ReplayReport()
    with db.connect(warehouse_url, "dead-letters") as conn:
        candidates = conn.execute(db.sql("events", "replay_candidates"), filters.params()).fetchall()
        report.matched = len(candidates)
        if not candidates:
            _record_replay(conn, run_id, filters, report)
            conn.commit()
            return report
        loaded = {r[0] for r in conn.execute(db.sql("events", "loaded_message_ids"),
                                             {"message_ids": [c[0] for c in candidates]})}
        judged = _sort(candidates, loaded, plan)
        # 1. re-inject (the loader deduplicates on messageId, so a repeat after a crash here is harmless)
        if judged.passing:
            pipe = client.pipeline(transaction=True)
            for start in range(0, len(judged.passing), REPLAY_CHUNK):
                chunk = [encoded for _, encoded in judged.passing[start:start + REPLAY_CHUNK]]
                pipe.xadd(keys.events, events_entry(b"[" + b",".join(chunk) + b"]", len(chunk), replay=run_id))
            pipe.execute()
        # 2. then mark, in one transaction with the run's report
        with conn.transaction():
            _mark(conn, run_id, judged)
            report.reinjected, report.duplicates = len(judged.passing), len(judged.duplicate_ids)
            report.still_invalid = len(judged.failing)
            _record_replay(conn, run_id, filters, report)
    log.info("replay %s: %s", run_id, report.as_dict())
    return report


def _mark(conn: psycopg.Connection, run_id: str, judged: _Sorted) -> None:
    if judged.passing:
        conn.execute(db.sql("events", "mark_replayed"),
                     {"run_id": run_id, "message_ids": [message_id for message_id, _ in judged.passing]})
    if judged.duplicate_ids:
        conn.execute(db.sql("events", "mark_duplicate"), {"run_id": run_id, "message_ids": judged.duplicate_ids})
    with conn.cursor() as cur:
        cur.executemany(db.sql("events", "record_replay_attempt"),
                        [{"reasons": Jsonb(reasons), "message_id": message_id} for message_id, reasons in judged.failing])


def _record_replay(conn: psycopg.Connection, run_id: str, filters: ReplayFilters, report: ReplayReport) -> None:
    conn.execute(db.sql("events", "record_replay"), {"run_id": run_id, "filters": Jsonb(filters.as_dict()),
                                                     **report.as_dict()})
