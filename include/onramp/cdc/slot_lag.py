"""The slot-lag guardrail: measure each slot at extract and after the confirm, fail loudly over its limit.

A slot keeps WAL on the source's disk until it is confirmed. Each measurement is recorded in
``ops.cdc_slot_lag``; a slot over ``max_slot_lag_bytes`` fails the table's last task *after* its data
was applied, so the run does its work and still gets someone's attention.
"""

from __future__ import annotations

import logging

from onramp.cdc import logical, state
from onramp.cdc.context import Context
from onramp.cdc.errors import SlotLagExceeded
from onramp.cdc.manifest import ApplyResult, SlotLag

log = logging.getLogger(__name__)


def record_lag(ctx: Context, wh, slot: logical.SlotState, phase: str) -> SlotLag:
    """Record where the slot stands (committed at once); returns bytes behind, retained and the limit."""
    limit = ctx.source.max_slot_lag_bytes
    with wh.cursor() as cur:
        state.record_lag(cur, source=ctx.source.name, table_name=ctx.table.qualified, slot_name=slot.name,
                         run_id=ctx.run_id, phase=phase, slot=slot, limit_bytes=limit)
    wh.commit()
    if slot.lag_bytes > limit:
        log.warning("%s: slot %s is %s bytes behind (limit %s)", ctx.table.id, slot.name, f"{slot.lag_bytes:,}", f"{limit:,}")
    return SlotLag(lag_bytes=slot.lag_bytes, retained=slot.retained_bytes, limit=limit)


def enforce_slot_lag(result: ApplyResult) -> None:
    """Fail loudly when a slot was or is further behind than its limit (after the data was applied)."""
    lag = result.slot_lag
    if not lag:
        return
    before, after, limit = lag.before_bytes, lag.after_bytes, lag.limit_bytes
    if max(before, after) <= limit:
        return
    when = (f"is {after:,} bytes of WAL behind after this run" if after > limit else
            f"was {before:,} bytes of WAL behind when this run started (now {after:,})")
    raise SlotLagExceeded(
        f"{result.table}: slot {lag.slot} {when}, over the limit of {limit:,} (max_slot_lag_bytes). "
        "The source keeps that WAL on disk until the slot catches up: run the CDC more often or find what "
        f"held it back; if the source disk is at risk, drop the slot (`onramp cdc drop-slot {result.table}`) and "
        "resnapshot later. This run's data is applied."
    )
