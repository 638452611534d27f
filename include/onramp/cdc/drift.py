"""Schema drift: how the source's columns moved since the warehouse last took them (pure functions)."""

from __future__ import annotations

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
