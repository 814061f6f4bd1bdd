"""`ordersync adopt`: give an [[accounts]] entry the ledger rows of another account name.

The ledger's rows are per account. A configuration without [[accounts]] is the one account
``default``; once it grows into [[accounts]] (whose entries cannot be named ``default``), its
history has to go to the entry it belongs to before that entry runs, or the entry would start
empty and poll, acknowledge and create its orders all over again. ``open_ledger`` refuses an
[[accounts]] entry while its ledger still holds ``default`` rows, naming this command.
"""

from __future__ import annotations

from sync.adapters.ledger import CycleLock, Ledger, LedgerError, LockHeld
from sync.config import DEFAULT_ACCOUNT, ConfigError, Settings
from sync.service.fleet import select_accounts
from sync.service.runner import CycleLocked, cycle_lock_name


def adopt_rows(settings: Settings, account: str, source: str = DEFAULT_ACCOUNT) -> dict[str, int]:
    """Move every ledger row of ``source`` to the [[accounts]] entry ``account`` (in that entry's
    ledger), holding both accounts' cycle locks; return the rows moved per table. ConfigError
    when the entry is unknown or the move is refused (nothing changed); CycleLocked while a cycle
    of either account runs."""
    if not settings.accounts:
        raise ConfigError(f"{settings.source}: adopt gives rows to an [[accounts]] entry; this "
                          "configuration has none (its one account already owns the ledger)")  # fmt: skip
    (target,) = select_accounts(settings, [account])
    if source == target.account:
        raise ConfigError(f"--from {source!r} is the account itself")
    try:
        ledger = Ledger(target.ledger.url, account=target.account)
    except LedgerError as exc:
        raise ConfigError(str(exc)) from exc
    source_settings = target.model_copy(update={"account": source})
    locks = [
        CycleLock(ledger, target.ledger.lock_ttl_seconds, name=cycle_lock_name(s))
        for s in (target, source_settings)
    ]
    try:
        for lock in locks:
            if not lock.acquire():
                raise CycleLocked(f"a cycle holds {lock.describe()}; nothing moved, try again after it")
        if not ledger.rows_of(source):
            raise ConfigError(f"ledger {ledger.where} holds no rows of account {source!r}; nothing to adopt")
        return ledger.adopt_rows(source)
    except LockHeld as exc:
        raise CycleLocked(str(exc)) from exc
    except LedgerError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        for lock in locks:
            lock.release()
        ledger.close()
