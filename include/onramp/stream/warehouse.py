"""The stream loader's warehouse side: one transaction per micro-batch, and the reads lake recovery needs.

One transaction (step 3 of :mod:`onramp.stream.loader`): lock ``raw.events`` against other writers, binary
``COPY`` (ADBC) of the batch straight into ``raw.events``, identity links, the loader's own dead letters
(:mod:`onramp.stream.poison`) and the batch's row in ``ops.event_load_batches``, where events = loaded +
duplicates + dead_lettered. Binary COPY straight into ``raw.events`` skips a temp table of the whole batch and
``INSERT ... ON CONFLICT``'s speculative insertion (measured here: ~1.2 s instead of ~1.6 s per 50k events).

The common batch holds only new messageIds and rows the warehouse takes, so the COPY is tried first. When the
primary key refuses a messageId (a redelivery, a repeat across batches) the transaction is rolled back and
redone: lock, look up which messageIds are loaded already, COPY the rest; the lock makes "not loaded yet" hold
until commit, so each event is still inserted exactly once. When the COPY refuses a row's data (a NUL in text,
``\\u0000`` in jsonb, ...), the refused rows are found by bisection and the transaction is redone without them,
each dead-lettered as ``warehouse.refused`` with the database's message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from onramp import db
from onramp.stream import poison, records
from onramp.stream.entries import STREAM

log = logging.getLogger("onramp.stream")
COMPONENT = "stream-loader"
_SQL = ("lock_events", "existing_events", "upsert_identity_map", "record_batch", "mark_lake_written",
        "lake_pending_batches", "export_batch", "insert_loader_dead_letters", "create_event_probe")


@dataclass
class PreparedBatch:
    """A decoded, gated micro-batch, ready for its transaction."""

    batch_id: str
    ids: list[bytes]  # stream entry ids, acknowledged once published
    first: str
    last: str
    events: int  # events in the entries, repeats and undecodable ones included
    table: pa.Table | None  # distinct events, gated; None when the entries held none
    dead: list[poison.LoaderDeadLetter] = field(default_factory=list)  # entries and rows that did not decode


@dataclass
class Published:
    inserted: pa.Array  # messageIds now in raw.events
    table: pa.Table | None  # the batch less the rows the warehouse refused
    dead_lettered: int  # events of the dead letters inserted


class Warehouse:
    """The loader's connections to the warehouse: ADBC for the batch transaction and exports, psycopg for state."""

    def __init__(self, url: str, stream_key: str):
        self.url = url
        self.stream_key = stream_key  # recorded with each batch
        self._arrow = None  # ADBC connection (the publishing thread's, and lake recovery's before the loop)
        self._rows = None  # psycopg connection of the publishing thread
        self._sql = {name: db.sql("events", name) for name in _SQL}

    def _arrow_conn(self):
        if self._arrow is None:
            self._arrow = db.connect_arrow(self.url, COMPONENT)
        return self._arrow

    def _rows_conn(self):
        if self._rows is None or self._rows.closed:
            self._rows = db.connect(self.url, COMPONENT)
        return self._rows

    def close(self) -> None:
        for name in ("_arrow", "_rows"):
            conn = getattr(self, name)
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # a broken connection may fail to close; it is dropped either way
                    pass
                setattr(self, name, None)

    # ------------------------------------------------------------------ the batch transaction

    def publish(self, batch: PreparedBatch) -> Published:
        """One transaction: lock, COPY, identity links, dead letters, batch record; what it inserted."""
        import adbc_driver_manager

        conn = self._arrow_conn()
        look_up, refused = False, None
        try:
            while True:
                try:
                    published = self._insert(conn, batch, look_up=look_up, refused=refused or {})
                    conn.commit()
                    return published
                except adbc_driver_manager.Error as exc:
                    conn.rollback()
                    if not look_up and _repeated_message_id(exc):
                        look_up = True
                    elif refused is None and _refused_data(exc) and batch.table is not None:
                        refused = self._find_refused(conn, batch.table)
                    else:
                        raise
        except Exception:
            try:
                conn.rollback()
            except Exception:  # a broken connection cannot roll back; closing it does
                pass
            finally:
                self.close()
            raise

    def _insert(self, conn, batch: PreparedBatch, *, look_up: bool, refused: dict[int, str]) -> Published:
        table, dead = batch.table, list(batch.dead)
        if refused:
            dead += [poison.refused_row(STREAM, table["stream_id"][i].as_py(), records.row_at(table, i), message)
                     for i, message in sorted(refused.items())]
            table = table.filter(pa.array([i not in refused for i in range(table.num_rows)]))
        with conn.cursor() as cur:
            cur.execute(self._sql["lock_events"])
            fresh = self._not_loaded(cur, table) if look_up and table is not None else table
            loaded = fresh.num_rows if fresh is not None else 0
            if loaded:
                cur.adbc_ingest("events", records.for_copy(fresh), mode="append", db_schema_name="raw")
                cur.execute(self._sql["upsert_identity_map"], (batch.batch_id,))
            dead_lettered = 0
            if dead:
                cur.adbc_ingest("loader_dead_letters", poison.to_table(dead), mode="replace", temporary=True)
                cur.execute(self._sql["insert_loader_dead_letters"], (batch.batch_id,))
                dead_lettered = int(cur.fetchone()[0])
            cur.execute(self._sql["record_batch"], (batch.batch_id, self.stream_key, batch.first, batch.last,
                                                    len(batch.ids), batch.events, loaded,
                                                    batch.events - loaded - dead_lettered, dead_lettered))
        inserted = fresh["message_id"] if fresh is not None else pa.array([], pa.string())
        if isinstance(inserted, pa.ChunkedArray):
            inserted = inserted.combine_chunks()
        return Published(inserted, table, dead_lettered)

    def _not_loaded(self, cur, table: pa.Table) -> pa.Table:
        """The rows of ``table`` whose messageIds ``raw.events`` does not hold yet (under the lock)."""
        cur.adbc_ingest("event_ids", table.select(["message_id"]), mode="replace", temporary=True)
        cur.execute(self._sql["existing_events"])
        existing = cur.fetch_arrow_table()["message_id"]
        if not len(existing):
            return table
        return table.filter(pc.invert(pc.is_in(table["message_id"], value_set=existing)))

    def _find_refused(self, conn, table: pa.Table) -> dict[int, str]:
        """Row index -> the database's reason, for each row ``raw.events`` refuses: bisection, each part COPYed
        into an empty table shaped like ``raw.events`` and rolled back (about 2 log2(n) COPYs per bad row)."""
        with conn.cursor() as cur:
            cur.execute(self._sql["create_event_probe"])
        conn.commit()
        refused: dict[int, str] = {}
        parts = [(0, table.num_rows)]
        while parts:
            start, stop = parts.pop()
            problem = _probe(conn, table.slice(start, stop - start))
            if problem is None:
                continue
            if stop - start == 1:
                refused[start] = problem
                log.warning("raw.events refuses message %s: %s", table["message_id"][start].as_py(), problem)
                continue
            middle = (start + stop) // 2
            parts += [(middle, stop), (start, middle)]
        return refused

    # ------------------------------------------------------------------ lake state

    def mark_lake_written(self, batch_id: str, files: list[str]) -> None:
        from psycopg.types.json import Jsonb

        conn = self._rows_conn()
        try:
            conn.execute(self._sql["mark_lake_written"], {"batch_id": batch_id, "files": Jsonb(files)})
            conn.commit()
        except Exception:
            self.close()
            raise

    def lake_pending(self) -> list[str]:
        """Batches committed whose lake files were never confirmed (the loader died in between)."""
        with db.connect(self.url, COMPONENT) as conn:
            return [row[0] for row in conn.execute(self._sql["lake_pending_batches"])]

    def export(self, batch_id: str) -> pa.Table:
        """The rows one committed batch inserted, in :data:`onramp.stream.records.SCHEMA`."""
        conn = self._arrow_conn()
        with conn.cursor() as cur:
            cur.execute(self._sql["export_batch"], (batch_id,))
            table = cur.fetch_arrow_table()
        conn.commit()
        return table.cast(records.SCHEMA)


def _probe(conn, part: pa.Table) -> str | None:
    """Why the warehouse refuses ``part`` (None when it takes it); nothing stays written."""
    try:
        with conn.cursor() as cur:
            cur.adbc_ingest("event_probe", records.for_copy(part), mode="append", temporary=True)
        return None
    except Exception as exc:
        if not _refused_data(exc):
            raise
        return _database_message(exc)
    finally:
        conn.rollback()


def _repeated_message_id(exc: Exception) -> bool:
    """The primary key refused a messageId: loaded before (a redelivery, a repeat across batches)."""
    return getattr(exc, "sqlstate", None) == "23505"


def _refused_data(exc: Exception) -> bool:
    """The warehouse refused a row's data (a data exception, or a constraint other than the primary key)."""
    import adbc_driver_manager

    return isinstance(exc, adbc_driver_manager.DataError) or (
        isinstance(exc, adbc_driver_manager.IntegrityError) and not _repeated_message_id(exc))


def _database_message(exc: Exception) -> str:
    """The server's words from a driver error: ``<message> (column <c>, SQLSTATE <s>)``."""
    text = str(exc)
    message = text.partition("ERROR:")[2].strip().splitlines()[0].strip() if "ERROR:" in text else db.first_line(exc)
    column = re.search(r"COPY \w+, line \d+, column (\w+)", text)
    details = [f"column {column.group(1)}"] if column else []
    if getattr(exc, "sqlstate", None):
        details.append(f"SQLSTATE {exc.sqlstate}")
    return message + (f" ({', '.join(details)})" if details else "")
