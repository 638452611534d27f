"""An event sink that sends Segment-format events through the official ``segment-analytics-python`` SDK.

The simulator's ``--live`` mode uses it (``make_sink("collector:http://127.0.0.1:8090")``), so demo
events take the same path as an app's: the SDK batches them, gzips, retries 429/5xx with backoff, and
posts ``/v1/batch`` to the collector with the write key as HTTP Basic user.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from segment.analytics.client import Client

log = logging.getLogger("onramp.collector.sdk")
CALLS = ("track", "identify", "page", "screen", "group", "alias")


def _timestamp(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


class SegmentSdkSink:
    """``EventSink`` (``send``/``flush``/``close``) over the Segment SDK's ``Client``."""

    def __init__(self, endpoint: str, write_key: str, *, upload_size: int = 100, gzip: bool = True,
                 max_queue_size: int = 100_000, timeout: float = 15, max_retries: int = 10, threads: int = 1,
                 block: bool = False):
        """``threads``: the SDK's upload threads; ``block``: wait for room in the SDK's queue instead of
        letting it drop the event (a backfill must not outrun the uploads)."""
        self.endpoint = endpoint.rstrip("/")
        self.block = block
        self.sent = 0
        self.errors = 0
        self.dead_lettered = 0  # in batches the collector answered 400 invalid_events: stored as dead letters
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self.client = Client(write_key=write_key, host=self.endpoint, gzip=gzip, upload_size=upload_size,
                             max_queue_size=max_queue_size, timeout=timeout, max_retries=max_retries,
                             on_error=self._on_error, thread=threads)

    def _on_error(self, error, batch) -> None:
        if getattr(error, "code", None) == "invalid_events":  # every event broke the plan: kept, not lost
            with self._lock:
                self.dead_lettered += len(batch)
            return
        with self._lock:
            self.errors += len(batch)
            self.last_error = str(error)[:500]
        log.warning("collector at %s refused or failed a batch of %d events: %s", self.endpoint, len(batch), error)

    def send(self, event: dict) -> None:
        """Queue one Segment-format event (``type`` decides the SDK call); raises ValueError if it has none."""
        kind = event.get("type")
        if kind not in CALLS:
            raise ValueError(f"event type {kind!r} is not one of {CALLS}")
        common = {
            "context": dict(event.get("context") or {}),
            "timestamp": _timestamp(event.get("timestamp")),
            "integrations": event.get("integrations") or {},
            "message_id": event.get("messageId"),
        }
        user_id, anonymous_id = event.get("userId"), event.get("anonymousId")
        if self.block:
            while self.client.queue.full():  # the one producer: room seen here is still there at put
                time.sleep(0.005)
        if kind == "track":
            ok, _ = self.client.track(user_id=user_id, anonymous_id=anonymous_id, event=event.get("event"),
                                      properties=event.get("properties") or {}, **common)
        elif kind == "identify":
            ok, _ = self.client.identify(user_id=user_id, anonymous_id=anonymous_id,
                                         traits=event.get("traits") or {}, **common)
        elif kind in ("page", "screen"):
            ok, _ = getattr(self.client, kind)(user_id=user_id, anonymous_id=anonymous_id, name=event.get("name"),
                                               category=event.get("category"),
                                               properties=event.get("properties") or {}, **common)
        elif kind == "group":
            ok, _ = self.client.group(user_id=user_id, anonymous_id=anonymous_id, group_id=event.get("groupId"),
                                      traits=event.get("traits") or {}, **common)
        else:
            ok, _ = self.client.alias(previous_id=event.get("previousId"), user_id=user_id, **common)
        with self._lock:
            if ok:
                self.sent += 1
            else:  # the SDK's queue is full: it dropped the event, count it
                self.errors += 1
                self.last_error = "SDK queue full"

    def flush(self) -> None:
        """Block until every queued event was posted (or failed, counted in ``errors``)."""
        self.client.flush()

    def close(self) -> None:
        """Flush synchronously, then stop the SDK's upload thread."""
        self.client.shutdown()

    def stats(self) -> dict:
        return {"sent": self.sent, "errors": self.errors, "last_error": self.last_error}
