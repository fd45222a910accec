"""Process-level settings for a process that runs inference (the CLI, the bot's worker).

Importing this module does not import torch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["release_large_buffers", "MMAP_THRESHOLD"]

#: Allocations at least this large (bytes) get their own mmap and go back to the OS when freed.
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc <malloc.h>


def release_large_buffers(threshold: int = MMAP_THRESHOLD) -> bool:
    """Make glibc serve allocations ≥ ``threshold`` bytes with mmap (and unmap them on free).

    glibc raises its mmap threshold dynamically up to 32 MiB after the first large
    frees, after which tensor buffers come from the heap and fragment it: peak RSS
    of a 1024×768 Gatys run was 2.71 GB with the default and 2.33 GB with a
    fixed 1 MiB threshold (same result, same speed within noise). Equivalent to
    starting the process with ``MALLOC_MMAP_THRESHOLD_=1048576``.

    Returns:
        True when applied (Linux with glibc), False elsewhere (no-op).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
