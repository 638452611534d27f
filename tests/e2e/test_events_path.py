"""The event path end to end: the real Segment SDK -> a real collector process -> Redis stream -> the
events_stream_load DAG, woken by its AssetWatcher in a real Airflow -> raw.events (once each, enriched)
and ops.dead_letters (with reasons) -> a dlq_replay run with params, reporting its counts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.conftest import free_port
from tests.e2e.conftest import WRITE_KEY

pytestmark = pytest.mark.e2e
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
          "Safari/537.36")


@pytest.fixture
def collector(stack, tmp_path) -> Iterator[str]:
    """A real collector process (the `onramp collector serve` command) on the shared stack's settings."""
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).with_name("onramp")), "collector", "serve", "--port", str(port)],
                               env=dict(os.environ), stdout=open(tmp_path / "collector.log", "wb"),
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "collector.log").read_text()[-2000:]
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _events(run: str) -> tuple[list[dict], list[dict]]:
    context = {"ip": "81.2.69.160", "userAgent": CHROME, "page": {
        "url": "https://app.onramp.example/signup?utm_source=google&utm_medium=cpc&utm_campaign=e2e",
        "referrer": "https://www.google.com/"}}
    valid = []
    for i in range(10):
        anon, user = f"anon-{run}-{i}", f"user-{run}-{i}"
        valid += [
            {"type": "page", "anonymousId": anon, "name": "Home", "context": context},
            {"type": "track", "event": "signup_started", "anonymousId": anon, "context": context,
             "properties": {"signup_source": "paid_search", "method": "email"}},
            {"type": "identify", "userId": user, "anonymousId": anon, "traits": {"plan": "free"}, "context": context},
        ]
    for event in valid:
        event["messageId"] = str(uuid.uuid4())
    invalid = [
        {"type": "track", "event": "signup_started", "anonymousId": f"anon-{run}-x", "messageId": str(uuid.uuid4()),
         "properties": {"signup_source": "paid_search", "method": "carrier_pigeon"}, "context": context},
        {"type": "track", "event": "rocket_launched", "userId": f"user-{run}-0", "messageId": str(uuid.uuid4()),
         "properties": {}, "context": context},
    ]
    return valid, invalid


def test_sdk_events_land_once_enriched_and_invalid_ones_in_dead_letters(stack, collector):
    from onramp.local.airflow_client import AirflowClient
    from onramp.local.simulator.sdk_sink import SegmentSdkSink

    settings, login, collector_url = stack.settings, stack.login, collector
    valid, invalid = _events(uuid.uuid4().hex[:6])
    sink = SegmentSdkSink(collector_url, WRITE_KEY)
    for event in valid + invalid:
        sink.send(event)
    sink.close()  # synchronous flush through the SDK
    # the SDK posts whole batches: the collector answers 200 and lists the two dead letters
    assert sink.stats()["errors"] == 0, sink.stats()
    client = redis.Redis.from_url(settings.redis_url)
    assert client.exists(f"{settings.redis_prefix}events")

    api = AirflowClient(login)
    try:
        api.wait_for_dag("events_stream_load")
        api.wait_for_dag("dlq_replay")
        api.unpause("events_stream_load")  # nothing triggers it by hand: the stream's AssetWatcher wakes it
        deadline = time.monotonic() + 150
        run = None
        while time.monotonic() < deadline:
            runs = api._call("GET", "/dags/events_stream_load/dagRuns", params={"order_by": "-start_date"})["dag_runs"]
            run = next((r for r in runs if r["state"] in ("success", "failed")
                        and r["run_type"] == "asset_triggered"), None)
            if run:
                break
            time.sleep(2)
        assert run is not None, "the AssetWatcher never woke events_stream_load"
        assert run["state"] == "success", api.task_results("events_stream_load", run["dag_run_id"])
        assert run["run_type"] == "asset_triggered"

        with psycopg.connect(settings.warehouse_url) as conn:
            rows = conn.execute("select message_id, country, city, browser, utm_campaign, referrer_type, source"
                                " from raw.events").fetchall()
            dead = conn.execute("select message_id, reason_codes, reasons->0->>'path' from ops.dead_letters"
                                " order by 2").fetchall()
            links = conn.execute("select count(*) from staging.identity_map").fetchone()[0]
        assert sorted(r[0] for r in rows) == sorted(e["messageId"] for e in valid)  # each once
        assert {r[1:] for r in rows} == {("GB", "London", "Chrome", "e2e", "search", "e2e-app")}
        assert [(d[0], d[1], d[2]) for d in dead] == [
            (invalid[0]["messageId"], ["schema.enum"], "$.properties.method"),
            (invalid[1]["messageId"], ["unknown_event"], "$.event"),
        ]
        assert links == 10

        replay = api.run_and_wait("dlq_replay", conf={"reason": "unknown_event"}, timeout=150)
        assert replay.state == "success", replay.tasks
        with psycopg.connect(settings.warehouse_url) as conn:
            counts = conn.execute("select matched, reinjected, still_invalid from ops.dead_letter_replays"
                                  " where run_id = %s", (replay.run_id,)).fetchone()
        assert counts == (1, 0, 1)  # the plan was not fixed: still invalid, counted, kept
    finally:
        api.close()
