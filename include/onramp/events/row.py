"""The stream row: one accepted event as the collector writes it and the loader reads it.

A row is a JSON array in :data:`ROW_FIELDS` order (compact on the wire and in Redis; the loader zips rows into
columns). Code reads a field by its named position (``row[USER_ID]``), never by a bare number. Change the layout
only together with :data:`ROW_FORMAT`: the loader dead-letters an entry whose format it does not know.

One entry of the events stream carries the rows of one HTTP request: field ``v`` = :data:`ROW_FORMAT`, ``e`` =
the JSON array of rows, ``n`` = how many (see :func:`events_entry`). One entry of the dead-letter stream
carries that request's dead letters: ``d`` = their JSON array, ``n`` = how many.
"""

from __future__ import annotations

UA_FIELDS = ("browser", "browser_version", "os", "os_version", "device")
GEO_FIELDS = ("country", "region", "city")
CAMPAIGN_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer_host",
                   "referrer_type")
ENRICHMENT_FIELDS = UA_FIELDS + GEO_FIELDS + CAMPAIGN_FIELDS  # what ingest derives, in the row's last columns

ROW_FIELDS = ("message_id", "type", "event_name", "event", "name", "user_id", "anonymous_id", "group_id",
              "previous_id", "ts_us", "original_ts_us", "sent_at_us", "received_at_us", "properties", "traits",
              "context", "source", "schema_version", "is_planned", *ENRICHMENT_FIELDS)
COL = {name: i for i, name in enumerate(ROW_FIELDS)}
ROW_FORMAT = b"1"  # entry field "v": bump when ROW_FIELDS changes; the loader reads every version it knows

# Named positions, for code on the hot path (a constant index costs nothing; a dict lookup per field would).
MESSAGE_ID = COL["message_id"]
TYPE = COL["type"]
EVENT_NAME = COL["event_name"]
USER_ID = COL["user_id"]
ANONYMOUS_ID = COL["anonymous_id"]
PREVIOUS_ID = COL["previous_id"]
TS_US = COL["ts_us"]  # event time, corrected for clock skew (epoch microseconds)
RECEIVED_AT_US = COL["received_at_us"]
SOURCE = COL["source"]
SCHEMA_VERSION = COL["schema_version"]
JSON_FIELDS = ("properties", "traits", "context")  # objects; every other field is a scalar

# Field names of stream entries.
ENTRY_FORMAT = "v"
ENTRY_ROWS = "e"
ENTRY_COUNT = "n"
ENTRY_DEAD_LETTERS = "d"


def events_entry(rows_json: bytes, count: int, **extra) -> dict:
    """The fields of one events-stream entry: ``rows_json`` is the JSON array of ``count`` rows."""
    return {ENTRY_FORMAT: ROW_FORMAT, ENTRY_ROWS: rows_json, ENTRY_COUNT: count, **extra}


def dead_letters_entry(letters_json: bytes, count: int) -> dict:
    """The fields of one dead-letter-stream entry: ``letters_json`` is the JSON array of ``count`` dead letters."""
    return {ENTRY_DEAD_LETTERS: letters_json, ENTRY_COUNT: count}


def row_dict(row) -> dict:
    """A row as ``{field name: value}`` (for dead letters and tests; the hot paths index rows directly)."""
    return dict(zip(ROW_FIELDS, row, strict=True))
