"""Send the event history through the collector the way real clients would, and count what happened.

Most events go through :class:`~onramp.local.simulator.sdk_sink.SegmentSdkSink`: the official SDK stamps
``sentAt`` when it uploads, so the collector's clock-skew correction (``receivedAt - (sentAt - timestamp)``)
keeps their timestamps. A device whose clock is off stamps both ``timestamp`` and ``sentAt`` with its wrong
clock; the SDK cannot be given another ``sentAt``, so those events go through :class:`WrongClockPoster`: small
``/v1/batch`` POSTs with httpx in which each message carries ``sentAt`` = now + its clock error, set just
before the request leaves (per-message ``sentAt``, as analytics.js sends it). The collector then puts them back
at their true time, give or take the upload latency.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from onramp.local.simulator.history import INVALID_KEY, SKEW_KEY, history_events
from onramp.local.simulator.sinks import EventSink

_RETRY_STATUSES = (429, 500, 502, 503, 504)
_COUNTER = re.compile(r'^onramp_collector_events_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


class HistoryError(RuntimeError):
    """The history cannot be sent (the collector refuses it, or it would not match the app database): the
    message says why and what to do."""


@dataclass
class HistoryReport:
    """What one history run sent."""

    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    skewed: int = 0  # sent by WrongClockPoster with a shifted sentAt
    invalid: int = 0  # broken on purpose: the collector should dead-letter exactly these
    seconds: float = 0.0
    # the collector's own account of the run (its /metrics before and after), and what the SDK gave up on
    accepted: int = 0
    dead_lettered: int = 0
    refused: int = 0
    last_error: str | None = None

    def add(self, other: HistoryReport) -> None:
        """Fold in the report of another range of users."""
        self.events += other.events
        self.by_type.update(other.by_type)
        self.skewed += other.skewed
        self.invalid += other.invalid
        self.dead_lettered += other.dead_lettered
        self.refused += other.refused
        self.last_error = other.last_error or self.last_error

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class WrongClockPoster:
    """Posts messages from devices whose clock is off: ``sentAt`` = now + that error, per message."""

    def __init__(self, url: str, write_key: str, batch_size: int = 100, timeout: float = 15, retries: int = 8):
        self.url = url.rstrip("/") + "/v1/batch"
        self.batch_size = batch_size
        self.retries = retries
        self.client = httpx.Client(auth=(write_key, ""), timeout=timeout,
                                   headers={"User-Agent": "onramp-simulator (device with a wrong clock)"})
        self.pending: list[tuple[dict[str, Any], int]] = []
        self.accepted = 0
        self.dead_lettered = 0

    def add(self, message: dict[str, Any], skew_ms: int) -> None:
        self.pending.append((message, skew_ms))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Post what is pending (retrying 429/5xx with backoff); raises :class:`HistoryError` when refused."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        for attempt in range(self.retries + 1):
            now = datetime.now(UTC)
            body = {"batch": [{**message, "sentAt": _iso(now + timedelta(milliseconds=skew))}
                              for message, skew in batch]}
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                answer = _stored(response)
                if answer is not None:
                    self.accepted += answer.get("accepted", 0)
                    self.dead_lettered += answer.get("dead_lettered", 0)
                    return
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in _RETRY_STATUSES:
                    break
            if attempt < self.retries:
                time.sleep(min(0.2 * 2**attempt, 5.0))
        raise HistoryError(f"the collector at {self.url} did not take {len(batch)} events from a device with a "
                        f"wrong clock: {problem}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.client.close()


def send_history(events: Iterable[dict[str, Any]], sink: EventSink,
                 poster: WrongClockPoster | None = None) -> HistoryReport:
    """Send every event: wrong-clock ones to ``poster`` (when given), the rest to ``sink``; flushes both.

    The ``_sim_`` keys are simulator truth and leave only with a file sink (``poster`` None), where they
    document which events are skewed or invalid.
    """
    report = HistoryReport()
    started = time.monotonic()
    for event in events:
        skew = event.get(SKEW_KEY)
        report.invalid += INVALID_KEY in event
        report.by_type[event.get("event") or event["type"]] += 1
        report.events += 1
        if poster is not None:
            event.pop(INVALID_KEY, None)
            if skew is not None:
                del event[SKEW_KEY]
                poster.add(event, skew)
                report.skewed += 1
                continue
        sink.send(event)
    sink.flush()
    if poster is not None:
        poster.flush()
    report.seconds = time.monotonic() - started
    return report


@dataclass(frozen=True)
class Target:
    """Where and how to send: the collector, a write key, and the SDK's knobs."""

    url: str
    write_key: str
    threads: int = 1  # the SDK's upload threads
    upload_size: int = 100  # events per SDK batch
    # on the loopback, gzip costs the sender ~17 of its ~140 us of CPU per event and saves nothing
    gzip: bool = False


def _send_range(seed: int, total_users: int, events_per_user: float, start_id: int, stop_id: int,
                next_ids: dict[str, int], target: Target) -> HistoryReport:
    """One range of users through its own SDK client (runs in a worker process when there are several)."""
    from onramp.local.simulator.sdk_sink import SegmentSdkSink

    sink = SegmentSdkSink(target.url, target.write_key, upload_size=target.upload_size, threads=target.threads,
                          block=True, gzip=target.gzip)
    poster = WrongClockPoster(target.url, target.write_key)
    try:
        report = send_history(history_events(seed, total_users, events_per_user=events_per_user, start_id=start_id,
                                             stop_id=stop_id, next_ids=next_ids), sink, poster)
    finally:
        try:
            sink.close()
        finally:
            poster.close()
    report.refused, report.last_error = sink.errors, sink.last_error
    return report


def send_history_to_collector(seed: int, total_users: int, events_per_user: float, target: Target, *,
                              processes: int = 1, range_users: int = 5_000,
                              progress: Callable[[int], None] | None = None) -> HistoryReport:
    """The whole history of the app built with (seed, total_users), sent to the collector; counts the outcome.

    Ranges of ``range_users`` users go to ``processes`` sender processes, each with its own SDK client: the
    SDK serialises every event in Python (~140 us of CPU per event here, the collector ~60), so one sender
    process cannot keep up with one collector worker, and upload threads share one GIL. ``progress`` gets
    the users of each range sent. Accepted and dead-lettered counts come from the collector's /metrics.
    """
    before = collector_counts(target.url)
    started = time.monotonic()
    report = HistoryReport()
    jobs = list(_ranges(seed, total_users, range_users))
    if processes <= 1:
        for start_id, stop_id, next_ids in jobs:
            report.add(_send_range(seed, total_users, events_per_user, start_id, stop_id, next_ids, target))
            if progress is not None:
                progress(stop_id - start_id)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        # spawn, not fork: the parent may run threads (the SDK's, a progress bar) that fork would copy mid-work
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_send_range, seed, total_users, events_per_user, a, b, ids, target): b - a
                       for a, b, ids in jobs}
            for future in as_completed(futures):
                report.add(future.result())
                if progress is not None:
                    progress(futures[future])
    report.seconds = time.monotonic() - started
    after = collector_counts(target.url)
    report.accepted = after["accepted"] - before["accepted"]
    report.dead_lettered = after["dead_lettered"] - before["dead_lettered"]
    return report


def _ranges(seed: int, total_users: int, range_users: int) -> Iterator[tuple[int, int, dict[str, int]]]:
    """(start, stop, dense ids at start) of each range: the ids follow from generating the users in order."""
    from onramp.local.simulator.generate import COUNTED_TABLES, generate_chunk
    from onramp.local.simulator.rng import Draws

    draws, next_ids = Draws(seed), dict.fromkeys(COUNTED_TABLES, 1)
    for start in range(1, total_users + 1, range_users):
        stop = min(start + range_users, total_users + 1)
        yield start, stop, dict(next_ids)
        generate_chunk(draws, start, stop, total_users, next_ids)  # ~16 us per user: little beside sending


def check_app_database(app_db_url: str, total_users: int, seed: int) -> None:
    """Raise :class:`HistoryError` unless the app database holds the users ``simulate_batch(total_users, seed)``
    wrote (checked on a sample: their email and signup time); the history would contradict it otherwise."""
    from onramp import db
    from onramp.local.simulator.generate import generate_chunk
    from onramp.local.simulator.rng import Draws

    sample = sorted(set(np.linspace(1, total_users, 6).astype(int).tolist()))
    with db.connect(app_db_url, "simulator", autocommit=True) as conn:
        stored = {row[0]: (row[1], row[2]) for row in conn.execute(
            "select id, email, signed_up_at from app.users where id = any(%s)", (sample,))}
    draws = Draws(seed)
    for user_id in sample:  # live mode may have deleted some: those say nothing
        if user_id not in stored:
            continue
        row = generate_chunk(draws, user_id, user_id + 1, total_users, {})["users"].to_pylist()[0]
        if stored[user_id] != (row["email"], row["signed_up_at"]):
            break
    else:
        if stored:
            return
        user_id = sample[0]
    raise HistoryError(
        f"the app database was not built with --users {total_users} --seed {seed} (user {user_id} differs or is "
        f"missing), so that history would contradict it; pass the --users and --seed it was built with, or "
        f"rebuild it first: onramp simulate --users {total_users} --seed {seed}")


def collector_counts(url: str) -> dict[str, int]:
    """The collector's own count of events accepted and dead-lettered so far (``/metrics``, all workers)."""
    try:
        text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=10).raise_for_status().text
    except httpx.HTTPError as exc:
        raise HistoryError(f"no collector answers at {url} ({exc}); start it with `onramp collector up`, "
                           "or write the history to a file with --sink file:history.jsonl") from None
    counts = {"accepted": 0, "dead_lettered": 0}
    for outcome, value in _COUNTER.findall(text):
        counts[outcome] = int(float(value))
    return counts


def _stored(response: httpx.Response) -> dict | None:
    """The collector's answer when it stored the batch: 200, or 400 ``invalid_events`` (all dead-lettered)."""
    if response.status_code not in (200, 400):
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    if response.status_code == 400 and answer.get("code") != "invalid_events":
        return None
    return answer


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
