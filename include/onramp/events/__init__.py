"""The event as both sides of the stream see it: the row the collector writes and the loader reads.

:mod:`onramp.events.row` names the fields of a stream row and the entry that carries them;
:mod:`onramp.events.reasons` holds the machine-readable reasons an event is dead-lettered for. Both are
import-light (no pyarrow, no Redis): the collector imports them in every worker.
"""
