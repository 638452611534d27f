"""The collector as a background process of a local installation (``onramp collector up``, the demo).

It runs ``onramp collector serve`` in its own process group (:mod:`onramp.local.processes`), logs to
``<home>/logs/collector.log``, and counts as started only once ``/health`` answers.
"""

from __future__ import annotations

from pathlib import Path

from onramp.local import processes
from onramp.settings import Settings

NAME = "collector"


def url(settings: Settings) -> str:
    return f"http://{settings.collector_host}:{settings.collector_port}"


def log_path(settings: Settings) -> Path:
    return settings.home_path / "logs" / "collector.log"


def running(settings: Settings) -> int | None:
    return processes.running(settings, [NAME]).get(NAME)


def start(settings: Settings, timeout: float = 60) -> str:
    """Start the collector unless it runs already; returns its URL once ``/health`` answers."""
    processes.start_http_service(settings, NAME, ["collector", "serve"], f"{url(settings)}/health",
                                 log_path(settings), timeout)
    return url(settings)


def stop(settings: Settings) -> list[str]:
    return processes.stop(settings, [NAME], timeout=15)
