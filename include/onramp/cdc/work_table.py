"""A snapshot is loaded chunk by chunk into an unpublished work table, each chunk exactly once.

Each chunk's rows commit together with the table's progress (``snapshot_next_chunk``) in one warehouse
transaction, so a chunk is either loaded and counted or neither: whoever loads it (the extraction's
early load, or the apply step) checks the count first and skips what is done. Publishing the work
table to staging is the apply step's, after the gate task.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from onramp.cdc import state, warehouse
from onramp.cdc.context import Context
from onramp.cdc.errors import CdcError, StaleBatch
from onramp.cdc.failpoints import crash_point
from onramp.cdc.manifest import Chunk, Manifest
from onramp.cdc.pgtypes import Column


class Done(Enum):
    """Why a chunk is not loaded now (its transaction was rolled back)."""

    BEFORE = "loaded before"  # by the extraction, or by an earlier attempt
    PUBLISHED = "published"  # the whole snapshot is in staging already (a retry after the final commit)


@dataclass(frozen=True)
class SnapshotLoad:
    """One snapshot's chunks going into the work table."""

    ctx: Context
    mode: str
    snapshot_id: str
    consistent: bool  # False: chunks may overlap (a resumed snapshot), so they load as upserts
    columns: list[Column]


def chunk_start(load: SnapshotLoad, wh, cur, index: int) -> state.TableState | Done:
    """Lock the state, check chunk ``index`` is the next one, make the work table ready for it.

    Returns the locked state, or why the chunk is done already (the transaction is then rolled back).
    """
    ctx, table = load.ctx, load.ctx.table
    st = state.load(cur, ctx.source.name, table.qualified, lock=True)
    if st is None or st.snapshot_id != load.snapshot_id or st.status != "snapshotting":
        wh.rollback()
        if st is not None and st.snapshot_id == load.snapshot_id:
            return Done.PUBLISHED
        raise StaleBatch(f"{table.id}: snapshot {load.snapshot_id} is no longer the table's current snapshot; "
                         "this run's files are obsolete, run the CDC again")
    if index < st.snapshot_next_chunk:
        wh.rollback()
        return Done.BEFORE
    if index != st.snapshot_next_chunk:
        raise StaleBatch(f"{table.id}: snapshot chunk {index} arrived but chunk {st.snapshot_next_chunk} is next")
    if index == 0 or not warehouse.table_exists(cur, "cdc_work", table.work_table):
        if index != 0:
            raise CdcError(f"{table.id}: the snapshot work table cdc_work.{table.work_table} is gone; "
                           f"run `onramp cdc resnapshot {table.id}`")
        warehouse.create_work_table(cur, table, load.columns, with_key=not load.consistent)
    elif not load.consistent:
        warehouse.add_work_key(cur, table)
    return st


def chunk_finish(load: SnapshotLoad, cur, st: state.TableState, chunk: Chunk) -> None:
    """Record the chunk's progress in the same transaction as its rows (the caller commits)."""
    ctx = load.ctx
    st.snapshot_next_chunk = chunk.index + 1
    st.snapshot_consistent = st.snapshot_consistent and load.consistent
    st.last_run_id = ctx.run_id
    state.save(cur, st)
    state.record_batch(cur, source=ctx.source.name, table_name=ctx.table.qualified, batch_id=chunk.batch_id,
                       kind="snapshot", mode=load.mode, run_id=ctx.run_id, from_position=None,
                       to_position=None, rows=chunk.rows, counts={"r": chunk.rows}, files=chunk.files)


def load_chunk(load: SnapshotLoad, wh, chunk: Chunk) -> int | Done:
    """Load one chunk from its files into the work table and commit it with its progress; returns rows loaded."""
    ctx = load.ctx
    with wh.cursor() as cur:
        st = chunk_start(load, wh, cur, chunk.index)
        if isinstance(st, Done):
            return st
        # the metadata every row of the chunk shares (manifests from before the early load do not carry it)
        shared = (chunk.lsn, chunk.commit_unix_us) if chunk.commit_unix_us is not None else None
        loaded = warehouse.load_chunk(cur, ctx.table, load.columns, ctx.lake_dir, chunk.files, upsert=not load.consistent,
                                      batch_rows=ctx.source.batch_rows, shared_meta=shared)
        chunk_finish(load, cur, st, chunk)
    wh.commit()
    return loaded


def load_remaining_chunks(ctx: Context, wh, manifest: Manifest) -> int:
    """Load the chunks the extraction did not load already; returns the rows this run loaded."""
    snapshot = manifest.snapshot
    load = SnapshotLoad(ctx, manifest.mode, snapshot.id, snapshot.consistent, manifest.columns)
    loaded = 0
    for chunk in snapshot.chunks:
        rows = load_chunk(load, wh, chunk)
        if rows is Done.PUBLISHED:
            return loaded
        if rows is Done.BEFORE:  # by this run's extraction (counted), or by an earlier attempt
            loaded += chunk.loaded or 0
            continue
        loaded += rows
        crash_point("mid_snapshot_apply")
    return loaded
