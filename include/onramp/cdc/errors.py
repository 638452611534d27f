"""Errors of the CDC loader. Each message names the table, column or slot and says what to do next."""

from __future__ import annotations


class CdcError(RuntimeError):
    """A CDC problem a user can act on; the CLI prints the message alone, never a traceback."""


class ConfigError(CdcError):
    """config/cdc_sources.yaml is invalid; the message lists every problem with its path in the file."""


class SourceError(CdcError):
    """The source database or table cannot be replicated as declared."""


class SlotLost(CdcError):
    """The table's replication slot is missing or invalidated: changes may have been lost, resnapshot."""


class SlotLagExceeded(CdcError):
    """A slot retains more WAL than the configured limit: the source disk is at risk."""


class SchemaDriftBlocked(CdcError):
    """An incompatible source schema change blocks one table until it is fixed (other tables go on)."""

    def __init__(self, message: str, event: dict | None = None):
        super().__init__(message)
        self.event = event  # {column, change, old_type, new_type} for ops.cdc_schema_changes


class StaleBatch(CdcError):
    """A batch no longer matches the table's load state (another run applied in between)."""
