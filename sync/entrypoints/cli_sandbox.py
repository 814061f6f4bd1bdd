"""`ordersync sandbox serve|credentials`: the emulators over HTTP, and credentials for them."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from sync.entrypoints.options import config_option
from sync.exit_codes import ExitCode
from sync.sandbox.credentials import DEFAULT_ENDPOINT, CredentialsError, write_service_account
from sync.sandbox.server import Sandbox, is_loopback

EXIT_USAGE = int(ExitCode.USAGE)


# The sandbox reads no ordersync configuration; --config is accepted like on every command.
@click.group("sandbox")
@config_option
def sandbox() -> None:
    """Local emulators of the Google Content API v2 orders and Square Orders APIs."""


@sandbox.command("serve")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option("--state", type=click.Path(dir_okay=False), default=None, help="SQLite file that keeps state.")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Added latency per API call.")
@click.option(
    "--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of calls answered 429/500/503."
)
@click.option(
    "--lost-response-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of applied mutations whose response is replaced by a 5xx.",
)
@click.option(
    "--version-bump-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of Square UpdateOrder/PayOrder calls whose order gets a new version first.",
)
@click.option("--seed", type=int, default=None, help="Seed for fault injection and generated ids.")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    help="Accepted bearer token (repeatable). Google also accepts the tokens it issued at /token; "
    "Square accepts any token when none is given.",
)
@click.option(
    "--any-token",
    is_flag=True,
    help="Let the Google API accept any bearer token, not only issued and --token ones.",
)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
def serve(
    host: str,
    port: int,
    state: str | None,
    latency_ms: float,
    fault_rate: float,
    lost_response_rate: float,
    version_bump_rate: float,
    seed: int | None,
    tokens: tuple[str, ...],
    any_token: bool,
    allow_remote: bool,
) -> None:
    """Serve both emulators until SIGTERM/SIGINT."""
    if not is_loopback(host) and not allow_remote:
        click.echo(
            f"error: --host {host} is not a loopback address; add --allow-remote to expose the "
            "sandbox beyond this machine",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sb = Sandbox(
            host=host,
            port=port,
            state=state,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            lost_response_rate=lost_response_rate,
            version_bump_rate=version_bump_rate,
            seed=seed,
            tokens=tokens or None,
            any_token=any_token,
            allow_remote=allow_remote,
        ).start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"listening on {sb.url}")
    sys.stdout.flush()
    try:
        # Wake up periodically so signals are handled promptly on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
    sys.exit(0)


@sandbox.command("credentials")
@config_option
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Service-account JSON to write."
)
@click.option("--endpoint", default=DEFAULT_ENDPOINT, show_default=True, help="The running sandbox.")
def credentials(out: str, endpoint: str) -> None:
    """Write a service-account JSON whose token_uri is the sandbox's /token."""
    try:
        summary = write_service_account(out, endpoint)
    except CredentialsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {summary['path']} for {summary['client_email']} (token_uri {summary['token_uri']})")
