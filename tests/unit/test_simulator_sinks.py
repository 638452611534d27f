"""Event sinks and the Segment message helpers of live mode."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onramp.local.simulator import EventSink, FileSink, SinkError, StdoutSink, make_sink
from onramp.local.simulator.live import _context, deterministic_uuid, iso
from tests.conftest import free_port


def test_file_sink_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "events.jsonl"
    sink = make_sink(f"file:{path}")
    assert isinstance(sink, FileSink) and isinstance(sink, EventSink)
    sink.send({"type": "track", "event": "feature_used", "properties": {"name": "Zoë"}})
    sink.flush()
    sink.close()
    again = FileSink(path)
    again.send({"type": "page"})
    again.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"type": "track", "event": "feature_used", "properties": {"name": "Zoë"}}, {"type": "page"}]
    with pytest.raises(SinkError):
        again.send({"type": "page"})


@pytest.mark.parametrize("spec", ["stdout:", "-"])
def test_stdout_sink(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    sink = make_sink(spec)
    assert isinstance(sink, StdoutSink)
    sink.send({"a": 1})
    sink.close()
    assert json.loads(capsys.readouterr().out) == {"a": 1}


def test_plain_jsonl_path_and_unknown_specs(tmp_path: Path) -> None:
    assert isinstance(make_sink(str(tmp_path / "e.jsonl")), FileSink)
    for bad in ("http://collector:8080/v1/batch", "kafka:events", "file:", "events.txt"):
        with pytest.raises(SinkError, match="file:/path/events.jsonl"):
            make_sink(bad)


def test_message_ids_are_seeded_uuid4_and_timestamps_iso() -> None:
    a = deterministic_uuid(42, 1, "msg", 0)
    assert a == deterministic_uuid(42, 1, "msg", 0)
    assert a != deterministic_uuid(42, 2, "msg", 0) != deterministic_uuid(43, 1, "msg", 0)
    assert uuid.UUID(a).version == 4
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"


def test_context_carries_utm_campaign_only_for_paid_channels() -> None:
    user = {"ip": "1.2.3.4", "os": "ios", "browser": "safari", "device_type": "mobile", "locale": "en-US",
            "signup_source": "paid_search", "utm_campaign": "brand_search"}
    context = _context(user, {"url": "https://app.onramp.example/x"})
    assert context["campaign"] == {"source": "google", "medium": "cpc", "name": "brand_search"}
    assert "iPhone" in context["userAgent"] and context["page"]["url"].endswith("/x")
    assert "campaign" not in _context({**user, "signup_source": "organic"})


def test_collector_sink_refuses_a_bad_url_and_an_absent_collector():
    with pytest.raises(SinkError, match="not an http"):
        make_sink("collector:ftp://127.0.0.1:8090")
    with pytest.raises(SinkError, match="no collector answers at .*onramp collector serve"):
        make_sink(f"collector:http://127.0.0.1:{free_port()}")
