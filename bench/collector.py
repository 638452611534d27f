"""Benchmark of the event path: collector HTTP intake, stream loader, accepted -> visible latency.

Prints, from one run on this machine:
  * collector: events/s accepted (validated, enriched, durably XADDed) with /v1/batch bodies of 100
    realistic events at concurrency >= 32, p50/p99 request latency, and the ratio against a bare
    endpoint that only parses the JSON (same server stack, same load generator, same run);
  * collector at about half that load: the request rate reached and p99;
  * loader: events/s from the stream to Parquet lake + warehouse raw.events (GX gate included), and the
    ratio against reading + acknowledging the same entries without loading them;
  * accepted -> visible in raw.events: p50/p95 with the default micro-batch settings (loader in follow mode).

Everything runs on private servers: a redis-server with AOF on in a temporary folder, a throwaway
warehouse database (dropped at the end). Load comes from `wrk` (Debian package, installed if missing).
Usage: .venv/bin/python bench/collector.py [--seconds 15] [--connections 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

import orjson  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from onramp.collector.config import DEMO_WRITE_KEY  # noqa: E402
from onramp.local.services import EmbeddedRedis  # noqa: E402
from onramp.migrations import migrate  # noqa: E402
from onramp.settings import get_settings, with_database  # noqa: E402
from onramp.stream.config import LoaderConfig  # noqa: E402

PYTHON = sys.executable
BARE_APP = '''
import orjson
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"}); return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    parsed = orjson.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"success": True, "n": len(parsed["batch"])})})
'''
LUA = '''
local counter = 0
local bodies = {}
local thread_id = 0
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local run = os.getenv("BENCH_RUN") or "0"
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
function init(args)
  -- split each body at its @REQ@ markers once: a request then only joins the pieces (no pattern scan)
  local f = io.open(os.getenv("BENCH_BODIES"), "r")
  for line in f:lines() do
    local parts, start = {}, 1
    while true do
      local i, j = string.find(line, "@REQ@", start, true)
      if not i then break end
      table.insert(parts, string.sub(line, start, i - 1))
      start = j + 1
    end
    table.insert(parts, string.sub(line, start))
    table.insert(bodies, parts)
  end
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end
function request()
  counter = counter + 1
  local parts = bodies[(counter % #bodies) + 1]
  return wrk.format(nil, "/v1/batch", nil, table.concat(parts, run .. "-" .. tid .. "-" .. counter))
end
if delay_ms > 0 then
  -- random think time with the given mean: connections drift apart instead of arriving in lockstep bursts
  function delay() return math.random(0, 2 * delay_ms) end
end
function done(summary, latency, requests)
  io.write(string.format("JSON{\\"requests\\":%d,\\"seconds\\":%f,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"non2xx\\":%d,\\"errors\\":%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
'''

USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "analytics-python/2.4.0",
]
SOURCES = ("organic", "paid_search", "paid_social", "social", "referral", "partner", "content", "invite")
FEATURES = ("projects", "dashboards", "reports", "comments", "sharing", "templates", "integrations", "api")
STEPS = ("verify_email", "complete_profile", "set_up_workspace", "invite_teammates", "create_first_project")
TRACKS = [
    ("signup_started", lambda r: {"signup_source": r.choice(SOURCES), "method": "email"}),
    ("form_filled", lambda r: {"form": "signup", "fields": ["email", "full_name", "password"]}),
    ("signup_completed", lambda r: {"signup_source": r.choice(SOURCES), "plan": "free",
                                    "workspace_id": str(r.randint(1, 20_000)), "referral_code": f"R{r.randint(1, 9999)}"}),
    ("onboarding_step_completed", lambda r: {"step_id": (i := r.randint(1, 5)), "step_key": STEPS[i - 1],
                                             "step_name": STEPS[i - 1].replace("_", " "), "sort_order": i}),
    ("feature_used", lambda r: {"feature": r.choice(FEATURES), "workspace_id": str(r.randint(1, 20_000)),
                                "usage_count": r.randint(1, 50)}),
    ("invite_sent", lambda r: {"workspace_id": str(r.randint(1, 20_000)), "invitation_id": str(r.randint(1, 10**6)),
                               "invitee_email": f"teammate{r.randint(1, 10**6)}@example.com", "role": "member"}),
    ("plan_upgraded", lambda r: {"from_plan": "free", "to_plan": r.choice(["starter", "pro"]),
                                 "billing_interval": r.choice(["month", "year"]), "seats": r.randint(1, 5),
                                 "mrr_cents": r.randint(900, 9900), "currency": "USD"}),
]


def realistic_batch(rng: random.Random, ips: list[str], n: int = 100) -> dict:
    """n Segment messages like analytics.js/analytics-python send them; messageIds carry @REQ@ for wrk."""
    now = time.time()
    batch = []
    for i in range(n):
        anon = f"anon-{rng.randint(1, 50_000)}"
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - rng.uniform(0, 5))) + f".{rng.randint(0, 999):03d}Z"
        context = {
            "ip": rng.choice(ips), "userAgent": rng.choice(USER_AGENTS), "locale": "en-US",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "page": {"url": f"https://app.example.com/onboarding/{rng.randint(1, 9)}?utm_source="
                            f"{rng.choice(['google', 'newsletter', 'linkedin'])}&utm_medium=cpc&utm_campaign=q{rng.randint(1, 4)}",
                     "referrer": rng.choice(["https://www.google.com/", "https://t.co/x", "", "https://news.example.org/a"]),
                     "path": "/onboarding", "title": "Onboarding"},
        }
        kind = rng.random()
        message = {"messageId": f"bench-@REQ@-{i}", "anonymousId": anon, "timestamp": ts, "context": context}
        if kind < 0.75:
            name, props = rng.choice(TRACKS)
            message.update(type="track", event=name, properties=props(rng))
            if rng.random() < 0.5:
                message["userId"] = f"user-{rng.randint(1, 20_000)}"
        elif kind < 0.95:
            message.update(type="page", name="Onboarding", properties={"path": "/onboarding"})
        else:
            message.update(type="identify", userId=f"user-{rng.randint(1, 20_000)}",
                           traits={"plan": rng.choice(["free", "pro"]), "company_size": rng.randint(1, 500)})
        batch.append(message)
    return {"batch": batch, "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}


def app_cpu_per_event(bodies: list[bytes], redis_url: str, prefix: str, requests: int = 600) -> float:
    """Microseconds of collector CPU per event in-process (ASGI call, no HTTP server, no Redis write)."""
    import asyncio
    import base64

    from onramp.collector.app import create_app
    from onramp.collector.config import CollectorConfig

    app = create_app(CollectorConfig(redis_url=redis_url, redis_prefix=prefix))
    auth = b"Basic " + base64.b64encode(f"{DEMO_WRITE_KEY}:".encode())

    async def call(body: bytes) -> None:
        scope = {"type": "http", "method": "POST", "path": "/v1/batch", "raw_path": b"/v1/batch", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"authorization", auth)],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), "scheme": "http", "root_path": "",
                 "http_version": "1.1", "app": app}
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            pass

        await app(scope, receive, send)

    async def run() -> float:
        collector = app.state.collector
        await collector.start()

        async def no_write(*args):
            return None

        collector.write = no_write
        for i in range(200):
            await call(bodies[i % len(bodies)])
        started = time.process_time()
        for i in range(requests):
            await call(bodies[i % len(bodies)])
        elapsed = time.process_time() - started
        await collector.stop()
        return elapsed / (requests * 100) * 1e6

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/health", timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path == "/":
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install wrk)...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def run_wrk(wrk: str, port: int, seconds: float, connections: int, env: dict, lua: Path) -> dict:
    env = dict(env, BENCH_RUN=uuid.uuid4().hex[:8])  # messageIds never repeat across runs
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
                          "-s", str(lua), f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True,
                         timeout=seconds + 60)
    match = re.search(r"JSON(\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk's own CPU: it shares the cores with the server
    result["client_cores"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / result["seconds"]
    return result


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-seconds", type=float, default=40, help="duration of the accepted->visible run")
    parser.add_argument("--collector-only", action="store_true", help="skip the loader and latency parts")
    args = parser.parse_args()

    wrk = ensure_wrk()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="onramp-bench-"))
    redis_port = free_port()
    embedded = EmbeddedRedis(tmp, "127.0.0.1", redis_port)
    embedded.start()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    prefix = "bench:"
    settings = get_settings()
    db_name = f"onramp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(f'create database "{db_name}"')
    warehouse = with_database(settings.pg_url, db_name)
    migrate(warehouse, "warehouse")
    procs: list[subprocess.Popen] = []
    try:
        rng = random.Random(7)
        ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(2000)]
        bodies = tmp / "bodies.ndjson"
        with open(bodies, "wb") as f:
            for _ in range(64):
                f.write(orjson.dumps(realistic_batch(rng, ips)) + b"\n")
        body_size = bodies.stat().st_size / 64
        lua = tmp / "bench.lua"
        lua.write_text(LUA)
        import base64

        wrk_env = dict(os.environ, BENCH_BODIES=str(bodies),
                       BENCH_AUTH="Basic " + base64.b64encode(f"{DEMO_WRITE_KEY}:".encode()).decode())
        env = dict(os.environ, ONRAMP_REDIS_URL=redis_url, ONRAMP_REDIS_PREFIX=prefix,
                   ONRAMP_COLLECTOR_WRITE_KEYS=f"{DEMO_WRITE_KEY}=bench", PYTHONPATH=str(REPO / "include"))
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)

        # -- 0. what one core can do in the app itself (no HTTP server, no Redis, no load generator)
        per_event_us = app_cpu_per_event([line for line in bodies.read_bytes().splitlines() if line],
                                         redis_url, prefix)

        # -- 1. bare endpoint: uvicorn + orjson.loads only, same workers
        (tmp / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        bare = start([PYTHON, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--workers", str(args.workers),
                      "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
                      "--app-dir", str(tmp)], env, tmp / "bare.log")
        procs.append(bare)
        wait_http(bare_port, "/")
        run_wrk(wrk, bare_port, 3, args.connections, wrk_env, lua)  # warm-up
        bare_result = run_wrk(wrk, bare_port, args.seconds, args.connections, wrk_env, lua)
        stop(bare)
        procs.remove(bare)

        # -- 2. the collector
        port = free_port()
        collector = start([PYTHON, "-m", "onramp.collector.cli", "serve", "--port", str(port),
                           "--workers", str(args.workers)], env, tmp / "collector.log")
        procs.append(collector)
        wait_http(port)
        client = redis.Redis.from_url(redis_url)
        run_wrk(wrk, port, 3, args.connections, wrk_env, lua)  # warm-up: caches, JIT-free but page cache
        client.delete(f"{prefix}events", f"{prefix}events:dead")
        full = run_wrk(wrk, port, args.seconds, args.connections, wrk_env, lua)
        accepted = sum(int(f[b"n"]) for _, f in client.xrange(f"{prefix}events"))
        dead = sum(int(f[b"n"]) for _, f in client.xrange(f"{prefix}events:dead"))
        events_per_s = accepted / full["seconds"]

        # -- 3. loader: stream -> lake + warehouse (the stream holds everything the full-load run accepted)
        if args.collector_only:  # nothing to load: the half-load run starts on an empty stream
            client.delete(f"{prefix}events", f"{prefix}events:dead")
        else:
            from onramp.stream.loader import EventLoader

            stream_events = sum(int(f[b"n"]) for _, f in client.xrange(f"{prefix}events"))
            entries = client.xlen(f"{prefix}events")
            # baseline: read + ack the same entries through another group, no loading
            client.xgroup_create(f"{prefix}events", "baseline", id="0")
            t0 = time.perf_counter()
            while True:
                got = client.xreadgroup("baseline", "b", {f"{prefix}events": ">"}, count=500)
                if not got or not got[0][1]:
                    break
                blobs = [orjson.loads(f[b"e"]) for _, f in got[0][1]]
                client.xack(f"{prefix}events", "baseline", *[eid for eid, _ in got[0][1]])
                del blobs
            baseline_s = time.perf_counter() - t0
            client.xgroup_destroy(f"{prefix}events", "baseline")
            loader = EventLoader(redis_url=redis_url, prefix=prefix, warehouse_url=warehouse, lake_dir=tmp / "lake",
                                 consumer="bench", config=LoaderConfig())
            loader.drain(max_batches=1)  # warm-up: imports GX, connects; its batch counts in the totals below
            t0 = time.perf_counter()
            report = loader.drain()
            loader_s = time.perf_counter() - t0
            with psycopg.connect(warehouse) as conn:
                loaded_rows = conn.execute("select count(*) from raw.events").fetchone()[0]
            loader.close()

        # -- 4. about half the full load (wrk delays each connection's next request). A thread trims the stream
        # meanwhile, as a loader on other cores would keep it short: left to grow without one, Redis stalls
        # 15-30 ms in fork() at each AOF rewrite of a >1 GB data set, which would be measured as collector latency.
        client.memory_purge()
        trimming = threading.Event()

        def keep_short() -> None:
            while not trimming.wait(0.5):
                client.xtrim(f"{prefix}events", maxlen=1000, approximate=True)

        trimmer = threading.Thread(target=keep_short, daemon=True)
        trimmer.start()
        target = full["rps"] / 2
        delay = max(1, int(1000 * args.connections / target - full["p50_us"] / 1000 / 2))
        half = None
        for _ in range(4):
            half = run_wrk(wrk, port, max(8, args.seconds / 2), args.connections, dict(wrk_env, BENCH_DELAY_MS=str(delay)), lua)
            if 0.45 * full["rps"] <= half["rps"] <= 0.55 * full["rps"]:
                break
            delay = max(1, int(delay * half["rps"] / target))
        trimming.set()
        trimmer.join()
        stop(collector)
        procs.remove(collector)
        print(f"collector: {events_per_s:,.0f} events/s p50 {full['p50_us'] / 1000:.1f} ms p99 {full['p99_us'] / 1000:.1f} ms;"
              f" bare {bare_result['rps'] * 100:,.0f} events/s (ratio {events_per_s / (bare_result['rps'] * 100):.2f});"
              f" half load {half['rps'] * 100:,.0f} events/s p99 {half['p99_us'] / 1000:.1f} ms;"
              f" wrk client {full['client_cores']:.2f} cores", flush=True)
        if args.collector_only:
            return

        # -- 5. accepted -> visible: collector + loader in follow mode (default micro-batch), moderate load
        client.delete(f"{prefix}events", f"{prefix}events:dead")  # what the half-load run left: not this run's
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute("truncate raw.events, ops.event_load_batches")
        collector = start([PYTHON, "-m", "onramp.collector.cli", "serve", "--port", str(port), "--workers", "1"],
                          env, tmp / "collector2.log")
        procs.append(collector)
        wait_http(port)
        follower = EventLoader(redis_url=redis_url, prefix=prefix, warehouse_url=warehouse, lake_dir=tmp / "lake2",
                               consumer="follow", config=LoaderConfig())
        stop_flag = threading.Event()
        thread = threading.Thread(target=lambda: follower.drain(follow=True, should_stop=stop_flag.is_set), daemon=True)
        thread.start()
        steady = run_wrk(wrk, port, args.latency_seconds, 8, dict(wrk_env, BENCH_DELAY_MS="200"), lua)
        time.sleep(LoaderConfig().batch_seconds + 5)
        stop_flag.set()
        thread.join(timeout=60)
        follower.close()
        with psycopg.connect(warehouse) as conn:
            p50, p95, visible = conn.execute(
                "select percentile_cont(0.5) within group (order by extract(epoch from loaded_at - received_at)),"
                " percentile_cont(0.95) within group (order by extract(epoch from loaded_at - received_at)), count(*)"
                " from raw.events").fetchone()

        cores = os.cpu_count()
        print(f"\nOnramp event path benchmark ({cores} cores; collector {args.workers} uvicorn workers; wrk -t2 "
              f"-c{args.connections}; /v1/batch bodies of 100 events, {body_size / 1024:.0f} KB each; "
              f"load average before the run {load_before:.1f}: anything above ~0.3 means others share the cores)")
        print(f"  bare JSON-parse endpoint : {bare_result['rps'] * 100:>10,.0f} events/s  "
              f"p50 {bare_result['p50_us'] / 1000:6.1f} ms  p99 {bare_result['p99_us'] / 1000:6.1f} ms")
        print(f"  collector (full load)    : {events_per_s:>10,.0f} events/s  "
              f"p50 {full['p50_us'] / 1000:6.1f} ms  p99 {full['p99_us'] / 1000:6.1f} ms  "
              f"non-2xx {full['non2xx']}  ({accepted:,} accepted, {dead:,} dead-lettered)")
        print(f"  load generator (wrk) CPU : {full['client_cores']:.2f} cores at full load, "
              f"{bare_result['client_cores']:.2f} against the bare endpoint (of {cores} shared with the server)")
        print(f"  ratio collector / bare   : {events_per_s / (bare_result['rps'] * 100):.2f}")
        print(f"  collector app CPU        : {per_event_us:6.1f} us/event in-process (validate+enrich+encode, no "
              f"HTTP/Redis) = {1e6 / per_event_us:,.0f} events/s per core")
        print(f"  collector (~half load)   : {half['rps'] * 100:>10,.0f} events/s  "
              f"p50 {half['p50_us'] / 1000:6.1f} ms  p99 {half['p99_us'] / 1000:6.1f} ms")
        print(f"  loader stream->lake+wh   : {report.events / loader_s:>10,.0f} events/s  "
              f"({report.events:,} events, {report.loaded:,} new rows, {report.batches} batches, GX gate on each; "
              f"after a warm-up batch; {loaded_rows:,} rows in all from {entries:,} entries)")
        print(f"  baseline read+ack only   : {stream_events / baseline_s:>10,.0f} events/s  "
              f"(ratio loader / baseline {report.events / loader_s / (stream_events / baseline_s):.2f})")
        print(f"  accepted -> visible      : p50 {p50 or 0:.1f} s  p95 {p95 or 0:.1f} s  over {visible:,} events "
              f"(~{steady['rps'] * 100:,.0f} events/s for {args.latency_seconds:.0f}s; default batch "
              f"{LoaderConfig().batch_events:,} events / {LoaderConfig().batch_seconds:.0f} s; loader in follow mode)")
    finally:
        for proc in procs:
            stop(proc)
        embedded.stop()
        with psycopg.connect(settings.pg_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{db_name}" with (force)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
