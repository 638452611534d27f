"""Where one table's CDC cycle reads and writes: its config, both databases, the lake, the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onramp.cdc.config import CdcConfig, SourceConfig, TableConfig
from onramp.cdc.manifest import Changes, Manifest, Snapshot
from onramp.cdc.pgtypes import Column


@dataclass(frozen=True)
class Context:
    """Where one table's cycle reads and writes."""

    config: CdcConfig
    table: TableConfig
    source_url: str
    warehouse_url: str
    lake_dir: Path
    run_id: str

    @property
    def source(self) -> SourceConfig:
        return self.config.source(self.table.source)

    def manifest(self, mode: str, columns: list[Column], snapshot: Snapshot | None, changes: Changes) -> Manifest:
        """What this table's extraction hands to its gate and apply steps."""
        return Manifest(table=self.table.id, source=self.source.name, target=self.table.target, mode=mode,
                        run_id=self.run_id, columns=list(columns), snapshot=snapshot, changes=changes)
