"""Why an event is dead-lettered, in a form a program can act on; the codes that are not the tracking plan's.

The tracking plan's own codes (``schema.<keyword>``, ``unknown_event``) come from :mod:`onramp.collector.plan`.
The collector adds :data:`TIMESTAMP_OUT_OF_RANGE` and :data:`PAYLOAD_TOO_DEEP`; the stream loader adds
:data:`STREAM_UNDECODABLE` and :data:`WAREHOUSE_REFUSED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TIMESTAMP_OUT_OF_RANGE = "timestamp.out_of_range"
PAYLOAD_TOO_DEEP = "payload.too_deep"  # nested deeper than the stream's JSON encoder goes
STREAM_UNDECODABLE = "stream.undecodable"  # a stream entry, or a row in it, the loader cannot read
WAREHOUSE_REFUSED = "warehouse.refused"  # raw.events refused the row (the database's message says why)
# dlq_replay re-validates a payload against the plan; these payloads are not a message it could re-inject as is
NOT_REPLAYABLE = (PAYLOAD_TOO_DEEP, STREAM_UNDECODABLE, WAREHOUSE_REFUSED)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
_MIN_US = (MIN_EVENT_TIME - EPOCH) // timedelta(microseconds=1)
_MAX_FUTURE_US = MAX_FUTURE // timedelta(microseconds=1)


@dataclass(frozen=True)
class Reason:
    """Why one message was dead-lettered."""

    code: str  # e.g. schema.required, schema.enum, unknown_event, stream.undecodable
    path: str  # JSONPath into the message as sent, e.g. $.properties.plan ("$": the message as a whole)
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


def time_reason(event_at_us: int | None, received_us: int) -> Reason | None:
    """Why an event time (after clock-skew correction) cannot be right, or None when it can."""
    if event_at_us is None or _MIN_US <= event_at_us <= received_us + _MAX_FUTURE_US:
        return None
    return Reason(TIMESTAMP_OUT_OF_RANGE, "$.timestamp",
                  "event time (after sentAt clock-skew correction) is before 2000-01-01 or more than a day "
                  "after it was received; check the device clock and the timestamp format")
