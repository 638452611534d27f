"""Where live-mode events go: a small sink interface so the HTTP collector plugs in beside the file sink."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable


class SinkError(ValueError):
    """A sink spec cannot be used; the message lists the accepted forms."""


@runtime_checkable
class EventSink(Protocol):
    """Receives Segment-format messages one at a time; may buffer until ``flush``."""

    def send(self, event: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class FileSink:
    """Appends one JSON object per line, so a file collects several runs and tails like a log."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")

    def send(self, event: dict[str, Any]) -> None:
        if self._file is None:
            raise SinkError(f"{self.path}: sink already closed")
        self._file.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class StdoutSink:
    """JSON lines on standard output, for piping into another tool."""

    def send(self, event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        self.flush()


def make_sink(spec: str) -> EventSink:
    """Build a sink from ``collector:http://host:port`` (the Segment SDK, through the collector),
    ``file:/path/events.jsonl``, a bare ``*.jsonl`` path, or ``stdout:``/``-``."""
    spec = spec.strip()
    if spec in ("-", "stdout:", "stdout"):
        return StdoutSink()
    scheme, sep, rest = spec.partition(":")
    if scheme == "collector":
        return collector_sink(rest)
    if sep and scheme == "file" and rest:
        return FileSink(Path(rest.removeprefix("//")).expanduser())
    if spec.endswith((".jsonl", ".ndjson", ".json")) and (not sep or len(scheme) == 1):
        return FileSink(Path(spec).expanduser())  # plain path (a one-letter "scheme" is a Windows drive)
    raise SinkError(
        f"unknown event sink {spec!r}; use collector:http://127.0.0.1:8090, file:/path/events.jsonl, "
        "a path ending in .jsonl, or stdout:"
    )


def collector_sink(url: str = "") -> EventSink:
    """The official Segment SDK posting to the collector at ``url`` (default: the configured one) with the
    first configured write key (the public demo key when none is configured)."""
    from onramp.collector.config import load_write_keys
    from onramp.local.simulator.sdk_sink import SegmentSdkSink
    from onramp.settings import get_settings

    settings = get_settings()
    url = url or f"http://{settings.collector_host}:{settings.collector_port}"
    if not url.startswith(("http://", "https://")):
        raise SinkError(f"collector sink {url!r} is not an http(s):// URL; use e.g. collector:http://127.0.0.1:8090")
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise SinkError(f"no collector answers at {url} ({exc}); start it with `onramp collector serve`, "
                        "or send to a file with --sink file:events.jsonl") from None
    return SegmentSdkSink(url, next(iter(load_write_keys(settings))))
