"""The collector's HTTP app: Segment's Tracking API on Starlette, one Redis round trip per request.

Per request: authenticate the write key, read the body under the size limit (gunzipping if asked),
parse it, sort its messages into accepted records and dead letters (:mod:`onramp.collector.ingest`),
then write them with one pipelined ``XADD`` per stream (MULTI/EXEC when there is more than one) and
answer 200 only once Redis acknowledged. Every bad request gets a 4xx with a reason; a Redis outage
gets 503 so SDKs retry; nothing else escapes as a 5xx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from onramp import db
from onramp.collector import cors, metrics
from onramp.collector.config import CollectorConfig
from onramp.collector.enrichment import Enricher
from onramp.collector.ingest import (
    TYPES,
    Outcome,
    RequestContext,
    RequestRejected,
    parse_time,
    process,
    replace_nul,
)
from onramp.collector.openapi import document
from onramp.collector.plan import PLAN_DIR, TrackingPlan
from onramp.events.row import dead_letters_entry, events_entry
from onramp.stream.keys import StreamKeys

log = logging.getLogger("onramp.collector")
JSON_TYPES = ("application/json", "text/plain")
# analytics.js posts to one-letter paths (/v1/t, /v1/b for its batches); RudderStack's beacon to /beacon/v1/batch
KINDS = {**{kind: kind for kind in (*TYPES, "batch")}, **{kind[0]: kind for kind in (*TYPES, "batch")}}
SDK_METRICS = "m"  # analytics.js' own telemetry (/v1/m): counted in /metrics, never stored
BEACON_PREFIX = "/beacon/v1/"


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def gunzip(body: bytes, limit: int) -> bytes:
    """The content of one gzip stream of at most ``limit`` bytes; anything else is refused (400 or 413)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestRejected(400, "bad_gzip", f"the body is not valid gzip: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise RequestRejected(413, "request_too_large",
                              f"the gunzipped body exceeds {limit} bytes; the limit is {limit} bytes per request")
    if not inflater.eof:
        raise RequestRejected(400, "bad_gzip", "the gzip body is truncated")
    if inflater.unused_data:  # junk, or a second gzip member: either way not what the SDK meant to send
        raise RequestRejected(400, "bad_gzip", f"{len(inflater.unused_data)} bytes follow the gzip stream; "
                                               "send exactly one gzip stream and nothing after it")
    return data


def parse_body(body: bytes) -> dict:
    """The request's JSON object (escaped NULs replaced: PostgreSQL cannot store them)."""
    if b"\\u0000" in body:  # rare: only then rewrite the text (JSON can only carry NUL escaped)
        body = replace_nul(body)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestRejected(400, "invalid_body", f"the body must be a JSON object, not a {type(payload).__name__}")
    return payload


def split_messages(payload: dict, kind: str) -> tuple[list, str | None, dict | None]:
    """(messages, the call type imposed on them or None for a batch, the batch-level context)."""
    if kind != "batch":
        return [payload], kind, None
    messages = payload.get("batch")
    if not isinstance(messages, list):
        raise RequestRejected(400, "invalid_batch", "a /v1/batch body needs a 'batch' array of messages")
    context = payload.get("context")
    return messages, None, context if isinstance(context, dict) else None


def count(outcome: Outcome) -> None:
    """The request's events in ``/metrics``: accepted, dead-lettered, and each dead letter's reasons."""
    if outcome.accepted:
        metrics.EVENTS.labels("accepted").inc(len(outcome.accepted))
    if outcome.dead:
        metrics.EVENTS.labels("dead_lettered").inc(len(outcome.dead))
        for dead in outcome.dead:
            for code in {r["code"] for r in dead["reasons"]}:
                metrics.DEAD_LETTERS.labels(code).inc()


def answer(outcome: Outcome) -> Response:
    """200 when any message was accepted (with the dead letters' reasons if some were not), else 400."""
    if not outcome.dead:
        return _json(200, {"success": True, "accepted": len(outcome.accepted)})
    body = {"success": bool(outcome.accepted), "accepted": len(outcome.accepted),
            "dead_lettered": len(outcome.dead), "errors": outcome.errors[:100]}
    if outcome.accepted:
        return _json(200, body)
    body.update(code="invalid_events", message="no message could be accepted: each broke the tracking plan or cannot "
                                               "be stored as sent; they are dead-lettered with the reasons below "
                                               "(those that broke the plan can be replayed after a fix)")
    metrics.REJECTED.labels("invalid_events").inc()
    return _json(400, body)


class TokenBucket:
    """Events per second per write key, in this worker."""

    def __init__(self, rate: int):
        self.rate = rate
        self.tokens: dict[str, tuple[float, float]] = {}

    def take(self, key: str, n: int) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        capacity = float(self.rate)
        tokens, last = self.tokens.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.rate)
        # a request bigger than one second's allowance passes only on a full bucket (then waits it off)
        allowed = tokens >= n or (n > capacity and tokens >= capacity)
        self.tokens[key] = (tokens - n if allowed else tokens, now)
        return allowed


class Collector:
    """State shared by the requests of one worker."""

    def __init__(self, config: CollectorConfig):
        self.config = config
        self.keys = StreamKeys(config.redis_prefix)
        self.plan = TrackingPlan(Path(config.plan_dir) if config.plan_dir else PLAN_DIR, config.unknown_events)
        self.enricher = Enricher(config.geo_db or None)
        self.redis: aioredis.Redis | None = None
        self.auth_cache: dict[str, str | None] = {}  # Authorization header -> write key (None: unknown)
        self.origins = {key: cors.Origins(patterns) for key, patterns in config.allowed_origins.items()}
        self.no_origins = cors.Origins()
        self.bucket = TokenBucket(config.rate_limit_events_per_s)
        self.backlog = 0
        self.openapi = orjson.dumps(document(self.plan, config.max_event_bytes, config.max_request_bytes))
        self.lengths = metrics.StreamLengths()
        self._backlog_task: asyncio.Task | None = None

    async def start(self) -> None:
        self.redis = db.async_redis_client(self.config.redis_url, "collector", timeout_s=self.config.redis_timeout_s,
                                           max_connections=256)
        if self.config.max_backlog > 0:
            self._backlog_task = asyncio.create_task(self._watch_backlog())

    async def stop(self) -> None:
        if self._backlog_task:
            self._backlog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._backlog_task
        if self.redis is not None:
            await self.redis.aclose()

    async def _watch_backlog(self) -> None:
        while True:
            try:
                self.backlog = await self.redis.xlen(self.keys.events)
            except RedisError:
                pass
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ request pieces

    def key_for_header(self, header: str | None) -> str | None:
        """The known write key of an ``Authorization: Basic`` header, or None."""
        if not header:
            return None
        if header in self.auth_cache:
            return self.auth_cache[header]
        key = None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                user = ""
            key = user if user in self.config.write_keys else None
        if len(self.auth_cache) < 10_000:
            self.auth_cache[header] = key
        return key

    def check_origin(self, key: str, origin: str | None) -> None:
        """Browser calls (they carry ``Origin``) only from the origins the write key allows."""
        if origin is not None and not self.origins.get(key, self.no_origins).allows(origin):
            raise RequestRejected(403, "origin_not_allowed",
                                  f"pages on {origin} may not send with the write key of source "
                                  f"{self.config.write_keys[key]!r}; add the origin to the key's allowed_origins "
                                  "(ONRAMP_COLLECTOR_WRITE_KEYS_FILE) or to ONRAMP_COLLECTOR_ALLOWED_ORIGINS")

    async def read_body(self, request: Request) -> bytes:
        limit = self.config.max_request_bytes
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise RequestRejected(400, "bad_content_length", f"Content-Length {length!r} is not a number") from None
            if declared > limit:
                raise RequestRejected(413, "request_too_large",
                                      f"request body is {declared} bytes; the limit is {limit} bytes per request")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestRejected(413, "request_too_large",
                                          f"request body exceeds {limit} bytes; the limit is {limit} bytes per request")
                chunks.append(chunk)
        except ClientDisconnect:
            raise RequestRejected(400, "client_disconnected", "the client closed the connection mid-body") from None
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise RequestRejected(415, "unsupported_encoding",
                                  f"Content-Encoding {encoding!r} is not supported; send gzip or identity")
        return gunzip(body, limit)

    def client_ip(self, request: Request) -> str | None:
        if self.config.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.client.host if request.client else None

    async def write(self, encoded: list[bytes], dead: list[bytes], identity: dict[str, str]) -> None:
        """One round trip; MULTI/EXEC when more than one key is written, so a request lands whole or not at all."""
        commands = int(bool(encoded)) + int(bool(dead)) + int(bool(identity))
        if commands == 0:
            return
        entry = events_entry(b"[" + b",".join(encoded) + b"]", len(encoded)) if encoded else None
        if commands == 1 and entry:
            await self.redis.xadd(self.keys.events, entry)
            return
        pipe = self.redis.pipeline(transaction=commands > 1)
        if entry:
            pipe.xadd(self.keys.events, entry)
        if dead:
            pipe.xadd(self.keys.dead, dead_letters_entry(b"[" + b",".join(dead) + b"]", len(dead)))
        if identity:
            pipe.hset(self.keys.identity, mapping=identity)
        await pipe.execute()

    # ------------------------------------------------------------------ the endpoint

    async def handle(self, request: Request) -> Response:
        path_kind = request.path_params["kind"]
        kind = KINDS.get(path_kind)
        origin = request.headers.get("origin")
        if kind is None and path_kind == SDK_METRICS:
            return await self.sdk_metrics(request, origin)
        started = time.perf_counter()
        try:
            if kind is None:
                raise RequestRejected(404, "unknown_call", f"/v1/{path_kind} is not a Segment call; use one of "
                                      + ", ".join(f"/v1/{k}" for k in (*TYPES, "batch")))
            response = await self._handle(request, kind, origin)
        except RequestRejected as rejected:
            metrics.REJECTED.labels(rejected.code).inc()
            headers = {"Retry-After": "1"} if rejected.status in (429, 503) else None
            if rejected.status == 401:
                headers = {"WWW-Authenticate": 'Basic realm="onramp"'}
            response = _json(rejected.status, rejected.body(), headers)
        except Exception:  # the promise is "never a 5xx for bad input": log it, tell the SDK to retry
            log.exception("unexpected error handling /v1/%s", path_kind)
            metrics.REJECTED.labels("internal_error").inc()
            response = _json(503, {"success": False, "code": "internal_error",
                                   "message": "the collector failed on this request; nothing was stored, retry"},
                             {"Retry-After": "1"})
        if origin is not None:
            response.headers.update(cors.response_headers(origin))
        label = kind or "unknown"  # never a label per unknown path: metrics cardinality stays bounded
        metrics.REQUESTS.labels(label, str(response.status_code)).inc()
        metrics.LATENCY.labels(label).observe(time.perf_counter() - started)
        return response

    async def sdk_metrics(self, request: Request, origin: str | None) -> Response:
        """analytics.js' telemetry: ``{"series": [{"metric": ..., "value": n, ...}]}``, counted, never stored."""
        try:
            try:
                payload = orjson.loads(await self.read_body(request))
            except orjson.JSONDecodeError as exc:
                raise RequestRejected(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
            series = payload.get("series") if isinstance(payload, dict) else None
            if not isinstance(series, list):
                raise RequestRejected(400, "invalid_body", "an SDK metrics body needs a 'series' array")
            metrics.count_sdk_series(series)
            response = _json(200, {"success": True})
        except RequestRejected as rejected:
            metrics.REJECTED.labels(rejected.code).inc()
            response = _json(rejected.status, rejected.body())
        if origin is not None:
            response.headers.update(cors.response_headers(origin))
        metrics.REQUESTS.labels("sdk_metrics", str(response.status_code)).inc()
        return response

    async def _handle(self, request: Request, kind: str, origin: str | None) -> Response:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise RequestRejected(415, "unsupported_media_type",
                                  f"Content-Type {content_type!r} is not supported; send application/json")
        authorization = request.headers.get("authorization")
        key = self.key_for_header(authorization)
        if key is None and authorization:
            raise RequestRejected(401, "unknown_write_key",
                                  "the write key (HTTP Basic user name) is not known to this collector")
        body = await self.read_body(request)
        payload = parse_body(body)
        if key is None:  # beacons cannot set headers: analytics.js puts the key in the body, RudderStack in the URL
            key = self.key_for_beacon(payload, request)
        self.check_origin(key, origin)
        source = self.config.write_keys[key]
        messages, call, batch_context = split_messages(payload, kind)
        self.admit(source, len(messages))
        ctx = RequestContext(source=source, received_at=datetime.now(UTC), ip=self.client_ip(request),
                             user_agent=request.headers.get("user-agent"))
        outcome = process(messages, call, ctx, self.plan, self.enricher,
                          batch_sent_at=parse_time(payload.get("sentAt")), batch_context=batch_context,
                          max_event_bytes=self.config.max_event_bytes, body_bytes=len(body))
        try:
            await self.write(outcome.encoded, outcome.dead_encoded, outcome.identity)
        except (RedisError, OSError) as exc:
            log.warning("Redis write failed: %s", exc)
            raise RequestRejected(503, "store_unavailable",
                                  "the event store is unavailable; nothing was stored, retry") from None
        count(outcome)
        return answer(outcome)

    def key_for_beacon(self, payload: dict, request: Request) -> str:
        """The write key a beacon carries in its body (analytics.js) or its URL (RudderStack)."""
        sent = payload.get("writeKey")
        if sent is None:
            sent = request.query_params.get("writeKey")
        if isinstance(sent, str) and sent in self.config.write_keys:
            return sent
        raise RequestRejected(401, "missing_write_key" if sent is None else "unknown_write_key",
                              "send the write key as the HTTP Basic user name (empty password)")

    def admit(self, source: str, messages: int) -> None:
        """Refuses (429) a source over its rate limit, and everyone while the stream backlog is full."""
        if not self.bucket.take(source, max(1, messages)):
            raise RequestRejected(429, "rate_limited", f"source {source!r} is over its rate limit; retry with backoff")
        if self.config.max_backlog and self.backlog > self.config.max_backlog:
            raise RequestRejected(429, "backlog_full",
                                  "the event stream backlog is full (the loader is behind); retry with backoff")

    async def health(self, request: Request) -> Response:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            return _json(503, {"status": "unavailable", "redis": str(exc)[:200]})
        return _json(200, {"status": "ok", "tracking_plan": self.plan.version})

    async def metrics(self, request: Request) -> Response:
        for name, key in (("events", self.keys.events), ("dead_letters", self.keys.dead)):
            try:
                self.lengths.values[name] = await self.redis.xlen(key)
            except (RedisError, OSError):
                self.lengths.values.pop(name, None)
        body, content_type = metrics.render(self.lengths)
        return Response(body, media_type=content_type)

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")


def create_app(config: CollectorConfig | None = None, *, freeze_gc: bool = False) -> CollectorApp:
    """The ASGI app (uvicorn: ``onramp.collector.app:create_app --factory``; the service uses :func:`serve_app`).

    ``freeze_gc``: once started, move every object that exists to the GC's permanent generation. The
    collector's full collections then skip its start-up heap (libraries, tracking plan, enrichment data):
    measured in a worker under load, 18-33 ms full collections (finding nothing) became ~2-3 ms, and the
    p99 at half load went from 50-90 ms to 27-30 ms. For a server process only: a process that keeps
    creating apps (tests) would pin each one's objects.
    """
    collector = Collector(config or CollectorConfig.from_settings())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await collector.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await collector.stop()

    routes = [  # /v1/<call> never reaches the router: CollectorApp answers it (POST, the preflight, 405s)
        Route("/health", collector.health, methods=["GET"]),
        Route("/metrics", collector.metrics, methods=["GET"]),
        Route("/openapi.json", collector.openapi_json, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = collector
    return CollectorApp(app, collector)


class CollectorApp:
    """``/v1/<call>`` straight to the collector (the calls, their CORS preflights, 405s for other methods);
    everything else (lifespan, /health, /metrics, /openapi.json) through Starlette.

    The tracking calls are nearly all of the traffic: skipping Starlette's middleware stack and router for
    them saves a measurable share of each request's CPU, and keeps one place that adds the CORS headers
    (Starlette's CORS middleware would not see these requests).
    """

    def __init__(self, app: Starlette, collector: Collector):
        self.app, self.collector = app, collector

    @property
    def state(self):
        return self.app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.startswith(BEACON_PREFIX):
                path = path[len(BEACON_PREFIX) - 4:]  # /beacon/v1/batch is /v1/batch with the key in the URL
            if path.startswith("/v1/") and "/" not in path[4:] and path[4:]:
                method = scope["method"]
                request = Request(scope, receive)
                if method == "POST":
                    scope["path_params"] = {"kind": path[4:]}
                    response = await self.collector.handle(request)
                elif method == "OPTIONS":  # the CORS preflight of a browser SDK
                    response = Response(status_code=204, headers=cors.preflight_headers(request.headers.get("origin")))
                else:
                    response = _json(405, {"success": False, "code": "method_not_allowed", "message": "use POST"},
                                     {"Allow": "POST, OPTIONS"})
                    if origin := request.headers.get("origin"):
                        response.headers.update(cors.response_headers(origin))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def serve_app() -> CollectorApp:
    """The app as the collector service runs it (``onramp collector serve``): settings from the environment,
    GC frozen after start-up."""
    return create_app(freeze_gc=True)
