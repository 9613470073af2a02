"""The one in-memory cache: a bounded, thread-safe LRU that computes each missing key once.

Used for example databases (the executor), gold outcomes and parsed golds, analyses of
completion SQL, verdict scores (the rewards) and the column classes the near-miss edits read.

    >>> cache = LRUCache(2)
    >>> cache.get_or_compute("a", lambda: 1), cache.get_or_compute("b", lambda: 2)
    (1, 2)
    >>> cache.get_or_compute("a", lambda: 99)  # cached: not computed again
    1
    >>> _ = cache.get_or_compute("c", lambda: 3)  # evicts "b", the least recently used
    >>> sorted(cache.keys())
    ['a', 'c']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LRUCache:
    """At most `size` entries; the least recently used goes first, through `on_evict` if given
    (e.g. closing a database). Thread-safe. Two threads asking for the same missing key compute
    it once: the second waits for the first (a database is built once, not twice)."""

    def __init__(self, size: int, *, on_evict: Callable[[Any], None] | None = None):
        self.size = size
        self.on_evict = on_evict
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._data)

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any],
                       keep: Callable[[Any], bool] | None = None) -> Any:
        """The cached value of `key`, else `compute()`, stored unless `keep(value)` is false
        (a result that may only have met a busy machine, such as a timeout)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
            try:
                value = compute()
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            if keep is None or keep(value):
                self.put(key, value)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        evicted = []
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                evicted.append(self._data.popitem(last=False)[1])
        for old in evicted:
            if self.on_evict is not None:
                self.on_evict(old)

    def clear(self) -> None:
        with self._lock:
            values = list(self._data.values())
            self._data.clear()
        for old in values:
            if self.on_evict is not None:
                self.on_evict(old)
