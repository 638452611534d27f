"""Stream-loader configuration, built from :mod:`onramp.settings` (``ONRAMP_STREAM_*``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from onramp.settings import Settings, get_settings


@dataclass(frozen=True)
class LoaderConfig:
    """Micro-batch bounds of the stream loader."""

    batch_events: int = 50_000
    batch_seconds: float = 5.0
    claim_idle_s: float = 60.0  # pending entries idle this long belong to a crashed consumer

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LoaderConfig:
        s = settings or get_settings()
        return cls(batch_events=s.stream_batch_events, batch_seconds=s.stream_batch_seconds,
                   claim_idle_s=s.stream_claim_idle_seconds)


def default_consumer(settings: Settings | None = None) -> str:
    """Stable per host, so a restarted loader finds its own pending entries at once."""
    return (settings or get_settings()).stream_consumer or f"loader-{socket.gethostname()}"
