"""Prometheus metrics of the collector (``/metrics``); multi-worker safe via PROMETHEUS_MULTIPROC_DIR.

The CLI sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers import this module when it runs more than
one worker, so every worker's counters add up in one scrape.
"""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("onramp_collector_requests", "HTTP requests by endpoint and status code", ["endpoint", "status"])
EVENTS = Counter("onramp_collector_events", "events by outcome: accepted (enqueued) or dead_lettered", ["outcome"])
DEAD_LETTERS = Counter("onramp_collector_dead_letters", "dead-lettered events by reason code", ["reason"])
REJECTED = Counter("onramp_collector_rejected_requests",
                   "requests answered 4xx/503 with nothing stored, by reason code", ["reason"])
SDK_METRICS = Counter("onramp_collector_sdk_metrics",
                      "browser SDK telemetry posted to /v1/m (analytics.js), by metric name; never stored",
                      ["metric"])
LATENCY = Histogram("onramp_collector_request_seconds", "request latency, body read to answer", ["endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))


_SDK_METRIC_NAME = re.compile(r"^analytics_js\.[a-z0-9_.]{1,80}$")
_SDK_METRIC_LABELS_MAX = 200  # distinct names per worker; the rest count as "other" (the names come from clients)
_sdk_metric_names: set[str] = set()


def count_sdk_series(series: list) -> None:
    """Add one /v1/m body's counters to ``SDK_METRICS``; names outside analytics.js' own count as "other"."""
    for item in series[:1000]:
        if not isinstance(item, dict):
            continue
        name, value = item.get("metric"), item.get("value", 1)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
            continue
        if not isinstance(name, str) or not _SDK_METRIC_NAME.match(name):
            name = "other"
        elif name not in _sdk_metric_names:
            if len(_sdk_metric_names) >= _SDK_METRIC_LABELS_MAX:
                name = "other"
            else:
                _sdk_metric_names.add(name)
        SDK_METRICS.labels(name).inc(value)


class StreamLengths:
    """Stream lengths read at scrape time (one XLEN each), exposed as gauges."""

    def __init__(self):
        self.values: dict[str, int] = {}

    def collect(self):
        gauge = GaugeMetricFamily("onramp_stream_length", "entries in the Redis stream (one entry per request)",
                                  labels=["stream"])
        for name, value in self.values.items():
            gauge.add_metric([name], value)
        yield gauge


def render(lengths: StreamLengths) -> tuple[bytes, str]:
    """The exposition text of every worker (multiprocess mode) plus the stream gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (REQUESTS, EVENTS, DEAD_LETTERS, REJECTED, SDK_METRICS, LATENCY):
            registry.register(collector)
    registry.register(lengths)
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = ["DEAD_LETTERS", "EVENTS", "LATENCY", "REGISTRY", "REJECTED", "REQUESTS", "SDK_METRICS", "StreamLengths",
           "count_sdk_series", "render"]
