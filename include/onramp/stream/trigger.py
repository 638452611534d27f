"""An Airflow event trigger that wakes ``events_stream_load`` when the events stream has work for the loader.

It never consumes the stream (Airflow's ``redis+pubsub`` trigger loses messages: pub/sub delivers only
to whoever listens at that instant). It only looks: ``XINFO GROUPS`` gives the loader group's lag
(entries not yet delivered) and pending count (delivered, not acknowledged); when either is non-zero
and the stream moved since it last fired (or ``refire_s`` passed), it yields one event. The DAG's task
then drains the stream itself through the consumer group, so a missed or repeated wake-up costs
nothing: entries wait in the stream until some run reads them.

``include/onramp`` never imports Airflow at module level (the package is testable without it), so the
class is built on first access through the module's ``__getattr__``; Airflow's triggerer imports it
by its path ``onramp.stream.trigger.StreamBacklogTrigger`` like any other class.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

CLASSPATH = "onramp.stream.trigger.StreamBacklogTrigger"


@dataclass(frozen=True)
class Backlog:
    last_id: str  # the stream's last generated entry id
    lag: int  # entries the group has not been delivered yet
    pending: int  # delivered to a consumer, not acknowledged (a run in flight, or a crashed one)

    @property
    def has_work(self) -> bool:
        return self.lag > 0 or self.pending > 0


async def read_backlog(client, stream: str, group: str) -> Backlog:
    """The loader group's backlog on ``stream`` (a redis.asyncio client); an absent group means all is lag."""
    try:
        info = await client.xinfo_stream(stream)
    except Exception as exc:  # no such key yet: nothing to do
        if "no such key" in str(exc).lower():
            return Backlog("0-0", 0, 0)
        raise
    last_id = info["last-generated-id"]
    last_id = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
    for entry in await client.xinfo_groups(stream):
        name = entry["name"].decode() if isinstance(entry["name"], bytes) else entry["name"]
        if name != group:
            continue
        lag = entry.get("lag")
        if lag is None:  # Redis < 7 or an inconsistent counter: compare ids instead
            delivered = entry["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else str(delivered)
            lag = 0 if delivered == last_id else 1
        return Backlog(last_id, int(lag), int(entry["pending"]))
    return Backlog(last_id, int(info["length"]), 0)


def should_fire(backlog: Backlog, last_fired_id: str | None, seconds_since_fired: float, refire_s: float) -> bool:
    """Fire for new entries; refire for a backlog nobody cleared (a failed run) only every ``refire_s``."""
    if not backlog.has_work:
        return False
    if backlog.last_id != last_fired_id:
        return True
    return seconds_since_fired >= refire_s


def _build_class():
    from airflow.triggers.base import BaseEventTrigger, TriggerEvent

    class StreamBacklogTrigger(BaseEventTrigger):
        """Fires when the Redis stream ``<prefix>events`` has entries the loader group has not acknowledged."""

        def __init__(self, stream: str, group: str = "loader", poll_interval: float = 2.0, refire_s: float = 300.0,
                     redis_url: str = "", **kwargs):
            super().__init__(**kwargs)
            self.stream = stream
            self.group = group
            self.poll_interval = poll_interval
            self.refire_s = refire_s
            self.redis_url = redis_url  # empty: ONRAMP_REDIS_URL of the triggerer (no secret in the metadata DB)

        def serialize(self) -> tuple[str, dict[str, Any]]:
            return CLASSPATH, {"stream": self.stream, "group": self.group, "poll_interval": self.poll_interval,
                               "refire_s": self.refire_s, "redis_url": self.redis_url}

        async def run(self):
            import time

            import redis.asyncio as aioredis

            from onramp.settings import get_settings

            client = aioredis.Redis.from_url(self.redis_url or get_settings().redis_url, socket_timeout=10,
                                             socket_connect_timeout=5)
            last_fired_id, fired_at = None, 0.0
            try:
                while True:
                    try:
                        backlog = await read_backlog(client, self.stream, self.group)
                    except (OSError, aioredis.RedisError) as exc:
                        self.log.warning("cannot read stream %s: %s; retrying", self.stream, exc)
                        await asyncio.sleep(max(self.poll_interval, 5))
                        continue
                    now = time.monotonic()
                    if should_fire(backlog, last_fired_id, now - fired_at, self.refire_s):
                        last_fired_id, fired_at = backlog.last_id, now
                        yield TriggerEvent({"stream": self.stream, "last_id": backlog.last_id,
                                            "lag": backlog.lag, "pending": backlog.pending})
                    await asyncio.sleep(self.poll_interval)
            finally:
                await client.aclose()

    StreamBacklogTrigger.__module__ = __name__
    return StreamBacklogTrigger


_built: dict[str, type] = {}


def __getattr__(name: str):
    if name == "StreamBacklogTrigger":
        if name not in _built:
            _built[name] = _build_class()
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
