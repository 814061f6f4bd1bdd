"""`ordersync --version` and shell completion (click's `_ORDERSYNC_COMPLETE`), as the README shows."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ordersync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "sync", *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def test_version_is_the_package_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    proc = ordersync("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"ordersync, version {version}"


def test_bash_completion_script_and_completions() -> None:
    script = ordersync(_ORDERSYNC_COMPLETE="bash_source")
    assert script.returncode == 0
    assert "_ordersync_completion()" in script.stdout and "complete -o nosort -F" in script.stdout
    # The script asks the program for candidates like this; lazily loaded commands are offered too.
    words = ordersync(_ORDERSYNC_COMPLETE="bash_complete", COMP_WORDS="ordersync do", COMP_CWORD="1")
    assert words.stdout.split() == ["plain,doctor"]
    sub = ordersync(_ORDERSYNC_COMPLETE="bash_complete", COMP_WORDS="ordersync testorders sh", COMP_CWORD="2")
    assert "plain,show" in sub.stdout.split()


def test_zsh_and_fish_completion_scripts() -> None:
    assert "#compdef ordersync" in ordersync(_ORDERSYNC_COMPLETE="zsh_source").stdout
    assert "complete --no-files --command ordersync" in ordersync(_ORDERSYNC_COMPLETE="fish_source").stdout


def test_readme_first_screen_shows_init_doctor_exit_codes_and_completion() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(readme.splitlines()[:24])
    for needed in ("ordersync demo", "python -m pytest", "ordersync init", "ordersync doctor", "Exit codes"):
        assert needed in first_screen, needed
    assert "_ORDERSYNC_COMPLETE=bash_source ordersync" in readme
