"""Stream loader: drain the events stream in micro-batches into the lake and ``raw.events``, exactly once.

One micro-batch, in this order (each step idempotent, so a kill anywhere then a re-run is harmless):

1. read entries through the consumer group: this consumer's own pending ones first (a re-run after a crash),
   then ones idle too long in a dead consumer's name (``XAUTOCLAIM``), then new ones; a batch closes at
   ``batch_events`` events, ``batch_seconds`` seconds, or when the stream has nothing more;
2. repeats of a messageId inside the batch are dropped; an entry or row that cannot be decoded becomes a dead
   letter (:mod:`onramp.stream.poison`); the batch passes the GX gate ``raw_events`` (a failure quarantines it,
   records it, and raises: its entries stay pending and block the stream until the suite or the data is
   fixed, then the next run replays them);
3. one warehouse transaction (:mod:`onramp.stream.warehouse`): lock ``raw.events`` against other writers, binary
   ``COPY`` of the batch straight into ``raw.events`` (a messageId loaded before is looked up and skipped; rows
   whose data the warehouse refuses are found by bisection and dead-lettered, the rest loaded), identity links,
   the loader's dead letters, and the batch's row in ``ops.event_load_batches`` (events = loaded + duplicates +
   dead_lettered);
4. Parquet files of exactly the rows inserted, ``lake/raw/events/event_date=.../event_name=.../batch-<id>-N.parquet``
   (late events land in their own event-time partition); the batch row is then marked ``lake_written``
   (a batch committed but never marked is re-exported from the warehouse on the next run);
5. ``XACK``, then the stream is trimmed below the oldest entry any group still needs.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import redis
from redis.exceptions import ResponseError

from onramp import db
from onramp.stream import poison, records
from onramp.stream.config import LoaderConfig, default_consumer
from onramp.stream.entries import decode_entries
from onramp.stream.keys import LOADER_GROUP, StreamKeys
from onramp.stream.warehouse import PreparedBatch, Warehouse

log = logging.getLogger("onramp.stream")
READ_COUNT = 500
GATE_SUITE = "raw_events"
GATE_COLUMNS = ("message_id", "type", "event_name", "event_at", "event_date", "received_at", "source",
                "schema_version", "user_id", "anonymous_id")


def lake_events_dir(lake_dir: Path) -> Path:
    return Path(lake_dir) / "raw" / "events"


@dataclass
class BatchReport:
    """What became of one batch's events: events = loaded + duplicates + dead_lettered."""

    batch_id: str
    entries: int
    events: int
    loaded: int
    duplicates: int
    files: list[str] = field(default_factory=list)
    dead_lettered: int = 0  # events the loader dead-lettered (undecodable, or refused by the warehouse)


@dataclass
class DrainReport:
    batches: int = 0
    entries: int = 0
    events: int = 0
    loaded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    recovered_batches: int = 0
    seconds: float = 0.0

    def add(self, batch: BatchReport) -> None:
        self.batches += 1
        self.entries += batch.entries
        self.events += batch.events
        self.loaded += batch.loaded
        self.duplicates += batch.duplicates
        self.dead_lettered += batch.dead_lettered

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create the consumer group from the stream's first entry (nothing written before it is skipped)."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def trim(client: redis.Redis, stream: str) -> None:
    """Drop entries every consumer group has acknowledged (approximate MINID: never trims too much)."""
    try:
        groups = client.xinfo_groups(stream)
    except ResponseError:
        return
    if not groups:
        return
    keep_from = []
    for group in groups:
        if group["pending"]:
            summary = client.xpending(stream, group["name"])
            keep_from.append(summary["min"])
        else:
            keep_from.append(group["last-delivered-id"])
    floor = min(keep_from, key=_id_key)
    if isinstance(floor, bytes):
        floor = floor.decode()
    if floor and floor != "0-0":
        client.xtrim(stream, minid=floor, approximate=True)


def _id_key(entry_id) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class EventLoader:
    """Drains ``<prefix>events`` into the lake and ``raw.events``; one instance per consumer."""

    def __init__(self, *, redis_url: str, prefix: str, warehouse_url: str, lake_dir: Path,
                 consumer: str | None = None, config: LoaderConfig | None = None, gate: bool = True,
                 gate_stage: str = "events_stream_load", suite_dir: Path | None = None):
        self.redis = db.redis_client(redis_url, "stream-loader")
        self.keys = StreamKeys(prefix)
        self.warehouse_url = warehouse_url
        self.warehouse = Warehouse(warehouse_url, self.keys.events)
        self.lake_dir = Path(lake_dir)
        self.consumer = consumer or default_consumer()
        self.config = config or LoaderConfig.from_settings()
        self.gate = gate
        self.gate_stage = gate_stage
        self.suite_dir = suite_dir  # default: expectations/ in the repo
        self._own_pending_done = False
        self._pending_cursor = "0"
        self._claim_cursor = "0-0"
        self._events_per_entry = 100.0  # what SDKs send per request; learned as entries are read

    def close(self) -> None:
        self.warehouse.close()
        self.redis.close()

    # ------------------------------------------------------------------ reading

    def _read(self, start: str, count: int, block_ms: int | None) -> list[tuple[bytes, dict]]:
        reply = self.redis.xreadgroup(LOADER_GROUP, self.consumer, {self.keys.events: start}, count=count,
                                      block=block_ms)
        return reply[0][1] if reply else []

    def _count(self, events_wanted: int) -> int:
        """Entries to ask for so a read stays near the batch bound (entries carry 1-100+ events each)."""
        return max(1, min(READ_COUNT, round(events_wanted / max(self._events_per_entry, 1.0))))

    def _observe(self, entries: list[tuple[bytes, dict]]) -> int:
        events = sum(poison.declared_events(f) for _, f in entries if f)
        if entries:
            self._events_per_entry = 0.7 * self._events_per_entry + 0.3 * (events / len(entries))
        return events

    def next_entries(self, wait: bool, reclaim: bool = True) -> list[tuple[bytes, dict]]:
        """Up to one micro-batch of entries: own pending, then reclaimed (unless ``reclaim`` is off, as while
        a batch of ours is in flight), then new ones."""
        cfg = self.config
        if not self._own_pending_done:
            # replay what this consumer had in flight before anything else (reading from the last one seen)
            pending = self._read(self._pending_cursor, self._count(cfg.batch_events), None)
            if pending:
                self._pending_cursor = pending[-1][0].decode()
                self._observe(pending)
                return pending
            self._own_pending_done = True
        claimed = []
        if reclaim:
            next_cursor, claimed, *_ = self.redis.xautoclaim(
                self.keys.events, LOADER_GROUP, self.consumer, int(cfg.claim_idle_s * 1000),
                start_id=self._claim_cursor, count=self._count(cfg.batch_events))
            self._claim_cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else next_cursor
        if claimed:
            log.info("reclaimed %d stream entries idle for over %.0fs", len(claimed), cfg.claim_idle_s)
            self._observe(claimed)
            return claimed
        entries: list[tuple[bytes, dict]] = []
        events = 0
        deadline = time.monotonic() + cfg.batch_seconds
        while events < cfg.batch_events:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            block = min(remaining_ms, 1000 if wait and not entries else 50)
            got = self._read(">", self._count(cfg.batch_events - events), block)
            if not got:
                if entries or not wait:
                    break
                continue
            entries.extend(got)
            events += self._observe(got)
        return entries

    # ------------------------------------------------------------------ one batch

    def load(self, entries: list[tuple[bytes, dict]]) -> BatchReport:
        """Gate, publish to the warehouse, write the lake, acknowledge: one micro-batch."""
        return self.publish(self.prepare(entries))

    def prepare(self, entries: list[tuple[bytes, dict]]) -> PreparedBatch:
        """Steps 1-2: decode, drop repeats, build the Arrow table, pass the gate (raises GateFailed)."""
        ids = [eid for eid, _ in entries]
        first, last = (i.decode() for i in (min(ids, key=_id_key), max(ids, key=_id_key)))
        batch_id = f"{first}-{uuid.uuid4().hex[:8]}"
        # The decoded rows are millions of small objects that die within this block: the cyclic GC stays off
        # until they are freed (left on, its next pass would walk every one of them: ~0.1 s a batch).
        with records.no_gc():
            decoded = decode_entries(entries)
            table = records.to_table(decoded.rows, decoded.stream_ids, batch_id) if decoded.rows else None
            decoded.rows = decoded.stream_ids = None
        for dead in decoded.dead:
            log.warning("dead-lettering %s (stream entry %s): %s", dead.message_id, dead.stream_id, dead.reason.message)
        if table is not None and self.gate:
            self._gate(table, batch_id)
        return PreparedBatch(batch_id, ids, first, last, decoded.events, table, decoded.dead)

    def publish(self, batch: PreparedBatch) -> BatchReport:
        """Steps 3-5: warehouse transaction, lake files of the rows inserted, XACK."""
        report = BatchReport(batch.batch_id, len(batch.ids), batch.events, 0, 0)
        if batch.table is not None or batch.dead:
            published = self.warehouse.publish(batch)
            report.loaded, report.dead_lettered = len(published.inserted), published.dead_lettered
            if report.loaded:
                table = published.table
                fresh = table if report.loaded == table.num_rows else table.filter(
                    pc.is_in(table["message_id"], value_set=published.inserted))
                report.files = self._write_lake(fresh, batch.batch_id)
            self.warehouse.mark_lake_written(batch.batch_id, report.files)
        report.duplicates = batch.events - report.loaded - report.dead_lettered
        self._ack(batch.ids)
        return report

    def _gate(self, table: pa.Table, batch_id: str) -> None:
        from onramp.quality import gate

        frame = table.select(list(GATE_COLUMNS)).to_pandas()
        gate(frame, GATE_SUITE, batch_id, warehouse_url=self.warehouse_url, lake_dir=self.lake_dir,
             stage=self.gate_stage, directory=self.suite_dir)

    def _write_lake(self, table: pa.Table, batch_id: str) -> list[str]:
        """Parquet partitioned by event date and name; same names on a re-run, so it overwrites.

        A batch may span many partitions (a backfill of a year of history: ~2,200 in 5,000 events, where
        pyarrow stops at 1,024 by default): rows sorted by partition reach the writer one partition after
        the other, so each file is opened once and written whole, however many there are.
        """
        written: list[str] = []
        table = table.sort_by([("event_date", "ascending"), ("event_name", "ascending")])
        partitions = len(pc.unique(pc.binary_join_element_wise(
            pc.cast(table["event_date"], pa.string()), table["event_name"], "/"))) if table.num_rows else 1
        ds.write_dataset(
            table, lake_events_dir(self.lake_dir), format="parquet", max_partitions=max(partitions, 1024),
            partitioning=ds.partitioning(pa.schema([("event_date", pa.date32()), ("event_name", pa.string())]),
                                         flavor="hive"),
            basename_template=f"batch-{batch_id}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
            file_visitor=lambda f: written.append(f.path),
            max_rows_per_group=1 << 20,
        )
        return written

    def recover_lake(self) -> int:
        """Re-export batches committed to the warehouse whose lake files were never confirmed."""
        pending = self.warehouse.lake_pending()
        for batch_id in pending:
            table = self.warehouse.export(batch_id)
            files = self._write_lake(table, batch_id) if table.num_rows else []
            self.warehouse.mark_lake_written(batch_id, files)
            log.info("re-exported batch %s to the lake (%d rows)", batch_id, table.num_rows)
        return len(pending)

    def _ack(self, ids: list[bytes]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for start in range(0, len(ids), 1000):
            pipe.xack(self.keys.events, LOADER_GROUP, *ids[start:start + 1000])
        pipe.execute()

    # ------------------------------------------------------------------ the loop

    def drain(self, *, follow: bool = False, max_seconds: float | None = None, max_batches: int | None = None,
              should_stop=None) -> DrainReport:
        """Load micro-batches until the stream is empty (or, with ``follow``, until stopped)."""
        started = time.monotonic()
        ensure_group(self.redis, self.keys.events, LOADER_GROUP)
        report = DrainReport(recovered_batches=self.recover_lake())
        last_trim = 0.0
        # Two stages overlap: while the warehouse takes batch N (PostgreSQL works, the GIL is free), this thread
        # reads, decodes and gates batch N+1. Batches still commit and acknowledge one at a time, in order.
        publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        in_flight: Future | None = None

        def settle() -> None:
            nonlocal in_flight
            if in_flight is not None:
                batch, in_flight = in_flight.result(), None
                report.add(batch)
                log.info("batch %s: %d entries, %d events, %d loaded, %d duplicates, %d dead-lettered",
                         batch.batch_id, batch.entries, batch.events, batch.loaded, batch.duplicates,
                         batch.dead_lettered)

        try:
            while True:
                if should_stop is not None and should_stop():
                    break
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
                if max_batches is not None and report.batches + (in_flight is not None) >= max_batches:
                    break
                entries = self.next_entries(wait=follow, reclaim=in_flight is None)
                if not entries:
                    settle()
                    if self._claim_cursor != "0-0" or follow:
                        continue
                    break
                prepared = self.prepare(entries)
                settle()
                in_flight = publisher.submit(self.publish, prepared)
                if time.monotonic() - last_trim > 5:
                    trim(self.redis, self.keys.events)
                    last_trim = time.monotonic()
            settle()
        finally:
            publisher.shutdown(wait=True)
        trim(self.redis, self.keys.events)
        report.seconds = round(time.monotonic() - started, 3)
        return report
