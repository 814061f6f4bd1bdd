"""Progress bars for a person at a terminal (rich, on stderr); nothing for pipes, files or JSON logs.

Long work (a cycle's steps, creating test orders, reading orders for a report) reports progress
through a plain callable ``advance(step, n)``, so the code doing the work never knows whether
anyone is watching.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from sync.logs import json_mode

Advance = Callable[[str, int], None]
T = TypeVar("T")


def progress_wanted() -> bool:
    """Bars only where a person watches: stderr is a terminal and the logs are not JSON lines."""
    return sys.stderr.isatty() and not json_mode()


def _no_progress(_step: str, _n: int) -> None:
    pass


@contextlib.contextmanager
def terminal_progress(enabled: bool) -> Iterator[Advance]:
    """Yield ``advance(step, n)``: one transient bar per step while enabled, a no-op otherwise."""
    if not enabled:
        yield _no_progress
        return
    # rich is imported only for a terminal: cron's `ordersync run` never pays for it.
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} orders"),
        TimeElapsedColumn(),
        console=Console(stderr=True),  # stdout stays for results (ids, summaries)
        # Results printed meanwhile go above the bar when both share the terminal; into a pipe
        # they go untouched (redirecting them would send them to the terminal instead).
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def advance(step: str, n: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=None)
            bar.advance(tasks[step], n)

        yield advance


def counted(items: Iterable[T], advance: Advance, step: str) -> Iterator[T]:
    """``items`` unchanged, advancing ``step`` by one for each."""
    for item in items:
        advance(step, 1)
        yield item
