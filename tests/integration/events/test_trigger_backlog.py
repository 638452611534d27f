"""The AssetWatcher trigger reads the loader group's backlog on a real Redis and fires only when there is work."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from onramp.stream.backlog import read_backlog
from onramp.stream.keys import LOADER_GROUP, StreamKeys


def test_backlog_counts_lag_and_pending(settings, redis_prefix):
    stream = StreamKeys(redis_prefix).events
    sync = redis.Redis.from_url(settings.redis_url)

    async def backlog():
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            return await read_backlog(client, stream, LOADER_GROUP)
        finally:
            await client.aclose()

    assert not asyncio.run(backlog()).has_work  # no stream yet
    for _ in range(3):
        sync.xadd(stream, {"e": b"[]", "n": 0})
    assert asyncio.run(backlog()).lag == 3  # no group yet: everything is lag
    sync.xgroup_create(stream, LOADER_GROUP, id="0")
    sync.xreadgroup(LOADER_GROUP, "c", {stream: ">"}, count=2)
    state = asyncio.run(backlog())
    assert (state.lag, state.pending, state.has_work) == (1, 2, True)
    entries = sync.xreadgroup(LOADER_GROUP, "c", {stream: "0"})[0][1]
    sync.xack(stream, LOADER_GROUP, *[eid for eid, _ in entries])
    sync.xreadgroup(LOADER_GROUP, "c", {stream: ">"})
    sync.xack(stream, LOADER_GROUP, *[eid for eid, _ in sync.xreadgroup(LOADER_GROUP, "c", {stream: "0"})[0][1]])
    assert not asyncio.run(backlog()).has_work


def test_the_trigger_fires_once_per_new_backlog(settings, redis_prefix):
    from onramp.airflow.triggers import StreamBacklogTrigger

    stream = StreamKeys(redis_prefix).events
    redis.Redis.from_url(settings.redis_url).xadd(stream, {"e": b"[]", "n": 0})
    trigger = StreamBacklogTrigger(stream=stream, poll_interval=0.05, redis_url=settings.redis_url)

    async def first_events(n: int, seconds: float):
        got = []

        async def collect():
            async for event in trigger.run():
                got.append(event.payload)
                if len(got) >= n:
                    return

        with pytest.raises(TimeoutError) if n > 1 else _nothing():
            await asyncio.wait_for(collect(), seconds)
        return got

    events = asyncio.run(first_events(2, 1.0))  # asks for two, gets one: the same backlog never re-fires early
    assert len(events) == 1 and events[0]["stream"] == stream and events[0]["lag"] == 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
