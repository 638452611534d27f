"""SIGKILL the collector under load and the loader mid-batch: no acknowledged event lost, none duplicated.

Both run as real processes against a private redis-server with AOF on (the shared one is never touched).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pyarrow.dataset as ds
import pytest
import redis

from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import RequestContext, process
from onramp.collector.plan import TrackingPlan
from onramp.events.row import events_entry
from onramp.local.services import EmbeddedRedis
from onramp.stream.keys import StreamKeys
from onramp.stream.loader import lake_events_dir
from tests.conftest import free_port

from .conftest import AUTH, WRITE_KEY, track

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def private_redis(tmp_path):
    server = EmbeddedRedis(tmp_path, "127.0.0.1", free_port())
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


def _env(redis_url: str, prefix: str, warehouse: str, lake: Path) -> dict:
    db = warehouse.rsplit("/", 1)[1]
    return dict(os.environ, ONRAMP_REDIS_URL=redis_url, ONRAMP_REDIS_PREFIX=prefix, ONRAMP_WAREHOUSE_DB=db,
                ONRAMP_LAKE_DIR=str(lake), ONRAMP_COLLECTOR_WRITE_KEYS=f"{WRITE_KEY}=web",
                PYTHONPATH=str(REPO / "include"))


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            cwd=str(REPO))


def _wait_health(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"collector on port {port} never became healthy")


def _ids(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("select message_id from raw.events")]


def test_sigkill_collector_under_load_loses_no_acknowledged_event(private_redis, warehouse, tmp_path):
    prefix = f"kill-{uuid.uuid4().hex[:6]}:"
    port = free_port()
    env = _env(private_redis, prefix, warehouse, tmp_path / "lake")
    command = ["onramp.collector.cli", "serve", "--port", str(port)]
    collector = _start(command, env, tmp_path / "collector.log")
    _wait_health(port)
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for n in range(10_000):
                if stop.is_set():
                    return
                batch = [track(messageId=f"w{worker}-{n}-{i}") for i in range(20)]
                while not stop.is_set():  # like an SDK: retry the same batch until it is acknowledged
                    try:
                        response = http.post("/v1/batch", json={"batch": batch}, headers=AUTH)
                    except httpx.HTTPError:
                        time.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        with lock:
                            acked.update(m["messageId"] for m in batch)
                        break
                    assert response.status_code in (429, 503), response.text
                    time.sleep(0.05)

    threads = [threading.Thread(target=sender, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2):
            target = len(acked) + 400
            while len(acked) < target:
                time.sleep(0.02)
            collector.send_signal(signal.SIGKILL)  # mid-load: requests in flight die with it
            collector.wait()
            collector = _start(command, env, tmp_path / "collector.log")
            _wait_health(port)
        target = len(acked) + 400
        while len(acked) < target:
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)

    from onramp.stream.loader import EventLoader

    loader = EventLoader(redis_url=private_redis, prefix=prefix, warehouse_url=warehouse, lake_dir=tmp_path / "lake",
                         consumer="after-kill")
    try:
        loader.drain()
    finally:
        loader.close()
    landed = _ids(warehouse)
    assert len(landed) == len(set(landed))  # none twice
    assert acked <= set(landed), f"{len(acked - set(landed))} acknowledged events lost"


def _fill_stream(redis_url: str, prefix: str, entries: int, per_entry: int) -> set[str]:
    plan, enricher = TrackingPlan(), Enricher()
    client = redis.Redis.from_url(redis_url)
    ids = set()
    pipe = client.pipeline(transaction=False)
    for e in range(entries):
        messages = [track("feature_used", {"feature": "reports"}, messageId=f"e{e}-{i}",
                          timestamp=f"2026-0{1 + e % 3}-1{i % 10}T10:00:00Z") for i in range(per_entry)]
        ids.update(m["messageId"] for m in messages)
        out = process(messages, None, RequestContext("web", datetime.now(UTC)), plan, enricher)
        pipe.xadd(StreamKeys(prefix).events, events_entry(orjson.dumps(out.accepted), per_entry))
    pipe.execute()
    return ids


def test_sigkill_loader_mid_batch_then_rerun_loads_everything_exactly_once(private_redis, warehouse, tmp_path):
    prefix = f"kill-{uuid.uuid4().hex[:6]}:"
    sent = _fill_stream(private_redis, prefix, entries=600, per_entry=40)
    lake = tmp_path / "lake"
    env = dict(_env(private_redis, prefix, warehouse, lake), ONRAMP_STREAM_BATCH_EVENTS="400",
               ONRAMP_STREAM_BATCH_SECONDS="0.2")
    rng = random.Random(4)
    kills = 0
    with psycopg.connect(warehouse, autocommit=True) as conn:
        for _ in range(3):
            before = conn.execute("select count(*) from ops.event_load_batches").fetchone()[0]
            loader = _start(["onramp.stream.cli", "drain", "--follow", "--consumer", "loader-1"], env,
                            tmp_path / "loader.log")
            deadline = time.monotonic() + 120
            while conn.execute("select count(*) from ops.event_load_batches").fetchone()[0] <= before:
                assert loader.poll() is None, (tmp_path / "loader.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the loader never committed a batch"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside a later batch: read, gate, COPY, lake or ack
            loader.send_signal(signal.SIGKILL)
            loader.wait()
            kills += 1
            if conn.execute("select count(*) from raw.events").fetchone()[0] == len(sent):
                break  # everything landed before a kill could interrupt more work
    assert kills >= 2
    finish = subprocess.run([sys.executable, "-m", "onramp.stream.cli", "drain", "--consumer", "loader-1"], env=env,
                            capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert finish.returncode == 0, finish.stdout[-2000:] + finish.stderr[-2000:]
    landed = _ids(warehouse)
    assert len(landed) == len(set(landed)) == len(sent) and set(landed) == sent
    table = ds.dataset(lake_events_dir(lake), format="parquet", partitioning="hive").to_table(columns=["message_id"])
    lake_ids = table["message_id"].to_pylist()
    assert len(lake_ids) == len(set(lake_ids)) == len(sent), "the lake holds each event exactly once"
    pending = redis.Redis.from_url(private_redis).xpending(StreamKeys(prefix).events, "loader")["pending"]
    assert pending == 0
