"""What the stream loader dead-letters itself: entries or rows it cannot read, rows the warehouse refuses.

Before, one such entry stayed pending for good and every later batch waited behind it. Now each becomes a row
of ``ops.dead_letters`` with a machine-readable reason and its raw content, written in the same warehouse
transaction as the batch it came in (so a redelivery finds it there and counts it once), and the entry is
acknowledged with its batch:

* ``stream.undecodable``: an entry with no rows field, a row format this loader does not know, or a body that
  is not a JSON array (one dead letter for the entry, standing for the events its ``n`` declared); or one row
  of a readable entry that does not match the row layout (one dead letter for that row; its neighbours load);
* ``warehouse.refused``: a row ``raw.events`` refused (a COPY data error that is not a repeated messageId),
  with the database's message; the rest of the batch loads.

The payload keeps the raw content losslessly: text as text, bytes that are not clean UTF-8 (or hold NUL, which
PostgreSQL cannot store) as ``{"base64": ...}``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import orjson
import pyarrow as pa

from onramp.events.reasons import STREAM_UNDECODABLE, WAREHOUSE_REFUSED, Reason
from onramp.events.row import ENTRY_COUNT, ROW_FORMAT

UNKNOWN = "unknown"  # source of a dead letter whose row could not be read
_COUNT_FIELD = ENTRY_COUNT.encode()
TS = pa.timestamp("us", tz="UTC")
COLUMNS = pa.schema([("message_id", pa.string()), ("received_at", TS), ("sent_at", TS), ("source", pa.string()),
                     ("type", pa.string()), ("event_name", pa.string()), ("schema_version", pa.string()),
                     ("reason_code", pa.string()), ("reasons", pa.string()), ("payload", pa.string()),
                     ("stream_id", pa.string()), ("events", pa.int32())])


@dataclass(frozen=True)
class LoaderDeadLetter:
    """One row of ``ops.dead_letters`` written by the loader."""

    message_id: str  # the row's messageId, or stream:<stream>:<entry id>[:<row index>] when it has none
    stream_id: str
    received_at_us: int
    reason: Reason
    payload: dict
    events: int = 1  # events it stands for: 1, or what an unreadable entry declared
    source: str = UNKNOWN
    type: str | None = None
    event_name: str | None = None
    schema_version: str = ""  # the schema the event had passed, when known
    sent_at_us: int | None = None


def entry_time_us(stream_id: str) -> int:
    """When Redis took the entry (its id is milliseconds-sequence), as epoch microseconds."""
    return int(stream_id.partition("-")[0]) * 1000


def declared_events(fields: dict | None) -> int:
    """The events an entry says it carries (field ``n``); 1 when it says nothing readable."""
    try:
        return max(1, int((fields or {}).get(_COUNT_FIELD, 1)))
    except (TypeError, ValueError):
        return 1


def raw(value: bytes | str):
    """Raw content as it can be stored in jsonb: the text, or ``{"base64": ...}`` when it is not clean UTF-8
    (PostgreSQL cannot store NUL either)."""
    data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return {"base64": base64.b64encode(data).decode()}
    return text


def undecodable_entry(stream: str, stream_id: str, fields: dict, problem: str) -> LoaderDeadLetter:
    """A whole entry the loader cannot read."""
    return LoaderDeadLetter(
        message_id=f"stream:{stream}:{stream_id}", stream_id=stream_id, received_at_us=entry_time_us(stream_id),
        reason=Reason(STREAM_UNDECODABLE, "$", problem),
        payload={"stream": stream, "stream_entry": stream_id, "fields": {_key(k): raw(v) for k, v in fields.items()}},
        events=declared_events(fields))


def unknown_format(stream: str, stream_id: str, fields: dict, version: bytes) -> LoaderDeadLetter:
    return undecodable_entry(stream, stream_id, fields,
                             f"the entry has row format {raw(version)!r}, which no Onramp collector writes; this loader "
                             f"reads {ROW_FORMAT.decode()!r}")


def undecodable_row(stream: str, stream_id: str, index: int, row_json: bytes, problem: str) -> LoaderDeadLetter:
    """One row of a readable entry that does not match the layout (its neighbours load)."""
    message_id = _message_id(row_json) or f"stream:{stream}:{stream_id}:{index}"
    return LoaderDeadLetter(
        message_id=message_id, stream_id=stream_id, received_at_us=entry_time_us(stream_id),
        reason=Reason(STREAM_UNDECODABLE, "$", problem),
        payload={"stream": stream, "stream_entry": stream_id, "row_index": index, "row": raw(row_json)})


def refused_row(stream: str, stream_id: str, row: dict, message: str) -> LoaderDeadLetter:
    """A row (by field name, :func:`onramp.stream.records.row_at`) that ``raw.events`` refused."""
    return LoaderDeadLetter(
        message_id=_clean(row["message_id"]), stream_id=stream_id, received_at_us=row["received_at_us"],
        reason=Reason(WAREHOUSE_REFUSED, "$", f"raw.events refused the row: {message}"),
        payload={"stream": stream, "stream_entry": stream_id,
                 "row": {k: raw(v) if isinstance(v, str) else v for k, v in row.items()}},
        source=_clean(row["source"]), type=_clean(row["type"]), event_name=_clean(row["event_name"]),
        schema_version=_clean(row["schema_version"]), sent_at_us=row["sent_at_us"])


def to_table(letters: list[LoaderDeadLetter]) -> pa.Table:
    """The dead letters as the temp table the insert reads (:data:`COLUMNS`)."""
    columns = {
        "message_id": [d.message_id for d in letters],
        "received_at": [d.received_at_us for d in letters],
        "sent_at": [d.sent_at_us for d in letters],
        "source": [d.source for d in letters],
        "type": [d.type for d in letters],
        "event_name": [d.event_name for d in letters],
        "schema_version": [d.schema_version for d in letters],
        "reason_code": [d.reason.code for d in letters],
        "reasons": [orjson.dumps([d.reason.as_dict()]).decode() for d in letters],
        "payload": [orjson.dumps(d.payload).decode() for d in letters],
        "stream_id": [d.stream_id for d in letters],
        "events": [d.events for d in letters],
    }
    arrays = [pa.array(columns[f.name], pa.int64() if f.type == TS else f.type).cast(f.type) for f in COLUMNS]
    return pa.table(arrays, schema=COLUMNS)


_MESSAGE_ID = re.compile(rb'^\s*\[\s*"((?:[^"\\]|\\.){1,200})"')


def _message_id(row_json: bytes) -> str | None:
    """The messageId a malformed row still starts with, if any (for the analyst's search)."""
    match = _MESSAGE_ID.match(row_json)
    if not match:
        return None
    try:
        value = orjson.loads(b'"' + match.group(1) + b'"')
    except orjson.JSONDecodeError:
        return None
    return _clean(value) or None


def _key(name: bytes | str) -> str:
    text = name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else str(name)
    return _clean(text)


def _clean(value):
    """Text PostgreSQL can store (NUL -> U+FFFD), as the collector does for what it receives."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value
