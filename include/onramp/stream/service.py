"""Entry points shared by the CLI and the DAG tasks: build the loader from settings, drain, replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from onramp import db
from onramp.settings import Settings, get_settings
from onramp.stream.config import LoaderConfig, default_consumer
from onramp.stream.dead_letters import ReplayFilters, ReplayReport, drain_dead_letters, replay
from onramp.stream.loader import DrainReport, EventLoader


def move_dead_letters(consumer: str | None = None, settings: Settings | None = None) -> int:
    """Dead letters from their stream into ``ops.dead_letters``; returns how many were read."""
    settings = settings or get_settings()
    client = db.redis_client(settings.redis_url, "dead-letters")
    try:
        return drain_dead_letters(client, settings.redis_prefix, settings.warehouse_url, consumer or default_consumer())
    finally:
        client.close()


def load_events(consumer: str | None = None, *, follow: bool = False, max_seconds: float | None = None,
                gate: bool = True, gate_stage: str = "events_stream_load", should_stop=None,
                settings: Settings | None = None) -> DrainReport:
    """Events from the stream into the lake and ``raw.events``, in gated micro-batches, exactly once."""
    settings = settings or get_settings()
    loader = EventLoader(redis_url=settings.redis_url, prefix=settings.redis_prefix,
                         warehouse_url=settings.warehouse_url, lake_dir=settings.lake_path,
                         consumer=consumer or default_consumer(), config=LoaderConfig.from_settings(settings),
                         gate=gate, gate_stage=gate_stage)
    try:
        return loader.drain(follow=follow, max_seconds=max_seconds, should_stop=should_stop)
    finally:
        loader.close()


def drain(settings: Settings | None = None, *, follow: bool = False, max_seconds: float | None = None,
          consumer: str | None = None, gate: bool = True, should_stop=None) -> tuple[DrainReport, int]:
    """Dead letters into ``ops.dead_letters``, then events into the lake and ``raw.events``."""
    dead = move_dead_letters(consumer, settings)
    report = load_events(consumer, follow=follow, max_seconds=max_seconds, gate=gate, should_stop=should_stop,
                         settings=settings)
    return report, dead


def parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def replay_dead_letters(run_id: str, *, reason: str | None = None, event_name: str | None = None,
                        since: str | None = None, until: str | None = None, schema_version: str | None = None,
                        limit: int = 100_000, settings: Settings | None = None,
                        plan_dir: Path | None = None) -> tuple[ReplayReport, int]:
    """Drain pending dead letters into the warehouse, then replay the ones matching the filters."""
    settings = settings or get_settings()
    client = db.redis_client(settings.redis_url, "dead-letters")
    try:
        drained = drain_dead_letters(client, settings.redis_prefix, settings.warehouse_url, default_consumer())
        filters = ReplayFilters(reason=reason or None, event_name=event_name or None, since=parse_when(since),
                                until=parse_when(until), schema_version=schema_version or None, limit=limit)
        plan_dir = plan_dir or (Path(settings.tracking_plan_dir) if settings.tracking_plan_dir else None)
        report = replay(client, settings.redis_prefix, settings.warehouse_url, run_id, filters, plan_dir=plan_dir)
    finally:
        client.close()
    return report, drained
