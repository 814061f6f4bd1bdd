"""Queue mode's job queue: one sync cycle of one account per job, in PostgreSQL, on procrastinate.

What procrastinate gives, and how it is used:

- **The job lock** (``lock = "ordersync-account:<name>"``): procrastinate never hands out a job
  while another job with the same lock is ``doing`` (a partial unique index on ``lock`` where
  ``status = 'doing'`` makes that a database guarantee), so at most one cycle of an account runs
  at a time across all workers and machines. The ledger's own cycle lock (an advisory lock per
  account) is the second guard; a job that meets it held ends as a skipped cycle.
- **The queueing lock** (the same key): at most one ``todo`` job per account. ``enqueue`` also
  refuses an account whose cycle is ``doing``, checking and inserting in one transaction under a
  transaction-scoped advisory lock per account, so two enqueuers cannot both pass the check.
- **Heartbeats and stalled jobs**: every worker records a heartbeat; each worker also sweeps the
  queue for ``doing`` jobs of workers silent for ``[queue] stalled_seconds`` (a SIGKILL, a lost
  machine) and retries them (``get_stalled_jobs`` + ``retry_job``): the job goes back to ``todo``
  and another worker runs the cycle again. Its intents were committed before anything was sent,
  so the rerun resends them with the same ids (design.md §5): nothing is done twice.
- **Shutdown and retries**: on SIGTERM/SIGINT the worker takes no new job; after
  ``[queue] stop_grace_seconds`` the job in hand is asked to abort (``context.should_abort``, the
  cycle's ``should_stop`` hook): the cycle stops at its next step boundary, the job raises
  ``JobAborted`` and ``ShutdownRetry`` queues it again at once. Nothing else is retried by the
  queue: a cycle that failed is the account's outcome, and the next ``enqueue`` is its retry.
- **The schema** is applied on first use (``procrastinate_jobs`` missing), under an advisory lock
  so that workers starting together do not race. The version is pinned (pyproject.toml): moving
  to a procrastinate release with schema migrations means applying them (``procrastinate schema``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from sync.logs import get_logger

log = get_logger(__name__)

TASK_NAME = "ordersync.cycle"
SHUTDOWN_RETRIES = 20  # a job stopped by this many shutdowns in a row is left failed (and logged)
FETCH_POLL_SECONDS = 5.0  # LISTEN/NOTIFY wakes workers at once; polling is the fallback

# handler(account, should_stop) -> a JSON-able summary with "abandoned": whether it stopped early.
CycleHandler = Callable[[str, Callable[[], bool]], Mapping[str, Any]]


class QueueUnavailable(Exception):
    """The queue's PostgreSQL cannot be reached or used (exit 69)."""


def account_lock(account: str) -> str:
    return f"ordersync-account:{account}"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as psycopg/libpq take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _advisory_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class ShutdownRetry(BaseRetryStrategy):
    """Queue a cycle again, at once, when it stopped early because its worker was shutting down."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, exceptions.JobAborted) and job.attempts < SHUTDOWN_RETRIES:
            return RetryDecision(retry_in={"seconds": 0})
        return None


@dataclass(frozen=True)
class Enqueued:
    account: str
    state: str  # "queued", "already queued" or "running"
    job_id: int | None = None


class CycleQueue:
    def __init__(self, url: str, *, queue: str = "ordersync", handler: CycleHandler | None = None) -> None:
        self.url = libpq_url(url)
        self.queue = queue
        self._handler = handler
        self.app = App(connector=PsycopgConnector(conninfo=self.url))
        self.task = self.app.task(name=TASK_NAME, queue=queue, pass_context=True, retry=ShutdownRetry())(
            self._run_job
        )

    def __repr__(self) -> str:  # the URL may carry a password: never shown
        return f"CycleQueue(queue={self.queue!r})"

    def where(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    # ------------------------------------------------------------------------------ the job
    def _run_job(self, context: JobContext, account: str) -> dict[str, Any]:
        if self._handler is None:
            raise RuntimeError("this CycleQueue was opened to enqueue, not to run cycles")
        result = dict(self._handler(account, context.should_abort))
        if result.get("abandoned") and context.should_abort():
            # Stopped between steps for a shutdown: ShutdownRetry queues it again at once.
            raise exceptions.JobAborted(f"cycle of {account} stopped for a worker shutdown; queued again")
        return result

    # ---------------------------------------------------------------------------- the schema
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise QueueUnavailable(
                f"the queue's PostgreSQL at {self.where()} cannot be reached: {exc}"
            ) from None

    def ensure_schema(self) -> bool:
        """Create procrastinate's tables if missing (True when it did)."""
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_advisory_key("ordersync:queue-schema"),))
            exists = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if exists is not None and exists[0] is not None:
                return False
            conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
            log.info("queue schema created", queue=self.where())
            return True

    # ------------------------------------------------------------------------------ enqueue
    def enqueue(self, accounts: Iterable[str]) -> list[Enqueued]:
        """Queue one cycle per account, unless one is already queued or running."""
        self.ensure_schema()
        results = []
        try:
            with self._connect() as conn:
                for account in accounts:
                    with conn.transaction():
                        results.append(self._enqueue_one(conn, account))
        except psycopg.Error as exc:
            raise QueueUnavailable(f"the queue's PostgreSQL at {self.where()} failed: {exc}") from None
        return results

    def _enqueue_one(self, conn: psycopg.Connection[Any], account: str) -> Enqueued:
        lock = account_lock(account)
        # Serialises enqueuers of this account: the check and the insert are one step for them.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_advisory_key(lock),))
        row = conn.execute(
            "SELECT id, status::text FROM procrastinate_jobs WHERE lock = %s AND status IN ('todo', 'doing') "
            "ORDER BY id LIMIT 1",
            (lock,),
        ).fetchone()
        if row is not None:
            return Enqueued(account, "running" if row[1] == "doing" else "already queued", int(row[0]))
        try:
            job_id = self.task.configure(lock=lock, queueing_lock=lock, connection=conn).defer(
                account=account
            )
        except exceptions.AlreadyEnqueued:  # queued by hand (procrastinate's own CLI) meanwhile
            return Enqueued(account, "already queued")
        return Enqueued(account, "queued", job_id)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job still in the table (tests, `status`): id, account, status, attempts, worker."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, args->>'account', status::text, attempts, worker_id FROM procrastinate_jobs "
                "WHERE task_name = %s ORDER BY id",
                (TASK_NAME,),
            ).fetchall()
        keys = ("id", "account", "status", "attempts", "worker_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # ------------------------------------------------------------------------------- worker
    def run_worker(
        self,
        *,
        concurrency: int = 1,
        heartbeat_seconds: float = 10,
        stalled_seconds: float = 60,
        stop_grace_seconds: float = 0,
        name: str = "ordersync-worker",
    ) -> None:
        """Run queued cycles until SIGTERM/SIGINT (procrastinate's handlers): no new job is
        taken, the jobs in hand stop at their next step (after ``stop_grace_seconds``) and are
        queued again; returns once they have."""
        self.ensure_schema()
        try:
            asyncio.run(
                self._serve(concurrency, heartbeat_seconds, stalled_seconds, stop_grace_seconds, name)
            )
        except (psycopg.Error, exceptions.ConnectorException) as exc:
            raise QueueUnavailable(f"the queue's PostgreSQL at {self.where()} failed: {exc}") from None

    async def _serve(
        self, concurrency: int, heartbeat: float, stalled: float, grace: float, name: str
    ) -> None:
        async with self.app.open_async():
            sweeper = asyncio.create_task(
                self._sweep_stalled(heartbeat, stalled), name="ordersync-stalled-sweep"
            )
            try:
                await self.app.run_worker_async(
                    queues=[self.queue],
                    name=name,
                    concurrency=concurrency,
                    wait=True,
                    install_signal_handlers=True,
                    shutdown_graceful_timeout=grace,
                    update_heartbeat_interval=heartbeat,
                    stalled_worker_timeout=stalled,
                    fetch_job_polling_interval=min(FETCH_POLL_SECONDS, heartbeat),
                    abort_job_polling_interval=min(FETCH_POLL_SECONDS, heartbeat),
                    delete_jobs="successful",
                )
            finally:
                sweeper.cancel()
                await asyncio.gather(sweeper, return_exceptions=True)

    async def _sweep_stalled(self, heartbeat: float, stalled: float) -> None:
        """Every heartbeat: the cycles of workers silent for ``stalled`` seconds go back to todo."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(heartbeat)
            try:
                stuck = await manager.get_stalled_jobs(
                    queue=self.queue, task_name=TASK_NAME, seconds_since_heartbeat=stalled
                )
                for job in stuck:
                    try:
                        await manager.retry_job(job)
                    except exceptions.ConnectorException:
                        continue  # another worker's sweep was first
                    log.warning(
                        "cycle of a worker that stopped answering queued again",
                        account=job.task_kwargs.get("account"),
                        job_id=job.id,
                    )
            except Exception as exc:  # the sweep must outlive a passing database hiccup
                log.warning("stalled-job sweep failed; trying again", error=str(exc))
