"""Snapshot reading: a table copied to the lake in chunks of heap blocks, inside one repeatable-read transaction.

A snapshot is planned as ranges of heap blocks (TID range scans, PostgreSQL 14+) of about
``snapshot_chunk_rows`` rows each, and recorded in the table's state before it starts, so a killed
read resumes at the next chunk instead of starting over. In log mode the first read adopts the new
slot's exported snapshot: snapshot and stream meet exactly, no gap and no overlap. A resumed read
takes a fresh snapshot, later than the slot's start; replaying the stream from that start makes it
whole (its chunks load as upserts).
"""

from __future__ import annotations

import math
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from onramp import db
from onramp.cdc import catalog, dynamic_sql, state
from onramp.cdc.changes import change_schema, with_meta
from onramp.cdc.channel import Channel
from onramp.cdc.context import Context
from onramp.cdc.early_load import EarlyLoad
from onramp.cdc.errors import CdcError
from onramp.cdc.failpoints import crash_point
from onramp.cdc.lake import LakeWriter
from onramp.cdc.manifest import Chunk
from onramp.cdc.pgtypes import Column
from onramp.cdc.work_table import SnapshotLoad

_SNAPSHOT_NAME = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$", re.IGNORECASE)
DEFAULT_ROWS_PER_BLOCK = 60


def new_snapshot_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}{secrets.token_hex(2)}"


def plan_chunks(shape: catalog.TableShape, chunk_rows: int, version: int) -> tuple[int, int]:
    """(blocks per chunk, chunk count): chunks are ranges of heap blocks, read with TID range scans."""
    if version < 140000 or shape.pages == 0:
        return max(1, shape.pages), 1
    per_block = shape.estimated_rows / shape.pages if shape.estimated_rows > 0 else DEFAULT_ROWS_PER_BLOCK
    blocks = max(1, math.ceil(chunk_rows / max(per_block, 1)))
    return blocks, max(1, math.ceil(shape.pages / blocks))


def start_snapshot(ctx: Context, src, wh, st: state.TableState | None, mode: str,
                   shape: catalog.TableShape) -> state.TableState:
    """Record the intent to snapshot (so a crash right after is recognised), then reset slot and state."""
    table = ctx.table
    fresh = state.TableState(source=ctx.source.name, table_name=table.qualified, target=table.target, mode=mode)
    if st is not None:  # keep what describes the published staging table until the new snapshot replaces it
        fresh.columns, fresh.applied_lsn, fresh.applied_xid = st.columns, st.applied_lsn, st.applied_xid
    fresh.snapshot_id = new_snapshot_id()
    fresh.slot_name = table.slot_name if mode == "log" else None
    fresh.last_run_id = ctx.run_id
    blocks, count = plan_chunks(shape, ctx.source.snapshot_chunk_rows, src.info.server_version)
    fresh.snapshot_blocks_per_chunk, fresh.snapshot_chunks = blocks, count
    state.save_committed(wh, fresh)
    return fresh


def _prefetch(reader: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Decode the next record batches in a thread while the caller encodes Parquet (both release the GIL)."""
    batches: Channel[pa.RecordBatch] = Channel(depth)  # bounded: memory stays a few batches

    def pump() -> None:
        try:
            for batch in reader:
                batches.send(batch)
        except BaseException as exc:  # handed to the consumer, raised there
            batches.close(exc)
        else:
            batches.close()

    thread = threading.Thread(target=pump, name="cdc-prefetch", daemon=True)
    thread.start()
    yield from batches
    thread.join()


def _block_range(index: int, total: int, per_chunk: int) -> tuple[int | None, int | None]:
    """Heap blocks of chunk ``index``; the last chunk is open-ended (it takes blocks added since the plan)."""
    if total <= 1:
        return None, None
    return index * per_chunk, (index + 1) * per_chunk if index < total - 1 else None


def _begin(cur, snapshot_name: str | None) -> tuple[int, int]:
    """Open the read's transaction (on the slot's snapshot, if named); returns its time (unix µs) and xmin."""
    cur.execute("begin isolation level repeatable read read only")
    if snapshot_name:
        if not _SNAPSHOT_NAME.match(snapshot_name):
            raise CdcError(f"unexpected snapshot name {snapshot_name!r}")
        cur.execute(dynamic_sql.set_transaction_snapshot(snapshot_name))
    cur.execute("set local timezone = 'UTC'")
    cur.execute("set local datestyle = 'ISO, YMD'")
    cur.execute("set local intervalstyle = 'postgres'")
    cur.execute(db.sql("cdc", "snapshot_clock"))
    taken_us, xmin = cur.fetchone()
    return taken_us, xmin


def _read_chunk(ctx: Context, cur, st: state.TableState, columns: list[Column], index: int, *, lsn: int | None,
                taken_us: int, early: EarlyLoad | None) -> Chunk:
    """Copy one chunk to the lake (and hand its batches to the early load); returns the chunk's entry."""
    table, schema = ctx.table, change_schema(columns)
    first, end = _block_range(index, st.snapshot_chunks or 1, st.snapshot_blocks_per_chunk or 1)
    cur.execute(dynamic_sql.snapshot_chunk(table, columns, first_block=first, end_block=end))
    batch_id = f"snapshot-{st.snapshot_id}-c{index:05d}"
    date = datetime.fromtimestamp(taken_us / 1e6, UTC).strftime("%Y-%m-%d")
    writer = LakeWriter(ctx.lake_dir, table, batch_id, ctx.run_id, default_date=date, row_group_rows=ctx.source.batch_rows)
    job = early.begin(index, lsn, taken_us) if early is not None else None
    try:
        for batch in _prefetch(cur.fetch_record_batch()):
            batch = with_meta(batch, schema, op="r", detected_by="snapshot", lsn=lsn, commit_unix_us=taken_us)
            writer.write(batch)
            if job is not None:
                job.feed(batch)
        files = writer.close()
    except BaseException:
        writer.abort()
        if job is not None:
            job.end(None)
        raise
    chunk = Chunk(index=index, batch_id=batch_id, files=files, rows=sum(f.rows for f in files), lsn=lsn,
                  commit_unix_us=taken_us)
    if early is not None:
        early.end(chunk, job)
    return chunk


def read_chunks(ctx: Context, st: state.TableState, columns: list[Column], *, first: int,
                snapshot_name: str | None, lsn: int | None, early: EarlyLoad | None = None) -> tuple[list[Chunk], int, int]:
    """Copy chunks ``first..`` of the table to the lake in one repeatable-read transaction.

    With ``snapshot_name`` the transaction adopts the slot's exported snapshot (exactly the slot's
    start); without, it takes a fresh one (resuming: later than the slot's start, which the stream's
    replay from that start makes whole). Returns (chunks, snapshot time in unix µs, snapshot xmin).
    ``early`` gates and loads each chunk into the work table as it is read (see :mod:`onramp.cdc.early_load`).
    """
    conn = db.connect_arrow(ctx.source_url, "cdc", autocommit=True)
    chunks = []
    try:
        cur = conn.cursor()
        taken_us, xmin = _begin(cur, snapshot_name)
        for index in range(first, st.snapshot_chunks or 1):
            chunks.append(_read_chunk(ctx, cur, st, columns, index, lsn=lsn, taken_us=taken_us, early=early))
            crash_point("mid_extract")
        cur.execute("commit")
        cur.close()
    finally:
        conn.close()
    return chunks, taken_us, xmin


def read_snapshot(ctx: Context, st: state.TableState, columns: list[Column], *, mode: str, consistent: bool,
                  suite_dir: Path | None, early: bool, **read) -> tuple[list[Chunk], int, int]:
    """:func:`read_chunks`, with each chunk gated and loaded into the work table as it is read (``early``)."""
    if not early:
        return read_chunks(ctx, st, columns, **read)
    loader = EarlyLoad(SnapshotLoad(ctx, mode, st.snapshot_id, consistent, columns), suite_dir=suite_dir)
    try:
        return read_chunks(ctx, st, columns, early=loader, **read)
    finally:
        loader.close()
