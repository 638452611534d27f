"""Step 1 of a cycle: capture what changed since the last applied position into lake files.

Reads the table's load state, chooses the mode (:mod:`~onramp.cdc.mode`), refuses incompatible schema
drift, then hands over to the log (:mod:`~onramp.cdc.extract_log`) or xmin
(:mod:`~onramp.cdc.extract_xmin`) extraction. Files are named after the position they start from, so a
repeated extraction overwrites instead of duplicating.
"""

from __future__ import annotations

import logging
from pathlib import Path

from onramp.cdc import catalog, drift, logical, state
from onramp.cdc.context import Context
from onramp.cdc.errors import SchemaDriftBlocked
from onramp.cdc.extract_log import extract_log
from onramp.cdc.extract_xmin import extract_xmin
from onramp.cdc.failpoints import crash_point
from onramp.cdc.manifest import Manifest, SlotLag
from onramp.cdc.mode import choose_mode
from onramp.cdc.pgtypes import Column
from onramp.cdc.slot_lag import record_lag

log = logging.getLogger(__name__)


def extract(ctx: Context, *, resnapshot: bool = False, suite_dir: Path | None = None,
            early_load: bool = True) -> Manifest:
    """Capture what changed since the last applied position into lake files; returns the manifest.

    A snapshot's chunks are also gated and loaded into the (unpublished) work table as they are
    written, unless ``early_load`` is off (see :mod:`onramp.cdc.early_load`); ``suite_dir`` is the gate's.
    """
    table = ctx.table
    with catalog.connect(ctx.source_url, autocommit=True) as src:
        info = catalog.source_info(src)
        mode, reason = choose_mode(ctx.source, table, info)
        shape = catalog.table_shape(src, table, for_log=mode == "log")
        wh = state.connect_rows(ctx.warehouse_url)  # state only: snapshot chunks load on their own connections
        lag = None
        try:
            with wh.cursor() as cur:
                st = state.load(cur, ctx.source.name, table.qualified)
            wh.rollback()
            slot = logical.slot_state(src, table.slot_name) if mode == "log" else None
            if slot is not None and st is not None and st.slot_name == table.slot_name:
                lag = record_lag(ctx, wh, slot, "extract")
            resnapshot = _resnapshot_wanted(ctx, wh, st, shape, mode, resnapshot)
            early = {"suite_dir": suite_dir, "early": early_load}
            if mode == "log":
                manifest = extract_log(ctx, src, wh, st, shape, slot, resnapshot, early)
            else:
                manifest = extract_xmin(ctx, src, wh, st, shape, resnapshot, early)
        except SchemaDriftBlocked as exc:
            _save_blocked(ctx, wh, exc)
            raise _with_slot_warning(ctx, exc, lag) from None
        finally:
            wh.close()
    manifest.mode_reason, manifest.slot_lag_at_extract = reason, lag
    crash_point("after_parquet")
    return manifest


def _resnapshot_wanted(ctx: Context, wh, st: state.TableState | None, shape: catalog.TableShape, mode: str,
                       asked: bool) -> bool:
    """Whether this extraction starts a new snapshot (asked for, or needed by the source's new columns)."""
    if asked and st is not None and st.status == "snapshotting" and st.last_run_id == ctx.run_id:
        return False  # a retry of the run that asked for it: resume that snapshot, do not restart
    if st is not None and st.snapshot_done and st.mode == mode and not asked:
        _block_on_incompatible_drift(ctx, st, shape.columns)
        return _needs_resnapshot_for_defaults(ctx, st, shape)
    return asked


def _with_slot_warning(ctx: Context, exc: SchemaDriftBlocked, lag: SlotLag | None) -> SchemaDriftBlocked:
    """A blocked table still holds WAL on the source: say so when its slot is already over the limit."""
    if not (lag and lag.lag_bytes > lag.limit):
        return exc
    return SchemaDriftBlocked(f"{exc}. Meanwhile slot {ctx.table.slot_name} keeps {lag.lag_bytes:,} bytes of WAL "
                              f"on the source, over the {lag.limit:,} limit: fix this soon or drop the "
                              f"slot (`onramp cdc drop-slot {ctx.table.id}`)", exc.event)


def _block_on_incompatible_drift(ctx: Context, st: state.TableState, columns: list[Column]) -> None:
    bad = drift.incompatible(drift.compare_columns(st.columns, columns))
    if bad:
        raise drift.drift_blocked(ctx.table, bad[0]["old"], bad[0]["new"])


def _needs_resnapshot_for_defaults(ctx: Context, st: state.TableState, shape: catalog.TableShape) -> bool:
    """A column added with a default gives every existing row a value without any change event: reload."""
    added = [e["column"] for e in drift.compare_columns(st.columns, shape.columns) if e["change"] == "added"]
    filled = [name for name in added if name in shape.with_default]
    if filled:
        log.warning("%s: column(s) %s were added with a default; existing rows got values that no change carries, "
                    "so the table is re-snapshotted", ctx.table.id, filled)
    return bool(filled)


def _save_blocked(ctx: Context, wh, exc: SchemaDriftBlocked) -> None:
    wh.rollback()
    with wh.cursor() as cur:
        st = state.load(cur, ctx.source.name, ctx.table.qualified, lock=True)
        if st is not None:
            st.status, st.blocked_reason, st.last_run_id = "blocked", str(exc), ctx.run_id
            state.save(cur, st)
            if exc.event:
                state.record_drift(cur, source=ctx.source.name, table_name=ctx.table.qualified,
                                   events=[{**exc.event, "action": "blocked the table"}],
                                   batch_id=st.last_batch_id or "-", run_id=ctx.run_id)
    wh.commit()
