"""How a table is captured: from the write-ahead log through a replication slot, or by transaction-id window."""

from __future__ import annotations

import logging

from onramp.cdc.catalog import SourceInfo
from onramp.cdc.config import SourceConfig, TableConfig
from onramp.cdc.errors import SourceError

log = logging.getLogger(__name__)


def choose_mode(source: SourceConfig, table: TableConfig, info: SourceInfo) -> tuple[str, str]:
    """Log-based unless the table asks for xmin or the source cannot decode WAL (then say so, or fail)."""
    if info.encoding != "UTF8":
        raise SourceError(f"{table.id}: the source database is encoded {info.encoding}; Onramp reads UTF8 only")
    if table.mode == "xmin":
        return "xmin", "declared mode: xmin"
    problem = info.logical_problem()
    if problem is None:
        return "log", ""
    if source.fallback == "xmin":
        reason = f"log-based CDC is not possible: {problem}; using the xmin-window fallback instead"
        log.warning("%s: %s", table.id, reason)
        return "xmin", reason
    raise SourceError(f"{table.id}: log-based CDC is not possible: {problem}; fix the source, "
                      f"or set fallback: xmin for source {source.name} in the CDC sources file")
