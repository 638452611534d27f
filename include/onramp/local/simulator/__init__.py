"""The simulator: builds the source application database from hidden onboarding personas, or runs it live.

``simulate_batch`` rebuilds schema ``app`` (plus the ground truth in ``sim_truth``) deterministically from
a seed; ``run_live`` keeps it changing and emits matching Segment events to an ``EventSink``.
"""

from onramp.local.simulator.batch import simulate_batch
from onramp.local.simulator.live import run_live
from onramp.local.simulator.sinks import EventSink, FileSink, SinkError, StdoutSink, collector_sink, make_sink

__all__ = ["EventSink", "FileSink", "SinkError", "StdoutSink", "collector_sink", "make_sink", "run_live", "simulate_batch"]
