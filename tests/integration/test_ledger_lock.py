"""The cycle lock: file lock for SQLite files, expiring row elsewhere (sync/adapters/ledger/lock.py)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.adapters.ledger import CycleLock, Ledger, LockHeld
from sync.config import Settings
from sync.service.runner import cycle_lock_name

from .test_ledger import POSTGRES_URL, _empty_postgres

REPO = Path(__file__).resolve().parents[2]


def _spawn_holder(db: Path | str) -> subprocess.Popen[str]:
    """A separate process that takes the lock, says so, and then waits to be killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from sync.adapters.ledger import CycleLock
        lock = CycleLock({str(db)!r}, 60)
        print("locked" if lock.acquire() else "busy", flush=True)
        time.sleep(120)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_acquirer_in_same_process_fails_with_holder_info(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.db")
    first, second = CycleLock(led, 60), CycleLock(led, 60)  # separate open file descriptions
    assert first.acquire()
    assert first.lock_path == Path(f"{led.path}.lock")
    assert stat.S_IMODE(os.stat(first.lock_path).st_mode) == 0o600
    assert not second.acquire()
    assert second.holder is not None
    assert (second.holder["pid"], second.holder["host"]) == (os.getpid(), socket.gethostname())
    assert second.current_holder()["pid"] == os.getpid()
    with pytest.raises(LockHeld) as err, second:
        pytest.fail("entered a lock someone else holds")
    assert f"pid {os.getpid()}" in str(err.value) and "since" in str(err.value)
    assert err.value.holder["pid"] == os.getpid()

    first.release()
    assert second.current_holder() is None
    with second:
        assert second.held and not first.acquire()
    assert first.acquire()
    first.release()
    led.close()


def test_lock_by_url_needs_no_open_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state/l.db"
    with CycleLock(url, 60) as lock:
        assert lock.lock_path == tmp_path / "state" / "l.db.lock"
        assert not CycleLock(tmp_path / "state" / "l.db", 60).acquire()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_lock_held_by_another_process_is_freed_when_it_is_killed(tmp_path: Path, database: str) -> None:
    """SQLite: a file lock the kernel drops with the process. PostgreSQL: an advisory lock the
    server drops with the session. Either way no expiry has to pass after a kill -9."""
    if database == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
        Ledger(_empty_postgres(POSTGRES_URL)).close()
        db: Path | str = POSTGRES_URL
        assert CycleLock(db, 60).mode == "advisory"
    else:
        db = tmp_path / "l.db"
    holder = _spawn_holder(db)
    try:
        lock = CycleLock(db, 60)
        assert not lock.acquire()
        assert lock.holder is not None and lock.holder["pid"] == holder.pid
        with pytest.raises(LockHeld, match=f"pid {holder.pid}"):
            lock.__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # the server notices the dead session's closed socket
    while database == "postgresql" and lock.current_holder() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with lock:  # no stale lock after a kill -9: it went with the process
        assert lock.held
        assert lock.current_holder()["pid"] == os.getpid()
    assert lock.current_holder() is None


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_table_lock_expiry_takeover_refresh_and_release(tmp_path: Path, database: str) -> None:
    """The lock row every non-SQLite ledger uses (and SQLite too when asked)."""
    clock = Clock()
    if database == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
        led = Ledger(_empty_postgres(POSTGRES_URL))
    else:
        led = Ledger(tmp_path / "l.db")
    a = CycleLock(led, 60, mode="table", clock=clock)
    b = CycleLock(led, 60, mode="table", clock=clock)
    assert a.acquire()
    assert not b.acquire()
    assert b.holder is not None and b.holder["pid"] == os.getpid()
    assert b.holder["expires_at"] == (clock.now + timedelta(seconds=60)).isoformat(timespec="seconds")

    clock.now += timedelta(seconds=50)
    assert a.refresh()  # still alive: pushes the expiry to now + 60
    clock.now += timedelta(seconds=50)
    assert not b.acquire()

    clock.now += timedelta(seconds=11)  # a stopped refreshing: its row expired
    assert b.acquire()
    assert not a.refresh()  # a learns it lost the lock
    a.release()  # and releasing must not delete b's row
    assert CycleLock(led, 60, mode="table", clock=clock).current_holder() is not None
    b.release()
    assert CycleLock(led, 60, mode="table", clock=clock).current_holder() is None
    with CycleLock(led, 60, mode="table", clock=clock) as c:
        assert c.held
    led.close()


def test_file_mode_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        CycleLock("sqlite://", 60, mode="file")
    with pytest.raises(ValueError, match="positive"):
        CycleLock(tmp_path / "l.db", 0)


@pytest.mark.parametrize("mode", ["file", "table", "advisory"])
def test_accounts_sharing_a_ledger_each_have_their_own_cycle_lock(tmp_path: Path, mode: str) -> None:
    """One ledger, two [[accounts]]: each account's cycle lock (runner.cycle_lock_name) is its own
    in every lock mode, and still excludes a second cycle of the same account."""
    if mode == "advisory":
        if not POSTGRES_URL:
            pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
        url: str | Path = _empty_postgres(POSTGRES_URL)
    else:
        url = tmp_path / "shared.db"
    names = [cycle_lock_name(Settings().model_copy(update={"account": a})) for a in ("shop-a", "shop-b")]
    assert names == ["cycle-shop-a", "cycle-shop-b"]
    ledgers = [Ledger(url, account=a) for a in ("shop-a", "shop-b")]
    try:
        a, b = (CycleLock(led, 60, name=n, mode=mode) for led, n in zip(ledgers, names, strict=True))  # type: ignore[arg-type]
        again = CycleLock(ledgers[0], 60, name=names[0], mode=mode)  # type: ignore[arg-type]
        assert a.acquire() and b.acquire()  # two accounts' cycles at once
        assert not again.acquire() and again.holder is not None  # never two of one account
        a.release()
        assert again.acquire() and b.held
        again.release()
        b.release()
    finally:
        for led in ledgers:
            led.close()
