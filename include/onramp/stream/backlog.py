"""The loader group's backlog on the events stream, read without consuming anything.

``XINFO GROUPS`` gives the group's lag (entries not yet delivered) and pending count (delivered, not
acknowledged). The Airflow trigger that wakes ``events_stream_load`` (:mod:`onramp.airflow.triggers`) polls
this and decides with :func:`should_fire`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backlog:
    last_id: str  # the stream's last generated entry id
    lag: int  # entries the group has not been delivered yet
    pending: int  # delivered to a consumer, not acknowledged (a run in flight, or a crashed one)

    @property
    def has_work(self) -> bool:
        return self.lag > 0 or self.pending > 0


async def read_backlog(client, stream: str, group: str) -> Backlog:
    """The loader group's backlog on ``stream`` (a redis.asyncio client); an absent group means all is lag."""
    try:
        info = await client.xinfo_stream(stream)
    except Exception as exc:  # no such key yet: nothing to do
        if "no such key" in str(exc).lower():
            return Backlog("0-0", 0, 0)
        raise
    last_id = info["last-generated-id"]
    last_id = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
    for entry in await client.xinfo_groups(stream):
        name = entry["name"].decode() if isinstance(entry["name"], bytes) else entry["name"]
        if name != group:
            continue
        lag = entry.get("lag")
        if lag is None:  # Redis < 7 or an inconsistent counter: compare ids instead
            delivered = entry["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else str(delivered)
            lag = 0 if delivered == last_id else 1
        return Backlog(last_id, int(lag), int(entry["pending"]))
    return Backlog(last_id, int(info["length"]), 0)


def should_fire(backlog: Backlog, last_fired_id: str | None, seconds_since_fired: float, refire_s: float) -> bool:
    """Fire for new entries; refire for a backlog nobody cleared (a failed run) only every ``refire_s``."""
    if not backlog.has_work:
        return False
    if backlog.last_id != last_fired_id:
        return True
    return seconds_since_fired >= refire_s
