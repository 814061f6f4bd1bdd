"""Queue mode: `ordersync enqueue (--all | --account NAME)` and `ordersync worker [--concurrency N]`.

Loaded only when named (cli.py's lazy command table), and procrastinate (the ``postgres`` extra)
only when a command runs, so `ordersync run` never imports the queue.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from sync.config import ConfigError, Settings, queue_url
from sync.entrypoints.options import AppContext, config_option, fail, say, warn
from sync.exit_codes import ExitCode
from sync.logs import get_logger

if TYPE_CHECKING:
    from sync.adapters.cycle_queue import CycleHandler, CycleQueue

log = get_logger(__name__)


def open_queue(settings: Settings, handler: CycleHandler | None = None) -> CycleQueue:
    """The queue of these settings; a usage error (exit 2) when queue mode is off or procrastinate
    is not installed."""
    if not settings.queue.enabled:
        fail(
            f"{settings.source}: queue mode is off: set [queue] enabled = true (with a PostgreSQL "
            "[queue] url or [ledger] url), or use `ordersync run` / `ordersync schedule` without a queue",
            ExitCode.USAGE,
        )
    try:
        from sync.adapters.cycle_queue import CycleQueue
    except ImportError as exc:
        fail(
            f"queue mode needs procrastinate and psycopg ({exc}): pip install 'ordersync[postgres]'",
            ExitCode.USAGE,
        )
    return CycleQueue(queue_url(settings), queue=settings.queue.name, handler=handler)


@click.command()
@config_option
@click.option("--all", "all_accounts", is_flag=True, help="Every account of the configuration.")
@click.option("--account", "account_names", multiple=True, metavar="NAME", help="This account (repeatable).")
@click.pass_obj
def enqueue(app: AppContext, all_accounts: bool, account_names: tuple[str, ...]) -> None:
    """Queue one sync cycle per account for the workers; an account already queued or running is
    left as it is (never two cycles of one account)."""
    from sync.service.fleet import select_accounts

    if all_accounts == bool(account_names):
        fail("give --all or --account NAME (not both)", ExitCode.USAGE)
    settings = app.settings
    try:
        names = [a.account for a in select_accounts(settings, account_names)]
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    queue = open_queue(settings)
    from sync.adapters.cycle_queue import QueueUnavailable  # importable: open_queue checked

    try:
        results = queue.enqueue(names)
    except QueueUnavailable as exc:
        fail(str(exc), ExitCode.UNAVAILABLE)
    for result in results:
        job = f" (job {result.job_id})" if result.job_id is not None else ""
        say(f"{result.account}: {result.state}{job}", "enqueue", account=result.account, state=result.state,
            job_id=result.job_id)  # fmt: skip
    queued = sum(r.state == "queued" for r in results)
    say(
        f"{queued} of {len(results)} account(s) queued",
        "enqueue finished",
        queued=queued,
        accounts=len(results),
    )


def scheduled_enqueue(settings: Settings) -> Callable[[], None]:
    """`ordersync schedule` in queue mode: each interval, queue every account (those already
    queued or running are left as they are); a queue that cannot be reached is logged and tried
    again at the next interval."""
    queue = open_queue(settings)
    from sync.adapters.cycle_queue import QueueUnavailable  # importable: open_queue checked

    names = [a.account for a in settings.fleet]

    def job() -> None:
        try:
            results = queue.enqueue(names)
        except QueueUnavailable as exc:
            log.error("accounts not queued", error=str(exc), exit_code=int(ExitCode.UNAVAILABLE))
            return
        states = {r.account: r.state for r in results}
        log.info("accounts queued", queued=sum(s == "queued" for s in states.values()), states=states)

    return job


@click.command()
@config_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Cycles run at once by this process (default [queue] concurrency).",
)
@click.pass_obj
def worker(app: AppContext, concurrency: int | None) -> None:
    """Run queued cycles until SIGTERM/SIGINT, then exit 0: the cycle in hand stops at its next
    step and is queued again (its recorded work is resumed, never repeated)."""
    from sync.service.fleet import run_queued_cycle

    settings = app.settings
    queue_settings = settings.queue

    def handler(account: str, should_stop: Callable[[], bool]) -> dict[str, Any]:
        try:
            return run_queued_cycle(settings, account, should_stop).as_dict()
        except ConfigError as exc:  # an account no longer in the configuration
            log.error("queued cycle refused", account=account, error=str(exc), exit_code=int(ExitCode.USAGE))
            return {"account": account, "exit_code": int(ExitCode.USAGE), "abandoned": False}

    queue = open_queue(settings, handler)
    from sync.adapters.cycle_queue import QueueUnavailable  # importable: open_queue checked

    name = f"ordersync@{socket.gethostname()}:{os.getpid()}"
    say(f"worker {name} on queue {queue_settings.name} at {queue.where()}", "worker started", worker=name,
        queue=queue_settings.name)  # fmt: skip
    try:
        queue.run_worker(
            concurrency=concurrency or queue_settings.concurrency,
            heartbeat_seconds=queue_settings.heartbeat_seconds,
            stalled_seconds=queue_settings.stalled_seconds,
            stop_grace_seconds=queue_settings.stop_grace_seconds,
            name=name,
        )
    except QueueUnavailable as exc:
        warn(str(exc), exit_code=int(ExitCode.UNAVAILABLE))
        sys.exit(int(ExitCode.UNAVAILABLE))
    say(f"worker {name} stopped", "worker stopped", worker=name)
    sys.exit(int(ExitCode.OK))
