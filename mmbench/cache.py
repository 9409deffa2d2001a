"""A bounded, thread-safe LRU cache of loaded models.

Switching models in the app must not leak memory: the cache holds at most ``max_items`` models
and at most ``max_bytes`` of parameters (``MMBENCH_CACHE_ITEMS`` / ``MMBENCH_CACHE_GB``); the
least recently used model is evicted (and CUDA memory released) when either bound is exceeded.
Loading the same key from two threads at once loads it once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable


def model_nbytes(obj: Any) -> int:
    """Bytes of parameters and buffers held by ``obj`` (an nn.Module, or anything with ``.nbytes()``
    or ``.modules()``); 0 when unknown."""
    if hasattr(obj, "nbytes") and callable(obj.nbytes):
        return int(obj.nbytes())
    total = 0
    for module in getattr(obj, "torch_modules", lambda: [obj])():
        if hasattr(module, "parameters"):
            total += sum(p.numel() * p.element_size() for p in module.parameters())
            total += sum(b.numel() * b.element_size() for b in module.buffers())
    return total


class ModelCache:
    """LRU of loaded models bounded by count and by memory."""

    def __init__(self, max_items: int | None = None, max_bytes: int | None = None) -> None:
        self.max_items = max_items if max_items is not None else int(os.environ.get("MMBENCH_CACHE_ITEMS", 3))
        gb = float(os.environ.get("MMBENCH_CACHE_GB", 6))
        self.max_bytes = max_bytes if max_bytes is not None else int(gb * 1024**3)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[Hashable, threading.Lock] = {}
        #: Running totals, read by the Prometheus metrics (:mod:`mmbench.telemetry`): models loaded,
        #: lookups answered from the cache, models evicted.
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    def get_or_load(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        """Return the cached value for ``key`` or load it (once, even under concurrency)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key][0]
            value = loader()
            size = model_nbytes(value)
            with self._lock:
                self.loads += 1
                self._items[key] = (value, size)
                self._items.move_to_end(key)
                self._loading.pop(key, None)
                self._evict(keep=key)
            return value

    def _evict(self, keep: Hashable) -> None:
        freed = False
        while len(self._items) > 1 and (len(self._items) > self.max_items or self.nbytes > self.max_bytes):
            oldest = next(iter(self._items))
            if oldest == keep:
                break
            self._items.pop(oldest)
            self.evictions += 1
            freed = True
        if freed:
            _release_memory()

    @property
    def nbytes(self) -> int:
        return sum(size for _, size in self._items.values())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        _release_memory()


def _release_memory() -> None:
    import gc

    gc.collect()
    torch = __import__("sys").modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
