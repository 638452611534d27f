"""What may be kept of a payload that cannot be kept as sent.

orjson reads JSON nested up to 1,024 levels but writes at most 254, and jsonschema_rs hands a failing value
back to Python only up to about the same depth: a message nested deeper is dead-lettered with its payload
cut (:func:`cut_depth`), so the dead letter itself can always be stored.
"""

from __future__ import annotations

CUT_DEPTH = 32  # levels of a too-deep payload kept in its dead letter
CUT_MARKER = "<cut: nested too deep>"


def cut_depth(value, levels: int = CUT_DEPTH):
    """``value`` with every object or array nested more than ``levels`` deep replaced by :data:`CUT_MARKER`."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return value
    if levels <= 0:
        return CUT_MARKER
    if kind is dict:
        return {k: cut_depth(v, levels - 1) for k, v in value.items()}
    return [cut_depth(v, levels - 1) for v in value]
