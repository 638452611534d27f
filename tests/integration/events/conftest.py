"""Fixtures of the event path: a migrated warehouse, a collector app on this test's Redis prefix, a loader."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from onramp.collector.config import CollectorConfig
from onramp.migrations import migrate
from onramp.stream.config import LoaderConfig

WRITE_KEY = "test-write-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")


def track(event: str = "signup_started", properties: dict | None = None, **extra) -> dict:
    """A valid track call unless the arguments say otherwise."""
    message = {
        "type": "track", "event": event, "messageId": str(uuid.uuid4()), "anonymousId": "anon-1",
        "properties": {"signup_source": "organic", "method": "email"} if properties is None else properties,
        "timestamp": "2026-03-01T12:00:00Z",
        "context": {"ip": "81.2.69.160", "userAgent": CHROME,
                    "page": {"url": "https://app.example.com/signup?utm_source=newsletter&utm_campaign=spring",
                             "referrer": "https://www.google.com/"}},
    }
    message.update(extra)
    return message


@pytest.fixture
def warehouse(make_database) -> str:
    url = make_database("events")
    migrate(url, "warehouse")
    return url


@pytest.fixture
def collector_config(settings, redis_prefix) -> CollectorConfig:
    return CollectorConfig(redis_url=settings.redis_url, redis_prefix=redis_prefix, write_keys={WRITE_KEY: "web"})


@pytest.fixture
def client(collector_config) -> Iterator:
    from starlette.testclient import TestClient

    from onramp.collector.app import create_app

    with TestClient(create_app(collector_config)) as test_client:
        yield test_client


@pytest.fixture
def make_loader(settings, redis_prefix, warehouse, tmp_path):
    from onramp.stream.loader import EventLoader

    made = []

    def make(consumer: str = "test-loader", gate: bool = True, suite_dir=None, **config) -> EventLoader:
        config.setdefault("batch_seconds", 0.5)
        loader = EventLoader(redis_url=settings.redis_url, prefix=redis_prefix, warehouse_url=warehouse,
                             lake_dir=tmp_path / "lake", consumer=consumer, config=LoaderConfig(**config), gate=gate,
                             suite_dir=suite_dir)
        made.append(loader)
        return loader

    yield make
    for loader in made:
        loader.close()
