"""Failpoints: the places where the crash tests kill a CDC cycle, as ``kill -9`` would.

Set ``ONRAMP_CDC_CRASH_AT`` to one of :data:`CRASH_POINTS` and the process SIGKILLs itself when it gets
there (no cleanup code runs); ``tests/integration/cdc/test_crash_recovery.py`` then proves that a re-run
leaves the warehouse exactly as a run that never failed. Unset, :func:`crash_point` costs one lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "ONRAMP_CDC_CRASH_AT"
CRASH_POINTS = (
    "mid_extract",  # a snapshot chunk or some changes are in the lake, the extraction is not finished
    "after_parquet",  # the extraction finished, its manifest was not handed on
    "mid_snapshot_apply",  # a snapshot chunk and its progress are committed to the work table, others are not
    "mid_apply",  # inside the apply's transaction: the change log appended, staging not merged yet
    "before_confirm",  # the warehouse committed, the slot was not told
)


def crash_point(name: str) -> None:
    """Die here, as a kill -9 would, when the crash tests ask for it."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
