"""The manifest: what one table's extraction hands to its gate and apply steps, and what the apply returns.

Inside CDC code these are typed records, read by attribute. Between the DAG's tasks they travel through
XCom as plain JSON-able dicts: :meth:`Record.to_dict` and :meth:`Record.from_dict`, called at the boundary
(:mod:`onramp.cdc.steps`, the CLI). The dicts keep the keys of manifest version 1, so a manifest written by
the previous release still reads, and a field listed in ``omitted_while_unset`` is left out of the dict
until it is set, as before.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

import msgspec

from onramp.cdc.pgtypes import Column

MANIFEST_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, Record | Column):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Record(msgspec.Struct):
    """A typed part of the manifest; ``to_dict``/``from_dict`` at the XCom boundary."""

    omitted_while_unset: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in msgspec.structs.fields(self):
            value = getattr(self, f.name)
            if f.name in self.omitted_while_unset and value == f.default:
                continue
            out[f.encode_name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return msgspec.convert(data, cls)


class LakeFile(Record):
    """One Parquet file of a batch."""

    path: str  # relative to the lake root
    rows: int
    commit_date: str


class ChunkGate(Record):
    """A snapshot chunk the extraction gated itself (the gate task skips it when the suite is the same)."""

    suite: str
    batches: int
    rows: int


class Chunk(Record):
    """One snapshot chunk: a range of heap blocks read in one go, its files, and what the extraction did with it."""

    omitted_while_unset: ClassVar[frozenset[str]] = frozenset({"gated", "loaded"})
    index: int
    batch_id: str
    files: list[LakeFile]
    rows: int
    lsn: int | None = None  # every row's metadata (manifests before the early load do not carry it)
    commit_unix_us: int | None = None
    gated: ChunkGate | None = None
    loaded: int | None = None  # rows the extraction loaded into the work table (and committed)


class Snapshot(Record):
    """A full read of the table, in chunks; published to staging by the apply step once every chunk is loaded."""

    id: str
    lsn: int | None  # log mode: the slot's consistent point, where the stream takes over
    xid: int | None  # xmin mode: the oldest transaction the snapshot saw running, where the windows take over
    taken_unix_us: int
    chunks: list[Chunk]
    total_chunks: int | None
    consistent: bool  # False: a resumed snapshot, later than its start; chunks may overlap the stream


class Changes(Record):
    """The changes after the applied position: one batch, named by where it starts."""

    omitted_while_unset: ClassVar[frozenset[str]] = frozenset({"transactions", "skipped_transactions", "reconciled"})
    batch_id: str
    position: Literal["lsn", "xid"]
    start: int = msgspec.field(name="from")  # the applied position the batch continues from
    end: int = msgspec.field(name="to")  # the position the table is at once the batch is applied
    files: list[LakeFile]
    rows: int
    counts: dict[str, int]
    transactions: int | None = None  # log mode
    skipped_transactions: int | None = None  # log mode: re-sent, applied before
    reconciled: bool | None = None  # xmin mode: whether this batch holds the deletes found by key reconciliation


class SlotLag(Record):
    """How far the table's slot was behind when the extraction started."""

    lag_bytes: int = msgspec.field(name="bytes")
    retained: int
    limit: int


class Gated(Record):
    """What the gate validated (chunks gated during the extraction included)."""

    batches: int
    rows: int
    chunks_gated_during_extract: int


class Manifest(Record, kw_only=True):
    """What one extraction captured for one table."""

    omitted_while_unset: ClassVar[frozenset[str]] = frozenset({"gated"})
    version: int = MANIFEST_VERSION
    table: str
    source: str
    target: str
    mode: Literal["log", "xmin"]
    run_id: str
    columns: list[Column]
    snapshot: Snapshot | None
    changes: Changes
    mode_reason: str = ""
    slot_lag_at_extract: SlotLag | None = None
    gated: Gated | None = None


class SlotLagReport(Record):
    """The slot before the extraction and after the confirm, against its limit."""

    slot: str
    before_bytes: int
    after_bytes: int
    retained_bytes: int
    limit_bytes: int


class ApplyResult(Record, kw_only=True):
    """What the apply did to the warehouse, and where the slot stands."""

    omitted_while_unset: ClassVar[frozenset[str]] = frozenset({
        "published", "already_applied", "schema_changes", "raw_appended", "staging_deleted", "staging_upserted",
        "slot_lag", "slot_lag_bytes"})
    table: str
    target: str
    mode: str
    snapshot_rows: int = 0
    changes: int
    asset_uri: str
    published: str | None = None  # "created" or "merged" when a snapshot was published
    already_applied: bool = False  # a retry after the commit: only the confirm was left
    schema_changes: list[dict] | None = None
    raw_appended: int | None = None
    staging_deleted: int | None = None
    staging_upserted: int | None = None
    slot_lag: SlotLagReport | None = None
    slot_lag_bytes: int | None = None

    @property
    def changed_staging(self) -> bool:
        """Whether staging changed (only then is the table's Asset event worth emitting)."""
        return bool(self.snapshot_rows or (self.changes and not self.already_applied))
