"""The collector as a background process of a local installation (``onramp collector up``, the demo).

It runs ``onramp collector serve`` in its own process group (:mod:`onramp.processes`), logs to
``<home>/logs/collector.log``, and counts as started only once ``/health`` answers.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import fields
from pathlib import Path

from onramp import processes
from onramp.settings import Settings

NAME = "collector"


class CollectorStartError(RuntimeError):
    """The collector did not come up; the message names its log."""


def url(settings: Settings) -> str:
    return f"http://{settings.collector_host}:{settings.collector_port}"


def log_path(settings: Settings) -> Path:
    return settings.home_path / "logs" / "collector.log"


def running(settings: Settings) -> int | None:
    return processes.running(settings, [NAME]).get(NAME)


def _healthy(settings: Settings) -> bool:
    import httpx

    try:
        return httpx.get(f"{url(settings)}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(settings: Settings, timeout: float = 60) -> str:
    """Start the collector unless it runs already; returns its URL once ``/health`` answers."""
    if running(settings) is None:
        if _healthy(settings):
            raise CollectorStartError(
                f"something else answers at {url(settings)}; stop it or set ONRAMP_COLLECTOR_PORT to a free port")
        env = dict(os.environ)
        env.update({f"ONRAMP_{f.name.upper()}": str(getattr(settings, f.name)) for f in fields(settings)})
        binary = Path(sys.executable).with_name("onramp")
        processes.spawn(settings, NAME, [str(binary), "collector", "serve"], env, log_path(settings))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(settings):
            return url(settings)
        if running(settings) is None:
            tail = "\n".join(log_path(settings).read_text(errors="replace").splitlines()[-15:])
            raise CollectorStartError(f"the collector exited during start-up; {log_path(settings)} ends:\n{tail}")
        time.sleep(0.3)
    raise CollectorStartError(f"the collector did not answer at {url(settings)} within {timeout:.0f}s; "
                              f"see {log_path(settings)}")


def stop(settings: Settings) -> list[str]:
    return processes.stop(settings, [NAME], timeout=15)
