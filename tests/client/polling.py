"""Poll a condition with a timeout instead of sleeping a fixed time (STYLE habit 10)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def poll(predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "") -> None:
    """Return once ``predicate()`` is truthy; raise ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)
