"""CPU runtime settings shared by every row of a compression measurement: threads and the allocator.

Two things decide CPU latency besides the model: how many threads PyTorch and ONNX Runtime use, and
how the C allocator hands out the short-lived activation buffers of each call. :func:`cpu_runtime`
sets both the same way for every row (PyTorch's intra-op threads and, through ``threads=``, ONNX
Runtime's), so a speed-up measures the model, not the setup.

The allocator: glibc's default ``malloc`` returns large freed blocks to the operating system
(``mmap``/``munmap`` above a threshold, heap trimming), so every call of a model pays page faults
again on its fresh activation buffers. On a virtual machine a page fault is expensive, and the cost
grows with the number and size of temporaries (a dynamically quantized ``nn.Linear`` allocates more
of them than a float one: the quantized input, the int32 accumulator). PyTorch's CPU performance
guide recommends jemalloc or tcmalloc for inference for this reason; :func:`reuse_freed_memory` is
the glibc equivalent (``mallopt``: a fixed mmap threshold of 32 MB and no trimming), done in process.
ONNX Runtime keeps its own memory arena, so it does not depend on this setting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from dataclasses import dataclass

#: glibc ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's upper limit for a fixed threshold on 64-bit systems
TRIM_THRESHOLD_BYTES = 1 << 30

_state = {"reuse": False}


def reuse_freed_memory() -> bool:
    """Make glibc keep freed activation buffers for reuse instead of returning them to the OS.

    Process-wide and one-way (there is no undo; start a new process to measure without it).
    Returns True when the setting was applied, False where it cannot be (not Linux/glibc).
    """
    if _state["reuse"]:
        return True
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    _state["reuse"] = bool(ok)
    return _state["reuse"]


@dataclass(frozen=True)
class RuntimeSettings:
    """What :func:`cpu_runtime` applied (reported next to every measurement)."""

    threads: int
    allocator: str  # "reuse" (mallopt applied) or "default"
    cpu_count: int

    def as_dict(self) -> dict:
        return {"threads": self.threads, "allocator": self.allocator, "cpu_count": self.cpu_count}

    def describe(self) -> str:
        return (f"{self.threads} torch intra-op thread(s) = ONNX Runtime intra-op threads (inter-op 1), "
                f"allocator {'reusing freed memory (mallopt)' if self.allocator == 'reuse' else 'glibc default'}, "
                f"{self.cpu_count} CPU core(s) visible")


def cpu_runtime(threads: int | None = None, *, allocator: str = "default") -> RuntimeSettings:
    """Set PyTorch's intra-op threads to ``threads`` (default: every visible core, at most 4) and the
    allocator (``"reuse"``: :func:`reuse_freed_memory`; ``"default"``: leave glibc alone).

    Pass the same ``threads`` to :func:`mmbench.compress.compress` so ONNX Runtime sessions match.
    """
    import torch

    if allocator not in ("reuse", "default"):
        from ..errors import InvalidInputError

        raise InvalidInputError(f"allocator must be 'reuse' or 'default', not {allocator!r}.")
    cores = os.cpu_count() or 1
    threads = int(threads or min(4, cores))
    torch.set_num_threads(threads)
    applied = "reuse" if (allocator == "reuse" and reuse_freed_memory()) or _state["reuse"] else "default"
    return RuntimeSettings(threads, applied, cores)
