"""Turn the messages of one request into stream records: validate, correct the clock, enrich, sort out.

Pure functions (no I/O): the HTTP app calls :func:`process` and writes what it returns to Redis in
one round trip; the dead-letter replay calls the same code, so a replayed event is built exactly as
if it had passed the first time.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from onramp.collector.enrichment import Enricher
from onramp.collector.plan import TrackingPlan, Verdict
from onramp.events.payload import CUT_DEPTH, CUT_MARKER, cut_depth
from onramp.events.reasons import EPOCH, PAYLOAD_TOO_DEEP, Reason, time_reason
from onramp.events.row import ANONYMOUS_ID, PREVIOUS_ID, TS_US, USER_ID, row_dict

TYPES = ("track", "identify", "page", "screen", "group", "alias")
ONE_US = timedelta(microseconds=1)
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")  # \u0000 after an even run of backslashes
_dumps = orjson.dumps


class RequestRejected(Exception):
    """The request as a whole cannot be accepted: answered with ``status`` and a reason, nothing stored."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return {"success": False, "code": self.code, "message": self.message}


@dataclass
class RequestContext:
    """What the collector knows about the request, beyond its body."""

    source: str  # name of the write key's source
    received_at: datetime
    ip: str | None = None
    user_agent: str | None = None  # the HTTP header, used when the message has no context.userAgent

    def __post_init__(self):
        self.received_us = to_us(self.received_at)


@dataclass
class Outcome:
    accepted: list[list] = field(default_factory=list)  # stream rows (onramp.events.row.ROW_FIELDS order)
    encoded: list[bytes] = field(default_factory=list)  # the same rows as JSON, for the stream entry
    dead: list[dict] = field(default_factory=list)  # dead letters
    dead_encoded: list[bytes] = field(default_factory=list)  # the same as JSON, for the dead-letter stream
    identity: dict[str, str] = field(default_factory=dict)  # anonymousId -> userId
    errors: list[dict] = field(default_factory=list)  # per-message reasons for the HTTP answer

    def accept(self, row: list, encoded: bytes, msg_type) -> None:
        """Keep an accepted row and, for identify/alias calls, the identity link it carries."""
        self.accepted.append(row)
        self.encoded.append(encoded)
        if msg_type == "identify" and row[ANONYMOUS_ID] and row[USER_ID]:
            self.identity[row[ANONYMOUS_ID]] = row[USER_ID]
        elif msg_type == "alias" and row[PREVIOUS_ID] and row[USER_ID]:
            self.identity[row[PREVIOUS_ID]] = row[USER_ID]


def replace_nul(body: bytes) -> bytes:
    """The JSON text with every escaped U+0000 turned into U+FFFD: PostgreSQL text and jsonb cannot hold NUL.

    On the text, before parsing (JSON can carry NUL only as ``\\u0000``): no walk over the parsed value,
    which at orjson's 1,024 levels would pass Python's recursion limit.
    """
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", body)


def parse_time(value) -> datetime | None:
    """An ISO-8601 timestamp (naive means UTC), or None when absent or unreadable."""
    if type(value) is not str or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_us(value: datetime | None) -> int | None:
    """Microseconds since the epoch (exact integer arithmetic)."""
    return None if value is None else (value - EPOCH) // ONE_US


_SECONDS: dict[str, int | None] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds (None: not a time)
_SECONDS_MAX = 100_000


def _seconds(prefix: str) -> int | None:
    if prefix not in _SECONDS:
        parsed = parse_time(prefix)
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[prefix] = None if parsed is None else (parsed - EPOCH) // timedelta(seconds=1)
    return _SECONDS[prefix]


def parse_us(value) -> int | None:
    """Epoch microseconds of an ISO-8601 timestamp, or None; ``...SS.fffZ`` / ``...SS.ffffffZ`` / ``...SSZ``
    (what SDKs send) take a fast path that parses each distinct second once."""
    if type(value) is not str:
        return None
    size = len(value)
    if (size == 24 or size == 27 or size == 20) and value[-1] == "Z" and value[10] == "T" and value[16] == ":":
        base = _seconds(value[:19])
        if base is not None:
            if size == 20:
                return base * 1_000_000
            fraction = value[20:-1]
            if value[19] == "." and fraction.isascii() and fraction.isdigit():
                return base * 1_000_000 + int(fraction) * (1000 if size == 24 else 1)
    parsed = parse_time(value)
    return None if parsed is None else (parsed - EPOCH) // ONE_US


def _id(value) -> str | None:
    kind = type(value)
    if kind is str:
        return value or None
    if kind is int or kind is float:
        return str(value)
    return None


def event_time_us(message: dict, batch_sent_us: int | None, received_us: int) -> tuple[int, int | None, int | None]:
    """(corrected event time, original timestamp, sentAt) in epoch microseconds, Segment's rule:
    ``timestamp = receivedAt - (sentAt - originalTimestamp)`` when the client says when it sent."""
    original = parse_us(message.get("timestamp"))
    if original is None:
        original = parse_us(message.get("originalTimestamp"))
    sent = parse_us(message.get("sentAt"))
    if sent is None:
        sent = batch_sent_us
    if original is None:
        return received_us, None, sent
    if sent is None:
        return original, original, None
    return received_us - (sent - original), original, sent


def build_row(message: dict, kind: str, ctx: RequestContext, batch_sent_us: int | None, enricher,
              message_id: str, schema_version: str, is_planned: bool) -> list:
    """The stream row of one message (fields in :data:`onramp.events.row.ROW_FIELDS` order).

    Removes ``context.ip`` from ``message`` itself: the address never leaves the collector (PII), its geo does.
    """
    get = message.get
    context = get("context")
    if type(context) is not dict:
        context = {}
    ip = context.pop("ip", None)
    if type(ip) is not str or not ip:
        ip = ctx.ip
    user_agent = context.get("userAgent")
    if type(user_agent) is not str or not user_agent:
        user_agent = ctx.user_agent
    timestamp, original, sent = event_time_us(message, batch_sent_us, ctx.received_us)
    event = get("event") if kind == "track" else None
    if type(event) is not str:
        event = None
    name = get("name")
    properties = get("properties")
    traits = get("traits")
    if kind == "identify" and type(traits) is not dict:
        traits = context.get("traits")
    row = [  # the order of ROW_FIELDS
        message_id, kind, event or kind, event, name if type(name) is str else None,
        _id(get("userId")), _id(get("anonymousId")), _id(get("groupId")), _id(get("previousId")),
        timestamp, original, sent, ctx.received_us,
        properties if type(properties) is dict else {}, traits if type(traits) is dict else {}, context,
        ctx.source, schema_version, is_planned,
    ]
    row.extend(enricher.enrich(context, ip, user_agent))
    return row


def judge(row: list, verdict: Verdict, received_us: int) -> tuple[bytes | None, list[Reason]]:
    """The row's stream encoding when its event may be accepted; else None and the reasons it may not.

    Shared by ingest and the dead-letter replay, so a replayed event is judged exactly like a fresh one.
    """
    if not verdict.ok:
        return None, list(verdict.reasons)
    late = time_reason(row[TS_US], received_us)
    if late is not None:
        return None, [late]
    try:
        return _dumps(row), []
    except orjson.JSONEncodeError as exc:  # orjson.loads reads 1,024 levels, orjson.dumps writes 254
        return None, [too_deep(exc)]


def too_deep(exc: Exception) -> Reason:
    """Why a message the stream's JSON encoder refused (``exc``) is dead-lettered instead of failing its request."""
    return Reason(PAYLOAD_TOO_DEEP, "$",
                  f"the message cannot be stored as sent ({exc}: it is nested deeper than about 250 levels); "
                  f"the dead letter keeps it cut at {CUT_DEPTH} levels, deeper values replaced by {CUT_MARKER!r}")


def _size(message: dict) -> int:
    """Bytes of the message as JSON (as it would be kept: cut, when too deep to encode)."""
    try:
        return len(_dumps(message))
    except orjson.JSONEncodeError:
        return len(_dumps(cut_depth(message)))


def check_size(index: int, message: dict, limit: int) -> None:
    """Raises :class:`RequestRejected` (413) when one message is over the per-event limit."""
    size = _size(message)
    if size > limit:
        raise RequestRejected(413, "event_too_large",
                              f"message {index} is {size} bytes; the limit is {limit} bytes per event")


def prepare(index: int, message, kind: str | None, batch_context: dict | None) -> tuple[dict, str]:
    """(the message as it will be judged, its messageId): batch context merged, call type imposed, id given."""
    if type(message) is not dict:
        raise RequestRejected(400, "invalid_message", f"message {index} is a JSON {type(message).__name__}, not an object")
    if batch_context and isinstance(message.get("context"), dict | type(None)):
        message = {**message, "context": {**batch_context, **(message.get("context") or {})}}
    if kind is not None and message.get("type") != kind:
        message = {**message, "type": kind}
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        message_id = str(uuid.uuid4())
        if "messageId" not in message:  # generated ids are not the sender's mistake
            message = {**message, "messageId": message_id}
    return message, message_id


def dead_letter(message: dict, row: list, reasons: list[Reason], schema_version: str, ctx: RequestContext,
                batch_sent_us: int | None) -> tuple[dict, bytes]:
    """The dead letter of one message and its JSON for the dead-letter stream.

    A message too deep to encode is kept cut (:func:`cut_depth`) with a ``payload.too_deep`` reason: the
    dead letter must always be storable, or the whole request would fail with it.
    """
    request = {"source": ctx.source, "received_at_us": ctx.received_us, "sent_at_us": batch_sent_us}
    record = row_dict(row)
    try:
        dead = _letter(message, record, reasons, schema_version, request)
        return dead, _dumps(dead)
    except orjson.JSONEncodeError as exc:
        if not any(r.code == PAYLOAD_TOO_DEEP for r in reasons):
            reasons = [*reasons, too_deep(exc)]
        dead = _letter(cut_depth(message), cut_depth(record), reasons, schema_version, request)
        return dead, _dumps(dead)


def _letter(message: dict, record: dict, reasons: list[Reason], schema_version: str, request: dict) -> dict:
    return {
        "message_id": record["message_id"],
        "record": record,
        "payload": message,  # as sent, less context.ip (build_row removed it)
        "reasons": [r.as_dict() for r in reasons],
        "schema_version": schema_version,
        "request": request,
    }


def process(messages: list, kind: str | None, ctx: RequestContext, plan: TrackingPlan, enricher: Enricher,
            *, batch_sent_at: datetime | None = None, batch_context: dict | None = None,
            max_event_bytes: int = 32 * 1024, body_bytes: int | None = None) -> Outcome:
    """Sort the messages of one request into accepted records and dead letters.

    ``kind`` is the call type of a single-message endpoint (it wins over the body's ``type``), or None for
    ``/v1/batch`` where every message names its own. Raises :class:`RequestRejected` for a request that is
    malformed as a whole (a message that is not an object, or one over the size limit).
    """
    out = Outcome()
    batch_sent_us = to_us(batch_sent_at)
    # no message can be over the limit when the whole body is not: then nothing needs measuring
    measure = body_bytes is None or body_bytes > max_event_bytes
    for index, message in enumerate(messages):
        message, message_id = prepare(index, message, kind, batch_context)
        verdict = plan.check(message)
        msg_type = message.get("type")
        row = build_row(message, msg_type if msg_type in TYPES else "invalid", ctx, batch_sent_us, enricher,
                        message_id, verdict.schema_version, verdict.planned)
        encoded, reasons = judge(row, verdict, ctx.received_us)
        if encoded is not None:
            # the row holds what is kept of the message: only a row near the limit can come from a message over it
            if measure and len(encoded) > max_event_bytes - 4096:
                check_size(index, message, max_event_bytes)
            out.accept(row, encoded, msg_type)
            continue
        dead, dead_encoded = dead_letter(message, row, reasons, verdict.schema_version, ctx, batch_sent_us)
        if measure:
            check_size(index, dead["payload"], max_event_bytes)
        out.dead.append(dead)
        out.dead_encoded.append(dead_encoded)
        out.errors.append({"index": index, "messageId": message_id, "reasons": dead["reasons"]})
    return out
