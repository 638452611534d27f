"""One CDC cycle for one table: extract → Parquet → gate → apply → confirm. Runnable with or without Airflow.

This is the CDC's public surface: the DAG (through :mod:`onramp.cdc.steps`), the CLI, the tests and the
bench run cycles with these. The three steps hand over a typed *manifest* (files, positions, columns:
:mod:`onramp.cdc.manifest`), which the DAG passes between its mapped tasks through XCom as a plain dict.

Exactly once, whatever is killed when:

* **extract** (:mod:`~onramp.cdc.extract`) reads from the position recorded in ``ops.cdc_tables`` (log
  mode: the slot re-sends everything after its confirmed position; transactions below the applied LSN
  are skipped) and writes files named after that position: a repeated extraction overwrites, never
  duplicates.
* **apply** (:mod:`~onramp.cdc.apply`) moves the data and the new position in one warehouse transaction,
  after checking that the position it starts from is still the recorded one (already applied → only
  confirm).
* a **snapshot** (:mod:`~onramp.cdc.snapshot`) is loaded chunk by chunk into an unpublished work table,
  each chunk committed with its progress (:mod:`~onramp.cdc.work_table`), mostly by the extraction itself
  as it reads, and only after its gate passed the chunk (:mod:`~onramp.cdc.early_load`); apply skips what
  is counted there, and publishes to staging only after the gate task.
* the slot's flush position is confirmed **after** that commit; a crash in between makes the next
  drain re-send what was applied, which the recorded position makes it skip.

The crash tests kill the process at each of :data:`CRASH_POINTS` (:mod:`~onramp.cdc.failpoints`).
"""

from __future__ import annotations

from pathlib import Path

from onramp.cdc import catalog, logical
from onramp.cdc.apply import apply
from onramp.cdc.config import TableConfig
from onramp.cdc.context import Context
from onramp.cdc.extract import extract
from onramp.cdc.failpoints import CRASH_POINTS
from onramp.cdc.manifest import ApplyResult, Manifest
from onramp.cdc.slot_lag import enforce_slot_lag


def gate(ctx: Context, manifest: Manifest, suite_dir: Path | None = None) -> Manifest:
    """Step 2: validate every file of the manifest with GX (raises GateFailed after quarantining)."""
    from onramp.cdc.gate import gate_manifest  # GX and pandas load here, not at import

    return gate_manifest(ctx, manifest, suite_dir)


def run_table(ctx: Context, *, resnapshot: bool = False, suite_dir: Path | None = None) -> ApplyResult:
    """extract → gate → apply for one table (what the DAG does in three tasks)."""
    manifest = extract(ctx, resnapshot=resnapshot, suite_dir=suite_dir)
    manifest = gate(ctx, manifest, suite_dir)
    result = apply(ctx, manifest)
    enforce_slot_lag(result)
    return result


def drop_table_slot(source_url: str, table: TableConfig) -> bool:
    """Drop the table's replication slot (frees the source's WAL); False when there was none."""
    with catalog.connect(source_url, autocommit=True) as src:
        return logical.drop_slot(src, table.slot_name)


__all__ = ["CRASH_POINTS", "ApplyResult", "Context", "Manifest", "apply", "drop_table_slot", "enforce_slot_lag", "extract",
           "gate", "run_table"]
