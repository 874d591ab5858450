"""Calling the async services from synchronous code (CLI commands, worker threads).

One function, :func:`run_sync`. It keeps no event loop or other state between
calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]], *, name: str = "certwarden-sync") -> T:
    """Run the coroutine ``make()`` to completion and return its result.

    Works from a thread that already runs an event loop too (the coroutine then
    gets a loop of its own in a short-lived thread), so a synchronous service
    method can be called from anywhere.
    """
    box: dict[str, Any] = {}

    async def boxed() -> None:
        # The result travels in ``box``, not as the task's result: CPython 3.11's
        # asyncio.run reprs its main task (result included) when it restores the
        # SIGINT handler, which costs 0.1 s for a report of thousands of checks.
        box["value"] = await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(boxed())
        return box["value"]  # type: ignore[no-any-return]

    def worker() -> None:
        try:
            asyncio.run(boxed())
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name=name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
