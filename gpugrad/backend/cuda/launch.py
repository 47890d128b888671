"""Launch geometry from the device, not constants: blocks of 128 threads and a grid that
covers the work in one pass, capped at a few waves of blocks per SM (grid-stride loops do the
rest)."""

from __future__ import annotations

import functools

BLOCK = 128
BLOCKS_PER_SM = 8  # enough resident blocks to hide memory latency (PyTorch's elementwise: 4-8)


@functools.cache
def sm_count(device_id: int) -> int:
    import cupy

    return cupy.cuda.runtime.getDeviceProperties(device_id)["multiProcessorCount"]


def grid_for(work_items: int, sms: int, block: int = BLOCK) -> int:
    """Blocks for ``work_items`` units of work (elements or vectors): one per ``block``
    items, at most BLOCKS_PER_SM per SM, at least one."""
    need = -(-work_items // block)
    return max(1, min(need, sms * BLOCKS_PER_SM))
