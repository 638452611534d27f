"""Reading events-stream entries: the rows to load, and what the loader dead-letters instead.

The common entry decodes in one call (msgspec, straight into typed tuples); only an entry that does not is
looked at row by row, so one bad row costs nothing but itself (:mod:`onramp.stream.poison`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onramp.events.row import ENTRY_FORMAT, ENTRY_ROWS, MESSAGE_ID, ROW_FORMAT
from onramp.stream import poison, records
from onramp.stream.records import RowFormatError

STREAM = "events"  # the stream's name under the prefix, in the ids of dead letters that have no messageId
_ROWS = ENTRY_ROWS.encode()
_FORMAT = ENTRY_FORMAT.encode()


class StreamFormatError(RuntimeError):
    """An entry written in a row format newer than this loader's: it blocks until the loader is upgraded."""


@dataclass
class Decoded:
    rows: list[tuple] = field(default_factory=list)  # distinct by messageId, first seen kept
    stream_ids: list[str] = field(default_factory=list)  # the entry of each row
    events: int = 0  # events read: rows (repeats included) and what the dead letters stand for
    dead: list[poison.LoaderDeadLetter] = field(default_factory=list)


def decode_entries(entries: list[tuple[bytes, dict]]) -> Decoded:
    """The rows of the entries, repeats of a messageId dropped; undecodable entries and rows as dead letters."""
    out = Decoded()
    rows, stream_ids, seen, total = out.rows, out.stream_ids, set(), 0
    for eid, fields in entries:
        if not fields:
            continue  # an entry trimmed away (a pending id whose entry is gone): nothing to load
        stream_id = eid.decode()
        for row in entry_rows(stream_id, fields, out.dead):
            total += 1
            message_id = row[MESSAGE_ID]
            if message_id in seen:
                continue
            seen.add(message_id)
            rows.append(row)
            stream_ids.append(stream_id)
    out.events = total + sum(d.events for d in out.dead)
    return out


def entry_rows(stream_id: str, fields: dict, dead: list[poison.LoaderDeadLetter]) -> list[tuple]:
    """The rows of one entry that decode; appends a dead letter to ``dead`` for the entry or each bad row."""
    blob = fields.get(_ROWS)
    if blob is None:
        dead.append(poison.undecodable_entry(STREAM, stream_id, fields, "the entry has no rows field 'e'"))
        return []
    version = fields.get(_FORMAT, ROW_FORMAT)
    if version != ROW_FORMAT:
        if version.isdigit() and int(version) > int(ROW_FORMAT):
            # not poison: a collector newer than this loader. Dead-lettered, its events could not be replayed;
            # waiting in the stream, they load once the loader is upgraded.
            raise StreamFormatError(
                f"stream entry {stream_id} has row format {version.decode()!r}, newer than this loader's "
                f"{ROW_FORMAT.decode()!r}: upgrade the loader (deploy it before the collector); the entries wait in "
                "the stream, nothing is lost")
        dead.append(poison.unknown_format(STREAM, stream_id, fields, version))
        return []
    try:
        return records.decode_rows(blob)
    except RowFormatError:
        pass
    try:
        rows, bad = records.decode_rows_one_by_one(blob)
    except RowFormatError as exc:
        dead.append(poison.undecodable_entry(STREAM, stream_id, fields, str(exc)))
        return []
    dead.extend(poison.undecodable_row(STREAM, stream_id, index, row_json, problem) for index, row_json, problem in bad)
    return rows
