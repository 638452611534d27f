"""The official segment-analytics-python SDK, through SegmentSdkSink, against a real collector process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from onramp.local.simulator.sdk_sink import SegmentSdkSink
from onramp.stream.dead_letters import drain_dead_letters
from tests.conftest import free_port

from .conftest import WRITE_KEY, track
from .test_sigkill import _wait_health

REPO = Path(__file__).resolve().parents[3]


def test_sdk_batches_land_in_the_stream_and_bad_events_in_dead_letters(settings, redis_prefix, make_loader,
                                                                       warehouse, tmp_path):
    port = free_port()
    env = dict(os.environ, ONRAMP_REDIS_PREFIX=redis_prefix, ONRAMP_COLLECTOR_WRITE_KEYS=f"{WRITE_KEY}=sdk",
               PYTHONPATH=str(REPO / "include"))
    collector = subprocess.Popen([sys.executable, "-m", "onramp.collector.cli", "serve", "--port", str(port)],
                                 env=env, stdout=open(tmp_path / "collector.log", "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_health(port)
        sink = SegmentSdkSink(f"http://127.0.0.1:{port}", WRITE_KEY)
        good = [track(), track("feature_used", {"feature": "api"}, anonymousId=None, userId="u-1"),
                {"type": "identify", "userId": "u-1", "anonymousId": "anon-1", "traits": {"plan": "pro"}},
                {"type": "page", "anonymousId": "anon-1", "name": "Pricing"},
                {"type": "alias", "previousId": "anon-1", "userId": "u-1"},
                {"type": "group", "userId": "u-1", "groupId": "g-1", "traits": {}}]
        bad = track(properties={"signup_source": "organic", "method": "telepathy"})
        for event in [*good, bad]:
            sink.send(event)
        sink.close()
        assert sink.stats() == {"sent": 7, "errors": 0, "last_error": None}
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    report = make_loader().drain()
    assert report.loaded == 6
    assert drain_dead_letters(redis.Redis.from_url(settings.redis_url), redis_prefix, warehouse, "t") == 1


def test_a_collector_that_refuses_is_counted_as_errors(tmp_path):
    sink = SegmentSdkSink(f"http://127.0.0.1:{free_port()}", WRITE_KEY, max_retries=0, timeout=1)
    sink.send(track())
    sink.close()
    assert sink.stats()["errors"] == 1 and sink.stats()["sent"] == 1
