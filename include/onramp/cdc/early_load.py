"""The early load: gate and load each snapshot chunk into the work table while the extraction reads on.

Two threads, so the two cores overlap: the extraction reads the source and writes Parquet, a loader
thread copies the same record batches into the unpublished work table (:mod:`onramp.cdc.work_table`).

For a consistent snapshot whose columns all load directly, each chunk is a :class:`Job`: its record
batches are streamed to the loader *while* they are written to Parquet (one transaction per chunk, held
open); when the chunk's files close, the extraction validates them with the table's suite and only then
lets the loader commit the chunk, together with its progress, exactly as the apply step would (a failing
gate rolls it back). Otherwise (a resumed snapshot loads as upserts) the chunk is handed to the loader
once its files are closed and gated, and loaded from them.

A failing chunk is not quarantined here: the early work stops at it, and the gate task validates it
again, quarantines it and fails as for any other batch. The gate task skips chunks marked ``gated``
(same suite) and the apply step skips chunks counted in ``snapshot_next_chunk``; publishing to staging
stays in apply, after the gate task. Any trouble (gate, suite, load) only stops the early work: the
later tasks do the rest and raise there if the problem persists.
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future
from pathlib import Path

import pyarrow as pa

from onramp.cdc import state, warehouse
from onramp.cdc.channel import Channel
from onramp.cdc.errors import CdcError
from onramp.cdc.failpoints import crash_point
from onramp.cdc.manifest import Chunk
from onramp.cdc.work_table import Done, SnapshotLoad, chunk_finish, chunk_start, load_chunk

log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class Job:
    """One chunk streamed to the loader while it is read: its record batches, then the gate's verdict.

    The extraction feeds and ends it; the loader takes batches, then the verdict (:meth:`decision`, which
    also consumes whatever batches are left, so the extraction never waits on a loader that gave up).
    """

    def __init__(self, index: int, lsn: int | None, commit_unix_us: int):
        self.index, self.lsn, self.commit_unix_us = index, lsn, commit_unix_us
        self.batches: Channel[pa.RecordBatch] = Channel(4)  # bounded: a few record batches in memory
        self.verdict: Future[Chunk | None] = Future()  # the chunk once gated; None: roll it back

    def feed(self, batch: pa.RecordBatch) -> None:
        self.batches.send(batch)

    def end(self, chunk: Chunk | None) -> None:
        """No more batches; ``chunk`` (gated) lets the load commit, None rolls it back."""
        if not self.verdict.done():
            self.batches.close()
            self.verdict.set_result(chunk)

    def decision(self) -> Chunk | None:
        self.batches.drain()
        return self.verdict.result()


class EarlyLoad:
    """Gate and load each snapshot chunk while the extraction reads on (see the module's docstring)."""

    def __init__(self, load: SnapshotLoad, *, suite_dir: Path | None):
        self.load, self.suite_dir = load, suite_dir
        self.streaming = load.consistent and all(c.loads_directly for c in load.columns)
        self.work: Channel[Job | Chunk] = Channel(1)
        self.stopped: str | None = None
        self.thread: threading.Thread | None = None

    def _stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            log.warning("%s: snapshot chunks are no longer gated and loaded during the extraction (%s); "
                        "the gate and apply tasks take over", self.load.ctx.table.id, why)

    def _hand_over(self, item: Job | Chunk) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="cdc-snapshot-load", daemon=True)
            self.thread.start()
        self.work.send(item)

    def begin(self, index: int, lsn: int | None, commit_unix_us: int) -> Job | None:
        """Before chunk ``index`` is read: a job to stream its batches to, when streaming."""
        if self.stopped or not self.streaming:
            return None
        job = Job(index, lsn, commit_unix_us)
        self._hand_over(job)
        return job

    def end(self, chunk: Chunk, job: Job | None) -> None:
        """The chunk's files are closed: gate them (in this thread: GX wants the GIL anyway), then commit or load."""
        if self.stopped:
            if job is not None:
                job.end(None)
            return
        from onramp.cdc.gate import gate_chunk

        try:
            chunk.gated = gate_chunk(self.load.ctx, chunk.files, self.suite_dir)
        except Exception as exc:  # noqa: BLE001 - the gate task meets it again and reports it properly
            self._stop(f"chunk {chunk.index} did not pass the gate: {str(exc).strip().splitlines()[0]}")
            if job is not None:
                job.end(None)
            return
        if job is not None:
            job.end(chunk)
        else:
            self._hand_over(chunk)

    def _run(self) -> None:
        """The loader thread: one chunk after the other, until the extraction closes the work channel."""
        wh = None
        for item in self.work:
            job = item if isinstance(item, Job) else None
            try:
                if self.stopped:
                    continue
                wh = wh or state.connect_warehouse(self.load.ctx.warehouse_url)
                chunk, loaded = self._stream(wh, job) if job else (item, load_chunk(self.load, wh, item))
            except Exception as exc:  # noqa: BLE001 - the apply step meets it again and reports it properly
                self._stop(f"loading a chunk failed: {_first_line(exc)}")
                if wh is not None:
                    wh.close()
                    wh = None
                continue
            finally:
                if job is not None:
                    job.decision()  # whatever happened, the extraction must not wait on this job
            if chunk is None:
                continue  # the gate failed the chunk: rolled back, the gate task reports it
            if isinstance(loaded, Done):
                self._stop(f"chunk {chunk.index} is loaded already")
                continue
            chunk.loaded = loaded
            crash_point("mid_snapshot_apply")
        if wh is not None:
            wh.close()

    def _stream(self, wh, job: Job) -> tuple[Chunk | None, int | Done]:
        """COPY the job's batches into the work table as they come; commit once the gate passed the chunk.

        Returns the gated chunk (None: the gate failed it, nothing was committed) and the rows committed.
        """
        table, data = self.load.ctx.table, [c.name for c in self.load.columns]
        with wh.cursor() as cur:
            st = chunk_start(self.load, wh, cur, job.index)
            if isinstance(st, Done):
                return job.decision(), st
            loaded = 0
            batches = iter(job.batches)
            first = next(batches, None)
            if first is not None:
                # every row of the chunk has the same metadata: column defaults, not COPY data (see load_chunk)
                warehouse.set_snapshot_meta_defaults(cur, table, job.lsn, job.commit_unix_us)
                rows = (b.select(data) for b in itertools.chain([first], batches))
                reader = pa.RecordBatchReader.from_batches(first.select(data).schema, rows)
                loaded = cur.adbc_ingest(table.work_table, reader, mode="append", db_schema_name="cdc_work")
            chunk = job.decision()
            if chunk is None or chunk.rows != loaded:
                wh.rollback()
                if chunk is not None:
                    raise CdcError(f"chunk {job.index}: {loaded} rows streamed, {chunk.rows} written")
                return None, 0
            chunk_finish(self.load, cur, st, chunk)
        wh.commit()
        return chunk, loaded

    def close(self) -> None:
        """Wait for the chunk being loaded (its commit is whole either way)."""
        if self.thread is not None:
            self.work.close()
            self.thread.join()
            self.thread = None
