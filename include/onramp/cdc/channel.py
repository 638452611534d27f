"""A bounded hand-over of items from one thread to another, ended by closing it (with an error, or not)."""

from __future__ import annotations

import queue
from collections.abc import Iterator


class _End:
    """What :meth:`Channel.close` sends: no more items (and, when set, the error the receiver raises)."""

    def __init__(self, error: BaseException | None):
        self.error = error


class Channel[T]:
    """One sender, one receiver. ``send`` blocks while ``size`` items wait (memory stays bounded);
    iterating receives until the sender closes; a closed and drained channel iterates as empty."""

    def __init__(self, size: int):
        self._items: queue.Queue[T | _End] = queue.Queue(maxsize=size)
        self._ended = False

    def send(self, item: T) -> None:
        self._items.put(item)

    def close(self, error: BaseException | None = None) -> None:
        """No more items; the receiver's loop ends there, raising ``error`` if one is given."""
        self._items.put(_End(error))

    def __iter__(self) -> Iterator[T]:
        while not self._ended:
            item = self._items.get()
            if isinstance(item, _End):
                self._ended = True
                if item.error is not None:
                    raise item.error
                return
            yield item

    def drain(self) -> None:
        """Receive and drop what is left, so that a sender never waits on a receiver that gave up."""
        for _ in self:
            pass
