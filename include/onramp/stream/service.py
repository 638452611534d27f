"""Entry points shared by the CLI and the DAG tasks: build the loader from settings, drain, replay."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import redis

from onramp.collector.config import LoaderConfig
from onramp.settings import Settings, get_settings
from onramp.stream.dead_letters import ReplayFilters, ReplayReport, drain_dead_letters, replay
from onramp.stream.loader import DrainReport, EventLoader, default_consumer


def drain(settings: Settings | None = None, *, follow: bool = False, max_seconds: float | None = None,
          consumer: str | None = None, gate: bool = True, should_stop=None) -> tuple[DrainReport, int]:
    """Dead letters into ``ops.dead_letters``, then events into the lake and ``raw.events``."""
    settings = settings or get_settings()
    consumer = consumer or default_consumer()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        dead = drain_dead_letters(client, settings.redis_prefix, settings.warehouse_url, consumer)
    finally:
        client.close()
    loader = EventLoader(redis_url=settings.redis_url, prefix=settings.redis_prefix,
                         warehouse_url=settings.warehouse_url, lake_dir=settings.lake_path, consumer=consumer,
                         config=LoaderConfig.from_settings(), gate=gate)
    try:
        report = loader.drain(follow=follow, max_seconds=max_seconds, should_stop=should_stop)
    finally:
        loader.close()
    return report, dead


def parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def replay_dead_letters(run_id: str, *, reason: str | None = None, event_name: str | None = None,
                        since: str | None = None, until: str | None = None, schema_version: str | None = None,
                        limit: int = 100_000, settings: Settings | None = None,
                        plan_dir: Path | None = None) -> tuple[ReplayReport, int]:
    """Drain pending dead letters into the warehouse, then replay the ones matching the filters."""
    settings = settings or get_settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        drained = drain_dead_letters(client, settings.redis_prefix, settings.warehouse_url, default_consumer())
        filters = ReplayFilters(reason=reason or None, event_name=event_name or None, since=parse_when(since),
                                until=parse_when(until), schema_version=schema_version or None, limit=limit)
        plan_dir = plan_dir or (Path(settings.tracking_plan_dir) if settings.tracking_plan_dir else None)
        report = replay(client, settings.redis_prefix, settings.warehouse_url, run_id, filters, plan_dir=plan_dir)
    finally:
        client.close()
    return report, drained
