"""What every `ordersync` command shares: the application context and the ``--config`` option.

``--config`` is accepted in the same places by every command: before the sub-command
(``ordersync --config F run``), after it (``ordersync run --config F``) and after a group
(``ordersync testorders --config F create`` / ``ordersync testorders create --config F``); the
innermost one given wins. Commands that do not read a configuration (``sandbox …``) accept it
too, so a wrapper script can pass it to every command alike.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from sync.config import ConfigError, Settings, load_settings
from sync.exit_codes import ExitCode
from sync.logs import json_line, json_mode

F = TypeVar("F")


def say(text: str, event: str, **fields: Any) -> None:
    """A result line on stdout: ``text`` for people, or one JSON object (``event`` and ``fields``)
    with --log-format json, so a log shipper never meets a line it cannot parse."""
    click.echo(json_line(event, **fields) if json_mode() else text)


def warn(message: str, **fields: Any) -> None:
    """A problem line on stderr (``ordersync: …``), a JSON object with --log-format json."""
    if json_mode():
        click.echo(json_line(message, level="error", **fields), err=True)
    else:
        click.echo(f"ordersync: {message}", err=True)


def fail(message: str, code: int) -> None:
    warn(message, exit_code=int(code))
    sys.exit(int(code))


@dataclass
class AppContext:
    config_path: str | None = None
    log_format: str = "text"
    verbosity: int = 0
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(str(exc), ExitCode.USAGE)
        assert self._settings is not None
        return self._settings


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        app = ctx.find_object(AppContext)
        if app is None:  # a sub-group invoked on its own (tests): start a context of its own
            app = ctx.ensure_object(AppContext)
        app.config_path = value
        app._settings = None


def config_option(func: F) -> F:
    """``--config F`` on a sub-command or sub-group (see the module docstring)."""
    decorated: Any = click.option(
        "--config",
        "config_override",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_set_config,
        help="TOML configuration file (default config/ordersync.toml; env ORDERSYNC_CONFIG).",
    )(func)
    return decorated  # type: ignore[no-any-return]
