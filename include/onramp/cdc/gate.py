"""The CDC quality gate: every Parquet file of a batch is validated with GX before it may be applied.

The suite is ``expectations/cdc_<source>_<table>.json`` when it exists (``suite:`` in the config
names another), else the generic ``expectations/cdc_changes.json``. Only the columns the suite
refers to are read, in bounded slices, so gating a multi-million-row snapshot costs little memory;
a failing slice is quarantined whole (every column) through :mod:`onramp.quality`. Chunks the extraction
already gated with the same suite (:mod:`onramp.cdc.early_load`) are not validated twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pyarrow.parquet as pq

from onramp import quality
from onramp.cdc.config import TableConfig
from onramp.cdc.context import Context
from onramp.cdc.manifest import ChunkGate, Gated, LakeFile, Manifest

GENERIC_SUITE = "cdc_changes"
GATE_ROWS = 500_000
_COLUMN_KEYS = ("column", "column_A", "column_B")
_LIST_KEYS = ("column_list", "column_set")


def suite_for(table: TableConfig, directory: Path | None = None) -> str:
    directory = directory or quality.EXPECTATIONS_DIR
    if table.suite or (directory / f"{table.suite_name}.json").is_file():
        return table.suite_name
    return GENERIC_SUITE


def referenced_columns(spec: dict, available: list[str]) -> list[str]:
    """Columns a suite reads (row conditions included), among ``available``; ``_op`` always."""
    wanted = {"_op"}
    for expectation in spec["expectations"]:
        kwargs = expectation.get("kwargs", {})
        wanted.update(kwargs[k] for k in _COLUMN_KEYS if isinstance(kwargs.get(k), str))
        for key in _LIST_KEYS:
            wanted.update(v for v in kwargs.get(key) or [] if isinstance(v, str))
        condition = kwargs.get("row_condition")
        if isinstance(condition, str):
            wanted.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", condition))
        if expectation.get("type") in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
            return list(available)
    return [c for c in available if c in wanted]


def gate_files(table: TableConfig, files: list[LakeFile], *, lake_dir: Path, warehouse_url: str,
               suite_dir: Path | None = None, quarantine: bool = True) -> list[quality.GateResult]:
    """Validate each file; raises :class:`onramp.quality.GateFailed` (after quarantining) on the first failure.

    ``quarantine=False`` (the extraction's early gate of snapshot chunks): a failure is raised without
    quarantining or recording it, and nothing is recorded unless every file passes; the gate task
    validates that chunk again and quarantines it there, as for any other failing batch.
    """
    suite = suite_for(table, suite_dir)
    spec = quality.load_suite_spec(suite, suite_dir)
    results = []
    for f in files:
        if not f.rows:
            continue
        path = Path(lake_dir) / f.path
        parquet = pq.ParquetFile(path)
        columns = referenced_columns(spec, parquet.schema_arrow.names)
        for index, batch in enumerate(parquet.iter_batches(batch_size=GATE_ROWS, columns=columns)):
            batch_id = f"{table.id}:{path.stem}:{index}"
            frame = batch.to_pandas()
            result = quality.validate(frame, suite, batch_id, suite_dir)
            if not result.success:
                if not quarantine:
                    raise quality.GateFailed(result, None)
                full = _slice(parquet, index)
                where = quality.quarantine(full.to_pandas(), Path(lake_dir), suite, batch_id)
                quality.record(warehouse_url, result, "cdc", where)
                raise quality.GateFailed(result, where)
            if quarantine:
                quality.record(warehouse_url, result, "cdc")
            results.append(result)
    if not quarantine:
        for result in results:
            quality.record(warehouse_url, result, "cdc")
    return results


def _slice(parquet: pq.ParquetFile, index: int):
    for i, batch in enumerate(parquet.iter_batches(batch_size=GATE_ROWS)):
        if i == index:
            return batch
    raise IndexError(index)


def gate_chunk(ctx: Context, files: list[LakeFile], suite_dir: Path | None) -> ChunkGate:
    """The extraction's early gate of one snapshot chunk: raises on failure, records nothing then (see above)."""
    results = gate_files(ctx.table, files, lake_dir=ctx.lake_dir, warehouse_url=ctx.warehouse_url,
                         suite_dir=suite_dir, quarantine=False)
    return ChunkGate(suite=suite_for(ctx.table, suite_dir), batches=len(results), rows=sum(r.rows for r in results))


def gate_manifest(ctx: Context, manifest: Manifest, suite_dir: Path | None = None) -> Manifest:
    """Validate every file of the manifest that was not gated during its extraction with the same suite."""
    suite = suite_for(ctx.table, suite_dir)
    chunks = manifest.snapshot.chunks if manifest.snapshot else []
    early = [c.gated for c in chunks if c.gated is not None and c.gated.suite == suite]  # gated while extracted
    files = [f for c in chunks if c.gated is None or c.gated.suite != suite for f in c.files]
    files += manifest.changes.files
    results = gate_files(ctx.table, files, lake_dir=ctx.lake_dir, warehouse_url=ctx.warehouse_url, suite_dir=suite_dir)
    gated = Gated(batches=len(results) + sum(g.batches for g in early),
                  rows=sum(r.rows for r in results) + sum(g.rows for g in early), chunks_gated_during_extract=len(early))
    return msgspec.structs.replace(manifest, gated=gated)
