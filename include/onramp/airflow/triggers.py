"""The event trigger that wakes ``events_stream_load`` when the events stream has work for the loader.

It never consumes the stream (Airflow's ``redis+pubsub`` trigger loses messages: pub/sub delivers only
to whoever listens at that instant). It only looks (:mod:`onramp.stream.backlog`): when the loader group
has lag or pending entries and the stream moved since it last fired (or ``refire_s`` passed), it yields
one event. The DAG's task then drains the stream itself through the consumer group, so a missed or
repeated wake-up costs nothing: entries wait in the stream until some run reads them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from onramp.stream.backlog import read_backlog, should_fire

CLASSPATH = "onramp.airflow.triggers.StreamBacklogTrigger"


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
        from redis.exceptions import RedisError

        from onramp import db
        from onramp.settings import get_settings

        client = db.async_redis_client(self.redis_url or get_settings().redis_url, "stream-trigger")
        last_fired_id, fired_at = None, 0.0
        try:
            while True:
                try:
                    backlog = await read_backlog(client, self.stream, self.group)
                except (OSError, RedisError) as exc:
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
