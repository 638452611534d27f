"""`onramp collector serve --workers N`: one listening socket per worker, connections spread over all of
them, a dead worker replaced, a taken port refused with a clear message, SIGTERM stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from onramp.collector import workers
from tests.conftest import free_port

from .conftest import AUTH, WRITE_KEY, track

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not workers.SUPPORTED, reason="SO_REUSEPORT balancing is Linux-only")


def _serve(port: int, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "onramp.collector.cli", "serve", "--port", str(port), *extra],
                            env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _listeners(port: int) -> set[int]:
    return {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def _serving(port: int) -> dict[int, int]:
    """Established connections per collector worker pid."""
    counts: dict[int, int] = {}
    for c in psutil.net_connections("tcp"):
        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port and c.pid:
            counts[c.pid] = counts.get(c.pid, 0) + 1
    return counts


def _wait(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def env(settings, redis_prefix):
    yield dict(os.environ, ONRAMP_REDIS_URL=settings.redis_url, ONRAMP_REDIS_PREFIX=redis_prefix,
               ONRAMP_COLLECTOR_WRITE_KEYS=f"{WRITE_KEY}=web", PYTHONPATH=str(REPO / "include"))
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(f"{redis_prefix}*"):
        client.delete(key)


def test_workers_each_listen_share_the_connections_and_are_replaced_when_they_die(env):
    port = free_port()
    parent = _serve(port, env, "--workers", "2")
    try:
        pids = _wait(lambda: found if len(found := _listeners(port)) == 2 else None, what="two listening workers")
        assert parent.pid not in pids  # the parent only supervises

        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(16)]
        try:
            for http in clients:  # 16 keep-alive connections, open at once as an SDK pool or a balancer would
                assert http.post("/v1/track", json=track(), headers=AUTH).status_code == 200
            spread = _serving(port)
            assert set(spread) == pids, spread  # both workers hold connections (all 16 on one: p = 3e-5)
        finally:
            for http in clients:
                http.close()

        os.kill(next(iter(pids)), signal.SIGKILL)
        _wait(lambda: len(_listeners(port)) == 2 and _listeners(port) != pids, what="a replacement worker")
        assert httpx.post(f"http://127.0.0.1:{port}/v1/track", json=track(), headers=AUTH, timeout=10).status_code == 200

        second = _serve(port, env, "--workers", "2")
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in output and "Traceback" not in output

        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        assert parent.returncode == 0
        _wait(lambda: not _listeners(port), timeout=20, what="every worker to stop")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_the_service_app_freezes_its_start_up_heap_and_the_test_app_does_not(env):
    """serve_app (what `serve` runs) moves the start-up heap out of the GC's reach; create_app leaves it."""
    script = ("import gc; from starlette.testclient import TestClient; from onramp.collector.app import {}\n"
              "with TestClient({}()) as client: assert client.get('/openapi.json').status_code == 200\n"
              "print(gc.get_freeze_count())")
    counts = {}
    for factory in ("serve_app", "create_app"):
        done = subprocess.run([sys.executable, "-c", script.format(factory, factory)], env=env, cwd=str(REPO),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        counts[factory] = int(done.stdout.strip().splitlines()[-1])
    assert counts["serve_app"] > 10_000 and counts["create_app"] < 1_000, counts  # (a library freezes a few hundred)
