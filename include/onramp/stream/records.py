"""Stream rows -> Arrow: the one column layout shared by the lake files and the warehouse temp table."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Annotated

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from onramp.events.row import COL, ENRICHMENT_FIELDS, JSON_FIELDS, ROW_FIELDS

TS = pa.timestamp("us", tz="UTC")
STRING_COLUMNS = ("message_id", "type", "event_name", "event", "name", "user_id", "anonymous_id", "group_id",
                  "previous_id")
TIME_COLUMNS = (("event_at", "ts_us"), ("original_at", "original_ts_us"), ("sent_at", "sent_at_us"),
                ("received_at", "received_at_us"))
JSON_COLUMNS = JSON_FIELDS
TAIL_COLUMNS = ("source", "schema_version")

SCHEMA = pa.schema(
    [(name, pa.string()) for name in STRING_COLUMNS]
    + [("event_at", TS), ("event_date", pa.date32())]
    + [(name, TS) for name, _ in TIME_COLUMNS[1:]]
    + [(name, pa.string()) for name in JSON_COLUMNS]
    + [(name, pa.string()) for name in TAIL_COLUMNS]
    + [("is_planned", pa.bool_())]
    + [(name, pa.string()) for name in ENRICHMENT_FIELDS]
    + [("stream_id", pa.string()), ("load_batch_id", pa.string())]
)


# Times are epoch microseconds within years 1-9999: what the collector can write (Python's datetime range), and
# what PostgreSQL and the Arrow drivers take (a time far outside it fails the COPY, or the driver, not the row).
_US = msgspec.Meta(ge=-62_135_596_800_000_000, le=253_402_300_799_999_999)
_TIME = Annotated[int, _US]
_FIELD_TYPES = {"ts_us": _TIME, "received_at_us": _TIME, "original_ts_us": _TIME | None, "sent_at_us": _TIME | None,
                "is_planned": bool, "message_id": str, "type": str, "event_name": str, "source": str,
                "schema_version": str, **dict.fromkeys(JSON_COLUMNS, msgspec.Raw)}
ROW_TYPE = tuple[tuple(_FIELD_TYPES.get(name, str | None) for name in ROW_FIELDS)]
_decoder = msgspec.json.Decoder(list[ROW_TYPE])
_row_decoder = msgspec.json.Decoder(ROW_TYPE)
_items_decoder = msgspec.json.Decoder(list[msgspec.Raw])


class RowFormatError(ValueError):
    """A stream entry's rows do not have the layout this loader reads."""


def decode_rows(blob: bytes) -> list[tuple]:
    """The rows of one stream entry; properties/traits/context stay raw JSON (never parsed, never re-dumped)."""
    try:
        return _decoder.decode(blob)
    except msgspec.DecodeError as exc:  # ValidationError (a row of another layout) is a DecodeError too
        raise RowFormatError(f"stream rows do not match the loader's layout: {exc}") from None


def decode_rows_one_by_one(blob: bytes) -> tuple[list[tuple], list[tuple[int, bytes, str]]]:
    """(the rows that decode, then ``(index, raw JSON, problem)`` of each that does not), for an entry that
    :func:`decode_rows` refused: one bad row must not cost its neighbours. Raises :class:`RowFormatError` when
    the entry is not a JSON array at all."""
    try:
        items = _items_decoder.decode(blob)
    except msgspec.DecodeError as exc:
        raise RowFormatError(f"the entry is not a JSON array of rows: {exc}") from None
    rows, bad = [], []
    for index, item in enumerate(items):
        try:
            rows.append(_row_decoder.decode(item))
        except msgspec.DecodeError as exc:
            bad.append((index, bytes(item), f"row {index} does not match the loader's layout: {exc}"))
    return rows, bad


def row_at(table: pa.Table, index: int) -> dict:
    """Row ``index`` of a :data:`SCHEMA` table as a stream row, by field name (times as epoch microseconds)."""
    row = {}
    for name in ROW_FIELDS:
        value = table[_TIME_FIELDS.get(name, name)][index]
        row[name] = value.cast(pa.int64()).as_py() if name in _TIME_FIELDS else value.as_py()
    return row


_TIME_FIELDS = {key: name for name, key in TIME_COLUMNS}  # stream field -> column


@contextmanager
def no_gc():
    """Millions of short-lived tuples and no cycles: the cyclic GC would only slow the batch down."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def to_table(rows: list, stream_ids: list[str], batch_id: str) -> pa.Table:
    """Arrow table of stream rows (``ROW_FIELDS`` order, as lists or decoded tuples) in :data:`SCHEMA` order."""
    with no_gc():
        return _to_table(rows, stream_ids, batch_id)


def _json_column(values: tuple) -> pa.Array:
    """A string column of JSON texts: the decoder's raw values joined into one buffer with their offsets
    (no bytes object per value); values of rows built in-process (dicts) are encoded first."""
    try:
        data = b"".join(values)  # raw values and bytes join; a dict (or anything else) raises TypeError
    except TypeError:
        values = [v if type(v) is msgspec.Raw else msgspec.json.encode(v) for v in values]
        data = b"".join(values)
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    column = pa.Array.from_buffers(pa.large_string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return column.cast(pa.string())


def _to_table(rows: list, stream_ids: list[str], batch_id: str) -> pa.Table:
    columns_in = list(zip(*rows, strict=True)) if rows else [()] * len(COL)
    columns: dict[str, pa.Array] = {}
    for name in STRING_COLUMNS + TAIL_COLUMNS + ENRICHMENT_FIELDS:
        # via binary: the decoder's str objects have no cached UTF-8 form, and pyarrow's str conversion would
        # create and cache one per value (measured 2-4x slower than encoding them as binary, then validating)
        columns[name] = pa.array(columns_in[COL[name]], pa.binary()).cast(pa.string())
    for name, key in TIME_COLUMNS:
        values = columns_in[COL[key]]
        columns[name] = pa.array(values, pa.int64()).cast(TS)
        if name == "event_at":  # its UTC date
            columns["event_date"] = columns[name].cast(pa.date32())
    for name in JSON_COLUMNS:
        columns[name] = _json_column(columns_in[COL[name]])
    columns["is_planned"] = pa.array(columns_in[COL["is_planned"]], pa.bool_())
    columns["stream_id"] = pa.array(stream_ids, pa.binary()).cast(pa.string())
    columns["load_batch_id"] = pa.array([batch_id] * len(rows), pa.string())
    return pa.table([columns[f.name] for f in SCHEMA], schema=SCHEMA)


_JSONB_VERSION = pa.scalar(b"\x01")
_NOTHING = pa.scalar(b"")


def for_copy(table: pa.Table) -> pa.Table:
    """The table as binary COPY into ``raw.events`` needs it: jsonb's binary input is a version byte (1) then
    the JSON text, so the JSON columns become binary values carrying that byte."""
    for name in JSON_COLUMNS:
        index = table.schema.get_field_index(name)
        column = pc.binary_join_element_wise(_JSONB_VERSION, table[name].cast(pa.binary()), _NOTHING)
        table = table.set_column(index, pa.field(name, pa.binary()), column)
    return table
