"""Names of the Redis keys of the event path; every one starts with the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass

LOADER_GROUP = "loader"
DEAD_LETTER_GROUP = "dead_letters"


@dataclass(frozen=True)
class StreamKeys:
    prefix: str

    @property
    def events(self) -> str:
        """Accepted events: one entry per HTTP request, field ``e`` = the validated, enriched batch."""
        return f"{self.prefix}events"

    @property
    def dead(self) -> str:
        """Dead letters: one entry per request that had invalid events, field ``d`` = their list."""
        return f"{self.prefix}events:dead"

    @property
    def identity(self) -> str:
        """Hash anonymousId -> userId, filled by identify/alias calls, for real-time stitching."""
        return f"{self.prefix}identity:anonymous_to_user"
