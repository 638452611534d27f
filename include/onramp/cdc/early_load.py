"""The early load: gate and load each snapshot chunk into the work table while the extraction reads on.

Two threads, one per core: the extraction reads the source and writes Parquet; a loader thread copies the
same record batches into the unpublished work table (see :mod:`onramp.cdc.work_table`). See :class:`EarlyLoad`.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import pyarrow as pa

from onramp.cdc import state, warehouse
from onramp.cdc.context import Context
from onramp.cdc.errors import CdcError
from onramp.cdc.failpoints import crash_point
from onramp.cdc.pgtypes import Column
from onramp.cdc.work_table import PUBLISHED, chunk_finish, chunk_start, load_chunk

log = logging.getLogger(__name__)


class Job:
    """One chunk streamed to the loader while it is read: its record batches, then the gate's verdict.

    The extraction feeds and ends it; the loader takes batches, then the verdict (``decision``, which
    also consumes whatever batches are left, so the extraction never waits on a loader that gave up).
    """

    def __init__(self, index: int, meta: dict):
        self.index, self.meta = index, meta
        self.batches: queue.Queue = queue.Queue(maxsize=4)  # bounded: a few record batches in memory
        self.verdict: queue.Queue = queue.Queue(maxsize=1)  # the chunk dict once gated, None to roll back
        self.ended = self.exhausted = self.decided = False
        self._decision: dict | None = None

    def feed(self, batch) -> None:
        self.batches.put(batch)

    def end(self, chunk: dict | None) -> None:
        """No more batches; ``chunk`` (gated) lets the load commit, None rolls it back."""
        if not self.ended:
            self.ended = True
            self.batches.put(None)
            self.verdict.put(chunk)

    def next_batch(self):
        if self.exhausted:
            return None
        batch = self.batches.get()
        self.exhausted = batch is None
        return batch

    def decision(self) -> dict | None:
        while self.next_batch() is not None:
            pass
        if not self.decided:
            self.decided, self._decision = True, self.verdict.get()
        return self._decision


class EarlyLoad:
    """Gate and load each snapshot chunk while the extraction reads on (the two cores overlap).

    For a consistent snapshot whose columns all load directly, each chunk's record batches are copied
    into the unpublished work table by a loader thread *while* they are written to Parquet (one
    transaction per chunk, held open); when the chunk's files close, the extraction validates them
    with the table's suite and only then lets the loader commit the chunk, together with its progress,
    exactly as the apply step would (a failing gate rolls it back). Otherwise (a resumed snapshot loads
    as upserts) the chunk is handed to the loader once its files are closed and gated, and loaded from
    them. A failing chunk is not quarantined here: the early work stops at it, and the gate task
    validates it again, quarantines it and fails as for any other batch. The gate task skips chunks
    marked ``gated`` (same suite) and the apply step skips chunks counted in ``snapshot_next_chunk``;
    publishing to staging stays in apply, after the gate task. Any trouble (gate, suite, load) only
    stops the early work: the later tasks do the rest and raise there if the problem persists.
    """

    def __init__(self, ctx: Context, columns: list[Column], *, mode: str, snapshot: dict, suite_dir: Path | None):
        self.ctx, self.columns, self.mode, self.suite_dir = ctx, columns, mode, suite_dir
        self.snapshot = snapshot  # id and consistent: what the loads check against the state
        self.streaming = snapshot["consistent"] and all(c.loads_directly for c in columns)
        self.jobs: queue.Queue = queue.Queue(maxsize=1)
        self.stopped: str | None = None
        self.thread: threading.Thread | None = None

    def _stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            log.warning("%s: snapshot chunks are no longer gated and loaded during the extraction (%s); "
                        "the gate and apply tasks take over", self.ctx.table.id, why)

    def _put(self, item) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="cdc-snapshot-load", daemon=True)
            self.thread.start()
        self.jobs.put(item)

    def begin(self, index: int, meta: dict) -> Job | None:
        """Before chunk ``index`` is read: a job to stream its batches to, when streaming."""
        if self.stopped or not self.streaming:
            return None
        job = Job(index, meta)
        self._put(job)
        return job

    def end(self, chunk: dict, job: Job | None) -> None:
        """The chunk's files are closed: gate them (in this thread: GX wants the GIL anyway), then commit or load."""
        if self.stopped:
            if job is not None:
                job.end(None)
            return
        from onramp.cdc.gate import gate_files, suite_for

        try:
            results = gate_files(self.ctx.table, chunk["files"], lake_dir=self.ctx.lake_dir,
                                 warehouse_url=self.ctx.warehouse_url, suite_dir=self.suite_dir, quarantine=False)
        except Exception as exc:  # noqa: BLE001 - the gate task meets it again and reports it properly
            self._stop(f"chunk {chunk['index']} did not pass the gate: {str(exc).strip().splitlines()[0]}")
            if job is not None:
                job.end(None)
            return
        chunk["gated"] = {"suite": suite_for(self.ctx.table, self.suite_dir), "batches": len(results),
                          "rows": sum(r.rows for r in results)}
        if job is not None:
            job.end(chunk)
        else:
            self._put(chunk)

    def _run(self) -> None:
        wh = None
        while (item := self.jobs.get()) is not None:
            try:
                if self.stopped:
                    raise _Skip
                if wh is None:
                    wh = state.connect_warehouse(self.ctx.warehouse_url)
                if isinstance(item, Job):
                    chunk, rows = self._stream(wh, item)
                else:
                    chunk, rows = item, load_chunk(self.ctx, wh, self.mode, self.snapshot, item, self.columns)
                if rows is None or rows is PUBLISHED:
                    self._stop(f"chunk {chunk['index']} is loaded already")
                    continue
            except _Skip:
                if isinstance(item, Job):
                    item.decision()
                continue
            except Exception as exc:  # noqa: BLE001 - the apply step meets it again and reports it properly
                self._stop(f"loading a chunk failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
                if wh is not None:
                    wh.close()
                    wh = None
                if isinstance(item, Job):
                    item.decision()
                continue
            chunk["loaded"] = rows
            crash_point("mid_snapshot_apply")
        if wh is not None:
            wh.close()

    def _stream(self, wh, job: Job):
        """COPY the job's batches into the work table as they come; commit once the gate passed the chunk."""
        table, data = self.ctx.table, [c.name for c in self.columns]
        with wh.cursor() as cur:
            st = chunk_start(self.ctx, wh, cur, self.snapshot, job.index, self.columns)
            if st is None or st is PUBLISHED:
                chunk = job.decision()
                if chunk is None:
                    raise _Skip
                return chunk, st
            loaded = 0
            first = job.next_batch()
            if first is not None:
                # every row of the chunk has the same metadata: column defaults, not COPY data (see load_chunk)
                warehouse.set_snapshot_meta_defaults(cur, table, job.meta["lsn"], job.meta["commit_unix_us"])

                def rows():
                    batch = first
                    while batch is not None:
                        yield batch.select(data)
                        batch = job.next_batch()

                reader = pa.RecordBatchReader.from_batches(first.select(data).schema, rows())
                loaded = cur.adbc_ingest(table.work_table, reader, mode="append", db_schema_name="cdc_work")
            chunk = job.decision()
            if chunk is None or chunk["rows"] != loaded:
                wh.rollback()
                if chunk is not None:
                    raise CdcError(f"chunk {job.index}: {loaded} rows streamed, {chunk['rows']} written")
                raise _Skip
            chunk_finish(self.ctx, cur, st, self.mode, self.snapshot, chunk)
        wh.commit()
        return chunk, loaded

    def close(self) -> None:
        """Wait for the chunk being loaded (its commit is whole either way)."""
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join()
            self.thread = None


class _Skip(Exception):
    """The loader passes on a job (early work stopped, or the gate failed the chunk)."""
