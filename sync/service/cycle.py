"""One sync cycle: the ordered steps, stop checks between them, GC tuning and run bookkeeping.

The steps (service/steps/, listed by bootstrap.default_steps) poll, acknowledge, assign merchant
ids, create and follow Square orders, ship, deliver and follow cancellations; every mutation goes
through the intent outbox (service/outbox.py), which records it in the ledger before it is sent
and settles the answer. An idle cycle costs one list call (unacknowledged orders), plus one list
of recently canceled orders while any order is still open; every ``recheck_open_orders_minutes``
the open orders are also read back (one custombatch ``get`` per 1,000).

A Square outage stops only the Square steps: the Google steps go on, the Square work resumes next
cycle. A refused Square token stops the cycle (the operator's to fix, exit 2).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sync.adapters.google_errors import GoogleApiError
from sync.adapters.square_errors import SquareApiError
from sync.exit_codes import ExitCode
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.outages import square_outage
from sync.service.outbox import Outbox
from sync.service.results import CycleResult, StepResult

__all__ = ["CYCLE_GC_THRESHOLD", "CycleResult", "Step", "SyncCycle", "fewer_gc_passes"]

log = get_logger(__name__)


# Allocations between two young-generation collections during a cycle (CPython's default: 700).
CYCLE_GC_THRESHOLD = 100_000


_gc_lock = threading.Lock()
_gc_cycles = 0  # cycles running in this process (a queue worker with --concurrency runs several)
_gc_saved: tuple[tuple[int, int, int], bool] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector far less often for the duration of a cycle.

    A cycle allocates hundreds of thousands of containers that stay alive (decoded pages, orders,
    ledger records, feed rows) and makes almost no reference cycles, so with the default threshold
    the collector rescans the same live objects thousands of times: about a third of a 10,000-order
    cycle's CPU. Objects alive before the cycle (modules, adapters) are frozen out of those scans.
    Everything is restored afterwards, so a long-running scheduler collects as usual between cycles.
    Concurrent cycles of one process (threads of a queue worker) share one setting: the first to
    start changes it, the last to finish restores it.
    """
    global _gc_cycles, _gc_saved
    with _gc_lock:
        if _gc_cycles == 0:
            thresholds = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0  # a host process that froze objects itself keeps them so
            if freeze:
                gc.freeze()
            gc.set_threshold(max(thresholds[0], CYCLE_GC_THRESHOLD), *thresholds[1:])
            _gc_saved = (thresholds, freeze)
        _gc_cycles += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_cycles -= 1
            if _gc_cycles == 0 and _gc_saved is not None:
                (thresholds, freeze), _gc_saved = _gc_saved, None
                gc.set_threshold(*thresholds)
                if freeze:
                    gc.unfreeze()


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[CycleContext, Outbox], StepResult]
    order_system: bool = False  # needs the merchant's order system; skipped once it failed this cycle


class SyncCycle:
    def __init__(
        self,
        ctx: CycleContext,
        outbox: Outbox,
        steps: Sequence[Step],
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.steps = list(steps)
        self.should_stop = should_stop

    @property
    def result(self) -> CycleResult:
        return self.ctx.result

    def run(self) -> CycleResult:
        with fewer_gc_passes():
            return self._run()

    def _run(self) -> CycleResult:
        ctx, result = self.ctx, self.ctx.result
        started = time.monotonic()
        calls_before = self._api_calls()
        result.run_id = ctx.ledger.start_run()
        outcome = "error"
        order_system_down = False
        try:
            for step in self.steps:
                if self.should_stop():
                    result.abandoned = True
                    log.warning(
                        "stop requested: cycle abandoned between steps; pending work resumes next cycle"
                    )
                    break
                if step.order_system and (ctx.order_system is None or order_system_down):
                    continue
                try:
                    step.run(ctx, self.outbox)
                except SquareApiError as exc:
                    if not step.order_system or exc.is_auth or ctx.order_system is None:
                        raise  # a wrong token is the operator's to fix (exit 2), not a passing fault
                    order_system_down = True
                    result.outage(square_outage(ctx.order_system.base_url, exc))
                    log.error(
                        "Square step stopped; Google steps go on, Square resumes next cycle", error=str(exc)
                    )
            outcome = result.exit_code.name.lower()
        except (GoogleApiError, SquareApiError):
            outcome = ExitCode.UNAVAILABLE.name.lower()  # the runner reports it (exit 69)
            raise
        finally:
            result.api_calls = self._api_calls() - calls_before
            result.seconds = time.monotonic() - started
            ctx.ledger.finish_run(result.run_id, outcome, result.as_dict())
        return result

    def _api_calls(self) -> int:
        square, live = self.ctx.order_system, self.ctx.live
        calls = self.ctx.marketplace.calls + (square.calls if square is not None else 0)
        return calls + (live.calls if live is not None else 0)
