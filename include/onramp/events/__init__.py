"""The event as both sides of the stream see it: the row the collector writes and the loader reads.

:mod:`onramp.events.row` names the fields of a stream row and the entries that carry them;
:mod:`onramp.events.reasons` holds the machine-readable reasons an event is dead-lettered for;
:mod:`onramp.events.payload` what is kept of a payload too deep to keep as sent. All are import-light
(no pyarrow, no Redis): the collector imports them in every worker.
"""
