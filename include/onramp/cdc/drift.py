"""Schema drift: how the source's columns moved since the warehouse last took them (pure functions)."""

from __future__ import annotations

from onramp.cdc.config import TableConfig
from onramp.cdc.errors import SchemaDriftBlocked
from onramp.cdc.pgtypes import Column, compare_types


def compare_columns(known: list[dict], current: list[Column]) -> list[dict]:
    """Events between the recorded columns and the source's: added, dropped, type_widened, type_incompatible."""
    before = {d["name"]: Column.from_dict(d) for d in known}
    events = []
    for column in current:
        old = before.get(column.name)
        if old is None:
            events.append({"column": column.name, "change": "added", "old_type": None, "new_type": column.source_type})
            continue
        verdict = compare_types(old, column)
        if verdict == "widened":
            events.append({"column": column.name, "change": "type_widened", "old_type": old.source_type,
                           "new_type": column.source_type})
        elif verdict == "incompatible":
            events.append({"column": column.name, "change": "type_incompatible", "old_type": old.source_type,
                           "new_type": column.source_type, "old": old, "new": column})
    names = {c.name for c in current}
    events += [{"column": name, "change": "dropped", "old_type": old.source_type, "new_type": None}
               for name, old in before.items() if name not in names]
    return events


def incompatible(events: list[dict]) -> list[dict]:
    return [e for e in events if e["change"] == "type_incompatible"]


def drift_blocked(table: TableConfig, old: Column, new: Column) -> SchemaDriftBlocked:
    """The error that blocks a table whose column changed type incompatibly (names the column and the fix)."""
    event = {"column": old.name, "change": "type_incompatible", "old_type": old.source_type, "new_type": new.source_type}
    return SchemaDriftBlocked(incompatible_message(table, old, new), event)


def incompatible_message(table: TableConfig, old: Column, new: Column) -> str:
    return (
        f"{table.id}: column {old.name!r} changed type in the source from {old.source_type} to {new.source_type}, "
        f"which staging.{table.target}.{old.name} ({old.warehouse_type}) cannot take without changing values. "
        f"Table {table.id} is blocked (other tables go on). Fix: run `onramp cdc resnapshot {table.id}` "
        f"(or trigger cdc_app_db with backfill_table={table.id}) to rebuild it with the new type, "
        f"or change the source column back"
    )
