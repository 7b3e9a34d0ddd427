"""Handing freed memory back to the system (glibc; with another C library these do nothing).

glibc keeps what a program frees for reuse: in its main heap, which `malloc_trim` hands back, and in
one arena per thread that allocates, whose free space at the top it keeps. The server's threads (its
event loop, which reads requests; the pool that converts them; the jobs' worker) would each keep
there what a large request freed, 140 MB after a 4096 x 4096 Realize. So `python -m server` has every
thread allocate from the main heap (`use_main_heap`, before they start) and the server hands freed
memory back once its calls are over (`return_freed_memory`, from server/rpc/interceptors.py).
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # mallopt's parameter: how many arenas threads may allocate from


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def return_freed_memory() -> None:
    """Hand the memory freed so far back to the system (glibc keeps large freed blocks in its heap:
    its mmap threshold grows with use)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def use_main_heap() -> None:
    """Threads that allocate for the first time from now on use the main heap, as the main thread does."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None:
        mallopt(M_ARENA_MAX, 1)
