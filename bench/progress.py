"""A progress bar: tqdm when installed, else a plain one on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], enabled: bool = True, desc: str = "") -> Iterator[T]:
    if not enabled:
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from _plain(items, desc)
        return
    bar = tqdm(items, desc=desc, unit="case", dynamic_ncols=True, leave=False, file=sys.stderr)
    for item in bar:
        label = getattr(item, "key", "")
        bar.set_postfix_str(label[-48:], refresh=False)
        yield item


def _plain(items: Iterable[T], desc: str) -> Iterator[T]:
    total = len(items) if isinstance(items, Sized) else None
    t0 = time.monotonic()
    for i, item in enumerate(items):
        done = f"{i}/{total}" if total else str(i)
        sys.stderr.write(
            f"\r{desc} {done} [{time.monotonic() - t0:5.0f}s] {getattr(item, 'key', '')[-48:]:<48}"
        )
        sys.stderr.flush()
        yield item
    sys.stderr.write("\n")
