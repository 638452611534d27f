"""A snapshot is loaded chunk by chunk into an unpublished work table, each chunk exactly once.

Each chunk's rows commit together with the table's progress (``snapshot_next_chunk``) in one warehouse
transaction, so a chunk is either loaded and counted or neither: whoever loads it (the extraction's
early load, or the apply step) checks the count first and skips what is done. Publishing the work
table to staging is the apply step's, after the gate task.
"""

from __future__ import annotations

from onramp.cdc import state, warehouse
from onramp.cdc.context import Context
from onramp.cdc.errors import CdcError, StaleBatch
from onramp.cdc.failpoints import crash_point
from onramp.cdc.pgtypes import Column

PUBLISHED = object()


def chunk_start(ctx: Context, wh, cur, snapshot: dict, index: int, columns: list[Column]):
    """Lock the state, check chunk ``index`` is the next one, make the work table ready for it.

    Returns the locked state, None when the chunk was loaded before (by the extraction or an earlier
    attempt) or ``PUBLISHED`` when the whole snapshot is published already (a retry after the final
    commit); in those two cases the transaction is rolled back.
    """
    table = ctx.table
    st = state.load(cur, ctx.source.name, table.qualified, lock=True)
    if st is None or st.snapshot_id != snapshot["id"] or st.status != "snapshotting":
        wh.rollback()
        if st is not None and st.snapshot_id == snapshot["id"]:
            return PUBLISHED
        raise StaleBatch(f"{table.id}: snapshot {snapshot['id']} is no longer the table's current snapshot; "
                         "this run's files are obsolete, run the CDC again")
    if index < st.snapshot_next_chunk:
        wh.rollback()
        return None
    if index != st.snapshot_next_chunk:
        raise StaleBatch(f"{table.id}: snapshot chunk {index} arrived but chunk {st.snapshot_next_chunk} is next")
    if index == 0 or not warehouse.table_exists(cur, "cdc_work", table.work_table):
        if index != 0:
            raise CdcError(f"{table.id}: the snapshot work table cdc_work.{table.work_table} is gone; "
                           f"run `onramp cdc resnapshot {table.id}`")
        warehouse.create_work_table(cur, table, columns, with_key=not snapshot["consistent"])
    elif not snapshot["consistent"]:
        warehouse.add_work_key(cur, table)
    return st


def chunk_finish(ctx: Context, cur, st: state.TableState, mode: str, snapshot: dict, chunk: dict) -> None:
    """Record the chunk's progress in the same transaction as its rows (the caller commits)."""
    st.snapshot_next_chunk = chunk["index"] + 1
    st.snapshot_consistent = st.snapshot_consistent and snapshot["consistent"]
    st.last_run_id = ctx.run_id
    state.save(cur, st)
    state.record_batch(cur, source=ctx.source.name, table_name=ctx.table.qualified, batch_id=chunk["batch_id"],
                       kind="snapshot", mode=mode, run_id=ctx.run_id, from_position=None,
                       to_position=None, rows=chunk["rows"], counts={"r": chunk["rows"]}, files=chunk["files"])


def _chunk_meta(chunk: dict) -> dict | None:
    """The metadata every row of a snapshot chunk shares (manifests of older versions do not say)."""
    return {"lsn": chunk["lsn"], "commit_unix_us": chunk["commit_unix_us"]} if "commit_unix_us" in chunk else None


def load_chunk(ctx: Context, wh, mode: str, snapshot: dict, chunk: dict, columns: list[Column]) -> int | object | None:
    """Load one chunk from its files into the work table and commit it with its progress; returns rows loaded.

    None when the chunk was loaded before, ``PUBLISHED`` when the snapshot is published already.
    """
    with wh.cursor() as cur:
        st = chunk_start(ctx, wh, cur, snapshot, chunk["index"], columns)
        if st is None or st is PUBLISHED:
            return st
        loaded = warehouse.load_chunk(cur, ctx.table, columns, ctx.lake_dir, chunk["files"],
                                      upsert=not snapshot["consistent"], batch_rows=ctx.source.batch_rows,
                                      meta=_chunk_meta(chunk))
        chunk_finish(ctx, cur, st, mode, snapshot, chunk)
    wh.commit()
    return loaded


def load_remaining_chunks(ctx: Context, wh, manifest: dict, columns: list[Column]) -> int:
    """Load the chunks the extraction did not load already; returns the rows this run loaded."""
    loaded = 0
    for chunk in manifest["snapshot"]["chunks"]:
        rows = load_chunk(ctx, wh, manifest["mode"], manifest["snapshot"], chunk, columns)
        if rows is PUBLISHED:
            return loaded
        if rows is None:  # loaded before: by this run's extraction (counted), or by an earlier attempt
            loaded += chunk.get("loaded") or 0
            continue
        loaded += rows
        crash_point("mid_snapshot_apply")
    return loaded
