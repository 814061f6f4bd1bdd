"""`ordersync schedule`: an APScheduler 3 loop around one sync cycle.

One cycle at a time (max_instances=1), missed runs coalesced into one, the first run at once.
SIGTERM/SIGINT stop the scheduler: a cycle in progress is allowed to finish (every intent it sent
is in the ledger, and anything not yet confirmed is resent next time), then the process exits 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sync.exit_codes import ExitCode
from sync.logs import get_logger

log = get_logger(__name__)

JOB_ID = "ordersync-cycle"


def run_schedule(
    cycle: Callable[[], object],
    interval_minutes: float,
    *,
    stop_event: threading.Event | None = None,
    what: str = "cycle",
) -> int:
    """Run ``cycle`` every ``interval_minutes`` until a stop signal; returns the exit code (0: a
    clean stop; each cycle's own outcome is logged with the code `ordersync run` would exit with).
    ``what`` names the job in the log ("enqueue" in queue mode: each run queues the accounts)."""
    stop = stop_event or threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    trigger = IntervalTrigger(minutes=interval_minutes, timezone=UTC)

    def _log_next(event: JobExecutionEvent) -> None:
        # Never call back into the scheduler here (get_job & co.): shutdown(wait=True) holds the
        # job-store lock while it waits for the running cycle, and this listener runs as that
        # cycle completes, so a SIGTERM mid-cycle would deadlock. The trigger alone knows the time.
        if event.code == EVENT_JOB_ERROR:
            # A bug (the job handles every expected failure itself): what `run` would exit 70 for.
            log.error(
                "cycle crashed (internal error); the next cycle resends whatever it left pending",
                error=str(event.exception),
                traceback=event.traceback,
                exit_code=int(ExitCode.INTERNAL),
            )
        elif event.code == EVENT_JOB_MISSED:
            log.warning("cycle start missed (previous cycle still running); coalesced")
        if stop.is_set():
            return
        next_run = trigger.get_next_fire_time(event.scheduled_run_time, datetime.now(UTC))
        if next_run is not None:
            log.info(f"next {what} scheduled", next_run_time=next_run.isoformat())

    scheduler.add_listener(_log_next, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.add_job(
        cycle,
        trigger,
        id=JOB_ID,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=max(1, int(interval_minutes * 60)),
    )

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested; finishing the cycle in progress", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        log.info("scheduler started", interval_minutes=interval_minutes)
        while not stop.wait(timeout=timedelta(seconds=1).total_seconds()):
            pass
    finally:
        # wait=True lets a running cycle finish; no new cycle starts after shutdown begins.
        if scheduler.running:
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler stopped")
    return int(ExitCode.OK)
