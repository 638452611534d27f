"""The change record: one row per captured change, the same in Parquet, the raw change log and the apply.

Metadata columns (prefixed ``_``) come first, then the table's replicated columns:

| column | meaning |
| --- | --- |
| ``_op`` | ``r`` snapshot read, ``I`` insert, ``U`` update (xmin mode: upsert), ``D`` delete, ``T`` truncate |
| ``_lsn`` | log mode: LSN of the transaction's commit record (an integer; ``pg_lsn`` in the warehouse) |
| ``_seq`` | position of the change inside its transaction: ``(_lsn, _seq)`` identifies a log change |
| ``_xid`` | source transaction id (xmin mode: the row version's xmin, 64-bit) |
| ``_commit_ts`` | commit time (log mode), snapshot time (``r`` rows); null when unknown (xmin mode) |
| ``_detected_by`` | ``snapshot``, ``log``, ``xmin`` or ``reconciliation`` (a delete found by comparing keys) |
| ``_unchanged`` | ``,col,col,``: TOASTed columns an update did not touch (their value is kept), else null |

Deletes carry only the key columns; the other columns are null. The batch that captured a change is
the file's name (see ``lake.py``); the raw change log records it as ``_batch_id``.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from onramp.cdc.pgoutput import UNCHANGED
from onramp.cdc.pgtypes import Column, text_to_arrow

UTC_US = pa.timestamp("us", tz="UTC")
META_FIELDS = (
    pa.field("_op", pa.string(), nullable=False),
    pa.field("_lsn", pa.int64()),
    pa.field("_seq", pa.int32()),
    pa.field("_xid", pa.int64()),
    pa.field("_commit_ts", UTC_US),
    pa.field("_detected_by", pa.string(), nullable=False),
    pa.field("_unchanged", pa.string()),
)
META_NAMES = tuple(f.name for f in META_FIELDS)
OPS = ("r", "I", "U", "D", "T")


def change_schema(columns: list[Column]) -> pa.Schema:
    return pa.schema([*META_FIELDS, *(pa.field(c.name, c.arrow_type) for c in columns)])


def data_columns(schema: pa.Schema) -> list[str]:
    return [name for name in schema.names if name not in META_NAMES]


class ChangeBatcher:
    """Collects decoded changes (text values) and emits Arrow record batches of at most ``batch_rows`` rows."""

    def __init__(self, columns: list[Column], batch_rows: int, sink: Callable[[pa.RecordBatch], None]):
        self.batch_rows = batch_rows
        self.sink = sink
        self.rows = 0
        self.counts = dict.fromkeys(OPS, 0)
        self._set(columns)

    def _set(self, columns: list[Column]) -> None:
        self.columns = list(columns)
        self.schema = change_schema(self.columns)
        self._reset()

    def _reset(self) -> None:
        self._meta: list[list] = [[] for _ in META_FIELDS]
        self._values: list[list] = [[] for _ in self.columns]
        self._pending = 0

    def set_columns(self, columns: list[Column]) -> None:
        """The table's shape changed mid-stream: emit what is pending under the old schema first."""
        if [c.to_dict() for c in columns] != [c.to_dict() for c in self.columns]:
            self.flush()
            self._set(columns)

    def add(self, op: str, values: list, *, lsn: int | None = None, seq: int | None = None, xid: int | None = None,
            commit_unix_us: int | None = None, detected_by: str = "log") -> None:
        """One change; ``values`` aligned with ``self.columns`` (None = NULL, UNCHANGED = keep current value)."""
        unchanged = None
        if any(v is UNCHANGED for v in values):
            names = [c.name for c, v in zip(self.columns, values, strict=True) if v is UNCHANGED]
            unchanged = "," + ",".join(names) + ","
            values = [None if v is UNCHANGED else v for v in values]
        meta = self._meta
        meta[0].append(op)
        meta[1].append(lsn)
        meta[2].append(seq)
        meta[3].append(xid)
        meta[4].append(commit_unix_us)
        meta[5].append(detected_by)
        meta[6].append(unchanged)
        for column_values, value in zip(self._values, values, strict=True):
            column_values.append(value)
        self._pending += 1
        self.rows += 1
        self.counts[op] += 1
        if self._pending >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        meta = self._meta
        arrays = [
            pa.array(meta[0], pa.string()),
            pa.array(meta[1], pa.int64()),
            pa.array(meta[2], pa.int32()),
            pa.array(meta[3], pa.int64()),
            pa.array(meta[4], pa.int64()).cast(UTC_US),
            pa.array(meta[5], pa.string()),
            pa.array(meta[6], pa.string()),
        ]
        arrays += [text_to_arrow(values, column) for values, column in zip(self._values, self.columns, strict=True)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self._reset()
        self.sink(batch)


def with_meta(batch: pa.RecordBatch, schema: pa.Schema, *, op: str, detected_by: str,
              lsn: int | None = None, commit_unix_us: int | None = None, xid: pa.Array | None = None) -> pa.RecordBatch:
    """Wrap a batch of table rows (e.g. a snapshot chunk) with metadata columns, conformed to ``schema``."""
    from onramp.cdc.pgtypes import conform

    n = batch.num_rows
    meta = {
        "_op": pa.repeat(pa.scalar(op, pa.string()), n),
        "_lsn": pa.repeat(pa.scalar(lsn, pa.int64()), n),
        "_seq": pa.nulls(n, pa.int32()),
        "_xid": xid if xid is not None else pa.nulls(n, pa.int64()),
        "_commit_ts": pa.repeat(pa.scalar(commit_unix_us, UTC_US), n),
        "_detected_by": pa.repeat(pa.scalar(detected_by, pa.string()), n),
        "_unchanged": pa.nulls(n, pa.string()),
    }
    arrays = list(meta.values()) + [batch.column(i) for i in range(batch.num_columns)]
    names = list(meta) + batch.schema.names
    return conform(pa.RecordBatch.from_arrays(arrays, names=names), schema)
